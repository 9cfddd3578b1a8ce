import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Application, Environ, Headers } from '@stackware/gateway';
import { defineOptions, filterFactory, option } from '@stackware/gateway/options';

/**
 * Compares two strings in constant time (for their length): both are hashed with SHA-256 first,
 * so neither their contents nor their lengths leak through timing.
 */
export function safeEqual(a: string, b: string): boolean {
  const ha = createHash('sha256').update(a, 'utf8').digest();
  const hb = createHash('sha256').update(b, 'utf8').digest();
  return timingSafeEqual(ha, hb);
}

/**
 * `checkPassword(user, password, environ)`: true when the pair is valid. Compare with
 * {@link safeEqual}, and give an unknown user the same work as a wrong password (compare or hash
 * against a dummy) so that the answer's timing does not tell which user names exist:
 * {@link passwordTable} does this for a table of users.
 */
export type CheckPassword = (user: string, password: string, environ: Environ) => boolean | Promise<boolean>;

/** A stand-in password compared for an unknown user, so that it costs what a wrong password costs. */
const DUMMY_PASSWORD = randomBytes(16).toString('hex');

/**
 * A {@link CheckPassword} for a table `{ user: password }` (plain passwords: development and
 * tests). An unknown user takes the same code path as a wrong password: the given password is
 * compared with {@link safeEqual} against a dummy, so user names cannot be told apart by timing.
 */
export function passwordTable(users: Record<string, string>): CheckPassword {
  const table = new Map<string, string>();
  for (const [user, password] of Object.entries(users)) if (typeof password === 'string') table.set(user, password);
  return (user, password) => {
    const stored = table.get(user);
    const match = safeEqual(stored ?? DUMMY_PASSWORD, password);
    return stored !== undefined && match;
  };
}

function quoteRealm(realm: string): string {
  return realm.replace(/["\\]/g, '\\$&');
}

function unauthorized(challenges: string[], message = 'Authentication required.'): Application {
  return (_environ, startResponse) => {
    const body = Buffer.from(`401 Unauthorized: ${message}\n`);
    const headers: Headers = [['Content-Type', 'text/plain; charset=utf-8'], ['Content-Length', String(body.length)]];
    for (const c of challenges) headers.push(['WWW-Authenticate', c]);
    startResponse('401 Unauthorized', headers);
    return [body];
  };
}

function badRequest(message: string): Application {
  return (_environ, startResponse) => {
    const body = Buffer.from(`400 Bad Request: ${message}\n`);
    startResponse('400 Bad Request', [['Content-Type', 'text/plain; charset=utf-8'], ['Content-Length', String(body.length)]]);
    return [body];
  };
}

/** Options of {@link basicAuth}. */
export interface BasicAuthOptions {
  /** The protection space shown by browsers (RFC 7235 §2.2). */
  realm: string;
  checkPassword: CheckPassword;
}

/**
 * HTTP Basic authentication (RFC 7617): decodes `Authorization: Basic base64(user:password)`
 * (UTF-8), asks `checkPassword`, sets REMOTE_USER (and AUTH_TYPE "Basic") for the application;
 * otherwise answers 401 with `WWW-Authenticate: Basic realm="…", charset="UTF-8"`.
 * Use it over HTTPS only: the password travels in every request.
 */
export function basicAuth(app: Application, options: BasicAuthOptions): Application {
  const challenge = `Basic realm="${quoteRealm(options.realm)}", charset="UTF-8"`;
  return async (environ, startResponse) => {
    const header = typeof environ.HTTP_AUTHORIZATION === 'string' ? environ.HTTP_AUTHORIZATION : '';
    const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
    if (m) {
      const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      if (colon !== -1) {
        const user = decoded.slice(0, colon);
        const password = decoded.slice(colon + 1);
        if (await options.checkPassword(user, password, environ)) {
          return app({ ...environ, REMOTE_USER: user, AUTH_TYPE: 'Basic' }, startResponse);
        }
      }
    }
    return unauthorized([challenge])(environ, startResponse);
  };
}

/** A Digest hash algorithm (RFC 7616 §3.2). */
export type DigestAlgorithm = 'SHA-256' | 'MD5';

const NODE_HASH: Record<DigestAlgorithm, string> = { 'SHA-256': 'sha256', MD5: 'md5' };

function h(algorithm: DigestAlgorithm, text: string): string {
  return createHash(NODE_HASH[algorithm]).update(text, 'utf8').digest('hex');
}

/** H(user:realm:password) — the "realm hash" (HA1) an application stores instead of the password (RFC 7616 §3.4.2). */
export function digestRealmHash(user: string, realm: string, password: string, algorithm: DigestAlgorithm = 'SHA-256'): string {
  return h(algorithm, `${user}:${realm}:${password}`);
}

/**
 * Options of {@link digestAuth}. Defaults: algorithms ['SHA-256'], allowNoQop false,
 * nonceTtlMs 300000, maxTrackedNonces 10000, a random secret per process.
 */
export interface DigestAuthOptions {
  realm: string;
  /** HA1 = H(user:realm:password) for `user` with `algorithm`, or undefined for an unknown user. See {@link digestRealmHash}. */
  getRealmHash: (user: string, realm: string, algorithm: DigestAlgorithm, environ: Environ) => string | undefined | Promise<string | undefined>;
  /**
   * Algorithms accepted, one challenge each, SHA-256 always first [['SHA-256']]. MD5 is accepted
   * only when listed here (`['SHA-256', 'MD5']`), for old clients: it is broken (RFC 7616 §3.2 keeps it
   * for backward compatibility only).
   */
  algorithms?: DigestAlgorithm[];
  /**
   * Accept the RFC 2069 form without `qop` (no nonce count, no client nonce, so nothing stops a
   * replay within the nonce's lifetime) [false].
   */
  allowNoQop?: boolean;
  /** How long a nonce is accepted, in ms; an older one gets a fresh challenge with stale=true [300000]. */
  nonceTtlMs?: number;
  /**
   * Nonces whose last nonce count is remembered (replay protection), at most; each is forgotten
   * when it expires. When full, the oldest is dropped and every nonce issued before it is answered
   * `stale=true` (clients retry with a fresh one) [10000].
   */
  maxTrackedNonces?: number;
  /** The key that signs nonces; set it (the same on every process/machine) so nonces survive restarts and work across nodes [random per process]. */
  secret?: string;
  /** The clock, ms since the epoch [Date.now] — for tests. */
  now?: () => number;
}

/** Parses the parameters of a Digest `Authorization` header: `username="a", nc=00000001, …`. */
export function parseDigestParams(header: string): Record<string, string> {
  const params: Record<string, string> = {};
  const re = /([a-zA-Z0-9_*-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))\s*(?:,|$)/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(header))) params[m[1]!.toLowerCase()] = m[2] !== undefined ? m[2].replace(/\\(.)/g, '$1') : m[3]!;
  return params;
}

/**
 * HTTP Digest authentication (RFC 7616), qop=auth, SHA-256 (MD5 and the RFC 2069 no-qop form only
 * when `algorithms` / `allowNoQop` allow them). Nonces are a timestamp signed with HMAC-SHA256, so
 * any process sharing `secret` accepts them; an expired nonce (older than `nonceTtlMs`) is
 * answered with a new challenge marked `stale=true`, which browsers and curl retry silently.
 *
 * Replays (RFC 7616 §3.4.5, §5.7): the highest nonce count (`nc`) accepted for each nonce is
 * remembered until the nonce expires, and a request whose `nc` is not higher gets 401 with a fresh
 * challenge. Memory is bounded by `maxTrackedNonces`. The count is kept per process: with several
 * processes sharing `secret`, a request replayed to another process is not detected.
 *
 * An unknown user is checked against a dummy realm hash by the same code path as a wrong
 * password, so the timing does not reveal which user names exist. The `uri` parameter must be this
 * request's target, and the response is compared in constant time. Sets REMOTE_USER and
 * AUTH_TYPE "Digest". Answers 400 for a qop=auth request without nc/cnonce or with another uri.
 * Not implemented: qop=auth-int, the -sess algorithms, userhash.
 */
export function digestAuth(app: Application, options: DigestAuthOptions): Application {
  const listed = options.algorithms ?? ['SHA-256'];
  for (const a of listed) if (!Object.hasOwn(NODE_HASH, a)) throw new TypeError(`digestAuth algorithms: unknown algorithm ${JSON.stringify(a)} (use "SHA-256", or "MD5" for old clients)`);
  if (listed.length === 0) throw new TypeError('digestAuth algorithms must not be empty: use ["SHA-256"]');
  const algorithms = (['SHA-256', 'MD5'] as const).filter((a) => listed.includes(a));
  const allowNoQop = options.allowNoQop ?? false;
  const ttl = options.nonceTtlMs ?? 300_000;
  const maxTracked = options.maxTrackedNonces ?? 10_000;
  const secret = options.secret ?? randomBytes(32).toString('hex');
  const now = options.now ?? Date.now;
  const realm = options.realm;
  const opaque = createHmac('sha256', secret).update(`opaque:${realm}`).digest('base64url').slice(0, 22);
  /** HA1 used for an unknown user: the response check runs anyway and fails. */
  const dummyRealmHash = Object.fromEntries(algorithms.map((a) => [a, h(a, randomBytes(16).toString('hex'))])) as Record<DigestAlgorithm, string>;
  /** nonce → { the highest nc accepted, when it was issued }; Map order is the order of first use. */
  const counts = new Map<string, { nc: number; issued: number }>();
  /** Nonces issued at or before this time that are not tracked any more are treated as stale. */
  let forgottenBefore = -Infinity;

  const newNonce = () => {
    const stamp = now().toString(36);
    return `${stamp}.${createHmac('sha256', secret).update(stamp).digest('base64url')}`;
  };
  /** The issue time of a genuine nonce, or undefined for a forged or malformed one. */
  const nonceIssued = (nonce: string): number | undefined => {
    const [stamp, mac] = nonce.split('.');
    if (!stamp || !mac || !safeEqual(mac, createHmac('sha256', secret).update(stamp).digest('base64url'))) return undefined;
    const issued = parseInt(stamp, 36);
    if (!Number.isFinite(issued) || issued > now() + 1000) return undefined;
    return issued;
  };
  /** Forgets expired nonces (oldest first use first), then the oldest ones beyond the bound. */
  const prune = () => {
    const oldest = now() - ttl;
    for (const [nonce, entry] of counts) {
      if (entry.issued < oldest) counts.delete(nonce);
      else if (counts.size > maxTracked) {
        counts.delete(nonce);
        forgottenBefore = Math.max(forgottenBefore, entry.issued);
      } else break;
    }
  };
  const challenges = (stale: boolean) => {
    const nonce = newNonce();
    return algorithms.map((a) => `Digest realm="${quoteRealm(realm)}", qop="auth", algorithm=${a}, nonce="${nonce}", opaque="${opaque}", charset=UTF-8${stale ? ', stale=true' : ''}`);
  };

  return async (environ, startResponse) => {
    const header = typeof environ.HTTP_AUTHORIZATION === 'string' ? environ.HTTP_AUTHORIZATION : '';
    if (!/^Digest\s/i.test(header)) return unauthorized(challenges(false))(environ, startResponse);
    const p = parseDigestParams(header.replace(/^Digest\s+/i, ''));
    const algorithm = (p.algorithm ?? 'MD5').toUpperCase() as DigestAlgorithm;
    if (!p.username || !p.nonce || !p.uri || !p.response || !algorithms.includes(algorithm) || p.realm !== realm) {
      return unauthorized(challenges(false), 'Malformed or unsupported Digest credentials.')(environ, startResponse);
    }
    if (p.qop === undefined ? !allowNoQop : p.qop !== 'auth') return unauthorized(challenges(false), 'Only qop=auth is supported.')(environ, startResponse);
    if (p.qop === 'auth' && (!p.nc || !p.cnonce || !/^[0-9a-fA-F]{8}$/.test(p.nc))) return badRequest('Digest qop=auth needs nc (8 hex digits) and cnonce.')(environ, startResponse);
    const requestTarget = environ.REQUEST_URI ?? environ.SCRIPT_NAME + environ.PATH_INFO + (environ.QUERY_STRING ? `?${environ.QUERY_STRING}` : '');
    if (p.uri !== requestTarget) return badRequest('The Digest uri does not match the request target.')(environ, startResponse);
    const issued = nonceIssued(p.nonce);
    if (issued === undefined) return unauthorized(challenges(false), 'Unknown nonce.')(environ, startResponse);
    const known = await options.getRealmHash(p.username, realm, algorithm, environ);
    const ha1 = known ?? dummyRealmHash[algorithm];
    const ha2 = h(algorithm, `${environ.REQUEST_METHOD}:${p.uri}`);
    const expected = p.qop === 'auth'
      ? h(algorithm, `${ha1}:${p.nonce}:${p.nc}:${p.cnonce}:auth:${ha2}`)
      : h(algorithm, `${ha1}:${p.nonce}:${ha2}`);
    const match = safeEqual(expected, p.response.toLowerCase());
    if (!match || known === undefined) return unauthorized(challenges(false))(environ, startResponse);
    if (now() - issued > ttl) return unauthorized(challenges(true), 'The nonce has expired.')(environ, startResponse);
    // Replay check: the nonce count must grow (the no-qop form has none: one use per nonce).
    const nc = p.qop === 'auth' ? parseInt(p.nc!, 16) : 1;
    const entry = counts.get(p.nonce);
    if (entry ? nc <= entry.nc : issued <= forgottenBefore) {
      return unauthorized(challenges(!entry), entry ? 'This nonce count was already used (replay).' : 'The nonce has expired.')(environ, startResponse);
    }
    if (entry) entry.nc = nc;
    else {
      counts.set(p.nonce, { nc, issued });
      prune();
    }
    return app({ ...environ, REMOTE_USER: p.username, AUTH_TYPE: 'Digest' }, startResponse);
  };
}

/** The deploy-file options of {@link basicAuthFactory}. */
export const BASIC_AUTH_OPTIONS = defineOptions({
  realm: option.string('the realm shown by the browser', { default: 'Restricted' }),
  users: option.table<Record<string, string>>('user name → password (plain: development only)', { type: 'table of strings', example: '{ alice = "secret" }' }),
});

/** Deploy-file factory for Basic auth with users from the file: `users = { alice = "secret" }` (development only: plain passwords). */
export const basicAuthFactory = filterFactory(
  BASIC_AUTH_OPTIONS,
  ({ users = {}, realm = 'Restricted' }) => (app: Application) => basicAuth(app, { realm, checkPassword: passwordTable(users) }),
  { description: 'HTTP Basic authentication against a users table' },
);
