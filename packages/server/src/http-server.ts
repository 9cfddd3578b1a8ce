import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { BadRequestError, HTTPError, createEnviron, createInput, runApplication, type Application, type Environ, type ErrorPhase, type InputStream, type RunOptions, type RunningServer } from '@stackware/gateway';
import type { Logger } from 'pino';
import { HTTP_DEFAULTS, checkNumberOption, type HttpServerOptions } from './options.js';
import { checkProgress, limitAnswer, limitMessages, resolveLimits, sweepIntervalMs, type LimitStatus, type Limits } from './limits.js';
import { HttpSink, plainResponse } from './http-sink.js';
import { createLogger, flushLogger } from './logger.js';
import { requestId, REQUEST_ID_KEY } from './request-id.js';
import { accessLogRecord } from './access-log.js';
import { IN_FLIGHT_KEY, operations, type InFlightRequest } from './metrics/hooks.js';
import { LoggerErrorStream } from './error-stream.js';
import { EmptyInput } from './empty-input.js';
import { environFlags } from './environ-flags.js';
import { LAME_DUCK_MESSAGE, LameDuck, closeGracefully, lameDuckLine } from './shutdown.js';

/** What {@link createHttpServer} returns: the node:http server (not listening yet) and its graceful stop. */
export interface HttpServerParts {
  server: Server;
  /** Graceful stop (see {@link serve}). */
  stop(): Promise<void>;
  /** `handled`: requests answered or given up so far. */
  stats: { handled: number };
}

/** A Stackware HTTP server: the node:http server plus its graceful stop. */
export interface HttpServer extends RunningServer {
  /** The underlying node:http server (listening once {@link serve} resolved). */
  readonly server: Server;
  /** The port it listens on (resolved when `port` was 0). */
  readonly port: number;
  /** Number of requests whose response has completed or been given up (for tests and prefork recycling). */
  readonly requestsHandled: number;
}

interface Resolved extends Limits {
  shutdownTimeoutMs: number;
  lameDuckMs: number;
  accessLog: boolean;
  serverHeader: string;
  logger: Logger;
  multithread: boolean;
  multiprocess: boolean;
}

function resolveOptions(options: HttpServerOptions): Resolved {
  const flags = environFlags({ multithread: options.multithread, multiprocess: options.multiprocess });
  return {
    ...resolveLimits(options),
    shutdownTimeoutMs: checkNumberOption('shutdownTimeoutMs', options.shutdownTimeoutMs ?? HTTP_DEFAULTS.shutdownTimeoutMs),
    lameDuckMs: checkNumberOption('lameDuckMs', options.lameDuckMs ?? HTTP_DEFAULTS.lameDuckMs),
    accessLog: options.accessLog ?? HTTP_DEFAULTS.accessLog,
    serverHeader: options.serverHeader ?? HTTP_DEFAULTS.serverHeader,
    logger: options.logger ?? createLogger(),
    multithread: flags.multithread,
    multiprocess: flags.multiprocess,
  };
}

/** RunOptions of one request: errors go to the logger with the request id (a class: no closure per request). */
class RequestRunOptions implements RunOptions {
  constructor(
    readonly head: boolean,
    private readonly logger: Logger,
    private readonly requestId: string,
  ) {}

  onError(error: unknown, phase: ErrorPhase): void {
    this.logger.error({ req_id: this.requestId, err: error, phase }, `error in ${phase}`);
  }
}

function headerPairs(raw: string[]): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (let i = 0; i < raw.length; i += 2) out.push([raw[i]!, raw[i + 1]!]);
  return out;
}

/**
 * The request body as chunks: sends `100 Continue` on first read when asked, and stops at
 * `maxBodyBytes` with a 413. Time spent waiting for the client's bytes is the client's (bounded by
 * requestTimeoutMs), not the application's: it does not count against `timeoutMs`.
 */
async function* requestBody(req: IncomingMessage, sink: HttpSink, expectContinue: boolean, limits: Limits): AsyncGenerator<Uint8Array> {
  if (expectContinue && !sink.res.headersSent && !sink.done) sink.res.writeContinue();
  let total = 0;
  try {
    sink.waitingOnClient = true;
    sink.lastActivity = performance.now();
    for await (const chunk of req as AsyncIterable<Buffer>) {
      sink.waitingOnClient = false;
      sink.lastActivity = performance.now();
      total += chunk.byteLength;
      if (total > limits.maxBodyBytes) {
        const answer = limitAnswer(413, limitMessages.body(limits));
        sink.answerEarly(answer.code, answer.reason, limitMessages.body(limits));
        throw new HTTPError(413, limitMessages.body(limits));
      }
      yield chunk;
      sink.waitingOnClient = true;
      sink.lastActivity = performance.now();
    }
  } finally {
    sink.waitingOnClient = false;
    sink.lastActivity = performance.now();
  }
}

/**
 * Creates (does not start) a node:http server that runs `app` for every request — the server side
 * of the Stackware gateway interface (packages/gateway/SPEC.md) over HTTP/1.1 (RFC 9110, RFC 9112):
 * - environ per request from `createEnviron` (PATH_INFO percent-decoded UTF-8; invalid → 400),
 *   `stackware.input` ending at Content-Length or at the end of a chunked body,
 *   `100 Continue` sent when the application first reads the body (RFC 9110 §10.1.1);
 * - responses streamed by `runApplication` (backpressure, Content-Length when known, chunked
 *   otherwise, no body for HEAD/204/304, `close()` on every body, 500 before headers, a closed
 *   connection after), files from `stackware.file_wrapper` piped from disk;
 * - limits (limits.ts, the same for every gateway): headers > `maxHeaderBytes` → 431, body >
 *   `maxBodyBytes` → 413, headers not received within `headersTimeoutMs` or the request within
 *   `requestTimeoutMs` → 408 (node:http), the client silent for `clientTimeoutMs` while a body is
 *   read (a body dripped slower than that) → 408, no application progress within `timeoutMs` →
 *   504 (or the connection closed after headers); over `maxConnections` the oldest idle
 *   connection is closed to make room, else the new one gets 503;
 * - strict HTTP/1.1 (RFC 9112): more than one Host → 400, an absolute-form target's authority
 *   wins over Host (§3.2), a malformed chunked body → 400 then close (§7.1), HTTP/1.0 with
 *   Transfer-Encoding → `Connection: close` (§6.1), NUL or dot segments in the path → 400;
 * - an access-log record per request (`accessLog`), `stackware.errors` to the logger.
 * Call {@link HttpServer.close} through {@link serve} for a graceful stop.
 */
export function createHttpServer(app: Application, options: HttpServerOptions = {}): HttpServerParts {
  const o = resolveOptions(options);
  const logger = o.logger;
  // The metrics hooks, when a metrics listener is configured (else undefined: no per-request work).
  const ops = options.countRequests === false ? undefined : operations();
  const stats = { handled: 0 };
  const active = new Set<HttpSink>();
  const lameDuck = new LameDuck(o.lameDuckMs);
  let closing = false;
  let serverPort = String(options.port ?? HTTP_DEFAULTS.port);

  const server = createServer({
    maxHeaderSize: o.maxHeaderBytes,
    headersTimeout: o.headersTimeoutMs,
    requestTimeout: o.requestTimeoutMs,
    keepAliveTimeout: o.keepAliveTimeoutMs,
    connectionsCheckingInterval: Math.max(100, Math.min(1000, o.headersTimeoutMs / 4, o.requestTimeoutMs ? o.requestTimeoutMs / 4 : Infinity)),
  });
  server.on('listening', () => {
    const address = server.address();
    if (address && typeof address === 'object') serverPort = String(address.port);
  });

  const handle = (req: IncomingMessage, res: ServerResponse, expectContinue: boolean) => {
    if (refused.has(req.socket)) return; // answered 503 over maxConnections: the application never sees it
    const started = performance.now();
    const counted = ops?.start(req.method!, req.url!);
    const id = requestId(req.headers['x-request-id'] as string | undefined);
    if (lameDuck.active && lameDuck.refuses(req.socket, req.method!)) {
      // The stop's lame-duck phase: the balancer resends an idempotent request to another node.
      plainResponse(req, res, 503, 'Service Unavailable', LAME_DUCK_MESSAGE, o.serverHeader, ['Retry-After', '1']);
      logEarly(req, id, 503, started, counted);
      return;
    }
    const sink = new HttpSink(res, o.serverHeader, started);
    sink.closeConnection = closing;
    const lengthHeader = req.headers['content-length'];
    const contentLength = lengthHeader === undefined ? undefined : Number(lengthHeader);
    if (contentLength !== undefined && contentLength > o.maxBodyBytes) {
      refuse(req, res, id, started, 413, limitMessages.body(o), counted);
      return;
    }
    // RFC 9112 §6.1: HTTP/1.0 with Transfer-Encoding has faulty framing; close after answering.
    if (req.httpVersionMinor === 0 && req.headers['transfer-encoding'] !== undefined) sink.closeConnection = true;
    const hasBody = (contentLength !== undefined && contentLength > 0) || req.headers['transfer-encoding'] !== undefined;
    let input: InputStream;
    if (hasBody) input = createInput(requestBody(req, sink, expectContinue, o), contentLength);
    else input = new EmptyInput();
    let environ: Environ;
    try {
      environ = createEnviron({
        method: req.method!,
        target: req.url!,
        headers: headerPairs(req.rawHeaders),
        protocol: `HTTP/${req.httpVersion}`,
        serverPort,
        remoteAddr: req.socket.remoteAddress,
        remotePort: req.socket.remotePort,
        input,
        errors: new LoggerErrorStream(logger, id),
        multithread: o.multithread,
        multiprocess: o.multiprocess,
      });
    } catch (error) {
      // Never let a request take the process down: a bad request is 400, anything else 500.
      if (error instanceof BadRequestError) {
        refuse(req, res, id, started, 400, error.message, counted);
      } else {
        logger.error({ req_id: id, err: error }, 'cannot build the environ');
        plainResponse(req, res, 500, 'Internal Server Error', 'Internal Server Error', o.serverHeader);
        logEarly(req, id, 500, started, counted);
      }
      return;
    }
    environ[REQUEST_ID_KEY] = id;
    if (counted) environ[IN_FLIGHT_KEY] = counted;
    active.add(sink);
    void runApplication(app, environ, sink, new RequestRunOptions(req.method === 'HEAD', logger, id)).then((result) => {
      active.delete(sink);
      stats.handled++;
      if (counted) ops!.finish(counted, sink.earlyStatus || (result.status ? parseInt(result.status, 10) : 0));
      if (o.accessLog) {
        const status = sink.earlyStatus || (result.status ? parseInt(result.status, 10) : 0);
        logger.info(accessLogRecord(environ, id, status, result.bytesSent, performance.now() - started, !result.completed && !result.errorResponseSent), 'request');
      }
    });
  };

  /** Answers a request the server refuses before the application runs (limits.ts renders the answer). */
  const refuse = (req: IncomingMessage, res: ServerResponse, id: string, started: number, code: LimitStatus, message: string, counted?: InFlightRequest) => {
    const answer = limitAnswer(code, message);
    plainResponse(req, res, answer.code, answer.reason, message, o.serverHeader);
    logEarly(req, id, answer.code, started, counted);
  };

  const logEarly = (req: IncomingMessage, id: string, status: number, started: number, counted?: InFlightRequest) => {
    stats.handled++;
    if (counted) ops!.finish(counted, status);
    if (!o.accessLog) return;
    // No environ yet: the same record (one builder, gateway's accessLogRecord) from the request itself.
    const request = { REQUEST_METHOD: req.method!, REQUEST_URI: req.url, SERVER_PROTOCOL: `HTTP/${req.httpVersion}`, REMOTE_ADDR: req.socket.remoteAddress, HTTP_REFERER: req.headers.referer, HTTP_USER_AGENT: req.headers['user-agent'] };
    logger.info(accessLogRecord(request, id, status, 0, performance.now() - started, false), 'request');
  };

  server.on('request', (req: IncomingMessage, res: ServerResponse) => handle(req, res, false));
  server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => handle(req, res, true));
  server.on('clientError', (error: NodeJS.ErrnoException, socket) => {
    // node:http answers 400/408/431 itself when no listener is installed; keep that and log it.
    const code: LimitStatus = error.code === 'HPE_HEADER_OVERFLOW' ? 431 : error.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
    const res = (socket as unknown as { _httpMessage?: ServerResponse | null })._httpMessage;
    const sink = res ? HttpSink.of(res) : undefined;
    if (sink && !res!.headersSent && error.code !== 'ECONNRESET') {
      // The request was dispatched and its body is malformed (a bad chunk size, RFC 9112 §7.1):
      // answer 400 on its response, then close.
      logger.warn({ code: error.code, status: code, remote_addr: (socket as { remoteAddress?: string }).remoteAddress }, 'bad client request');
      sink.answerEarly(code, limitAnswer(code, '').reason, `Bad request body: ${error.code ?? error.message}`);
      socket.end();
    } else if (error.code !== 'ECONNRESET' && socket.writable && !res) {
      const answer = limitAnswer(code, '');
      socket.end(`HTTP/1.1 ${answer.status}\r\nContent-Length: 0\r\nConnection: close\r\n${o.serverHeader ? `Server: ${o.serverHeader}\r\n` : ''}\r\n`);
      logger.warn({ code: error.code, status: code, remote_addr: (socket as { remoteAddress?: string }).remoteAddress }, 'bad client request');
    } else {
      socket.destroy();
    }
  });

  // maxConnections: over the limit, close the oldest idle connection (no request in progress:
  // keep-alive or nothing sent yet) to make room; with none idle, the new one gets 503.
  const sockets = new Set<Socket>();
  const refused = new WeakSet<Socket>();
  server.on('connection', (socket: Socket) => {
    if (sockets.size >= o.maxConnections) {
      let evicted = false;
      for (const other of sockets) {
        if (!(other as unknown as { _httpMessage?: unknown })._httpMessage) {
          other.destroy();
          sockets.delete(other);
          evicted = true;
          break;
        }
      }
      if (!evicted) {
        // node:http has attached its parser already: a request it parses on this socket is dropped in handle()
        refused.add(socket);
        setTimeout(() => socket.destroy(), 1000).unref(); // the 503 is out by then; a client that keeps the socket does not hold it
        const answer = limitAnswer(503, limitMessages.overloaded(o));
        socket.end(`HTTP/1.1 ${answer.status}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${answer.body.length}\r\nConnection: close\r\nRetry-After: 1\r\n\r\n${answer.body.toString('latin1')}`);
        logger.warn({ max_connections: o.maxConnections }, 'too many connections: refused with 503');
        return;
      }
    }
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    lameDuck.accepted(socket);
  });

  // One timer for every request's timeouts (no timer per request): the application's progress
  // (timeoutMs → 504) and, while the server waits on the client, the client's (clientTimeoutMs → 408 or close).
  let sweeper: NodeJS.Timeout | undefined;
  if (o.timeoutMs > 0 || o.clientTimeoutMs > 0) {
    const limits = { timeoutMs: o.timeoutMs, clientTimeoutMs: o.clientTimeoutMs, requestTimeoutMs: 0 };
    sweeper = setInterval(() => {
      const now = performance.now();
      for (const sink of active) {
        if (sink.done) continue;
        const trip = checkProgress(sink, now, limits);
        if (!trip) continue;
        if (trip.code === 504) logger.warn({ timeout_ms: o.timeoutMs }, 'request timed out: the application made no progress');
        else logger.warn({ client_timeout_ms: o.clientTimeoutMs }, 'client timed out: it neither sent nor took bytes');
        sink.answerEarly(trip.code, limitAnswer(trip.code, '').reason, trip.message);
      }
    }, sweepIntervalMs(limits));
    sweeper.unref();
  }

  // Open connections, for the graceful stop (a Set per server, touched per connection, not per request).
  const connections = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    connections.add(socket);
    socket.once('close', () => connections.delete(socket));
  });

  let stopping: Promise<void> | undefined;
  const stop = () => (stopping ??= (async () => {
    closing = true;
    for (const sink of active) sink.closeConnection = true;
    if (o.lameDuckMs > 0 && server.listening) logger.info(lameDuckLine('HTTP', await lameDuck.run()).trimEnd());
    // node:http's close() also destroys every connection with no request in progress at this instant,
    // which resets a keep-alive connection whose next request is on the wire (a client that does
    // not retry sees an error). Stop accepting now, and close idle connections ourselves, between requests.
    const drain = drainIdleConnections(connections, Math.min(o.keepAliveTimeoutMs || IDLE_GRACE_MS, IDLE_GRACE_MS));
    const outcome = await closeGracefully(server, o.shutdownTimeoutMs, () => server.closeAllConnections(), { keepIdle: true });
    drain.stop();
    if (sweeper) clearInterval(sweeper);
    if (outcome.forced) logger.warn({ shutdown_timeout_ms: o.shutdownTimeoutMs }, 'shutdown timeout: remaining connections destroyed');
    // Every request is answered and logged: write the access lines the logger still holds.
    await flushLogger(logger);
  })());

  return { server, stop, stats };
}

/** During a graceful stop, an idle keep-alive connection is closed once it has been idle this long (ms), or after keepAliveTimeoutMs when shorter. */
const IDLE_GRACE_MS = 1000;

/**
 * The keep-alive side of a graceful stop. Every response from now on carries `Connection: close`
 * (the caller sets it), so a connection that gets a request closes itself after the answer. What
 * is left are connections that stay idle: each is closed once it has been seen idle — no response
 * in progress — for `graceMs` in a row. A client that sends its next request at once (wrk, a
 * browser, a proxy's upstream pool) is answered rather than reset; a connection accepted a moment
 * ago is answered too. Only a client that stays idle for `graceMs` and then sends at the very moment
 * of the close can still see the usual keep-alive race (RFC 9112 §9.3.1: clients retry those).
 */
function drainIdleConnections(connections: Set<Socket>, graceMs: number): { stop(): void } {
  // Idle since the stop began, or since the end of the response it was busy with after that.
  const idleSince = new Map<Socket, number>();
  const started = performance.now();
  for (const socket of connections) idleSince.set(socket, started);
  const sweep = () => {
    const now = performance.now();
    for (const socket of connections) {
      const busy = (socket as unknown as { _httpMessage?: unknown })._httpMessage != null;
      if (busy || socket.destroyed) {
        idleSince.delete(socket);
        continue;
      }
      const since = idleSince.get(socket) ?? now;
      if (!idleSince.has(socket)) idleSince.set(socket, since);
      if (now - since >= graceMs) {
        idleSince.delete(socket);
        socket.destroy();
      }
    }
    if (connections.size === 0) timer.unref();
  };
  const timer = setInterval(sweep, Math.max(20, Math.min(250, graceMs / 4)));
  return { stop: () => clearInterval(timer) };
}

/**
 * Starts an HTTP server for `app` and resolves once it listens. `close()` is the graceful stop:
 * stop accepting, let in-flight requests finish (busy keep-alive connections get `Connection: close`),
 * destroy what is left after `shutdownTimeoutMs` (5 s), then write the log lines the logger still
 * holds in memory (every access line of the requests served is out when `close()` resolves). Options and defaults: {@link HttpServerOptions}.
 * @throws the listen error (EADDRINUSE, EACCES) with the address in its message.
 * @example
 * const running = await serve(hello, { port: 8080 });
 * console.log(running.url); // http://127.0.0.1:8080
 * await running.close();
 */
export async function serve(app: Application, options: HttpServerOptions = {}): Promise<HttpServer> {
  const { server, stop, stats } = createHttpServer(app, options);
  const host = options.host ?? HTTP_DEFAULTS.host;
  const port = checkNumberOption('port', options.port ?? HTTP_DEFAULTS.port);
  await new Promise<void>((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException) => {
      reject(new Error(`Cannot listen on ${host}:${port}: ${error.message}`, { cause: error }));
    };
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  const actual = (server.address() as AddressInfo).port;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${actual}`;
  return {
    url,
    server,
    port: actual,
    get requestsHandled() {
      return stats.handled;
    },
    close: stop,
  };
}
