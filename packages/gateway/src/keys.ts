import type { Environ } from './types.js';

/**
 * The environ keys that more than one package reads — one owner for each name, its type and its
 * accessor. A package that sets a key here writes it with the constant; a package that reads it
 * uses the accessor, never a copy of the string. Keys only one package reads stay in that package
 * (under `stackware.<package>.`, SPEC.md "Keys of other packages").
 *
 * Changing the environ: see SPEC.md "Changing the environ" — a layer adds its own keys to the
 * environ it was given (in place); a layer that changes a CGI key or an interface key for the
 * layers below it (SCRIPT_NAME/PATH_INFO, REMOTE_ADDR, the input) does so in place too and
 * records the value it replaced when a later layer needs the original (as forwardedHeaders does
 * under {@link FORWARDED_ORIGINAL_KEY}); only a layer that calls one application several times
 * with different values (a dispatcher trying mounts, a sub-request) passes a copy.
 */

/**
 * The request id (a string): set by the gateway that accepted the request (the HTTP server) or by
 * the first accessLog() middleware when the gateway set none. Read it with {@link getRequestId}.
 * The value keeps its historical name under the server's prefix so existing readers keep working.
 */
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

/** The id of the request this environ belongs to ({@link REQUEST_ID_KEY}); undefined when no gateway or accessLog() set one. */
export function getRequestId(environ: Environ): string | undefined {
  const id = environ[REQUEST_ID_KEY];
  return typeof id === 'string' ? id : undefined;
}

/**
 * The values forwardedHeaders() (@stackware/middleware) replaced, as the server saw them: an
 * object with the keys it changed ({@link OriginalRemote}). Read it with {@link getOriginalRemote}.
 */
export const FORWARDED_ORIGINAL_KEY = 'stackware.forwarded.original';

/** What {@link FORWARDED_ORIGINAL_KEY} holds: only the keys forwardedHeaders() changed. */
export type OriginalRemote = Partial<Pick<Environ, 'REMOTE_ADDR' | 'HTTP_HOST' | 'SERVER_NAME' | 'SERVER_PORT' | 'SCRIPT_NAME'>> & { url_scheme?: string };

/** The values forwardedHeaders() replaced; undefined when it changed nothing (or is not in the stack). */
export function getOriginalRemote(environ: Environ): OriginalRemote | undefined {
  const original = environ[FORWARDED_ORIGINAL_KEY];
  return original !== null && typeof original === 'object' ? (original as OriginalRemote) : undefined;
}

/** The file on disk (absolute path, a string) that urlParser() (@stackware/urlparser) resolved this request to. */
export const RESOURCE_PATH_KEY = 'stackware.urlparser.path';

/** The file on disk the URL parser resolved this request to (set before the resource's application runs); undefined outside urlParser(). */
export function getResourcePath(environ: Environ): string | undefined {
  const value = environ[RESOURCE_PATH_KEY];
  return typeof value === 'string' ? value : undefined;
}

/** The request's lazy session object, set by session() (@stackware/session; read it with its `getSession`). */
export const SESSION_KEY = 'stackware.session.session';

/** True when a session() middleware put a session on this environ. */
export function hasSession(environ: Environ): boolean {
  return environ[SESSION_KEY] !== undefined;
}

/** The per-request settings (a frozen object) set by the deploy file's configuration filter (@stackware/config; read them with its `getConfig`). */
export const CONFIG_SETTINGS_KEY = 'stackware.config.settings';
/** The prefix (a string, "" for "/") of the `[location]` table that matched this request, or undefined; set beside {@link CONFIG_SETTINGS_KEY}. */
export const CONFIG_LOCATION_KEY = 'stackware.config.location';
