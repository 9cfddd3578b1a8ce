import { close, open, read } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FileWrapper, Headers, ResponseSink } from '@stackware/gateway';
import { ResponseSignal } from './response-signal.js';

const SINK = Symbol('stackware.sink');

/** 'close' listener shared by every response (no per-request closure): the client went away unless the response finished. */
function onResponseClose(this: ServerResponse & { [SINK]?: HttpSink }): void {
  const sink = this[SINK];
  if (sink && !this.writableFinished) sink.signal.abort();
}

/** Size of each read when sending a file (bytes): a few reads per MiB, each straight into a buffer the socket then sends. */
const FILE_READ_BYTES = 256 * 1024;
/** Reads in flight per response: one buffer is being sent while the next is read. */
const FILE_BUFFERS = 2;
/** Buffers kept for reuse across responses (a fresh 256 KiB buffer per read costs page faults). */
const FILE_POOL_MAX = 16;
const filePool: Buffer[] = [];

function takeBuffer(): Buffer {
  return filePool.pop() ?? Buffer.allocUnsafeSlow(FILE_READ_BYTES);
}

function giveBack(buffer: Buffer): void {
  if (filePool.length < FILE_POOL_MAX) filePool.push(buffer);
}

const openFile = (path: string) => new Promise<number>((resolve, reject) => open(path, 'r', (error, fd) => (error ? reject(error) : resolve(fd))));
const readInto = (fd: number, buffer: Buffer, length: number, position: number) =>
  new Promise<number>((resolve, reject) => read(fd, buffer, 0, length, position, (error, bytesRead) => (error ? reject(error) : resolve(bytesRead))));

/**
 * Sends `length` bytes of `file` from `file.offset` to the response: Node has no sendfile(2) for
 * a TLS-less socket either (libuv's uv_fs_sendfile is not wired to streams), so this is the nearest:
 * `read(2)` into one of two reused 256 KiB buffers (no allocation, no page faults, no copy in
 * JavaScript) and hand that buffer to the socket, reading the next buffer while the previous one
 * is sent. A buffer is read into again only once the socket has taken it (the write callback):
 * that is the backpressure. Resolves when every byte was handed over or the client went away
 * (the response's `close`); rejects on a read error (the file shrank, EIO). The descriptor of a
 * `path` is opened here and always closed; a caller's `fd` is left open.
 */
async function sendFileRegion(sink: HttpSink, file: FileWrapper, length: number): Promise<void> {
  const res = sink.res;
  const fd = file.path !== undefined ? await openFile(file.path) : file.fd!;
  const buffers: Buffer[] = [];
  // Each buffer's last write, still in the socket's queue: the buffer is reused once it settles.
  const pending: Array<Promise<void> | undefined> = [];
  let gone = false;
  const wakers = new Set<() => void>();
  const onClose = () => {
    gone = true;
    for (const wake of wakers) wake();
  };
  res.once('close', onClose);
  try {
    let position = file.offset;
    let left = length;
    for (let turn = 0; left > 0; turn++) {
      if (gone || res.destroyed) break;
      const slot = turn % FILE_BUFFERS;
      const buffer = (buffers[slot] ??= takeBuffer());
      if (pending[slot]) await pending[slot];
      if (gone) break;
      const bytesRead = await readInto(fd, buffer, Math.min(left, buffer.length), position);
      if (bytesRead === 0) throw new Error(`file_wrapper: ${file.path ?? `fd ${fd}`} ended ${left} bytes early (it shrank while being sent)`);
      if (gone) break;
      position += bytesRead;
      left -= bytesRead;
      sink.lastActivity = performance.now();
      pending[slot] = new Promise<void>((resolve) => {
        const done = () => {
          wakers.delete(done);
          resolve();
        };
        wakers.add(done);
        res.write(bytesRead === buffer.length ? buffer : buffer.subarray(0, bytesRead), done);
      });
    }
    // The last writes must leave the buffers before they go back to the pool.
    for (const written of pending) if (written && !gone) await written;
  } finally {
    res.off('close', onClose);
    if (file.path !== undefined) close(fd, () => undefined);
    // A buffer still queued in a socket that went away is not reused: let it be collected.
    if (!gone) for (const buffer of buffers) giveBack(buffer);
  }
}

/**
 * The node:http side of one response ({@link ResponseSink} for `runApplication`):
 * - `sendHeaders` writes the status line and headers with `writeHead` (Content-Length added when the
 *   driver knows it and the application did not set it; node adds Date — cached per second — and
 *   uses chunked coding on HTTP/1.1 otherwise; no body for HEAD, 1xx, 204 and 304);
 * - `write` honours backpressure (waits for `drain`) and settles when the client goes away;
 * - `sendFile` sends a file region from disk: reads into two reused buffers, each handed to the socket
 *   while the next is read (see {@link sendFileRegion});
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
    this.waitingOnClient = true;
    return sendFileRegion(this, file, length).finally(() => {
      this.waitingOnClient = false;
      this.lastActivity = performance.now();
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
export function plainResponse(req: IncomingMessage, res: ServerResponse, code: number, reason: string, message: string, serverHeader: string, extraHeaders: string[] = []): void {
  const body = Buffer.from(message + '\n');
  res.writeHead(code, reason, ['Content-Type', 'text/plain; charset=utf-8', 'Content-Length', String(body.length), 'Connection', 'close', ...(serverHeader ? ['Server', serverHeader] : []), ...extraHeaders]);
  res.end(req.method === 'HEAD' ? undefined : body);
}
