import { parseCookie, stringifySetCookie } from 'cookie';
import { isFileWrapper, isIterableBody, type Application, type Environ, type Header, type ResponseBody, type StartResponse, type WriteFunction } from '@stackware/gateway';
import { SessionLockTimeoutError, type SessionStore } from './types.js';
import { SESSION_KEY } from './environ.js';
import { normaliseSecrets, SessionIdSigner } from './signing.js';
import { RequestSession, type CookieAction, type SessionSettings } from './request-session.js';
import { MemoryStore } from './stores/memory.js';

/** Cookie attributes of the session cookie (RFC 6265 §4.1.2). */
export interface SessionCookieOptions {
  /** Path (default: the request's SCRIPT_NAME, or "/" at the root). */
  path?: string;
  /** Domain (default none: the cookie goes back to this host only). */
  domain?: string;
  /** Secure: true, false, or "auto" = when `stackware.url_scheme` is "https" (default "auto"). */
  secure?: boolean | 'auto';
  /** HttpOnly (default true: page scripts cannot read the session cookie). */
  httpOnly?: boolean;
  /** SameSite (default "lax"). "none" needs Secure in browsers. */
  sameSite?: 'lax' | 'strict' | 'none';
  /** Send Max-Age (the session's remaining lifetime) so the cookie outlives the browser window (default true; false = a browser-session cookie). */
  persistent?: boolean;
}

/** Options of {@link session}. Defaults in brackets. */
export interface SessionOptions {
  /** Required. The signing secret, or a list: the first signs, every one verifies (rotation). Each ≥ 32 characters. */
  secret: string | readonly string[];
  /** Where sessions live [a new MemoryStore: one process, one thread only]. */
  store?: SessionStore;
  /** The cookie name ["stackware_session"]. */
  cookieName?: string;
  /** Cookie attributes [HttpOnly, SameSite=Lax, Secure on https, Path=SCRIPT_NAME or "/", Max-Age]. */
  cookie?: SessionCookieOptions;
  /** A session unused for this long expires, in seconds [86400 = 1 day]. */
  idleTimeoutSeconds?: number;
  /** A session older than this expires however active it is, in seconds; 0 = never [604800 = 7 days]. */
  absoluteTimeoutSeconds?: number;
  /** Every request that loads the session extends its idle expiry and re-sends the cookie; false = only saves extend it [true]. */
  rolling?: boolean;
  /**
   * Lock the session in the store from `load()` until it is saved, serialising its requests across
   * threads and processes [false: changed keys are merged instead, and no store lock is ever waited on].
   */
  lock?: boolean;
  /**
   * Longest wait for the lock, in ms; then `load()` throws SessionLockTimeoutError, which this
   * middleware answers "503 Service Unavailable" with `Retry-After: 1` [10000].
   */
  lockWaitMs?: number;
  /** A lock not released after this long is free again, in ms; a lock whose holder is a dead process on this host is free at once [30000]. */
  lockTtlMs?: number;
  /** The clock, ms since the epoch [Date.now] — for tests of expiry. */
  now?: () => number;
}

const COOKIE_NAME_RE = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

function positive(name: string, value: number | undefined, fallback: number, allowZero = false): number {
  const v = value ?? fallback;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || (!allowZero && v === 0)) throw new Error(`session(): option ${name} must be a ${allowZero ? 'non-negative' : 'positive'} number, got ${String(value)}`);
  return v;
}

/** The verified session id from the Cookie header: the first `name=` value whose signature checks out. */
function idFromCookies(header: unknown, name: string, signer: SessionIdSigner): string | undefined {
  if (typeof header !== 'string' || !header.includes(name)) return undefined;
  for (const part of header.split(';')) {
    const value = parseCookie(part)[name];
    const id = value === undefined ? undefined : signer.unsign(value);
    if (id !== undefined) return id;
  }
  return undefined;
}

/**
 * Session middleware: puts a lazy {@link Session} on the environ for `getSession(environ)`.
 *
 * - Nothing is read from the store and no cookie is sent unless the application calls `load()`.
 * - The cookie is `<name>=<id>.<HMAC-SHA256 signature>` (built and parsed with the `cookie` package,
 *   RFC 6265). An absent, tampered, malformed, expired or unknown cookie gives a fresh session; the
 *   store is only ever asked for ids whose signature verified.
 * - The real `startResponse` is called when the first non-empty body chunk is produced (or at the
 *   end of the body, or at the first legacy `write()`): the Set-Cookie header is decided at that
 *   moment, from the session's state then.
 * - The session is saved after the response is produced and before it ends: for an array body or a
 *   file wrapper, before the middleware returns it; for any other body, when its iteration ends
 *   (before the gateway ends the response), or at `close()` if the client went away first. A save
 *   error (a value that is not JSON data) before headers are sent makes the response a 500; after,
 *   the response is broken off. An application error discards the session's changes.
 * - A response for which the session was loaded gets `Cache-Control: private` (RFC 9111 §5.2.2.7:
 *   no shared cache stores it) unless the application set a Cache-Control of its own.
 * - Changes made after the headers went out are saved for an existing session; a NEW session first
 *   changed then cannot get its cookie, so it is not saved (a note goes to `stackware.errors`),
 *   and `regenerate()` then throws.
 *
 * @example
 * const app = session(counterPage, { secret: process.env.SESSION_SECRET!, store: new FileStore({ dir: '/var/lib/app/sessions' }) });
 * // in counterPage: const s = await loadSession(environ); s.set('n', (s.get<number>('n') ?? 0) + 1);
 * @throws Error at construction when `secret` is missing or short, or an option is out of range.
 */
export function session(app: Application, options: SessionOptions): Application {
  const signer = new SessionIdSigner(normaliseSecrets(options?.secret));
  const cookieName = options.cookieName ?? 'stackware_session';
  if (!COOKIE_NAME_RE.test(cookieName)) throw new Error(`session(): cookieName ${JSON.stringify(cookieName)} is not a valid cookie name (RFC 6265 token characters only)`);
  const cookieOptions = options.cookie ?? {};
  const settings: SessionSettings = {
    store: options.store ?? new MemoryStore(),
    idleTimeoutSeconds: positive('idleTimeoutSeconds', options.idleTimeoutSeconds, 86_400),
    absoluteTimeoutSeconds: positive('absoluteTimeoutSeconds', options.absoluteTimeoutSeconds, 604_800, true),
    rolling: options.rolling ?? true,
    lock: options.lock ?? false,
    lockWaitMs: positive('lockWaitMs', options.lockWaitMs, 10_000),
    lockTtlMs: positive('lockTtlMs', options.lockTtlMs, 30_000),
    now: options.now ?? Date.now,
  };
  const { store } = settings;

  const setCookieHeader = (environ: Environ, action: CookieAction): Header | undefined => {
    if (action.kind === 'none') return undefined;
    const secure = cookieOptions.secure === undefined || cookieOptions.secure === 'auto' ? environ['stackware.url_scheme'] === 'https' : cookieOptions.secure;
    const attributes = {
      path: cookieOptions.path ?? (environ.SCRIPT_NAME || '/'),
      domain: cookieOptions.domain,
      httpOnly: cookieOptions.httpOnly ?? true,
      sameSite: cookieOptions.sameSite ?? 'lax',
      secure,
    };
    if (action.kind === 'clear') return ['Set-Cookie', stringifySetCookie(cookieName, '', { ...attributes, maxAge: 0, expires: new Date(0) })];
    const value = signer.sign(action.id);
    const lifetime = cookieOptions.persistent === false ? {} : { maxAge: action.maxAgeSeconds };
    return ['Set-Cookie', stringifySetCookie(cookieName, value, { ...attributes, ...lifetime })];
  };

  return async function sessionMiddleware(environ, startResponse) {
    store.checkEnviron?.(environ);
    const current = new RequestSession(settings, environ, idFromCookies(environ.HTTP_COOKIE, cookieName, signer));
    environ[SESSION_KEY] = current;

    // Defer the real startResponse until the headers must go out, so the cookie reflects the session then.
    let pending: { status: string; headers: Header[] } | undefined;
    let realWrite: WriteFunction | undefined;
    const flush = (): WriteFunction | undefined => {
      if (realWrite || !pending) return realWrite;
      const cookie = setCookieHeader(environ, current.cookieAction());
      // A session never loaded adds nothing: the application's headers go on as they are (no copy).
      const headers = cookie ? [...pending.headers, cookie] : current.loaded ? pending.headers.slice() : pending.headers;
      // A page built from a session is one user's: no shared cache may store it (PHP's
      // session.cache_limiter, Rails), unless the application chose its own Cache-Control.
      if (current.loaded && !headers.some(([name]) => name.toLowerCase() === 'cache-control')) headers.push(['Cache-Control', 'private']);
      realWrite = startResponse(pending.status, headers);
      return realWrite;
    };
    const write: WriteFunction = async (chunk) => {
      if (chunk instanceof Uint8Array && chunk.byteLength === 0) return;
      const w = flush();
      if (!w) throw new Error('write() was called before startResponse');
      await w(chunk);
    };
    const deferredStartResponse: StartResponse = (status, headers, error) => {
      if (error !== undefined) {
        if (realWrite) return startResponse(status, headers, error); // rethrows: headers are out
      } else if (pending) {
        throw new Error('startResponse was called a second time without an error argument');
      }
      pending = { status, headers };
      return write;
    };

    let body: ResponseBody;
    try {
      body = await app(environ, deferredStartResponse);
    } catch (error) {
      await current.releaseLock();
      // The lock timeout is answered 503 + Retry-After here, so it is a 503 with or without an
      // exception catcher (a gateway answers any other error 500).
      if (error instanceof SessionLockTimeoutError && !realWrite) {
        environ['stackware.errors'].write(`session: ${error.message}; answered 503\n`);
        return error.toApplication()(environ, startResponse);
      }
      throw error;
    }

    if (!isIterableBody(body)) {
      // Not a body at all: let the gateway report it as the application's error.
      await current.releaseLock();
      return body;
    }
    if (Array.isArray(body) || isFileWrapper(body)) {
      // The response is produced: save now, then let the headers go out with the right cookie.
      try {
        // An untouched session has nothing to save (and no lock): no await, no microtask.
        if (current.loaded) await current.save();
        flush();
      } catch (error) {
        await (body as ResponseBody).close?.();
        throw error;
      }
      return body;
    }
    return wrapBody(body, current, flush);
  };
}

/**
 * Wraps a streaming body: headers flushed at the first chunk; the session saved when the iteration
 * ends — at its end, or when the gateway stops it early with `return()` (HEAD, client gone), which
 * the gateway awaits before it ends the response — or at `close()` if it was never iterated.
 */
function wrapBody(inner: ResponseBody, current: RequestSession, flush: () => unknown): ResponseBody {
  let failed = false;
  return {
    async *[Symbol.asyncIterator]() {
      try {
        for await (const chunk of inner as AsyncIterable<Uint8Array>) {
          if (chunk instanceof Uint8Array && chunk.byteLength > 0) flush();
          yield chunk;
        }
      } catch (error) {
        failed = true;
        throw error;
      } finally {
        if (!failed) {
          await current.save();
          flush();
        }
      }
    },
    async close() {
      try {
        await inner.close?.();
      } finally {
        if (failed) await current.releaseLock();
        else await current.save();
      }
    },
  };
}
