import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { BadRequestError, HTTPError, createEnviron, createInput, runApplication, type Application, type Environ, type ErrorPhase, type InputStream, type RunOptions, type RunningServer } from '@stackware/gateway';
import type { Logger } from 'pino';
import { HTTP_DEFAULTS, checkNumberOption, type HttpServerOptions } from './options.js';
import { HttpSink, plainResponse } from './http-sink.js';
import { createLogger } from './logger.js';
import { requestId, REQUEST_ID_KEY } from './request-id.js';
import { accessLogRecord } from './access-log.js';
import { LoggerErrorStream } from './error-stream.js';
import { EmptyInput } from './empty-input.js';
import { environFlags } from './environ-flags.js';
import { closeGracefully } from './shutdown.js';

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

interface Resolved {
  maxBodyBytes: number;
  timeoutMs: number;
  clientTimeoutMs: number;
  shutdownTimeoutMs: number;
  accessLog: boolean;
  serverHeader: string;
  logger: Logger;
  multithread: boolean;
  multiprocess: boolean;
}

function resolveOptions(options: HttpServerOptions): Resolved & { maxHeaderBytes: number; headersTimeoutMs: number; requestTimeoutMs: number; keepAliveTimeoutMs: number } {
  const flags = environFlags({ multithread: options.multithread, multiprocess: options.multiprocess });
  const number = (name: keyof typeof HTTP_DEFAULTS) => checkNumberOption(name, options[name as keyof HttpServerOptions] ?? HTTP_DEFAULTS[name]);
  const headersTimeoutMs = number('headersTimeoutMs');
  const requestTimeoutMs = number('requestTimeoutMs');
  if (requestTimeoutMs > 0 && headersTimeoutMs > requestTimeoutMs) {
    throw new RangeError(`Option headersTimeoutMs (${headersTimeoutMs}) must not exceed requestTimeoutMs (${requestTimeoutMs}): the headers are part of the request`);
  }
  return {
    maxHeaderBytes: number('maxHeaderBytes'),
    maxBodyBytes: number('maxBodyBytes'),
    headersTimeoutMs: number('headersTimeoutMs'),
    requestTimeoutMs: number('requestTimeoutMs'),
    keepAliveTimeoutMs: number('keepAliveTimeoutMs'),
    timeoutMs: number('timeoutMs'),
    clientTimeoutMs: number('clientTimeoutMs'),
    shutdownTimeoutMs: number('shutdownTimeoutMs'),
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
async function* requestBody(req: IncomingMessage, sink: HttpSink, expectContinue: boolean, maxBodyBytes: number): AsyncGenerator<Uint8Array> {
  if (expectContinue && !sink.res.headersSent && !sink.done) sink.res.writeContinue();
  let total = 0;
  try {
    sink.waitingOnClient = true;
    sink.lastActivity = performance.now();
    for await (const chunk of req as AsyncIterable<Buffer>) {
      sink.waitingOnClient = false;
      sink.lastActivity = performance.now();
      total += chunk.byteLength;
      if (total > maxBodyBytes) {
        sink.answerEarly(413, 'Content Too Large', `Request body is larger than ${maxBodyBytes} bytes`);
        throw new HTTPError(413, `Request body is larger than ${maxBodyBytes} bytes`);
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
 * - limits: headers > `maxHeaderBytes` → 431, body > `maxBodyBytes` → 413, headers not received
 *   within `headersTimeoutMs` or the request within `requestTimeoutMs` → 408 (node:http),
 *   no application progress within `timeoutMs` → 504 (or the connection closed after headers);
 * - an access-log record per request (`accessLog`), `stackware.errors` to the logger.
 * Call {@link HttpServer.close} through {@link serve} for a graceful stop.
 */
export function createHttpServer(app: Application, options: HttpServerOptions = {}): HttpServerParts {
  const o = resolveOptions(options);
  const logger = o.logger;
  const stats = { handled: 0 };
  const active = new Set<HttpSink>();
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
    const started = performance.now();
    const id = requestId(req.headers['x-request-id'] as string | undefined);
    const sink = new HttpSink(res, o.serverHeader, started);
    sink.closeConnection = closing;
    const lengthHeader = req.headers['content-length'];
    const contentLength = lengthHeader === undefined ? undefined : Number(lengthHeader);
    if (contentLength !== undefined && contentLength > o.maxBodyBytes) {
      plainResponse(req, res, 413, 'Content Too Large', `Request body is larger than ${o.maxBodyBytes} bytes`, o.serverHeader);
      logEarly(req, id, 413, started);
      return;
    }
    const hasBody = (contentLength !== undefined && contentLength > 0) || req.headers['transfer-encoding'] !== undefined;
    let input: InputStream;
    if (hasBody) input = createInput(requestBody(req, sink, expectContinue, o.maxBodyBytes), contentLength);
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
        plainResponse(req, res, 400, 'Bad Request', error.message, o.serverHeader);
        logEarly(req, id, 400, started);
      } else {
        logger.error({ req_id: id, err: error }, 'cannot build the environ');
        plainResponse(req, res, 500, 'Internal Server Error', 'Internal Server Error', o.serverHeader);
        logEarly(req, id, 500, started);
      }
      return;
    }
    environ[REQUEST_ID_KEY] = id;
    active.add(sink);
    void runApplication(app, environ, sink, new RequestRunOptions(req.method === 'HEAD', logger, id)).then((result) => {
      active.delete(sink);
      stats.handled++;
      if (o.accessLog) {
        const status = sink.earlyStatus || (result.status ? parseInt(result.status, 10) : 0);
        logger.info(accessLogRecord(environ, id, status, result.bytesSent, performance.now() - started, !result.completed && !result.errorResponseSent), 'request');
      }
    });
  };

  const logEarly = (req: IncomingMessage, id: string, status: number, started: number) => {
    stats.handled++;
    if (!o.accessLog) return;
    logger.info({
      req_id: id, remote_addr: req.socket.remoteAddress ?? '-', remote_user: '-', method: req.method, path: req.url, protocol: `HTTP/${req.httpVersion}`,
      status, bytes: 0, duration_ms: Math.round((performance.now() - started) * 1000) / 1000,
      referer: req.headers.referer ?? '-', user_agent: req.headers['user-agent'] ?? '-',
    }, 'request');
  };

  server.on('request', (req: IncomingMessage, res: ServerResponse) => handle(req, res, false));
  server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => handle(req, res, true));
  server.on('clientError', (error: NodeJS.ErrnoException, socket) => {
    // node:http answers 400/408/431 itself when no listener is installed; keep that and log it.
    const code = error.code === 'HPE_HEADER_OVERFLOW' ? 431 : error.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
    if (error.code !== 'ECONNRESET' && socket.writable && !(socket as unknown as Record<string, unknown>)['_httpMessage']) {
      const reason = code === 431 ? 'Request Header Fields Too Large' : code === 408 ? 'Request Timeout' : 'Bad Request';
      socket.end(`HTTP/1.1 ${code} ${reason}\r\nContent-Length: 0\r\nConnection: close\r\n${o.serverHeader ? `Server: ${o.serverHeader}\r\n` : ''}\r\n`);
      logger.warn({ code: error.code, status: code, remote_addr: (socket as { remoteAddress?: string }).remoteAddress }, 'bad client request');
    } else {
      socket.destroy();
    }
  });

  // One timer for every request's timeouts (no timer per request): the application's progress
  // (timeoutMs → 504) and, while the server waits on the client, the client's (clientTimeoutMs → 408 or close).
  let sweeper: NodeJS.Timeout | undefined;
  if (o.timeoutMs > 0 || o.clientTimeoutMs > 0) {
    const shortest = Math.min(o.timeoutMs || Infinity, o.clientTimeoutMs || Infinity);
    sweeper = setInterval(() => {
      const now = performance.now();
      for (const sink of active) {
        if (sink.done) continue;
        const idle = now - sink.lastActivity;
        if (sink.waitingOnClient) {
          if (o.clientTimeoutMs > 0 && idle > o.clientTimeoutMs) {
            logger.warn({ client_timeout_ms: o.clientTimeoutMs }, 'client timed out: it neither sent nor took bytes');
            sink.answerEarly(408, 'Request Timeout', `The client sent no data for ${o.clientTimeoutMs} ms`);
          }
        } else if (o.timeoutMs > 0 && idle > o.timeoutMs) {
          logger.warn({ timeout_ms: o.timeoutMs }, 'request timed out: the application made no progress');
          sink.answerEarly(504, 'Gateway Timeout', `The application did not respond within ${o.timeoutMs} ms`);
        }
      }
    }, Math.max(50, Math.min(1000, shortest / 4)));
    sweeper.unref();
  }

  const stop = async () => {
    closing = true;
    for (const sink of active) sink.closeConnection = true;
    const outcome = await closeGracefully(server, o.shutdownTimeoutMs, () => server.closeAllConnections());
    if (sweeper) clearInterval(sweeper);
    if (outcome.forced) logger.warn({ shutdown_timeout_ms: o.shutdownTimeoutMs }, 'shutdown timeout: remaining connections destroyed');
  };

  return { server, stop, stats };
}

/**
 * Starts an HTTP server for `app` and resolves once it listens. `close()` is the graceful stop:
 * stop accepting, let in-flight requests finish (busy keep-alive connections get `Connection: close`),
 * destroy what is left after `shutdownTimeoutMs` (5 s). Options and defaults: {@link HttpServerOptions}.
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
