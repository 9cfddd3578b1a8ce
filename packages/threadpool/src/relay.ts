/**
 * The server-thread side of one request: sends the task to the pool, feeds the request body to
 * the thread as it asks for it, and turns the thread's messages back into status, headers and a
 * streamed body (or a file wrapper), with a watchdog for the per-request timeout.
 */
import type { MessagePort } from 'node:worker_threads';
import type { Piscina } from 'piscina';
import {
  fileWrapper, statusLine,
  type Environ, type FileWrapper, type Headers, type ResponseBody, type StartResponse,
} from '@stackware/gateway';
import { IN_FLIGHT_KEY, type InFlightRequest } from '@stackware/server';
import { transferableEnviron } from './environ-transfer.js';
import { detachableCopy, type MainMessage, type RequestTask, type ResponseStart, type Tagged, type WorkerMessage } from './protocol.js';

/** What the relay needs from its pool. */
export interface RelayContext {
  /** The pool's name (its group), for the status page's "POOL #THREAD_ID". */
  name: string;
  piscina: Piscina;
  /** Per-request timeout while the thread works (0: none), in ms. */
  timeoutMs: number;
  /** Extra time for a request that has to wait for the thread's initialisation, in ms. */
  initTimeoutMs: number;
  windowBytes: number;
  /** Routes the messages of request `id` (from whichever thread runs it, `threadId`) to `onMessage`. */
  register(id: number, onMessage: (message: WorkerMessage, port: MessagePort, threadId: number) => void): void;
  unregister(id: number): void;
  /** Pool-level log. */
  log(text: string): void;
  /** Counts settle here (to bound the queue). */
  onSettled(): void;
  /** Terminates thread `threadId` (its task fails, Piscina starts a replacement). */
  terminate(threadId: number): void;
  /** A thread died or was terminated (for stats). */
  onReplaced(reason: 'timeout' | 'memory' | 'crash' | 'recycle' | 'init'): void;
}

/** Failure of a request before the response started: status line and a short plain-text reason. */
interface Failure {
  status: string;
  message: string;
  headers?: Headers;
}

/** An answer produced by the pool itself (503, 504). */
export function failureResponse(startResponse: StartResponse, failure: Failure): ResponseBody {
  const body = Buffer.from(`${failure.message}\n`);
  startResponse(failure.status, [['Content-Type', 'text/plain; charset=utf-8'], ['Content-Length', String(body.length)], ...(failure.headers ?? [])]);
  return [body];
}

const NO_BODY = /^(1\d\d|204|304)/;

let nextId = 1;

/**
 * A per-request countdown that starts over on progress and can be paused while the server thread
 * (not the worker) is the one to act. Progress only records a time; the one timer checks it when
 * it fires and sleeps for the rest (no timer churn per message).
 */
class Watchdog {
  private timer: NodeJS.Timeout | undefined;
  private pauses = 0;
  private stopped = false;
  private limitMs = 0;
  private last = 0;

  constructor(private readonly onExpire: () => void) {}

  /** Starts the countdown with `limitMs` (0: no limit). */
  arm(limitMs: number): void {
    this.limitMs = limitMs;
    this.last = performance.now();
    this.clear();
    this.schedule(limitMs);
  }

  /** Progress: the countdown starts over. */
  restart(): void {
    this.last = performance.now();
    if (!this.timer) this.schedule(this.limitMs);
  }

  private schedule(delayMs: number): void {
    if (this.stopped || this.pauses > 0 || this.limitMs <= 0) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (this.stopped || this.pauses > 0) return;
      const remaining = this.last + this.limitMs - performance.now();
      if (remaining > 1) {
        this.schedule(remaining);
        return;
      }
      this.stopped = true;
      this.onExpire();
    }, delayMs);
  }

  pause(): void {
    this.pauses++;
    this.clear();
  }

  resume(): void {
    this.pauses = Math.max(0, this.pauses - 1);
    if (this.pauses === 0) this.restart();
  }

  stop(): void {
    this.stopped = true;
    this.clear();
  }

  private clear(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}

type Ending = { kind: 'end' } | { kind: 'error'; error: Error };
type RetireReason = Parameters<RelayContext['onReplaced']>[0];

/**
 * Runs one request on the pool. Resolves once the response starts (status and headers known)
 * with the body to return, after calling `startResponse`; a request that fails before that gets
 * the pool's own answer: 504 (timeout), 503 (thread out of memory or gone, application failed to
 * initialise).
 */
export function relay(context: RelayContext, environ: Environ, startResponse: StartResponse): Promise<ResponseBody> {
  return new RelayedRequest(context, environ, startResponse).start();
}

/**
 * One request on its way through the pool, from the server thread's side. The steps, in order:
 * {@link start} sends the task; {@link onMessage} routes each of the thread's messages; the first
 * body event makes {@link respond} call `startResponse` and hand back a {@link streamBody} or a
 * {@link fileBody}; {@link pullInput} feeds the request body on demand; {@link finishNormally},
 * {@link fail} or {@link retire} end it, and {@link cleanup} releases what it holds.
 */
class RelayedRequest {
  private readonly id = nextId++;
  /** The channel of the thread that runs the request, known from its first message ('started'). */
  private port: MessagePort | undefined;
  /** That thread's id: a timed-out or retiring request's thread is terminated by id (no AbortSignal per request). */
  private threadId = -1;
  private inputIterator: AsyncIterator<Uint8Array> | undefined;
  private inputDone = false;
  private resolveStart!: (body: ResponseBody) => void;
  private startInfo: ResponseStart | undefined;
  private responded = false;
  private ending: Ending | undefined;
  private cancelled = false;
  private retiring = false;
  private killReason: 'timeout' | undefined;
  private readonly queue: Buffer[] = [];
  private consumer: (() => void) | undefined;
  private finished = false;
  /**
   * Response bytes received but not yet acknowledged: at windowBytes the thread waits for credit,
   * which is the server's doing (a slow client), so the watchdog pauses.
   */
  private unacked = 0;
  private creditPaused = false;
  /** Bytes taken by the server and not yet credited to the thread: credit goes in batches of half a window. */
  private uncredited = 0;
  private readonly watchdog: Watchdog;

  constructor(private readonly context: RelayContext, private readonly environ: Environ, private readonly startResponse: StartResponse) {
    this.watchdog = new Watchdog(() => this.timedOut());
  }

  /** Sends the task to the pool; resolves with the response body once the response starts. */
  start(): Promise<ResponseBody> {
    const started = new Promise<ResponseBody>((resolve) => { this.resolveStart = resolve; });
    this.context.register(this.id, (message, from, threadId) => this.onMessage(message, from, threadId));
    const task: RequestTask = {
      id: this.id,
      environ: transferableEnviron(this.environ),
      head: this.environ.REQUEST_METHOD === 'HEAD',
      windowBytes: this.context.windowBytes,
    };
    void this.context.piscina.run(task).then(
      () => this.context.onSettled(),
      (error: unknown) => this.taskFailed(error),
    );
    return started;
  }

  /** "METHOD uri" for log lines. */
  private describe(): string {
    return `${this.environ.REQUEST_METHOD} ${this.environ.REQUEST_URI ?? this.environ.PATH_INFO}`;
  }

  private post(message: MainMessage, transfer?: ArrayBuffer[]): void {
    if (!this.finished && this.port) this.port.postMessage({ ...message, id: this.id } satisfies Tagged<MainMessage>, transfer);
  }

  private wakeConsumer(): void {
    const c = this.consumer;
    this.consumer = undefined;
    c?.();
  }

  /** The watchdog fired: 504, and the thread is replaced. */
  private timedOut(): void {
    this.killReason = 'timeout';
    const message = `Gateway Timeout: the application did not answer within ${this.context.timeoutMs} ms; its thread was replaced`;
    this.environ['stackware.errors'].write(`threadpool: ${this.describe()}: ${message}\n`);
    this.context.onReplaced('timeout');
    this.fail({ status: statusLine(504), message });
    this.context.terminate(this.threadId);
  }

  /** Ends the request with a failure: before the response started, an answer of the pool's own; after, a broken body. */
  private fail(failure: Failure): void {
    if (!this.responded) {
      this.responded = true;
      this.ending = { kind: 'end' };
      this.resolveStart(failureResponse(this.startResponse, failure));
    } else if (!this.ending) {
      this.ending = { kind: 'error', error: new Error(failure.message) };
      this.wakeConsumer();
    }
    this.cleanup();
  }

  /** The thread must go (`reason` counted in the stats): its task is aborted and Piscina replaces it. */
  private retire(reason: RetireReason, failure?: Failure): void {
    this.context.onReplaced(reason);
    if (failure) this.fail(failure);
    this.retiring = true;
    this.context.terminate(this.threadId);
  }

  private cleanup(): void {
    if (this.finished) return;
    this.finished = true;
    this.watchdog.stop();
    this.context.unregister(this.id);
    if (this.inputIterator && !this.inputDone) void this.inputIterator.return?.().catch(() => {});
  }

  /** The first body event: status and headers go to `startResponse`, the body to the caller. */
  private respond(first: WorkerMessage): void {
    if (this.responded || !this.startInfo) return;
    this.responded = true;
    const { status, headers, contentLength } = this.startInfo;
    const out = headers.slice();
    if (contentLength !== undefined && !NO_BODY.test(status) && !out.some(([n]) => n.toLowerCase() === 'content-length')) {
      out.push(['Content-Length', String(contentLength)]);
    }
    this.startResponse(status, out);
    this.resolveStart(first.t === 'file' ? this.fileBody(first) : this.streamBody());
  }

  /** A file wrapper the server sends; the thread waits for 'fileSent' (the watchdog pauses meanwhile). */
  private fileBody(message: Extract<WorkerMessage, { t: 'file' }>): FileWrapper {
    this.watchdog.pause();
    const factory = this.environ['stackware.file_wrapper'] ?? fileWrapper;
    const wrapper = factory(message.path ?? message.fd!, { offset: message.offset, length: message.length });
    const innerClose = wrapper.close.bind(wrapper);
    let closed = false;
    wrapper.close = async () => {
      if (closed) return;
      closed = true;
      let error: unknown;
      try {
        await innerClose();
      } catch (e) {
        error = e;
      }
      this.watchdog.resume();
      this.post({ t: 'fileSent', ...(error ? { error: String(error) } : {}) });
      if (error) throw error;
    };
    return wrapper;
  }

  /** The client went away (the body was closed early): the thread stops the response. */
  private cancel(): void {
    if (this.cancelled || this.finished) return;
    this.cancelled = true;
    if (this.ending?.kind !== 'end') this.post({ t: 'cancel' });
  }

  /** The next queued response chunk, acknowledged to the thread (credit); waits for one to arrive. */
  private async nextChunk(): Promise<IteratorResult<Uint8Array>> {
    for (;;) {
      const chunk = this.queue.shift();
      if (chunk) {
        this.unacked -= chunk.byteLength;
        if (this.creditPaused && this.unacked < this.context.windowBytes) {
          this.creditPaused = false;
          this.watchdog.resume();
        }
        // Credit in batches of half a window (a thread that waits for credit has a full window
        // out, so a batch is always due by then); once the end has arrived, nobody waits for it.
        this.uncredited += chunk.byteLength;
        if (!this.ending && this.uncredited * 2 >= this.context.windowBytes) {
          this.post({ t: 'credit', bytes: this.uncredited });
          this.uncredited = 0;
        }
        return { value: chunk, done: false };
      }
      if (this.ending?.kind === 'end') return { value: undefined, done: true };
      if (this.ending?.kind === 'error') throw this.ending.error;
      if (this.cancelled) return { value: undefined, done: true };
      await new Promise<void>((resolve) => { this.consumer = resolve; });
    }
  }

  /** The streamed response body: the thread's chunks as they arrive. */
  private streamBody(): ResponseBody {
    const iterator: AsyncIterator<Uint8Array> = {
      next: () => this.nextChunk(),
      return: async () => {
        this.cancel();
        return { value: undefined, done: true };
      },
    };
    return {
      [Symbol.asyncIterator]: () => iterator,
      close: () => this.cancel(),
    };
  }

  /** The thread asked for the next request-body chunk. */
  private async pullInput(): Promise<void> {
    this.watchdog.pause();
    try {
      this.inputIterator ??= this.environ['stackware.input'][Symbol.asyncIterator]();
      const step = await this.inputIterator.next();
      if (step.done) {
        this.inputDone = true;
        this.post({ t: 'inputEnd' });
      } else {
        const copy = detachableCopy(step.value);
        this.post({ t: 'input', chunk: copy }, [copy.buffer as ArrayBuffer]);
      }
    } catch (error) {
      this.inputDone = true;
      this.post({ t: 'inputError', message: error instanceof Error ? error.message : String(error) });
    } finally {
      this.watchdog.resume();
    }
  }

  /** A response chunk arrived: queue it, pause the watchdog at a full window. */
  private onChunk(message: Extract<WorkerMessage, { t: 'chunk' }>): void {
    const chunk = message.chunk;
    this.queue.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    this.unacked += chunk.byteLength;
    if (!this.creditPaused && this.unacked >= this.context.windowBytes) {
      this.creditPaused = true;
      this.watchdog.pause();
    }
    this.respond(message);
    this.wakeConsumer();
  }

  /** The response ended normally (`last`: the message that carried the end, perhaps with the last chunk). */
  private onEnd(last: Extract<WorkerMessage, { t: 'end' }>): void {
    if (last.chunk) this.onChunk({ t: 'chunk', chunk: last.chunk, start: last.start });
    this.ending ??= { kind: 'end' };
    this.respond(last);
    this.wakeConsumer();
  }

  /** Every message of the thread for this request. */
  private onMessage(message: WorkerMessage, from: MessagePort, threadId: number): void {
    if (this.finished) return;
    if (!this.port) {
      this.port = from;
      this.threadId = threadId;
      // With metrics on, /status shows which thread serves the request.
      const counted = this.environ[IN_FLIGHT_KEY] as InFlightRequest | undefined;
      if (counted) counted.thread = `${this.context.name} #${threadId}`;
    }
    this.watchdog.restart();
    if ('start' in message && message.start) this.startInfo = message.start;
    switch (message.t) {
      case 'started':
        this.watchdog.arm(message.initialising ? this.context.initTimeoutMs + this.context.timeoutMs : this.context.timeoutMs);
        break;
      case 'ready':
        this.watchdog.arm(this.context.timeoutMs);
        break;
      case 'chunk':
        this.onChunk(message);
        break;
      case 'file':
        this.respond(message);
        break;
      case 'end':
        this.onEnd(message);
        break;
      case 'abort':
        this.respond(message);
        this.ending ??= { kind: 'error', error: new Error(`The application failed after the response started: ${message.message}`) };
        this.wakeConsumer();
        break;
      case 'pull':
        void this.pullInput();
        break;
      case 'inputReturn':
        if (this.inputIterator && !this.inputDone) {
          this.inputDone = true;
          void this.inputIterator.return?.().catch(() => {});
        }
        break;
      case 'log':
        this.environ['stackware.errors'].write(message.text);
        break;
      case 'initFailed':
        this.environ['stackware.errors'].write(`threadpool: the application failed to initialise: ${message.reason}\n`);
        this.retire('init', { status: statusLine(503), message: 'Service Unavailable: the application failed to start; the reason is in the server log' });
        break;
      case 'overMemory':
        this.environ['stackware.errors'].write(`threadpool: ${this.describe()}: ${message.reason}; the thread was replaced\n`);
        this.retire('memory', { status: statusLine(503), message: 'Service Unavailable: the request exhausted its thread\'s memory; the thread was replaced' });
        break;
      case 'done':
        this.onDone(message);
        break;
    }
  }

  /** The handler finished (the body was closed), perhaps with the response's end, perhaps retiring its thread. */
  private onDone(message: Extract<WorkerMessage, { t: 'done' }>): void {
    if (message.end) {
      if (message.end.start) this.startInfo = message.end.start;
      this.onEnd(message.end);
    }
    this.finishNormally();
    if (message.retire) this.retire('recycle');
  }

  private finishNormally(): void {
    if (!this.ending) {
      // The handler ended without 'end' or 'abort' (it should not): treat as a broken response.
      this.fail({ status: statusLine(500), message: 'Internal Server Error: the thread ended the request without a response' });
      return;
    }
    this.cleanup();
  }

  /** Piscina rejected the task: the thread died or ran out of memory (unless we aborted it ourselves). */
  private taskFailed(error: unknown): void {
    this.context.onSettled();
    if (this.retiring || this.killReason) return;
    const errors = this.environ['stackware.errors'];
    const code = (error as { code?: string }).code;
    if (code === 'ERR_WORKER_OUT_OF_MEMORY') {
      errors.write(`threadpool: ${this.describe()}: the thread reached its memory limit (resourceLimits) and was replaced\n`);
      this.context.onReplaced('memory');
      this.fail({ status: statusLine(503), message: 'Service Unavailable: the request exhausted its thread\'s memory; the thread was replaced' });
    } else {
      errors.write(`threadpool: ${this.describe()}: the thread failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      this.context.onReplaced('crash');
      this.fail({ status: statusLine(503), message: 'Service Unavailable: the application thread failed; the reason is in the server log' });
    }
  }
}
