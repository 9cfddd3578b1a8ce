/**
 * The worker-thread side of the pool: loads the application once per thread and runs each
 * request with the shared driver (`runApplication`) into a sink that posts to the request's
 * MessagePort. Loaded by bootstrap.mjs; the user's module is imported with `importModule`, which
 * registers tsx in this thread only when that module is TypeScript.
 */
import { MessageChannel, parentPort, threadId, type MessagePort } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
import { getHeapStatistics } from 'node:v8';
import {
  asApplication, createInput, fileWrapper, runApplication,
  type Application, type Environ, type FileWrapper, type ResponseSink,
} from '@stackware/gateway';
import { importModule } from '@stackware/loader';
import { detachableCopy, MEMORY_LIMIT_MESSAGE, type MainMessage, type RequestTask, type ResponseStart, type Tagged, type TaskResult, type ThreadEvent, type WorkerMessage } from './protocol.js';

/** What the server thread tells every worker thread (Piscina's workerData). */
export interface ThreadConfig {
  /** file: URL of the application module. */
  moduleUrl: string;
  /** The export to use ("default"). */
  exportName: string;
  /** The export is a factory: call it once per thread with `factoryOptions`. */
  factory: boolean;
  factoryOptions: unknown;
  /** Retire the thread after this many requests (0: never). */
  maxRequestsPerThread: number;
  /**
   * The thread's memory limit in bytes, JS heap **plus external memory** (Buffers, ArrayBuffers,
   * native memory V8 is told of) — V8's own limit (resourceLimits) sees the heap only. Checked every
   * 250 ms and after each request; over it, the request in progress fails with
   * {@link MEMORY_LIMIT_MESSAGE} (the server thread answers 503) and the thread ends. 0: no check.
   */
  maxMemoryBytes?: number;
}


type InitState = 'pending' | 'ready' | 'failed';

function describeError(error: unknown): string {
  return error instanceof Error ? (error.stack ?? String(error)) : String(error);
}

function notifyParent(event: ThreadEvent, transfer?: MessagePort[]): void {
  parentPort?.postMessage(event, transfer);
}

/**
 * Builds the Piscina task handler for this thread and starts loading the application at once
 * (threads initialise at start). A request that finds the initialisation failed retries it
 * (with a fresh URL for the entry module, so a fixed file is read again); when the retry fails
 * too, the request gets 503 and the thread asks to be replaced, so that the next attempt runs
 * with a fresh module cache (fixes in modules the entry imports are picked up there).
 */
export function createHandler(config: ThreadConfig): (task: RequestTask) => Promise<TaskResult> {
  let app: Application | undefined;
  let state: InitState = 'pending';
  let failure = '';
  let attempts = 0;
  let served = 0;
  let initPromise: Promise<void>;

  const load = async (): Promise<Application> => {
    attempts++;
    const url = attempts === 1 ? config.moduleUrl : `${config.moduleUrl}${config.moduleUrl.includes('?') ? '&' : '?'}stackware-attempt=${attempts}`;
    const mod = await importModule(url);
    if (!(config.exportName in mod)) {
      throw new Error(`${config.moduleUrl} has no export named "${config.exportName}" (it exports: ${Object.keys(mod).join(', ') || 'nothing'}); set the pool's "export" option`);
    }
    let value = mod[config.exportName];
    if (config.factory) {
      if (typeof value !== 'function') throw new Error(`export "${config.exportName}" of ${config.moduleUrl} is not a function, but the pool's "factory" option says it is a factory`);
      value = await (value as (options: unknown) => unknown)(config.factoryOptions);
    }
    const application = await asApplication(value);
    if (!application) {
      throw new Error(`export "${config.exportName}" of ${config.moduleUrl} is not an Application (a function (environ, startResponse) or a value with [TO_APPLICATION]); for a factory that returns one, set the pool's "factory" option`);
    }
    return application;
  };

  const initialise = (): Promise<void> => {
    state = 'pending';
    const started = performance.now();
    initPromise = load().then(
      (application) => {
        app = application;
        state = 'ready';
        notifyParent({ stackware: 'initialised', threadId, ms: Math.round(performance.now() - started) });
      },
      (error: unknown) => {
        state = 'failed';
        failure = describeError(error);
        notifyParent({ stackware: 'initFailed', threadId, reason: failure });
      },
    );
    return initPromise;
  };

  // An error nobody caught is logged and the thread carries on: a request it broke runs into
  // its timeout, and then the thread is replaced. (Left alone, it would end the thread, and one
  // that ended while starting would stop Piscina from starting replacements.)
  const uncaught = (error: unknown) => notifyParent({ stackware: 'uncaught', threadId, error: describeError(error) });
  process.on('uncaughtException', uncaught);
  process.on('unhandledRejection', uncaught);

  // This thread's request channel: one end goes to the server thread, the other carries every
  // request's messages (tagged with the request id).
  const { port1: requestPort, port2 } = new MessageChannel();
  const channels = new Map<number, RequestChannel>();
  requestPort.on('message', (message: Tagged<MainMessage>) => channels.get(message.id)?.onMessage(message));
  notifyParent({ stackware: 'port', threadId, port: port2 }, [port2]);

  void initialise();

  // Heap + external memory of this thread (an isolate's own figures; RSS is the whole process's).
  const maxMemoryBytes = config.maxMemoryBytes ?? 0;
  let current: RequestChannel | undefined;
  let overMemory = false;
  const checkMemory = (): boolean => {
    if (maxMemoryBytes <= 0 || overMemory) return overMemory;
    // V8's own figures (no /proc read, unlike process.memoryUsage(), which also measures RSS).
    const heap = getHeapStatistics();
    const used = heap.used_heap_size + heap.external_memory;
    if (used <= maxMemoryBytes) return false;
    overMemory = true;
    clearInterval(monitor);
    // The server thread answers the request in progress 503 and terminates this thread; its task
    // never settles, so Piscina gives this thread no other request (the initFailed path).
    current?.post({ t: 'overMemory', reason: `${MEMORY_LIMIT_MESSAGE} (${Math.round(used / 1048576)} MiB of heap and external memory > ${Math.round(maxMemoryBytes / 1048576)} MiB)` });
    return true;
  };
  const monitor = setInterval(checkMemory, 250);
  monitor.unref();

  return async function handle(task: RequestTask): Promise<TaskResult> {
    const channel = new RequestChannel(task.id, requestPort, task.windowBytes, channels);
    channel.post({ t: 'started', initialising: state !== 'ready' });
    if (state !== 'ready') {
      // Fail a request only after an attempt that began after it arrived: a pending attempt that
      // fails (it may have read the file before a fix) is followed by one retry.
      if (state === 'pending') await initPromise;
      if ((state as InitState) === 'failed') await initialise();
      if ((state as InitState) !== 'ready') {
        // The server thread answers 503 and terminates this thread (the task never settles).
        channel.post({ t: 'initFailed', reason: failure });
        return new Promise<never>(() => {});
      }
      channel.post({ t: 'ready' });
    }
    if (overMemory) {
      // Went over between requests: this thread is being replaced; the request gets 503.
      channel.post({ t: 'overMemory', reason: `${MEMORY_LIMIT_MESSAGE} (found between requests)` });
      return new Promise<never>(() => {});
    }
    current = channel;
    await channel.run(app!, task);
    current = undefined;
    served++;
    // Over the memory limit after a request that completed: recycle the thread like maxRequestsPerThread.
    const retire = (config.maxRequestsPerThread > 0 && served >= config.maxRequestsPerThread) || checkMemory();
    const end = channel.takePendingEnd();
    channel.post({ t: 'done', retire, end }, end?.chunk ? [end.chunk.buffer as ArrayBuffer] : undefined);
    // A retiring thread's task never settles, so Piscina gives it no other request: the server
    // thread terminates it (Piscina starts a replacement) right after this message.
    if (retire) return new Promise<never>(() => {});
    channel.finish();
    return { ok: true };
  };
}

/** The worker's end of one request: the port sink, the request-body source and the forwarded errors. */
class RequestChannel {
  private credit: number;
  private readonly cancelController = new AbortController();
  private creditWaiter: (() => void) | undefined;
  private inputWaiter: ((message: MainMessage) => void) | undefined;
  private fileWaiter: ((message: MainMessage) => void) | undefined;
  private pending: ResponseStart | undefined;
  private pendingEnd: Extract<WorkerMessage, { t: 'end' }> | undefined;
  /** The last chunk written, held back for a moment so that it can travel with the end. */
  private heldChunk: Uint8Array | undefined;
  private heldStart: ResponseStart | undefined;
  private flushScheduled = false;
  private open = true;

  constructor(private readonly id: number, private readonly port: MessagePort, windowBytes: number, private readonly channels: Map<number, RequestChannel>) {
    this.credit = windowBytes;
    channels.set(id, this);
  }

  post(message: WorkerMessage, transfer?: ArrayBuffer[]): void {
    if (this.open) this.port.postMessage({ ...message, id: this.id } satisfies Tagged<WorkerMessage>, transfer);
  }

  onMessage(message: MainMessage): void {
    switch (message.t) {
      case 'credit':
        this.credit += message.bytes;
        this.wake();
        break;
      case 'cancel':
        this.cancelController.abort();
        this.wake();
        this.inputWaiter?.(message);
        this.fileWaiter?.(message);
        break;
      case 'fileSent':
        this.fileWaiter?.(message);
        break;
      default:
        this.inputWaiter?.(message);
    }
  }

  private wake(): void {
    const waiter = this.creditWaiter;
    this.creditWaiter = undefined;
    waiter?.();
  }

  /** The status and headers, once, for the first body event. */
  private takeStart(): ResponseStart | undefined {
    const start = this.pending;
    this.pending = undefined;
    return start;
  }

  /** Posts the held-back chunk, if any. */
  private postHeldChunk(): void {
    const chunk = this.heldChunk;
    if (!chunk) return;
    this.heldChunk = undefined;
    const start = this.heldStart;
    this.heldStart = undefined;
    this.post({ t: 'chunk', chunk, start }, [chunk.buffer as ArrayBuffer]);
  }

  /** The end of the response when it has not been posted yet (it then travels with 'done'). */
  takePendingEnd(): Extract<WorkerMessage, { t: 'end' }> | undefined {
    const end = this.pendingEnd;
    this.pendingEnd = undefined;
    return end;
  }

  private async *inputSource(): AsyncGenerator<Uint8Array> {
    let ended = false;
    try {
      for (;;) {
        if (this.cancelController.signal.aborted) throw new Error('The client went away while the request body was being read');
        const next = new Promise<MainMessage>((resolve) => { this.inputWaiter = resolve; });
        this.post({ t: 'pull' });
        const message = await next;
        this.inputWaiter = undefined;
        if (message.t === 'input') yield message.chunk;
        else if (message.t === 'inputEnd') { ended = true; return; }
        else if (message.t === 'inputError') { ended = true; throw new Error(message.message); }
        else throw new Error('The client went away while the request body was being read');
      }
    } finally {
      if (!ended) this.post({ t: 'inputReturn' });
    }
  }

  private sink(): ResponseSink {
    const signal = this.cancelController.signal;
    return {
      signal,
      sendHeaders: (status, headers, contentLength) => {
        this.pending = { status, headers, contentLength };
      },
      write: async (chunk) => {
        while (this.credit <= 0 && !signal.aborted) await new Promise<void>((resolve) => { this.creditWaiter = resolve; });
        if (signal.aborted) return;
        const copy = detachableCopy(chunk);
        this.credit -= copy.byteLength;
        // Held until the next write, the end, or the next turn of the event loop, whichever
        // comes first: a response of one chunk then travels in one message with its end.
        this.postHeldChunk();
        this.heldChunk = copy;
        this.heldStart = this.takeStart();
        if (!this.flushScheduled) {
          this.flushScheduled = true;
          setImmediate(() => {
            this.flushScheduled = false;
            this.postHeldChunk();
          });
        }
      },
      sendFile: async (file: FileWrapper, length: number) => {
        this.postHeldChunk();
        const reply = new Promise<MainMessage>((resolve) => { this.fileWaiter = resolve; });
        this.post({ t: 'file', path: file.path, fd: file.fd, offset: file.offset, length, start: this.takeStart() });
        const message = await reply;
        this.fileWaiter = undefined;
        if (message.t === 'fileSent' && message.error) throw new Error(message.error);
      },
      end: async () => {
        // Held back until the body is closed (usually at once), so that the end and 'done' travel
        // in one message; a close() that takes longer does not delay the response.
        const chunk = this.heldChunk;
        this.heldChunk = undefined;
        this.pendingEnd = chunk ? { t: 'end', start: this.heldStart, chunk } : { t: 'end', start: this.takeStart() };
        this.heldStart = undefined;
        setImmediate(() => {
          const end = this.takePendingEnd();
          if (end) this.post(end, end.chunk ? [end.chunk.buffer as ArrayBuffer] : undefined);
        });
      },
      abort: (error) => {
        this.postHeldChunk();
        this.post({ t: 'abort', message: error instanceof Error ? error.message : String(error), start: this.takeStart() });
      },
    };
  }

  /** Runs the application for this request to the end (body closed). */
  async run(app: Application, task: RequestTask): Promise<void> {
    const environ = task.environ as Environ;
    environ['stackware.input'] = createInput(this.inputSource());
    environ['stackware.errors'] = { write: (text: string) => (this.open ? this.post({ t: 'log', text: String(text) }) : process.stderr.write(String(text))) };
    environ['stackware.file_wrapper'] = fileWrapper;
    environ['stackware.multithread'] = true;
    await runApplication(app, environ, this.sink(), { head: task.head });
  }

  /** Normal end: the thread takes the next task. */
  finish(): void {
    this.open = false;
    this.channels.delete(this.id);
  }
}
