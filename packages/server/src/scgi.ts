/**
 * `serveSCGI(app, options)`: an SCGI server (the SCGI protocol, Neil Schemenauer, 2008) for
 * nginx `scgi_pass`, Apache mod_proxy_scgi or any SCGI client.
 */
import type { Socket } from 'node:net';
import {
  BadRequestError, ClientDisconnectedError, HTTPError, createInput, runApplication, stderrErrors,
  type Application, type ErrorStream, type ResponseSink, type RunningServer,
} from '@stackware/gateway';
import { IN_FLIGHT_KEY, operations } from './metrics/hooks.js';
import { environFromCgi } from './cgi-environ.js';
import { environFlags } from './environ-flags.js';
import { cgiErrorResponse, PendingCgiHead } from './cgi-response.js';
import { LAME_DUCK_MESSAGE, lameDuckLine, type LameDuck } from './shutdown.js';
import { InputQueue } from './fastcgi/input-queue.js';
import { ResponseSignal } from './response-signal.js';
import { listenGateway, type ListenTarget, type TrackedConnection } from './fastcgi/listener.js';
import { headerBytesOf } from './fastcgi/connection.js';
import { checkProgress, declaredLength, limitAnswer, limitMessages, resolveLimits, sweepIntervalMs, type LimitOptions, type LimitStatus, type Limits, type RequestProgress } from './limits.js';

/**
 * Options of {@link serveSCGI}. Defaults: `host` "127.0.0.1", `port` 4000 (or `socket`), the
 * limits and timeouts of every gateway ({@link LimitOptions}: maxBodyBytes → 413, maxHeaderBytes
 * (the request line and HTTP_* variables) → 431, a header netstring over 16 × maxHeaderBytes
 * closes the connection, headersTimeoutMs (a header netstring not complete) closes it,
 * clientTimeoutMs and requestTimeoutMs → 408, timeoutMs → 504, keepAliveTimeoutMs (a connection
 * that sends nothing) closes it, maxConnections 1024: over it the oldest idle connection is
 * closed, else the new one gets 503), `inputHighWaterBytes` 65536,
 * `shutdownTimeoutMs` 5000, `lameDuckMs` 0, `multithread` false, `multiprocess` true inside a prefork worker,
 * `log` process.stderr.
 */
export type SCGIServerOptions = ListenTarget & LimitOptions & {
  /** Request body bytes queued for a slow application before the socket is paused. */
  inputHighWaterBytes?: number;
  /** How long `close()` lets in-flight requests finish, in ms. */
  shutdownTimeoutMs?: number;
  /** The lame-duck phase of `close()`, in ms (default 0: none); see `LameDuck` in shutdown.ts. */
  lameDuckMs?: number;
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

interface SCGISettings {
  limits: Limits;
  inputHighWaterBytes: number;
  multithread: boolean;
  multiprocess: boolean;
  log: ErrorStream;
}

class SCGIConnection implements TrackedConnection, RequestProgress {
  private header: Buffer = Buffer.alloc(0);
  private input: InputQueue | undefined;
  private remaining = 0;
  private started = false;
  private received = false;
  private readonly signal = new ResponseSignal();
  private drainWaiter: (() => void) | undefined;
  /** True once response bytes were sent: an early answer can no longer replace them. */
  private responded = false;
  /** Set when the gateway answered by itself (limits). */
  private answered = false;
  private readonly connected = performance.now();
  // RequestProgress (limits.ts): the request's progress, for checkProgress
  lastActivity = performance.now();
  waitingOnClient = false;
  requestStarted: number | undefined;
  requestComplete = false;

  constructor(
    private readonly socket: Socket,
    private readonly app: Application,
    private readonly settings: SCGISettings,
    private readonly lameDuck?: LameDuck,
  ) {
    socket.on('data', (chunk: Buffer) => {
      if (this.requestStarted === undefined) this.requestStarted = performance.now();
      this.onData(chunk);
    });
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

  get idle(): boolean {
    return !this.received;
  }

  /**
   * The timeouts (limits.ts): a connection that sends nothing is closed after keepAliveTimeoutMs,
   * one whose header netstring is not complete within headersTimeoutMs is closed; a running
   * request is held to requestTimeoutMs, clientTimeoutMs (408) and timeoutMs (504).
   */
  sweep(now: number): void {
    if (this.socket.destroyed) return;
    const limits = this.settings.limits;
    if (this.answered) {
      // the answer is out; the rest of the body is being discarded: not forever
      if (limits.keepAliveTimeoutMs > 0 && now - this.lastActivity > limits.keepAliveTimeoutMs) this.socket.destroy();
      return;
    }
    if (!this.started) {
      if (!this.received) {
        if (limits.keepAliveTimeoutMs > 0 && now - this.connected > limits.keepAliveTimeoutMs) this.socket.destroy();
      } else if (limits.headersTimeoutMs > 0 && now - this.requestStarted! > limits.headersTimeoutMs) {
        this.fail(`the header netstring did not arrive within ${limits.headersTimeoutMs} ms (headersTimeoutMs)`);
      }
      return;
    }
    if (this.signal.aborted || !this.input) return;
    this.requestComplete = this.remaining === 0;
    this.waitingOnClient = this.input.consumerWaiting || this.drainWaiter !== undefined;
    if (this.input.lastActivity > this.lastActivity) this.lastActivity = this.input.lastActivity;
    const trip = checkProgress(this, now, limits);
    if (trip) this.answerEarly(trip.code, trip.message);
  }

  /**
   * The gateway answers by itself (limits.ts renders the answer): before the response started,
   * the answer is sent and the connection ends (the rest of the body is read and dropped); after,
   * the connection is broken off. The application is stopped and its input fails.
   */
  private answerEarly(code: LimitStatus, message: string): void {
    if (this.answered || this.socket.destroyed) return;
    this.answered = true;
    const answer = limitAnswer(code, message);
    this.settings.log.write(`SCGI: ${answer.status}: ${message}\n`);
    this.signal.abort();
    if (this.input && !this.input.done) this.input.fail(new HTTPError(code, message));
    this.wake();
    if (this.responded) {
      this.socket.destroy();
      return;
    }
    this.lastActivity = performance.now();
    this.socket.end(cgiErrorResponse(answer.status, message));
    if (this.socket.isPaused()) this.socket.resume();
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
    if (this.answered) {
      this.lastActivity = performance.now();
      return;
    }
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
    const cap = 16 * this.settings.limits.maxHeaderBytes;
    if (length > cap) return this.fail(`a header netstring of ${length} bytes exceeds 16 × maxHeaderBytes (${cap})`);
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
    const limits = this.settings.limits;
    if (headerBytesOf(pairs) > limits.maxHeaderBytes) return this.answerEarly(431, limitMessages.headers(limits));
    if ((declaredLength(pairs[0]![1].toString('latin1')) ?? 0) > limits.maxBodyBytes) return this.answerEarly(413, limitMessages.body(limits));
    if (this.lameDuck?.active && this.lameDuck.refuses(this.socket, pairs.find(([name]) => name === 'REQUEST_METHOD')?.[1].toString('latin1') ?? '')) {
      // The stop's lame-duck phase: the front resends an idempotent request to another node.
      this.answered = true;
      this.socket.end(cgiErrorResponse('503 Service Unavailable', LAME_DUCK_MESSAGE, [['Retry-After', '1']]));
      if (this.socket.isPaused()) this.socket.resume();
      return;
    }
    if (this.remaining === 0) this.input.end();
    else if (rest.length) this.feed(rest);
    this.lastActivity = performance.now();
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
    const head = new PendingCgiHead();
    const sink: ResponseSink = {
      sendHeaders: (status, headers, contentLength) => {
        this.lastActivity = performance.now();
        head.set(status, headers, contentLength);
      },
      write: async (chunk) => {
        if (signal.aborted) return;
        const data = head.withHead(chunk);
        this.responded = true;
        this.lastActivity = performance.now();
        if (!this.socket.write(data) && !signal.aborted) await new Promise<void>((resolve) => { this.drainWaiter = resolve; });
        this.lastActivity = performance.now();
      },
      end: async () => {
        if (signal.aborted) return;
        this.responded = true;
        const pending = head.takeHead();
        if (pending) this.socket.end(pending);
        else this.socket.end();
      },
      abort: () => this.socket.destroy(),
      signal,
    };
    // The metrics hooks (undefined unless a metrics listener is configured).
    const ops = operations();
    const counted = ops?.start(environ.REQUEST_METHOD, typeof environ.REQUEST_URI === 'string' ? environ.REQUEST_URI : environ.PATH_INFO);
    if (counted) environ[IN_FLIGHT_KEY] = counted;
    const result = await runApplication(this.app, environ, sink, { head: environ.REQUEST_METHOD === 'HEAD' });
    if (counted) ops!.finish(counted, result.status ? parseInt(result.status, 10) : 0);
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
  const limits = resolveLimits(options);
  const settings: SCGISettings = {
    limits,
    inputHighWaterBytes: options.inputHighWaterBytes ?? 64 * 1024,
    multithread: options.multithread ?? false,
    multiprocess: options.multiprocess ?? environFlags().multiprocess,
    log: options.log ?? stderrErrors,
  };
  const target: ListenTarget = options.socket !== undefined ? { socket: options.socket } : { host: options.host, port: options.port ?? 4000 };
  const gateway = await listenGateway(
    'scgi',
    target,
    {
      maxConnections: limits.maxConnections,
      shutdownTimeoutMs: options.shutdownTimeoutMs ?? 5000,
      lameDuckMs: options.lameDuckMs ?? 0,
      onLameDuckOver: (outcome) => settings.log.write(lameDuckLine('SCGI', outcome)),
      sweepMs: sweepIntervalMs(limits),
      refuse: (socket) => {
        socket.resume();
        socket.end(cgiErrorResponse('503 Service Unavailable', limitMessages.overloaded(limits)));
      },
    },
    (socket, lameDuck) => new SCGIConnection(socket, app, settings, lameDuck),
  );
  return { url: gateway.url, close: gateway.close };
}
