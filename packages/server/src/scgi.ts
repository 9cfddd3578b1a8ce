/**
 * `serveSCGI(app, options)`: an SCGI server (the SCGI protocol, Neil Schemenauer, 2008) for
 * nginx `scgi_pass`, Apache mod_proxy_scgi or any SCGI client.
 */
import type { Socket } from 'node:net';
import {
  BadRequestError, ClientDisconnectedError, createInput, runApplication, stderrErrors,
  type Application, type ErrorStream, type ResponseSink, type RunningServer,
} from '@stackware/gateway';
import { environFromCgi } from './cgi-environ.js';
import { environFlags } from './environ-flags.js';
import { cgiErrorResponse, cgiResponseHead } from './cgi-response.js';
import { InputQueue } from './fastcgi/input-queue.js';
import { ResponseSignal } from './response-signal.js';
import { listenGateway, type ListenTarget, type TrackedConnection } from './fastcgi/listener.js';

/**
 * Options of {@link serveSCGI}. Defaults: `host` "127.0.0.1", `port` 4000 (or `socket`),
 * `maxConnections` 1024, `maxHeaderBytes` 262144 (256 KiB), `inputHighWaterBytes` 65536,
 * `shutdownTimeoutMs` 5000, `multithread` false, `multiprocess` true inside a prefork worker,
 * `log` process.stderr.
 */
export type SCGIServerOptions = ListenTarget & {
  /** Connections over this number are closed at once. */
  maxConnections?: number;
  /** Largest header netstring, in bytes; a larger one closes the connection. */
  maxHeaderBytes?: number;
  /** Request body bytes queued for a slow application before the socket is paused. */
  inputHighWaterBytes?: number;
  /** How long `close()` lets in-flight requests finish, in ms. */
  shutdownTimeoutMs?: number;
  multithread?: boolean;
  multiprocess?: boolean;
  /** Where protocol errors and `stackware.errors` go. */
  log?: ErrorStream;
};

/** Parses the SCGI header netstring's content: NUL-terminated names and values. @throws Error when malformed. */
export function parseSCGIHeaders(data: Buffer): Array<[string, Buffer]> {
  const pairs: Array<[string, Buffer]> = [];
  let i = 0;
  while (i < data.length) {
    const nameEnd = data.indexOf(0, i);
    if (nameEnd === -1) throw new Error('SCGI header name is not NUL-terminated');
    const valueEnd = data.indexOf(0, nameEnd + 1);
    if (valueEnd === -1) throw new Error('SCGI header value is not NUL-terminated');
    pairs.push([data.toString('latin1', i, nameEnd), data.subarray(nameEnd + 1, valueEnd)]);
    i = valueEnd + 1;
  }
  if (pairs[0]?.[0] !== 'CONTENT_LENGTH') throw new Error('the first SCGI header must be CONTENT_LENGTH');
  if (!/^\d{1,15}$/.test(pairs[0][1].toString('latin1'))) throw new Error('CONTENT_LENGTH is not a decimal number');
  return pairs;
}

class SCGIConnection implements TrackedConnection {
  private header: Buffer = Buffer.alloc(0);
  private input: InputQueue | undefined;
  private remaining = 0;
  private started = false;
  private received = false;
  private readonly signal = new ResponseSignal();
  private drainWaiter: (() => void) | undefined;

  constructor(
    private readonly socket: Socket,
    private readonly app: Application,
    private readonly settings: Required<Pick<SCGIServerOptions, 'maxHeaderBytes' | 'inputHighWaterBytes' | 'multithread' | 'multiprocess' | 'log'>>,
  ) {
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('drain', () => this.wake());
    socket.on('error', () => socket.destroy());
    socket.on('end', () => {
      if (this.input && !this.input.done) this.input.fail(new ClientDisconnectedError());
      if (!this.started) socket.end();
    });
    socket.on('close', () => {
      this.signal.abort();
      this.input?.fail(new ClientDisconnectedError());
      this.wake();
    });
  }

  /** Graceful close: a connection that has sent nothing yet is ended; one that has is answered. */
  drain(): void {
    if (!this.received) this.socket.end();
  }

  destroy(): void {
    this.socket.destroy();
  }

  private wake(): void {
    const waiter = this.drainWaiter;
    this.drainWaiter = undefined;
    waiter?.();
  }

  private fail(message: string): void {
    this.settings.log.write(`SCGI: closing the connection: ${message}\n`);
    this.socket.destroy();
  }

  private onData(chunk: Buffer): void {
    this.received = true;
    if (this.input) {
      this.feed(chunk);
      return;
    }
    if (this.started) return;
    this.header = Buffer.concat([this.header, chunk]);
    const colon = this.header.indexOf(0x3a);
    if (colon === -1) {
      if (this.header.length > 16) this.fail('the request does not start with a netstring length');
      return;
    }
    const lengthText = this.header.toString('latin1', 0, colon);
    if (!/^\d{1,9}$/.test(lengthText)) return this.fail(`bad netstring length ${JSON.stringify(lengthText.slice(0, 16))}`);
    const length = Number(lengthText);
    if (length > this.settings.maxHeaderBytes) return this.fail(`headers of ${length} bytes exceed maxHeaderBytes (${this.settings.maxHeaderBytes})`);
    const end = colon + 1 + length;
    if (this.header.length < end + 1) return;
    if (this.header[end] !== 0x2c) return this.fail('the header netstring does not end with ","');
    let pairs: Array<[string, Buffer]>;
    try {
      pairs = parseSCGIHeaders(this.header.subarray(colon + 1, end));
    } catch (error) {
      return this.fail((error as Error).message);
    }
    const rest = this.header.subarray(end + 1);
    this.header = Buffer.alloc(0);
    this.started = true;
    this.remaining = Number(pairs[0]![1].toString('latin1'));
    this.input = new InputQueue(() => this.flow());
    if (this.remaining === 0) this.input.end();
    else if (rest.length) this.feed(rest);
    void this.run(pairs, this.input);
  }

  private feed(chunk: Buffer): void {
    if (!this.input || this.remaining === 0) return;
    const part = chunk.length > this.remaining ? chunk.subarray(0, this.remaining) : chunk;
    this.remaining -= part.length;
    this.input.push(part);
    if (this.remaining === 0) this.input.end();
    this.flow();
  }

  private flow(): void {
    if (!this.input || this.socket.destroyed) return;
    const over = this.input.queuedBytes > this.settings.inputHighWaterBytes;
    if (over && !this.socket.isPaused()) this.socket.pause();
    else if (!over && this.socket.isPaused()) this.socket.resume();
  }

  private async run(pairs: Array<[string, Buffer]>, input: InputQueue): Promise<void> {
    const length = Number(pairs[0]![1].toString('latin1'));
    let environ;
    try {
      environ = environFromCgi(pairs, {
        input: createInput(input, length),
        errors: this.settings.log,
        multithread: this.settings.multithread,
        multiprocess: this.settings.multiprocess,
      });
    } catch (error) {
      const bad = error instanceof BadRequestError;
      if (!bad) this.settings.log.write(`SCGI: cannot build the environ: ${(error as Error).stack ?? String(error)}\n`);
      this.socket.end(bad ? cgiErrorResponse('400 Bad Request', `Bad Request: ${error.message}`) : cgiErrorResponse('500 Internal Server Error', 'Internal Server Error'));
      return;
    }
    const signal = this.signal;
    let head: Buffer | undefined;
    const sink: ResponseSink = {
      sendHeaders: (status, headers, contentLength) => {
        head = cgiResponseHead(status, headers, contentLength);
      },
      write: async (chunk) => {
        if (signal.aborted) return;
        const data = head ? Buffer.concat([head, chunk]) : chunk;
        head = undefined;
        if (!this.socket.write(data) && !signal.aborted) await new Promise<void>((resolve) => { this.drainWaiter = resolve; });
      },
      end: async () => {
        if (signal.aborted) return;
        if (head) this.socket.end(head);
        else this.socket.end();
        head = undefined;
      },
      abort: () => this.socket.destroy(),
      signal,
    };
    await runApplication(this.app, environ, sink, { head: environ.REQUEST_METHOD === 'HEAD' });
    if (!this.socket.writableEnded) this.socket.destroy();
  }
}

/**
 * Serves `app` over SCGI: one request per connection — a netstring of NUL-separated CGI
 * variables (CONTENT_LENGTH first, then SCGI=1 and the rest), then CONTENT_LENGTH body bytes;
 * the answer is a CGI response (`Status:` and headers, RFC 3875 §6) and the connection closes.
 * The variables become the environ through {@link environFromCgi} (the same rules as FastCGI and
 * CGI); the body streams into `stackware.input` with backpressure, the response streams out
 * awaiting the socket. Malformed headers close the connection; an invalid path answers 400.
 * @returns a {@link RunningServer} ("scgi://127.0.0.1:4000" or "unix:/path"), `close()` graceful.
 * @example
 * await serveSCGI(app, { port: 4000 });   // nginx: scgi_pass 127.0.0.1:4000; include scgi_params;
 */
export async function serveSCGI(app: Application, options: SCGIServerOptions = {}): Promise<RunningServer> {
  const settings = {
    maxHeaderBytes: options.maxHeaderBytes ?? 256 * 1024,
    inputHighWaterBytes: options.inputHighWaterBytes ?? 64 * 1024,
    multithread: options.multithread ?? false,
    multiprocess: options.multiprocess ?? environFlags().multiprocess,
    log: options.log ?? stderrErrors,
  };
  const target: ListenTarget = options.socket !== undefined ? { socket: options.socket } : { host: options.host, port: options.port ?? 4000 };
  const gateway = await listenGateway(
    'scgi',
    target,
    { maxConnections: options.maxConnections ?? 1024, shutdownTimeoutMs: options.shutdownTimeoutMs ?? 5000 },
    (socket) => new SCGIConnection(socket, app, settings),
  );
  return { url: gateway.url, close: gateway.close };
}
