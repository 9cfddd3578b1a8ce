import type { Application, Environ, FileWrapper, Headers, ResponseBody, WriteFunction } from './types.js';
import { isFileWrapper, resolveFileWrapperLength } from './file-wrapper.js';
import { isIterableBody } from './body.js';

/**
 * The transport side of one response, implemented by each gateway (HTTP, FastCGI, SCGI, CGI,
 * the TestClient). {@link runApplication} drives it; the sink never sees the application.
 */
export interface ResponseSink {
  /**
   * Sends the status line and headers, exactly once, right before the first body byte or the end.
   * `contentLength` is the body's length in bytes when the driver knows it (an array body, a file
   * wrapper, an empty body); the application's own Content-Length header, if any, is in `headers`.
   * With neither, an HTTP/1.1 sink uses chunked coding.
   */
  sendHeaders(status: string, headers: Headers, contentLength: number | undefined): void | Promise<void>;
  /**
   * Writes one non-empty chunk. Returns a promise that resolves when the transport can take more
   * (backpressure), or nothing when it took the chunk at once (the driver then goes on without a
   * microtask hop). A returned promise must settle when the client goes away.
   */
  write(chunk: Uint8Array): void | Promise<void>;
  /** Optional zero-copy path: sends a file wrapper's bytes from the file. */
  sendFile?(file: FileWrapper, length: number): Promise<void>;
  /** Completes the response (a promise when completing is asynchronous). */
  end(): void | Promise<void>;
  /** Breaks the response off after headers were sent: the client must see a truncated response, never a complete-looking one. */
  abort(error: unknown): void;
  /** Aborted when the client went away: the driver stops, calls `return()` on the iterator and `close()` on the body. */
  signal?: SinkSignal;
}

/**
 * What the driver uses of an abort signal: an `AbortSignal` fits; a server may pass a lighter
 * object with the same members (constructing an AbortController per request is measurable on the
 * hot path).
 */
export interface SinkSignal {
  readonly aborted: boolean;
  addEventListener(type: 'abort', listener: () => void, options?: { once?: boolean }): void;
  removeEventListener(type: 'abort', listener: () => void): void;
}

/** Where a caught error came from. */
export type ErrorPhase = 'application' | 'body' | 'close';

/** Options of {@link runApplication}. */
export interface RunOptions {
  /** A HEAD request: headers are sent, body bytes are not (the body is iterated only until its first chunk). */
  head?: boolean;
  /** Called for every error caught. Default: writes the stack to `environ['stackware.errors']`. */
  onError?: (error: unknown, phase: ErrorPhase) => void;
}

/** What happened to one response. */
export interface RunResult {
  /** The status line sent, or undefined when nothing was sent (client gone). */
  status: string | undefined;
  headersSent: boolean;
  /** Body bytes handed to the sink (0 for HEAD). */
  bytesSent: number;
  /** True when the response was sent to its end. */
  completed: boolean;
  /** True when the client went away before the end. */
  aborted: boolean;
  /**
   * True when the application failed before sending anything and the gateway answered with its
   * own complete `500 Internal Server Error` (then `completed` stays false and `bytesSent` counts
   * that page): an access log records it as a whole response, not as one cut short.
   */
  errorResponseSent?: boolean;
  /** The first error caught (application, body or close), if any. */
  error?: unknown;
}

/** Raised inside the application (from the legacy `write`) when the client has gone away. */
export class ClientDisconnectedError extends Error {
  constructor() {
    super('The client closed the connection before the response was complete');
    this.name = 'ClientDisconnectedError';
  }
}

const STATUS_RE = /^[1-9]\d\d [^\r\n\0]*$/;

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'string') return 'a string (encode it: chunks are Uint8Array)';
  if (typeof value === 'object') return `an object without an iterator (${Object.prototype.toString.call(value)})`;
  return typeof value;
}

/** Reports a caught error through `options.onError`, or by default to `environ['stackware.errors']` (no per-request closure). */
function reportError(options: RunOptions, environ: Environ, error: unknown, phase: ErrorPhase): void {
  if (options.onError) {
    options.onError(error, phase);
    return;
  }
  const text = error instanceof Error ? (error.stack ?? String(error)) : String(error);
  try {
    environ['stackware.errors'].write(`Error in ${phase}: ${text}\n`);
  } catch {
    process.stderr.write(`Error in ${phase}: ${text}\n`);
  }
}

/** True for a promise or any thenable (what `await` would wait for). */
function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (typeof value === 'object' || typeof value === 'function') && value !== null && typeof (value as { then?: unknown }).then === 'function';
}

const INTERNAL_ERROR = Buffer.from('Internal Server Error\n');

const ABORTED: unique symbol = Symbol('aborted');

/** Resolves like `promise`, or with ABORTED as soon as `signal` aborts (already aborted: at once). */
function raceAbort<T>(promise: Promise<T>, signal: SinkSignal): Promise<T | typeof ABORTED> {
  if (signal.aborted) return Promise.resolve(ABORTED);
  return new Promise((resolve, reject) => {
    const onAbort = () => resolve(ABORTED);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}

/** The state of one response, shared by the driver and the functions it hands to the application. */
interface RunState {
  sink: ResponseSink;
  head: boolean;
  result: RunResult;
  /** Status and headers given to startResponse, not sent yet. */
  pending: { status: string; headers: Headers } | undefined;
  /** The legacy write() returned by startResponse, made on its first call. */
  write: WriteFunction | undefined;
}

/** Sends the pending status and headers once; synchronous unless the sink's sendHeaders returns a promise (callers await only then). */
function sendPendingHeaders(run: RunState, contentLength: number | undefined): void | Promise<void> {
  const result = run.result;
  if (result.headersSent) return;
  if (!run.pending) throw new Error('The application produced body bytes before calling startResponse');
  result.headersSent = true;
  result.status = run.pending.status;
  try {
    return run.sink.sendHeaders(run.pending.status, run.pending.headers, contentLength);
  } catch (error) {
    // A synchronous refusal (node:http's writeHead throws on a header value it cannot send)
    // happens before any byte is written: the driver can still answer 500 instead of aborting.
    result.headersSent = false;
    result.status = undefined;
    throw error;
  }
}

/** The legacy write(): sends `chunk` at once (headers first) and resolves when the sink took it. */
async function legacyWrite(run: RunState, chunk: Uint8Array): Promise<void> {
  if (!(chunk instanceof Uint8Array)) throw new TypeError(`write() takes a Uint8Array chunk, got ${describe(chunk)}`);
  if (run.sink.signal?.aborted) throw new ClientDisconnectedError();
  if (chunk.byteLength === 0) return;
  const sent = sendPendingHeaders(run, undefined);
  if (sent) await sent;
  if (run.head) return;
  const written = run.sink.write(chunk);
  if (written) await written;
  run.result.bytesSent += chunk.byteLength;
}

/** startResponse(status, headers, error?) for one response. */
function startResponseOf(run: RunState, status: string, headers: Headers, error?: unknown): WriteFunction {
  if (error !== undefined) {
    if (run.result.headersSent) throw error;
  } else if (run.pending) {
    throw new Error('startResponse was called a second time without an error argument');
  }
  if (typeof status !== 'string' || !STATUS_RE.test(status)) throw new TypeError(`Invalid status ${JSON.stringify(status)}: use three digits, a space and a reason phrase ("200 OK")`);
  if (!Array.isArray(headers)) throw new TypeError('startResponse headers must be an array of [name, value] pairs');
  run.pending = { status, headers };
  return (run.write ??= (chunk) => legacyWrite(run, chunk));
}

/**
 * Runs one request through an application and sends the response to `sink`, implementing the
 * server side of the gateway interface (packages/gateway/SPEC.md; PEP 3333 §"The Server/Gateway Side"):
 * - `startResponse` stores status and headers; a second call is allowed only with `error`, and then
 *   replaces them before anything is sent, or rethrows `error` after.
 * - Nothing is sent before the first non-empty chunk or the end of the body; then every chunk is
 *   written as produced, awaiting the sink (backpressure). Empty chunks are skipped.
 * - The body length is passed on when known (arrays, file wrappers, empty bodies).
 * - HEAD sends headers only.
 * - `close()` is called once on every body: after success, after an error, and when the client goes
 *   away; `return()` is called on an iterator stopped early.
 * - An error before headers are sent answers a plain "500 Internal Server Error"; after, the sink is
 *   aborted so the client sees a broken response.
 * Never throws: errors are reported through `options.onError` and returned in the result.
 */
export async function runApplication(app: Application, environ: Environ, sink: ResponseSink, options: RunOptions = {}): Promise<RunResult> {
  const head = options.head ?? false;
  const result: RunResult = { status: undefined, headersSent: false, bytesSent: 0, completed: false, aborted: false };
  const run: RunState = { sink, head, result, pending: undefined, write: undefined };

  let body: ResponseBody | undefined;
  let phase: ErrorPhase = 'application';
  try {
    // An inline arrow (not a named closure): no per-request function naming on the hot path.
    const returned = app(environ, (status, headers, error) => startResponseOf(run, status, headers, error));
    body = isThenable(returned) ? await returned : returned;
    if (!isIterableBody(body)) {
      const got = describe(body);
      body = undefined;
      throw new TypeError(`The application returned ${got}, not an iterable of Uint8Array chunks`);
    }
    phase = 'body';
    let knownLength: number | undefined;
    if (Array.isArray(body)) {
      knownLength = 0;
      for (const chunk of body as unknown[]) knownLength += chunk instanceof Uint8Array ? chunk.byteLength : 0;
    } else if (isFileWrapper(body)) {
      knownLength = await resolveFileWrapperLength(body);
    }

    if (isFileWrapper(body) && run.pending && (head || sink.sendFile)) {
      const sent = sendPendingHeaders(run, knownLength);
      if (sent) await sent;
      if (!head && knownLength! > 0) {
        await sink.sendFile!(body, knownLength!);
        result.bytesSent += knownLength!;
      }
    } else {
      const iterable = body as Partial<AsyncIterable<Uint8Array>> & Partial<Iterable<Uint8Array>>;
      const iterator: Iterator<Uint8Array> | AsyncIterator<Uint8Array> = iterable[Symbol.asyncIterator]
        ? iterable[Symbol.asyncIterator]!()
        : iterable[Symbol.iterator]!();
      const isAsync = typeof iterable[Symbol.asyncIterator] === 'function';
      let finished = false;
      let abandoned = false;
      try {
        for (;;) {
          if (sink.signal?.aborted) break;
          // An async body that never yields must not pin the response once the client is gone
          // (or the server gave up): race next() against the sink's signal.
          const step = !isAsync
            ? (iterator as Iterator<Uint8Array>).next()
            : sink.signal ? await raceAbort(iterator.next() as Promise<IteratorResult<Uint8Array>>, sink.signal) : await iterator.next();
          if (step === ABORTED) {
            abandoned = true;
            break;
          }
          if (step.done) {
            finished = true;
            break;
          }
          const chunk = step.value as unknown;
          if (!(chunk instanceof Uint8Array)) throw new TypeError(`The response body yielded ${describe(chunk)}; chunks must be Uint8Array`);
          if (chunk.byteLength === 0) continue;
          const sent = sendPendingHeaders(run, knownLength);
          if (sent) await sent;
          if (head) break;
          if (sink.signal?.aborted) break;
          const written = sink.write(chunk);
          if (written) await written;
          result.bytesSent += chunk.byteLength;
        }
      } finally {
        if (!finished && typeof iterator.return === 'function') {
          if (abandoned) {
            // next() is still pending: an async generator queues return() behind it, so do not wait.
            Promise.resolve().then(() => iterator.return!()).catch((error: unknown) => reportError(options, environ, error, 'body'));
          } else {
            try {
              await iterator.return();
            } catch (error) {
              reportError(options, environ, error, 'body');
            }
          }
        }
      }
      if (finished && !result.headersSent) knownLength = head ? knownLength : 0;
    }

    if (sink.signal?.aborted) {
      result.aborted = true;
    } else {
      const sent = sendPendingHeaders(run, knownLength);
      if (sent) await sent;
      const ended = sink.end();
      if (ended) await ended;
      result.completed = true;
    }
  } catch (error) {
    if (sink.signal?.aborted) {
      result.aborted = true;
    } else {
      result.error = error;
      reportError(options, environ, error, phase);
      if (!result.headersSent) {
        try {
          result.headersSent = true;
          result.status = '500 Internal Server Error';
          await sink.sendHeaders(result.status, [['Content-Type', 'text/plain; charset=utf-8'], ['Content-Length', String(INTERNAL_ERROR.length)]], INTERNAL_ERROR.length);
          if (!head) await sink.write(INTERNAL_ERROR);
          await sink.end();
          if (!head) result.bytesSent += INTERNAL_ERROR.length;
          result.errorResponseSent = true;
        } catch (sendError) {
          sink.abort(sendError);
        }
      } else {
        sink.abort(error);
      }
    }
  } finally {
    if (body && typeof body.close === 'function') {
      try {
        // A synchronous close() keeps a synchronous response synchronous (no await, no microtask hop).
        const closing = body.close();
        if (isThenable(closing)) await closing;
      } catch (error) {
        reportError(options, environ, error, 'close');
        result.error ??= error;
      }
    }
  }
  return result;
}
