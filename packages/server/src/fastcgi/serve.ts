/**
 * `serveFastCGI(app, options)`: a FastCGI 1.0 responder on TCP or a Unix socket, for nginx
 * (`fastcgi_pass`), Apache (mod_proxy_fcgi), lighttpd or any FastCGI client.
 */
import type { Application, ErrorStream, RunningServer } from '@stackware/gateway';
import { stderrErrors } from '@stackware/gateway';
import { environFlags } from '../environ-flags.js';
import { FastCGIConnection, refuseOverloaded } from './connection.js';
import { resolveLimits, sweepIntervalMs, type LimitOptions } from '../limits.js';
import { listenGateway, type ListenTarget } from './listener.js';
import { lameDuckLine } from '../shutdown.js';

/**
 * Options of {@link serveFastCGI}. Defaults:
 * `host` "127.0.0.1", `port` 9000 (or `socket`: a Unix socket path instead),
 * the limits and timeouts of every gateway ({@link LimitOptions}: maxBodyBytes → 413,
 * maxHeaderBytes → 431, headersTimeoutMs, clientTimeoutMs, requestTimeoutMs → 408, timeoutMs →
 * 504, keepAliveTimeoutMs, maxConnections 1024, reported as FCGI_MAX_CONNS; over it the oldest idle
 * connection is closed, else BEGIN_REQUEST gets FCGI_OVERLOADED), `maxRequestsPerConnection` 64, `multiplex` true,
 * `maxParamsBytes` 262144 (256 KiB), `inputHighWaterBytes` 65536, `shutdownTimeoutMs` 5000, `lameDuckMs` 0,
 * `multithread` false, `multiprocess` true inside a prefork worker, `log` process.stderr.
 */
export type FastCGIServerOptions = ListenTarget & LimitOptions & {
  /** Concurrent requests on one connection; more get END_REQUEST with FCGI_OVERLOADED. */
  maxRequestsPerConnection?: number;
  /** Accept several requests at once on one connection (FCGI_MPXS_CONNS). When false, a second one gets FCGI_CANT_MPX_CONN. */
  multiplex?: boolean;
  /** Largest PARAMS stream of one request, in bytes; a larger one closes the connection. */
  maxParamsBytes?: number;
  /** Request body bytes queued for a slow application before the socket is paused, per request. */
  inputHighWaterBytes?: number;
  /** How long `close()` lets in-flight requests finish before breaking connections off, in ms. */
  shutdownTimeoutMs?: number;
  /**
   * The lame-duck phase of `close()` for a node behind a front with passive health checks, in ms
   * (default 0: none): the listener stays open up to this long, answering idempotent requests on
   * new connections 503 + `Retry-After: 1` so the front resends them elsewhere (`LameDuck` in shutdown.ts).
   */
  lameDuckMs?: number;
  /** `stackware.multithread` for every request. */
  multithread?: boolean;
  /** `stackware.multiprocess` for every request (true under prefork). */
  multiprocess?: boolean;
  /** Where protocol errors are reported (per-request errors go to the client's STDERR stream). */
  log?: ErrorStream;
};

/**
 * Serves `app` over FastCGI 1.0 (the FastCGI Specification, Open Market, 1996), responder role.
 * - Each request's PARAMS are the CGI variables (RFC 3875) and become the environ through
 *   {@link environFromCgi}; STDIN streams into `stackware.input` with backpressure (the socket
 *   is paused while the application is behind); `stackware.errors` writes STDERR records.
 * - The response goes out as STDOUT records of at most 65535 bytes, padded to 8 bytes, each write
 *   awaiting the socket (a slow front server never makes the gateway buffer a whole response),
 *   then END_REQUEST (REQUEST_COMPLETE). A request the gateway cannot take gets END_REQUEST
 *   with FCGI_UNKNOWN_ROLE (authorizer, filter), FCGI_CANT_MPX_CONN or FCGI_OVERLOADED.
 * - ABORT_REQUEST stops the application, closes its body and answers END_REQUEST. A closed
 *   connection does the same for all its requests. FCGI_KEEP_CONN keeps the connection for the
 *   next request; without it the connection ends after END_REQUEST.
 * - GET_VALUES answers FCGI_MAX_CONNS, FCGI_MAX_REQS and FCGI_MPXS_CONNS; other management
 *   records get UNKNOWN_TYPE.
 * - Malformed input (bad version, oversize PARAMS, malformed records) closes that connection only.
 * A request whose path is not valid UTF-8 gets 400.
 * @returns a {@link RunningServer}: `url` is "fastcgi://127.0.0.1:9000" or "unix:/path"; `close()` is graceful.
 * @throws Error when the address cannot be listened on.
 * @example
 * const server = await serveFastCGI(app, { port: 9000 });   // nginx: fastcgi_pass 127.0.0.1:9000;
 */
export async function serveFastCGI(app: Application, options: FastCGIServerOptions = {}): Promise<RunningServer> {
  const limits = resolveLimits(options);
  const settings = {
    limits,
    maxRequestsPerConnection: options.maxRequestsPerConnection ?? 64,
    multiplex: options.multiplex ?? true,
    maxParamsBytes: options.maxParamsBytes ?? 256 * 1024,
    inputHighWaterBytes: options.inputHighWaterBytes ?? 64 * 1024,
    multithread: options.multithread ?? false,
    multiprocess: options.multiprocess ?? environFlags().multiprocess,
    log: options.log ?? stderrErrors,
  };
  const gateway = await listenGateway(
    'fastcgi',
    options,
    {
      maxConnections: limits.maxConnections, shutdownTimeoutMs: options.shutdownTimeoutMs ?? 5000, sweepMs: sweepIntervalMs(limits), refuse: refuseOverloaded,
      lameDuckMs: options.lameDuckMs ?? 0, onLameDuckOver: (outcome) => settings.log.write(lameDuckLine('FastCGI', outcome)),
    },
    (socket, lameDuck) => new FastCGIConnection(socket, app, settings, lameDuck),
  );
  return { url: gateway.url, close: gateway.close };
}
