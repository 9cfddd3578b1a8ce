import type { Logger } from 'pino';
import { DEFAULT_SHUTDOWN_TIMEOUT_MS } from './shutdown.js';
import { LIMIT_DEFAULTS, checkNumberOption, type LimitOptions } from './limits.js';

export { checkNumberOption };

/**
 * Options of the HTTP server ({@link serve}, {@link createHttpServer}). The limits and timeouts
 * (maxHeaderBytes, maxBodyBytes, headersTimeoutMs, requestTimeoutMs, keepAliveTimeoutMs,
 * timeoutMs, clientTimeoutMs, maxConnections) are {@link LimitOptions}, shared with the FastCGI
 * and SCGI gateways: units, defaults and answers are in limits.ts. The rest:
 *
 * | option | default | |
 * |---|---|---|
 * | host | "127.0.0.1" | interface to listen on ("0.0.0.0" / "::" for all) |
 * | port | 8080 | 0 picks a free port |
 * | shutdownTimeoutMs | 5000 | graceful stop: in-flight requests get this long, then connections are destroyed |
 * | lameDuckMs | 0 | graceful stop behind a load balancer: the listener stays open up to this long first (`LameDuck` in shutdown.ts) |
 * | accessLog | true | one pino record per request |
 * | logger | createLogger() | a pino logger |
 */
export interface HttpServerOptions extends LimitOptions {
  host?: string;
  port?: number;
  shutdownTimeoutMs?: number;
  /**
   * The lame-duck phase of a graceful stop, in ms (default 0: none), for a node behind a load
   * balancer with passive health checks: the listener stays open up to this long, answering
   * idempotent requests on new connections 503 + `Retry-After: 1` so the balancer resends them to
   * another node and stops sending here; then the usual stop. See `LameDuck` in shutdown.ts.
   */
  lameDuckMs?: number;
  accessLog?: boolean;
  logger?: Logger;
  /** The `Server` response header; default "Stackware". Empty string: no header. */
  serverHeader?: string;
  /** Environ flag overrides; by default `stackware.multiprocess` is true inside a cluster worker. */
  multithread?: boolean;
  multiprocess?: boolean;
  /** false: this server's requests are not counted by the metrics hooks (the metrics listener itself). Default true. */
  countRequests?: boolean;
}

/** The defaults of {@link HttpServerOptions} (logger excluded: created on demand); the limits are {@link LIMIT_DEFAULTS}. */
export const HTTP_DEFAULTS = {
  host: '127.0.0.1',
  port: 8080,
  ...LIMIT_DEFAULTS,
  shutdownTimeoutMs: DEFAULT_SHUTDOWN_TIMEOUT_MS,
  lameDuckMs: 0,
  accessLog: true,
  serverHeader: 'Stackware',
} as const;
