import cluster from 'node:cluster';
import { isAbsolute, join } from 'node:path';
import { isMainThread } from 'node:worker_threads';
import type { Application, Environ, FactoryContext, FactoryOptions, FilterFactory, StackwareFactories } from '@stackware/gateway';
import type { SessionStore } from './types.js';
import { session, type SessionCookieOptions, type SessionOptions } from './middleware.js';
import { MemoryStore } from './stores/memory.js';
import { FileStore } from './stores/file.js';
import { RedisStore } from './stores/redis.js';

function storeFrom(options: FactoryOptions, context: FactoryContext): SessionStore {
  const kind = (options.store as string | undefined) ?? 'memory';
  switch (kind) {
    case 'memory': {
      const store = new MemoryStore();
      // Built inside a pool thread or a prefork worker: refuse now, at start, not at the first request.
      try {
        store.checkEnviron({ 'stackware.multithread': !isMainThread, 'stackware.multiprocess': cluster.isWorker } as unknown as Environ);
      } catch (error) {
        throw new Error(`[filter:${context.name}] store = "memory": ${(error as Error).message}`, { cause: error });
      }
      return store;
    }
    case 'file': {
      const dir = options.dir as string | undefined;
      if (!dir) throw new Error(`[filter:${context.name}] store = "file" needs dir = "<directory for session files>"`);
      return new FileStore({ dir: isAbsolute(dir) ? dir : join(context.here, dir) });
    }
    case 'redis': {
      const url = options.url as string | undefined;
      if (!url) throw new Error(`[filter:${context.name}] store = "redis" needs url = "redis://host:6379"`);
      return new RedisStore({ url, keyPrefix: options.keyPrefix as string | undefined });
    }
    default:
      throw new Error(`[filter:${context.name}] store = ${JSON.stringify(kind)} is not a session store: use "memory", "file" or "redis"`);
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
    throw new Error(`[filter:${context.name}] store = "redis": cannot reach Redis at ${url.replace(/\/\/[^@/]*@/, '//***@')} (${(connectionError ?? (error as Error)).message}) — start Redis there, or fix url`, { cause: error });
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
 * Other options: cookieName, idleTimeoutSeconds, absoluteTimeoutSeconds, rolling, lockWaitMs,
 * lockTtlMs, cookiePath, cookieDomain, cookieSecure (true/false/"auto"), cookieSameSite,
 * cookieHttpOnly, cookiePersistent — the same meaning and defaults as in {@link SessionOptions}.
 */
export const sessionFilterFactory: FilterFactory = Object.assign(
  async (options: FactoryOptions, context: FactoryContext) => {
    const store = storeFrom(options, context);
    const cookie: SessionCookieOptions = {
      path: options.cookiePath as string | undefined,
      domain: options.cookieDomain as string | undefined,
      secure: options.cookieSecure as boolean | 'auto' | undefined,
      sameSite: options.cookieSameSite as SessionCookieOptions['sameSite'],
      httpOnly: options.cookieHttpOnly as boolean | undefined,
      persistent: options.cookiePersistent as boolean | undefined,
    };
    const sessionOptions: SessionOptions = {
      secret: options.secret as string | string[],
      store,
      cookie,
      cookieName: options.cookieName as string | undefined,
      idleTimeoutSeconds: options.idleTimeoutSeconds as number | undefined,
      absoluteTimeoutSeconds: options.absoluteTimeoutSeconds as number | undefined,
      rolling: options.rolling as boolean | undefined,
      lock: options.lock as boolean | undefined,
      lockWaitMs: options.lockWaitMs as number | undefined,
      lockTtlMs: options.lockTtlMs as number | undefined,
    };
    if (cookie.sameSite !== undefined && !['lax', 'strict', 'none'].includes(cookie.sameSite)) {
      throw new Error(`[filter:${context.name}] cookieSameSite must be "lax", "strict" or "none", got ${JSON.stringify(cookie.sameSite)}`);
    }
    if (cookie.secure !== undefined && cookie.secure !== true && cookie.secure !== false && cookie.secure !== 'auto') {
      throw new Error(`[filter:${context.name}] cookieSecure must be true, false or "auto", got ${JSON.stringify(cookie.secure)}`);
    }
    // Validate everything now (at load time), not at the first request.
    session(() => [], sessionOptions);
    if (store instanceof RedisStore) await checkRedis(store, options.url as string, context);
    return (app: Application) => session(app, sessionOptions);
  },
  {
    description: 'Signed-cookie sessions with a memory, file or Redis store (getSession(environ))',
    optionTypes: {
      secret: 'any', store: 'string', dir: 'string', url: 'string', keyPrefix: 'string', cookieName: 'string',
      idleTimeoutSeconds: 'number', absoluteTimeoutSeconds: 'number', rolling: 'boolean', lock: 'boolean',
      lockWaitMs: 'number', lockTtlMs: 'number', cookiePath: 'string', cookieDomain: 'string', cookieSecure: 'any',
      cookieSameSite: 'string', cookieHttpOnly: 'boolean', cookiePersistent: 'boolean',
    },
  } as const,
);

/** The config factories of this package: `use = "@stackware/session"` is the session filter. */
export const factories: StackwareFactories = { filters: { default: sessionFilterFactory } };
