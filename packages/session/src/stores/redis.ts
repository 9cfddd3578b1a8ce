import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import type { Redis, RedisOptions } from 'ioredis';
import type { SessionStore } from '../types.js';
import { isValidSessionId } from '../ids.js';
import { acquireWithRetry } from './retry.js';
import { isDeadHolder, newLockHolder } from './lock-holder.js';
import { addStoreReadiness, countStoreError } from './operations.js';

/** Options of {@link RedisStore}. Give `client` or `url`. */
export interface RedisStoreOptions {
  /** An ioredis client to use (the store never closes a client it was given). */
  client?: Redis;
  /** A Redis URL ("redis://127.0.0.1:6379/0"): the store opens its own client and closes it in `close()`. */
  url?: string;
  /** More ioredis options when `url` is used. */
  redisOptions?: RedisOptions;
  /** Prefix of every key (default "stackware:session:"): sessions at `<prefix><id>`, locks at `<prefix>lock:<id>`. */
  keyPrefix?: string;
}

// Deletes the lock only when it still holds our value (a lock that expired and was taken by
// another request is not ours to delete).
const RELEASE_SCRIPT = 'if redis.call("get", KEYS[1]) == ARGV[1] then return redis.call("del", KEYS[1]) else return 0 end';
// Replaces the lock only when it still holds the dead holder's value we read (another waiter may
// have taken it over meanwhile).
const TAKE_OVER_SCRIPT = 'if redis.call("get", KEYS[1]) == ARGV[1] then return redis.call("set", KEYS[1], ARGV[2], "PX", ARGV[3]) else return false end';

// Writes the session only when it still holds the value the request loaded (one round trip for a
// save that merges: see SessionStore.compareAndSet).
const COMPARE_AND_SET_SCRIPT = 'if redis.call("get", KEYS[1]) == ARGV[1] then redis.call("set", KEYS[1], ARGV[2], "EX", ARGV[3]) return 1 else return 0 end';
const COMPARE_AND_SET_SHA = createHash('sha1').update(COMPARE_AND_SET_SCRIPT).digest('hex');

/**
 * Sessions in Redis (ioredis): shared by every process and machine that uses the same Redis.
 * The TTL is Redis's own (`SET key value EX ttl`, `EXPIRE` for touch), so expired sessions vanish
 * without a sweep. A single `SET` is atomic; a changed session is saved with one compare-and-set
 * (a Lua script run by its SHA1, `EVALSHA`, loaded on first use). Locks are `SET <prefix>lock:<id> "<token> <pid>
 * <hostname>" NX PX <ttlMs>`, released by a Lua script that checks the value; a lock whose holder
 * is a dead process on this host is taken over at once (a Lua compare-and-set), any other when
 * Redis expires it.
 */
export class RedisStore implements SessionStore {
  readonly client: Redis;
  readonly keyPrefix: string;
  readonly #owned: boolean;
  readonly #unready: () => void;

  /** @throws Error when neither `client` nor `url` is given. */
  constructor(options: RedisStoreOptions) {
    if (options?.client) {
      this.client = options.client;
      this.#owned = false;
    } else if (typeof options?.url === 'string' && options.url) {
      // ioredis (CommonJS, about 17 MiB resident) is loaded here, when a store needs a client of
      // its own: importing @stackware/session for the memory or file store does not load it.
      const { Redis: RedisClient } = createRequire(import.meta.url)('ioredis') as typeof import('ioredis');
      this.client = new RedisClient(options.url, { lazyConnect: false, maxRetriesPerRequest: 2, ...options.redisOptions });
      // Connection errors also reject the commands in flight (that is how requests learn of them);
      // without a listener ioredis would print each one as an "Unhandled error event".
      this.client.on('error', () => {});
      this.#owned = true;
    } else {
      throw new Error('RedisStore needs a "client" (an ioredis instance) or a "url" ("redis://127.0.0.1:6379")');
    }
    this.keyPrefix = options.keyPrefix ?? 'stackware:session:';
    // /readyz of the metrics listener (when one is configured): Redis must answer PING.
    this.#unready = addStoreReadiness('the Redis session store', () => this.client.ping());
  }

  #key(id: string): string {
    if (!isValidSessionId(id)) throw new Error(`RedisStore: refusing session id ${JSON.stringify(String(id).slice(0, 40))}: not a valid session id`);
    return this.keyPrefix + id;
  }

  async get(id: string): Promise<string | undefined> {
    return (await this.client.get(this.#key(id)).catch(countStoreError)) ?? undefined;
  }

  async set(id: string, value: string, ttlSeconds: number): Promise<void> {
    await this.client.set(this.#key(id), value, 'EX', Math.max(1, Math.ceil(ttlSeconds))).catch(countStoreError);
  }

  async compareAndSet(id: string, expected: string, value: string, ttlSeconds: number): Promise<boolean> {
    const args = [this.#key(id), expected, value, Math.max(1, Math.ceil(ttlSeconds))] as const;
    let written: unknown;
    try {
      written = await this.client.evalsha(COMPARE_AND_SET_SHA, 1, ...args);
    } catch (error) {
      // Not in this server's script cache yet (first use, or after SCRIPT FLUSH or a restart).
      if (!String((error as Error)?.message).startsWith('NOSCRIPT')) throw error;
      written = await this.client.eval(COMPARE_AND_SET_SCRIPT, 1, ...args);
    }
    return written === 1;
  }

  async destroy(id: string): Promise<void> {
    await this.client.del(this.#key(id)).catch(countStoreError);
  }

  async touch(id: string, ttlSeconds: number): Promise<void> {
    await this.client.expire(this.#key(id), Math.max(1, Math.ceil(ttlSeconds))).catch(countStoreError);
  }

  async lock(id: string, options: { waitMs: number; ttlMs: number }): Promise<() => Promise<void>> {
    this.#key(id);
    const key = `${this.keyPrefix}lock:${id}`;
    const holder = newLockHolder();
    const value = `${holder.token} ${holder.pid} ${holder.host}`;
    const release = async () => {
      await this.client.eval(RELEASE_SCRIPT, 1, key, value);
    };
    return acquireWithRetry(async () => {
      if ((await this.client.set(key, value, 'PX', options.ttlMs, 'NX')) === 'OK') return release;
      const held = await this.client.get(key);
      const [, pid, host] = (held ?? '').split(' ');
      if (held && pid !== undefined && host !== undefined && isDeadHolder({ pid: Number(pid), host })) {
        if ((await this.client.eval(TAKE_OVER_SCRIPT, 1, key, held, value, options.ttlMs)) === 'OK') return release;
      }
      return undefined;
    }, options.waitMs);
  }

  /** Closes the client if the store opened it (from `url`). */
  async close(): Promise<void> {
    this.#unready();
    if (this.#owned) await this.client.quit().catch(() => this.client.disconnect());
  }
}
