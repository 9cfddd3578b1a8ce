import { HTTPError, type Environ } from '@stackware/gateway';

/** One flash message: shown once on a later request, then gone. */
export interface FlashMessage {
  /** The category ("message" by default; "error", "info"... as the application likes). */
  category: string;
  message: string;
}

/**
 * The session of one request, as returned by `getSession(environ)`.
 *
 * Lazy: creating it reads nothing. `await session.load()` reads the store once (later calls
 * return the same promise); only then may the data methods be used — `get`/`set`/`has`/`keys`/
 * `delete`/`flash`/`consumeFlashes` before `load()` throw an Error that says to await `load()`.
 * A request that never calls `load()` costs no store I/O and sends no cookie.
 *
 * Values must be JSON data (strings, finite numbers, booleans, null, arrays and plain objects);
 * anything else (functions, BigInt, cycles, class instances such as Date, Map, Set) is rejected
 * when the session is saved, with an Error naming the key — Stackware never silently drops data.
 */
export interface Session {
  /** The session id, once loaded (a new id for a new session); undefined before `load()`. */
  readonly id: string | undefined;
  /** True once `load()` has completed. */
  readonly loaded: boolean;
  /** True when the request brought no valid session (no cookie, a bad signature, an unknown or expired id). */
  readonly isNew: boolean;
  /** True when this request changed the data, regenerated or destroyed the session. */
  readonly modified: boolean;
  /** Reads the session from the store (once); resolves to the session itself. */
  load(): Promise<this>;
  /** The value stored under `key`, or undefined. The value returned is the live value: mutate it and call `set` again to save it. */
  get<T = unknown>(key: string): T | undefined;
  /** Stores `value` (JSON data) under `key`. */
  set(key: string, value: unknown): void;
  /** Removes `key`. */
  delete(key: string): void;
  has(key: string): boolean;
  /** The keys present, in insertion order. */
  keys(): string[];
  /**
   * A new session id for the same data (call it at login and privilege changes: the
   * session-fixation defence, OWASP). The old id is removed from the store when the session is saved.
   * Loads the session first if needed.
   * @throws Error when the response headers were already sent (the new id could not reach the client).
   */
  regenerate(): Promise<void>;
  /**
   * Ends the session: removes it from the store and expires the cookie. The object then behaves
   * as a fresh, empty session; if data is set again, it is saved under a new id.
   */
  destroy(): Promise<void>;
  /** Queues a flash message (category "message" by default) for a later request. */
  flash(message: string, category?: string): void;
  /** Returns the queued flash messages (only those of `categories` when given) and removes them. */
  consumeFlashes(categories?: string[]): FlashMessage[];
}

/**
 * Where sessions live. Values are opaque strings (the session layer serialises to JSON);
 * ids reaching a store are always ids this package generated and verified (signature checked,
 * format `[A-Za-z0-9_-]{32}`).
 * TTLs are in whole seconds (≥ 1): a session not written or touched for its TTL is gone.
 */
export interface SessionStore {
  /** The stored value, or undefined when absent or expired. */
  get(id: string): Promise<string | undefined>;
  /** Writes `value` (replacing any), expiring `ttlSeconds` from now. Atomic: a reader sees the old or the new value. */
  set(id: string, value: string, ttlSeconds: number): Promise<void>;
  /**
   * Optional, atomic compare-and-set: writes `value` (expiring `ttlSeconds` from now) only when the
   * stored value is still exactly `expected`; resolves true when it wrote, false when the value
   * changed, vanished or expired meanwhile. With it, a changed session is saved in one round trip
   * (its changes are merged into the record it loaded, and the write checks nobody wrote since);
   * without it, the save re-reads the record, merges and writes. RedisStore has it.
   */
  compareAndSet?(id: string, expected: string, value: string, ttlSeconds: number): Promise<boolean>;
  /** Removes the session (no error when absent). */
  destroy(id: string): Promise<void>;
  /** Extends the expiry to `ttlSeconds` from now without rewriting the value (no-op when absent). */
  touch(id: string, ttlSeconds: number): Promise<void>;
  /**
   * Takes an exclusive lock on `id` — held from `load()` to the end of the save with `lock: true`
   * (never taken with `lock: false`) — waiting up to `waitMs`; the lock expires by itself after
   * `ttlMs`, and the built-in stores take over at once a lock whose holder is a dead process on
   * this host (a crashed holder never blocks for long).
   * Resolves to the release function; rejects with {@link SessionLockTimeoutError} when not acquired in time.
   */
  lock(id: string, options: { waitMs: number; ttlMs: number }): Promise<() => Promise<void>>;
  /**
   * Throws when this store cannot serve the request's process model (the memory store under
   * `stackware.multithread` or `stackware.multiprocess`). Called on every request; must be cheap.
   */
  checkEnviron?(environ: Environ): void;
  /** Releases resources (timers, connections the store opened itself). */
  close?(): Promise<void>;
}

/**
 * Thrown by `load()` when the session lock (option `lock: true`) is not acquired within
 * `lockWaitMs`: an HTTPError 503 with `Retry-After: 1`. The `session()` middleware answers it
 * "503 Service Unavailable" itself, so it is never a generic 500, with or without an exception catcher.
 */
export class SessionLockTimeoutError extends HTTPError {
  constructor(waitMs: number) {
    super(503, `The session is locked by another request and was not released within ${waitMs} ms (raise lockWaitMs, or find the request that holds it)`, { headers: [['Retry-After', '1']] });
    this.name = 'SessionLockTimeoutError';
  }
}
