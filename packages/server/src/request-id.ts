import type { Environ } from '@stackware/gateway';

/** The environ key holding the request id (read it with {@link getRequestId}). */
export const REQUEST_ID_KEY = 'stackware.server.request_id';

const VALID_ID = /^[\w.:@/+=-]{1,128}$/;
let counter = 0;
const prefix = `${process.pid.toString(36)}-${Date.now().toString(36)}-`;

/**
 * A request id: the client's (or proxy's) `X-Request-Id` header when it is a sane token
 * (1–128 characters of `[A-Za-z0-9_.:@/+=-]`), otherwise a new id unique within this host
 * ("<pid base36>-<start time base36>-<counter base36>").
 */
export function requestId(incoming: string | undefined): string {
  if (incoming !== undefined && VALID_ID.test(incoming)) return incoming;
  return prefix + (counter++).toString(36);
}

/** The id of the request this environ belongs to, as set by a Stackware server; undefined outside one. */
export function getRequestId(environ: Environ): string | undefined {
  const id = environ[REQUEST_ID_KEY];
  return typeof id === 'string' ? id : undefined;
}
