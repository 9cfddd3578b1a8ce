import { randomUUID } from 'node:crypto';
import type { Environ } from '@stackware/gateway';
import type { SessionStore } from '../types.js';
import { acquireWithRetry } from './retry.js';

/** Options of {@link MemoryStore}. */
export interface MemoryStoreOptions {
  /** Most sessions kept; past it the least recently written are dropped (default 10000). */
  maxSessions?: number;
  /** The clock, in ms since the epoch (default `Date.now`; tests pass their own). */
  now?: () => number;
}

/**
 * Sessions in this process's memory: fast, lost on restart, and only correct with ONE process
 * and ONE thread. It refuses (throws, so the request answers 500 with the reason in the log)
 * at the first request whose environ says `stackware.multithread`, `stackware.multiprocess` or
 * `stackware.run_once` (CGI: a process per request) is true — use {@link FileStore} (one machine) or {@link RedisStore} (several machines) there.
 * Expired entries are dropped when read and when the size limit is reached.
 */
export class MemoryStore implements SessionStore {
  readonly #entries = new Map<string, { value: string; expiresAt: number }>();
  readonly #locks = new Map<string, { token: string; expiresAt: number }>();
  readonly #max: number;
  readonly #now: () => number;

  constructor(options: MemoryStoreOptions = {}) {
    this.#max = options.maxSessions ?? 10_000;
    this.#now = options.now ?? Date.now;
  }

  /** Number of sessions held (expired ones included until they are noticed). */
  get size(): number {
    return this.#entries.size;
  }

  checkEnviron(environ: Environ): void {
    const flag = (['stackware.multithread', 'stackware.multiprocess', 'stackware.run_once'] as const).find((key) => environ[key] === true);
    if (flag) {
      throw new Error(
        `MemoryStore keeps sessions inside one process and one thread, but this server runs with ${flag} = true, ` +
          'so requests of one session would see different data: use FileStore({ dir }) on one machine or RedisStore({ url }) ' +
          'across machines (store = "file" or "redis" in the deploy file)',
      );
    }
  }

  async get(id: string): Promise<string | undefined> {
    const entry = this.#entries.get(id);
    if (!entry) return undefined;
    if (entry.expiresAt <= this.#now()) {
      this.#entries.delete(id);
      return undefined;
    }
    return entry.value;
  }

  async set(id: string, value: string, ttlSeconds: number): Promise<void> {
    this.#entries.delete(id); // re-insert: Map order = write order, oldest first
    this.#entries.set(id, { value, expiresAt: this.#now() + ttlSeconds * 1000 });
    if (this.#entries.size > this.#max) this.#evict();
  }

  async destroy(id: string): Promise<void> {
    this.#entries.delete(id);
  }

  async touch(id: string, ttlSeconds: number): Promise<void> {
    const entry = this.#entries.get(id);
    if (entry) entry.expiresAt = this.#now() + ttlSeconds * 1000;
  }

  async lock(id: string, options: { waitMs: number; ttlMs: number }): Promise<() => Promise<void>> {
    const token = randomUUID();
    return acquireWithRetry(() => {
      const held = this.#locks.get(id);
      if (held && held.expiresAt > Date.now()) return undefined;
      this.#locks.set(id, { token, expiresAt: Date.now() + options.ttlMs });
      return async () => {
        if (this.#locks.get(id)?.token === token) this.#locks.delete(id);
      };
    }, options.waitMs);
  }

  #evict(): void {
    const now = this.#now();
    for (const [id, entry] of this.#entries) if (entry.expiresAt <= now) this.#entries.delete(id);
    for (const id of this.#entries.keys()) {
      if (this.#entries.size <= this.#max) break;
      this.#entries.delete(id);
    }
  }
}
