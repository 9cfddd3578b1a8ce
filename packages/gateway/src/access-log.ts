import type { Environ } from './types.js';

/** One access-log record (the Combined Log Format's fields, plus duration and request id). */
export interface AccessLogRecord {
  /** Request id (X-Request-Id or generated). */
  req_id: string;
  /** Client address (REMOTE_ADDR), "-" when unknown. */
  remote_addr: string;
  /** Authenticated user (REMOTE_USER), "-" when none. */
  remote_user: string;
  method: string;
  /** The raw request target, as received. */
  path: string;
  protocol: string;
  /** Status code sent, 0 when nothing was sent (client gone). */
  status: number;
  /** Body bytes sent. */
  bytes: number;
  /** Time from request start to the end of the response, in milliseconds (3 decimals). */
  duration_ms: number;
  referer: string;
  user_agent: string;
  /** True when the response did not complete (client gone, aborted after headers, timeout). */
  aborted?: boolean;
}

/**
 * What {@link accessLogRecord} reads: an environ, or — for a request answered before its environ
 * could be built (413 by Content-Length, 400 for a bad path) — the same keys taken from the request.
 */
export type AccessLogRequest = Pick<Environ, 'REQUEST_METHOD' | 'SERVER_PROTOCOL'>
  & Partial<Pick<Environ, 'REMOTE_ADDR' | 'REMOTE_USER' | 'REQUEST_URI' | 'SCRIPT_NAME' | 'PATH_INFO' | 'QUERY_STRING'>>
  & { HTTP_REFERER?: unknown; HTTP_USER_AGENT?: unknown };

/**
 * Builds the access-log record of one request from its environ and what was sent — the one builder
 * of these records: the HTTP server and accessLog() (@stackware/middleware) both call it. Servers log it
 * with `logger.info(record, 'request')`; combined-log consumers find every field by name.
 */
export function accessLogRecord(environ: AccessLogRequest, requestId: string, status: number, bytes: number, durationMs: number, aborted: boolean): AccessLogRecord {
  const record: AccessLogRecord = {
    req_id: requestId,
    remote_addr: environ.REMOTE_ADDR ?? '-',
    remote_user: environ.REMOTE_USER ?? '-',
    method: environ.REQUEST_METHOD,
    path: environ.REQUEST_URI ?? (environ.SCRIPT_NAME ?? '') + (environ.PATH_INFO ?? '') + (environ.QUERY_STRING ? `?${environ.QUERY_STRING}` : ''),
    protocol: environ.SERVER_PROTOCOL,
    status,
    bytes,
    duration_ms: Math.round(durationMs * 1000) / 1000,
    referer: typeof environ.HTTP_REFERER === 'string' ? environ.HTTP_REFERER : '-',
    user_agent: typeof environ.HTTP_USER_AGENT === 'string' ? environ.HTTP_USER_AGENT : '-',
  };
  if (aborted) record.aborted = true;
  return record;
}
