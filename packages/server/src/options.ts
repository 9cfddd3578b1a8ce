import type { Logger } from 'pino';
import { DEFAULT_SHUTDOWN_TIMEOUT_MS } from './shutdown.js';

/**
 * Options of the HTTP server ({@link serve}, {@link createHttpServer}). Defaults:
 *
 * | option | default | |
 * |---|---|---|
 * | host | "127.0.0.1" | interface to listen on ("0.0.0.0" / "::" for all) |
 * | port | 8080 | 0 picks a free port |
 * | maxHeaderBytes | 16384 | request line + headers; larger → 431 |
 * | maxBodyBytes | 1073741824 (1 GiB) | request body; larger → 413 |
 * | headersTimeoutMs | 20000 | the whole header block must arrive within this (slowloris) → 408 |
 * | requestTimeoutMs | 300000 | the whole request (headers + body) must arrive within this → 408 |
 * | keepAliveTimeoutMs | 5000 | an idle keep-alive connection is closed after this |
 * | timeoutMs | 30000 | per request: the application must make progress (headers, a chunk) within this → 504, or the connection is closed once headers were sent; 0 disables |
 * | clientTimeoutMs | 60000 | while the server waits on the client (request body bytes the application reads, response bytes the socket must take), the client must make progress within this → 408, or the connection is closed once headers were sent (nginx's client_body_timeout / send_timeout); 0 disables |
 * | shutdownTimeoutMs | 5000 | graceful stop: in-flight requests get this long, then connections are destroyed |
 * | accessLog | true | one pino record per request |
 * | logger | createLogger() | a pino logger |
 */
export interface HttpServerOptions {
  host?: string;
  port?: number;
  maxHeaderBytes?: number;
  maxBodyBytes?: number;
  headersTimeoutMs?: number;
  requestTimeoutMs?: number;
  keepAliveTimeoutMs?: number;
  timeoutMs?: number;
  clientTimeoutMs?: number;
  shutdownTimeoutMs?: number;
  accessLog?: boolean;
  logger?: Logger;
  /** The `Server` response header; default "Stackware". Empty string: no header. */
  serverHeader?: string;
  /** Environ flag overrides; by default `stackware.multiprocess` is true inside a cluster worker. */
  multithread?: boolean;
  multiprocess?: boolean;
}

/** The defaults of {@link HttpServerOptions} (logger excluded: created on demand). */
export const HTTP_DEFAULTS = {
  host: '127.0.0.1',
  port: 8080,
  maxHeaderBytes: 16 * 1024,
  maxBodyBytes: 1024 * 1024 * 1024,
  headersTimeoutMs: 20_000,
  requestTimeoutMs: 300_000,
  keepAliveTimeoutMs: 5_000,
  timeoutMs: 30_000,
  clientTimeoutMs: 60_000,
  shutdownTimeoutMs: DEFAULT_SHUTDOWN_TIMEOUT_MS,
  accessLog: true,
  serverHeader: 'Stackware',
} as const;

/** Checks a numeric option: a finite number ≥ `min` (an integer when `integer`). @throws RangeError naming the option. */
export function checkNumberOption(name: string, value: unknown, min = 0, integer = true): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || (integer && !Number.isInteger(value))) {
    throw new RangeError(`Option ${name} must be ${integer ? 'an integer' : 'a number'} ≥ ${min}, got ${JSON.stringify(value)}`);
  }
  return value;
}
