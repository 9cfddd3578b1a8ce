import { createReadStream } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FileWrapper, Headers, ResponseSink } from '@stackware/gateway';
import { ResponseSignal } from './response-signal.js';

const SINK = Symbol('stackware.sink');

/** 'close' listener shared by every response (no per-request closure): the client went away unless the response finished. */
function onResponseClose(this: ServerResponse & { [SINK]?: HttpSink }): void {
  const sink = this[SINK];
  if (sink && !this.writableFinished) sink.signal.abort();
}

/** Size of each read when sending a file (bytes): large enough to keep the thread-pool round trips few. */
const FILE_READ_BYTES = 512 * 1024;

/**
 * The node:http side of one response ({@link ResponseSink} for `runApplication`):
 * - `sendHeaders` writes the status line and headers with `writeHead` (Content-Length added when the
 *   driver knows it and the application did not set it; node adds Date — cached per second — and
 *   uses chunked coding on HTTP/1.1 otherwise; no body for HEAD, 1xx, 204 and 304);
 * - `write` honours backpressure (waits for `drain`) and settles when the client goes away;
 * - `sendFile` pipes a file region from disk (fs.createReadStream, 512 KiB reads, backpressure);
 * - `abort` destroys the connection so the client sees a truncated response;
 * - `signal` fires when the client goes away before the end, or when the server answered early
 *   (timeout 504, body too large 413).
 */
export class HttpSink implements ResponseSink {
  readonly signal = new ResponseSignal();
  /** Last time the application or, while {@link waitingOnClient}, the client made progress (performance.now() ms). */
  lastActivity: number;
  /** True while the server waits on the client (a write waiting for drain, a file being piped, a body read): clientTimeoutMs applies instead of timeoutMs. */
  waitingOnClient = false;
  /** Set when the server answered by itself (413, 504): the status code sent. */
  earlyStatus = 0;
  /** Add `Connection: close` to the response (graceful shutdown in progress). */
  closeConnection = false;

  constructor(
    readonly res: ServerResponse,
    private readonly serverHeader: string,
    now: number,
  ) {
    this.lastActivity = now;
    (res as ServerResponse & { [SINK]?: HttpSink })[SINK] = this;
    res.on('close', onResponseClose);
  }

  /** The sink of a response this class serves, if any. */
  static of(res: ServerResponse): HttpSink | undefined {
    return (res as ServerResponse & { [SINK]?: HttpSink })[SINK];
  }

  /** True once the response is over for the application: client gone or early answer sent. */
  get done(): boolean {
    return this.signal.aborted;
  }

  sendHeaders(status: string, headers: Headers, contentLength: number | undefined): void {
    if (this.done) return;
    this.lastActivity = performance.now();
    const code = (status.charCodeAt(0) - 48) * 100 + (status.charCodeAt(1) - 48) * 10 + (status.charCodeAt(2) - 48);
    const flat: string[] = [];
    let hasLength = false;
    for (let i = 0; i < headers.length; i++) {
      const header = headers[i]!;
      const name = header[0];
      flat.push(name, header[1]);
      if (name.length === 14 && !hasLength && name.toLowerCase() === 'content-length') hasLength = true;
    }
    if (!hasLength && contentLength !== undefined && code >= 200 && code !== 204 && code !== 304) flat.push('Content-Length', String(contentLength));
    if (this.serverHeader) flat.push('Server', this.serverHeader);
    if (this.closeConnection) flat.push('Connection', 'close');
    this.res.writeHead(code, status.slice(4), flat);
  }

  write(chunk: Uint8Array): void | Promise<void> {
    if (this.done) return;
    this.lastActivity = performance.now();
    if (this.res.write(chunk)) return; // taken at once: the driver goes on synchronously
    return this.drain();
  }

  private drain(): Promise<void> {
    const res = this.res;
    this.waitingOnClient = true;
    return new Promise<void>((resolve) => {
      const done = () => {
        res.off('drain', done);
        res.off('close', done);
        this.waitingOnClient = false;
        this.lastActivity = performance.now();
        resolve();
      };
      res.on('drain', done);
      res.on('close', done);
    });
  }

  sendFile(file: FileWrapper, length: number): Promise<void> {
    if (this.done) return Promise.resolve();
    const res = this.res;
    const start = file.offset;
    const end = file.offset + length - 1;
    const stream = file.path !== undefined
      ? createReadStream(file.path, { start, end, highWaterMark: FILE_READ_BYTES })
      : createReadStream('', { fd: file.fd!, autoClose: false, start, end, highWaterMark: FILE_READ_BYTES });
    this.waitingOnClient = true;
    return new Promise<void>((resolve, reject) => {
      const cleanup = () => {
        this.waitingOnClient = false;
        this.lastActivity = performance.now();
        res.off('close', onClose);
        stream.unpipe(res);
      };
      const onClose = () => {
        cleanup();
        stream.destroy();
        resolve();
      };
      // each chunk read means the client took the previous ones (pipe backpressure): progress
      stream.on('data', () => {
        this.lastActivity = performance.now();
      });
      stream.once('end', () => {
        cleanup();
        resolve();
      });
      stream.once('error', (error) => {
        cleanup();
        stream.destroy();
        reject(error);
      });
      res.once('close', onClose);
      stream.pipe(res, { end: false });
    });
  }

  end(): void {
    if (!this.done) this.res.end();
  }

  abort(): void {
    const socket = this.res.socket;
    if (socket && !socket.destroyed && this.res.headersSent) {
      // Bytes already handed to node:http may still sit corked until the next tick: flush them, then
      // close the connection, so the client sees the response cut short (no final chunk, or short
      // of Content-Length) rather than a connection reset with nothing at all.
      while (socket.writableCorked) socket.uncork();
      socket.end();
      const timer = setTimeout(() => socket.destroy(), 1000);
      timer.unref();
      socket.once('close', () => clearTimeout(timer));
    } else {
      this.res.destroy();
    }
    if (!this.done) this.signal.abort();
  }

  /**
   * Answers by the server itself (408 client too slow, 413 body too large, 504 timeout) and stops the application's
   * response. Before headers: a plain-text response with `Connection: close`. After: the connection
   * is destroyed (truncated response).
   */
  answerEarly(code: number, reason: string, message: string): void {
    if (this.done) return;
    const res = this.res;
    this.earlyStatus = code;
    this.signal.abort();
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const body = Buffer.from(message + '\n');
    res.writeHead(code, reason, ['Content-Type', 'text/plain; charset=utf-8', 'Content-Length', String(body.length), 'Connection', 'close', ...(this.serverHeader ? ['Server', this.serverHeader] : [])]);
    res.end(body);
  }
}

/** Sends a small plain-text error response and closes the connection (requests refused before the application runs). */
export function plainResponse(req: IncomingMessage, res: ServerResponse, code: number, reason: string, message: string, serverHeader: string): void {
  const body = Buffer.from(message + '\n');
  res.writeHead(code, reason, ['Content-Type', 'text/plain; charset=utf-8', 'Content-Length', String(body.length), 'Connection', 'close', ...(serverHeader ? ['Server', serverHeader] : [])]);
  res.end(req.method === 'HEAD' ? undefined : body);
}
