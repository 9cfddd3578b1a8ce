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
import { transferableEnviron } from './environ-transfer.js';
import { detachableCopy, type MainMessage, type RequestTask, type ResponseStart, type Tagged, type WorkerMessage } from './protocol.js';

/** What the relay needs from its pool. */
export interface RelayContext {
  piscina: Piscina;
  /** Per-request timeout while the thread works (0: none), in ms. */
  timeoutMs: number;
  /** Extra time for a request that has to wait for the thread's initialisation, in ms. */
  initTimeoutMs: number;
  windowBytes: number;
  /** Routes the messages of request `id` (from whichever thread runs it) to `onMessage`. */
  register(id: number, onMessage: (message: WorkerMessage, port: MessagePort) => void): void;
  unregister(id: number): void;
  /** Pool-level log. */
  log(text: string): void;
  /** Counts settle here (to bound the queue). */
  onSettled(): void;
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

/**
 * Runs one request on the pool. Resolves once the response starts (status and headers known)
 * with the body to return, after calling `startResponse`; a request that fails before that gets
 * the pool's own answer: 504 (timeout), 503 (thread out of memory or gone, application failed to
 * initialise).
 */
export function relay(context: RelayContext, environ: Environ, startResponse: StartResponse): Promise<ResponseBody> {
  const id = nextId++;
  // The channel of the thread that runs the request, known from its first message ('started').
  let port: MessagePort | undefined;
  const controller = new AbortController();
  const errors = environ['stackware.errors'];
  const input = environ['stackware.input'];
  let inputIterator: AsyncIterator<Uint8Array> | undefined;
  let inputDone = false;

  let resolveStart!: (body: ResponseBody) => void;
  const started = new Promise<ResponseBody>((resolve) => { resolveStart = resolve; });
  let startInfo: ResponseStart | undefined;
  let responded = false;
  let ending: Ending | undefined;
  let cancelled = false;
  let retiring = false;
  let killReason: 'timeout' | undefined;
  const queue: Buffer[] = [];
  let consumer: (() => void) | undefined;
  let finished = false;
  // Response bytes received but not yet acknowledged: at windowBytes the thread waits for credit,
  // which is the server's doing (a slow client), so the watchdog pauses.
  let unacked = 0;
  let creditPaused = false;

  const post = (message: MainMessage, transfer?: ArrayBuffer[]) => {
    if (!finished && port) port.postMessage({ ...message, id } satisfies Tagged<MainMessage>, transfer);
  };
  const wakeConsumer = () => {
    const c = consumer;
    consumer = undefined;
    c?.();
  };

  const watchdog = new Watchdog(() => {
    killReason = 'timeout';
    const message = `Gateway Timeout: the application did not answer within ${context.timeoutMs} ms; its thread was replaced`;
    errors.write(`threadpool: ${environ.REQUEST_METHOD} ${environ.REQUEST_URI ?? environ.PATH_INFO}: ${message}\n`);
    context.onReplaced('timeout');
    fail({ status: statusLine(504), message });
    controller.abort(new Error('timeout'));
  });

  /** Ends the request with a failure: before the response started, an answer of the pool's own; after, a broken body. */
  function fail(failure: Failure): void {
    if (!responded) {
      responded = true;
      ending = { kind: 'end' };
      resolveStart(failureResponse(startResponse, failure));
    } else if (!ending) {
      ending = { kind: 'error', error: new Error(failure.message) };
      wakeConsumer();
    }
    cleanup();
  }

  function cleanup(): void {
    if (finished) return;
    finished = true;
    watchdog.stop();
    context.unregister(id);
    if (inputIterator && !inputDone) void inputIterator.return?.().catch(() => {});
  }

  function respond(first: WorkerMessage): void {
    if (responded || !startInfo) return;
    responded = true;
    const { status, headers, contentLength } = startInfo;
    const out = headers.slice();
    if (contentLength !== undefined && !NO_BODY.test(status) && !out.some(([n]) => n.toLowerCase() === 'content-length')) {
      out.push(['Content-Length', String(contentLength)]);
    }
    if (first.t === 'file') {
      startResponse(status, out);
      resolveStart(fileBody(first));
      return;
    }
    startResponse(status, out);
    resolveStart(streamBody());
  }

  function fileBody(message: Extract<WorkerMessage, { t: 'file' }>): FileWrapper {
    watchdog.pause();
    const factory = environ['stackware.file_wrapper'] ?? fileWrapper;
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
      watchdog.resume();
      post({ t: 'fileSent', ...(error ? { error: String(error) } : {}) });
      if (error) throw error;
    };
    return wrapper;
  }

  function streamBody(): ResponseBody {
    const cancel = () => {
      if (cancelled || finished) return;
      cancelled = true;
      if (ending?.kind !== 'end') post({ t: 'cancel' });
    };
    const iterator: AsyncIterator<Uint8Array> = {
      async next() {
        for (;;) {
          const chunk = queue.shift();
          if (chunk) {
            unacked -= chunk.byteLength;
            if (creditPaused && unacked < context.windowBytes) {
              creditPaused = false;
              watchdog.resume();
            }
            // Once the end has arrived, nobody waits for credit.
            if (!ending) post({ t: 'credit', bytes: chunk.byteLength });
            return { value: chunk, done: false };
          }
          if (ending?.kind === 'end') return { value: undefined, done: true };
          if (ending?.kind === 'error') throw ending.error;
          if (cancelled) return { value: undefined, done: true };
          await new Promise<void>((resolve) => { consumer = resolve; });
        }
      },
      async return() {
        cancel();
        return { value: undefined, done: true };
      },
    };
    return {
      [Symbol.asyncIterator]: () => iterator,
      close: cancel,
    };
  }

  async function pullInput(): Promise<void> {
    watchdog.pause();
    try {
      inputIterator ??= input[Symbol.asyncIterator]();
      const step = await inputIterator.next();
      if (step.done) {
        inputDone = true;
        post({ t: 'inputEnd' });
      } else {
        const copy = detachableCopy(step.value);
        post({ t: 'input', chunk: copy }, [copy.buffer as ArrayBuffer]);
      }
    } catch (error) {
      inputDone = true;
      post({ t: 'inputError', message: error instanceof Error ? error.message : String(error) });
    } finally {
      watchdog.resume();
    }
  }

  context.register(id, (message, from) => {
    if (finished) return;
    port ??= from;
    watchdog.restart();
    if ('start' in message && message.start) startInfo = message.start;
    switch (message.t) {
      case 'started':
        watchdog.arm(message.initialising ? context.initTimeoutMs + context.timeoutMs : context.timeoutMs);
        break;
      case 'ready':
        watchdog.arm(context.timeoutMs);
        break;
      case 'chunk': {
        const chunk = message.chunk;
        queue.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
        unacked += chunk.byteLength;
        if (!creditPaused && unacked >= context.windowBytes) {
          creditPaused = true;
          watchdog.pause();
        }
        respond(message);
        wakeConsumer();
        break;
      }
      case 'file':
        respond(message);
        break;
      case 'end':
        ending ??= { kind: 'end' };
        respond(message);
        wakeConsumer();
        break;
      case 'abort':
        respond(message);
        ending ??= { kind: 'error', error: new Error(`The application failed after the response started: ${message.message}`) };
        wakeConsumer();
        break;
      case 'pull':
        void pullInput();
        break;
      case 'inputReturn':
        if (inputIterator && !inputDone) {
          inputDone = true;
          void inputIterator.return?.().catch(() => {});
        }
        break;
      case 'log':
        errors.write(message.text);
        break;
      case 'initFailed':
        errors.write(`threadpool: the application failed to initialise: ${message.reason}\n`);
        context.onReplaced('init');
        fail({ status: statusLine(503), message: 'Service Unavailable: the application failed to start; the reason is in the server log' });
        retiring = true;
        controller.abort(new Error('retire'));
        break;
      case 'overMemory':
        errors.write(`threadpool: ${environ.REQUEST_METHOD} ${environ.REQUEST_URI ?? environ.PATH_INFO}: ${message.reason}; the thread was replaced\n`);
        context.onReplaced('memory');
        fail({ status: statusLine(503), message: 'Service Unavailable: the request exhausted its thread\'s memory; the thread was replaced' });
        retiring = true;
        controller.abort(new Error('retire'));
        break;
      case 'done':
        if (message.end) {
          if (message.end.start) startInfo = message.end.start;
          ending ??= { kind: 'end' };
          respond(message.end);
          wakeConsumer();
        }
        finishNormally();
        if (message.retire) {
          retiring = true;
          context.onReplaced('recycle');
          controller.abort(new Error('retire'));
        }
        break;
    }
  });

  function finishNormally(): void {
    if (!ending) {
      // The handler ended without 'end' or 'abort' (it should not): treat as a broken response.
      fail({ status: statusLine(500), message: 'Internal Server Error: the thread ended the request without a response' });
      return;
    }
    cleanup();
  }

  const task: RequestTask = {
    id,
    environ: transferableEnviron(environ),
    head: environ.REQUEST_METHOD === 'HEAD',
    windowBytes: context.windowBytes,
  };
  void context.piscina.run(task, { signal: controller.signal }).then(
    () => {
      context.onSettled();
    },
    (error: unknown) => {
      context.onSettled();
      if (retiring || killReason) return;
      const code = (error as { code?: string }).code;
      if (code === 'ERR_WORKER_OUT_OF_MEMORY') {
        errors.write(`threadpool: ${environ.REQUEST_METHOD} ${environ.REQUEST_URI ?? environ.PATH_INFO}: the thread reached its memory limit (resourceLimits) and was replaced\n`);
        context.onReplaced('memory');
        fail({ status: statusLine(503), message: 'Service Unavailable: the request exhausted its thread\'s memory; the thread was replaced' });
      } else {
        errors.write(`threadpool: ${environ.REQUEST_METHOD} ${environ.REQUEST_URI ?? environ.PATH_INFO}: the thread failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
        context.onReplaced('crash');
        fail({ status: statusLine(503), message: 'Service Unavailable: the application thread failed; the reason is in the server log' });
      }
    },
  );
  return started;
}
