import cluster from 'node:cluster';
import { isAbsolute, join } from 'node:path';
import { isMainThread } from 'node:worker_threads';
import type { Application, Environ, FactoryContext, StackwareFactories } from '@stackware/gateway';
import { defineOptions, filterFactory, option, type OptionsOf } from '@stackware/gateway/options';
import type { SessionStore } from './types.js';
import { session, type SessionCookieOptions, type SessionOptions } from './middleware.js';
import { MemoryStore } from './stores/memory.js';
import { FileStore } from './stores/file.js';
import { RedisStore } from './stores/redis.js';

/** The deploy-file options of {@link session} (flat: the cookie attributes are `cookie*` keys, the store is `store` plus its own keys). */
export const SESSION_OPTIONS = defineOptions({
  secret: option.required(option.strings('the signing secret, or a list: the first signs, every one verifies (rotation); each ≥ 32 characters', { single: true, example: '"a-secret-of-at-least-32-characters.."' })),
  store: option.oneOf(['memory', 'file', 'redis'], 'where sessions live: memory (one process, one thread), file (dir) or redis (url)', { default: 'memory' }),
  dir: option.string('store = "file": the directory of session files (relative to the deploy file)'),
  url: option.string('store = "redis": redis://host:6379 (checked with PING at start)'),
  keyPrefix: option.string('store = "redis": the prefix of session keys', { default: 'stackware:session:' }),
  cookieName: option.string('the cookie name', { default: 'stackware_session' }),
  idleTimeoutSeconds: option.number('a session unused for this long expires', { unit: 's', greaterThan: 0, default: 86_400 }),
  absoluteTimeoutSeconds: option.number('a session older than this expires however active it is (0: never)', { unit: 's', min: 0, default: 604_800 }),
  rolling: option.boolean('every request that loads the session extends its idle expiry and re-sends the cookie', { default: true }),
  lock: option.boolean('lock the session in the store from load until save, serialising its requests', { default: false }),
  lockWaitMs: option.number('longest wait for the lock, then 503 with Retry-After', { unit: 'ms', greaterThan: 0, default: 10_000 }),
  lockTtlMs: option.number('a lock not released after this long is free again', { unit: 'ms', greaterThan: 0, default: 30_000 }),
  cookiePath: option.string('the cookie\'s Path', { defaultText: 'SCRIPT_NAME, or "/"' }),
  cookieDomain: option.string('the cookie\'s Domain (none: this host only)'),
  cookieSecure: option.switch(['auto'], 'the cookie\'s Secure attribute; "auto": when the request came over https', { default: 'auto' }),
  cookieSameSite: option.oneOf(['lax', 'strict', 'none'], 'the cookie\'s SameSite attribute ("none" needs Secure)', { default: 'lax' }),
  cookieHttpOnly: option.boolean('the cookie\'s HttpOnly attribute', { default: true }),
  cookiePersistent: option.boolean('send Max-Age so the cookie outlives the browser window (false: a browser-session cookie)', { default: true }),
});

type SessionFactoryOptions = OptionsOf<typeof SESSION_OPTIONS.shape>;

function storeFrom(options: SessionFactoryOptions, context: FactoryContext): SessionStore {
  switch (options.store ?? 'memory') {
    case 'memory': {
      const store = new MemoryStore();
      // Built inside a pool thread or a prefork worker: refuse now, at start, not at the first request.
      try {
        store.checkEnviron({ 'stackware.multithread': !isMainThread, 'stackware.multiprocess': cluster.isWorker } as unknown as Environ);
      } catch (error) {
        throw new Error(`[filter.${context.name}] store = "memory": ${(error as Error).message}`, { cause: error });
      }
      return store;
    }
    case 'file': {
      const dir = options.dir;
      if (!dir) throw new Error(`[filter.${context.name}] store = "file" needs dir = "<directory for session files>"`);
      return new FileStore({ dir: isAbsolute(dir) ? dir : join(context.here, dir) });
    }
    case 'redis': {
      const url = options.url;
      if (!url) throw new Error(`[filter.${context.name}] store = "redis" needs url = "redis://host:6379"`);
      return new RedisStore({ url, keyPrefix: options.keyPrefix });
    }
  }
}

/** How long the factory waits for Redis to answer PING at start, in ms. */
const REDIS_START_CHECK_MS = 5000;

/**
 * Asks Redis for PING, so that an unreachable server is reported when the stack is built (at
 * start), not at the first request. @throws Error naming the URL and the fix.
 */
async function checkRedis(store: RedisStore, url: string, context: FactoryContext): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  let connectionError: Error | undefined; // ECONNREFUSED says more than "max retries reached"
  const onError = (error: Error) => { connectionError = error; };
  store.client.on('error', onError);
  try {
    await Promise.race([
      store.client.ping(),
      new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`no answer in ${REDIS_START_CHECK_MS / 1000} s`)), REDIS_START_CHECK_MS); }),
    ]);
  } catch (error) {
    await store.close?.();
    throw new Error(`[filter.${context.name}] store = "redis": cannot reach Redis at ${url.replace(/\/\/[^@/]*@/, '//***@')} (${(connectionError ?? (error as Error)).message}) — start Redis there, or fix url`, { cause: error });
  } finally {
    clearTimeout(timer);
    store.client.off('error', onError);
  }
}

/**
 * The deploy-file form of {@link session}:
 * ```toml
 * [filter.session]
 * use = "@stackware/session"
 * secret = ["new-secret-at-least-32-characters..", "old-secret-still-verifies........"]
 * store = "file"            # "memory" (default; one process, one thread), "file" (dir) or "redis" (url, keyPrefix)
 *                           # memory in a pool thread or prefork worker, or a Redis that does not answer PING, fails here (at start)
 * dir = "var/sessions"      # relative to the deploy file
 * lock = true
 * ```
 * Every option: {@link SESSION_OPTIONS} (the README's table) — the same meaning, units and
 * defaults as in {@link SessionOptions}.
 */
export const sessionFilterFactory = filterFactory(
  SESSION_OPTIONS,
  async (options, context) => {
    const store = storeFrom(options, context);
    const cookie: SessionCookieOptions = {
      path: options.cookiePath,
      domain: options.cookieDomain,
      secure: options.cookieSecure,
      sameSite: options.cookieSameSite,
      httpOnly: options.cookieHttpOnly,
      persistent: options.cookiePersistent,
    };
    const sessionOptions: SessionOptions = {
      secret: options.secret,
      store,
      cookie,
      cookieName: options.cookieName,
      idleTimeoutSeconds: options.idleTimeoutSeconds,
      absoluteTimeoutSeconds: options.absoluteTimeoutSeconds,
      rolling: options.rolling,
      lock: options.lock,
      lockWaitMs: options.lockWaitMs,
      lockTtlMs: options.lockTtlMs,
    };
    // Validate everything now (at load time), not at the first request.
    session(() => [], sessionOptions);
    if (store instanceof RedisStore) await checkRedis(store, options.url ?? '', context);
    return (app: Application) => session(app, sessionOptions);
  },
  { description: 'Signed-cookie sessions with a memory, file or Redis store (getSession(environ))' },
);

/** The config factories of this package: `use = "@stackware/session"` is the session filter. */
export const factories: StackwareFactories = { filters: { default: sessionFilterFactory } };
