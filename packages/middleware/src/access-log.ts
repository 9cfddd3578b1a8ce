import type pino from 'pino';
import {
  accessLogRecord, getRequestId, isFileWrapper, onBodyClose, requestId, resolveFileWrapperLength, REQUEST_ID_KEY, type AccessLogRecord, type Application,
} from '@stackware/gateway';
import { defineOptions, filterFactory, option } from '@stackware/gateway/options';
import { createLogger } from '@stackware/gateway/logger';

/** Options of {@link accessLog}. */
export interface AccessLogOptions {
  /** Where records go [a pino logger on stdout: JSON, or pretty on a TTY]. */
  logger?: pino.Logger;
  /** Log level of a record [info]. */
  level?: 'trace' | 'debug' | 'info' | 'warn';
  /** The message of each record ["request"]. */
  message?: string;
}

/**
 * Logs one record per request, with the same fields as the Stackware HTTP server's access log
 * (Paste's TransLogger; the Combined Log Format's fields by name: remote_addr, remote_user,
 * method, path, protocol, status, bytes, referer, user_agent, plus duration_ms and req_id) — for
 * stacks run under other gateways (FastCGI behind nginx, CGI, adapters inside Express).
 * The record is written when the body is closed (the response is over): `bytes` counts what the
 * application produced, `aborted` marks a response that did not reach its end. The request id is
 * the server's when it set one, else X-Request-Id when sane, else a new one (kept in the environ
 * for inner layers).
 */
export function accessLog(app: Application, options: AccessLogOptions = {}): Application {
  const logger = options.logger ?? createLogger({});
  const level = options.level ?? 'info';
  const message = options.message ?? 'request';
  return async (environ, startResponse) => {
    const started = performance.now();
    let id = getRequestId(environ);
    if (!id) {
      id = requestId(typeof environ.HTTP_X_REQUEST_ID === 'string' ? environ.HTTP_X_REQUEST_ID : undefined);
      environ[REQUEST_ID_KEY] = id;
    }
    let status = 0;
    let bytes = 0;
    let finished = false;
    let logged = false;
    const log = (aborted: boolean) => {
      if (logged) return;
      logged = true;
      const record: AccessLogRecord = accessLogRecord(environ, id!, status, bytes, performance.now() - started, aborted);
      logger[level](record, message);
    };
    let body;
    try {
      body = await app(environ, (s, headers, error) => {
        const write = startResponse(s, headers, error);
        status = parseInt(s, 10);
        return async (chunk) => {
          bytes += chunk.byteLength;
          await write(chunk);
        };
      });
    } catch (error) {
      status = 500;
      log(true);
      throw error;
    }
    if (Array.isArray(body) || isFileWrapper(body)) {
      // Complete bodies keep their shape (the gateway knows their length); count them up front.
      bytes += isFileWrapper(body) ? await resolveFileWrapperLength(body) : (body as Uint8Array[]).reduce((n, c) => n + c.byteLength, 0);
      return onBodyClose(body, () => log(false));
    }
    const inner = body;
    return {
      async *[Symbol.asyncIterator]() {
        for await (const chunk of inner as AsyncIterable<Uint8Array>) {
          bytes += chunk.byteLength;
          yield chunk;
        }
        finished = true;
      },
      async close() {
        try {
          await inner.close?.();
        } finally {
          log(!finished);
        }
      },
    };
  };
}

/** The deploy-file options of {@link accessLog} (`logger` is code only). */
export const ACCESS_LOG_OPTIONS = defineOptions({
  level: option.oneOf(['trace', 'debug', 'info', 'warn'], 'the log level of a record', { default: 'info' }),
  message: option.string('the message of each record', { default: 'request' }),
});

/** Deploy-file factory: `[filter.log] use = "@stackware/middleware#accessLog"`; options: {@link ACCESS_LOG_OPTIONS}. */
export const accessLogFactory = filterFactory(
  ACCESS_LOG_OPTIONS,
  (options) => (app: Application) => accessLog(app, options),
  { description: 'one access-log record per request (pino, combined-log fields)' },
);
