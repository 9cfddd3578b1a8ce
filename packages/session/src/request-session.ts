import type { Environ } from '@stackware/gateway';
import type { FlashMessage, Session, SessionStore } from './types.js';
import { newSessionId } from './ids.js';
import { assertJsonData, SessionDataError } from './json-data.js';

/** How many compare-and-set rounds a merging save tries before it falls back to re-read and write (which can lose a concurrent write from another process). */
const CAS_ATTEMPTS = 64;

/** What is stored per session (JSON): format version, creation time (ms), data, flashes. */
export interface SessionRecord {
  v: 1;
  /** When the session was created, ms since the epoch (for the absolute timeout). */
  created: number;
  data: Record<string, unknown>;
  flashes?: FlashMessage[];
}

/** The settings a {@link RequestSession} needs (resolved from the middleware's options). */
export interface SessionSettings {
  store: SessionStore;
  idleTimeoutSeconds: number;
  /** 0 = no absolute timeout. */
  absoluteTimeoutSeconds: number;
  rolling: boolean;
  lock: boolean;
  lockWaitMs: number;
  lockTtlMs: number;
  now: () => number;
}

/** What the middleware must do with the cookie after the request. */
export type CookieAction = { kind: 'none' } | { kind: 'set'; id: string; maxAgeSeconds: number } | { kind: 'clear' };

function parseRecord(text: string | undefined): SessionRecord | undefined {
  if (text === undefined) return undefined;
  try {
    const record = JSON.parse(text) as SessionRecord;
    if (record && record.v === 1 && typeof record.created === 'number' && record.data && typeof record.data === 'object' && !Array.isArray(record.data)) return record;
  } catch {
    // fall through: a record we cannot read is treated as absent
  }
  return undefined;
}

/** Saves of one session in this process, per store: each id's queue tail (see {@link saveTurn}). */
const saveQueues = new WeakMap<SessionStore, Map<string, Promise<void>>>();

/**
 * Waits for this process's earlier saves of `id` in `store` to finish, and returns the release
 * of this save's turn. Only saves queue here (a few store round trips each), never a request
 * lock, a lock file or another process: the merging save of `lock: false` uses it instead of the
 * store's lock, so it never waits on a lock a crashed process or a `lock: true` request holds.
 */
async function saveTurn(store: SessionStore, id: string): Promise<() => Promise<void>> {
  let queues = saveQueues.get(store);
  if (!queues) saveQueues.set(store, (queues = new Map()));
  const before = queues.get(id) ?? Promise.resolve();
  let done!: () => void;
  const mine = new Promise<void>((resolve) => { done = resolve; });
  const tail = before.then(() => mine);
  queues.set(id, tail);
  await before;
  return async () => {
    done();
    if (queues.get(id) === tail) queues.delete(id);
  };
}

/**
 * The {@link Session} of one request. Created by the `session()` middleware with the id from a
 * verified cookie (or none); reads the store only in `load()`. The middleware then calls
 * {@link RequestSession.cookieAction} when the response headers go out and {@link RequestSession.save}
 * when the body is complete.
 *
 * Saving merges (see README "Concurrency"): for an existing session the record is re-read and
 * only the keys this request set or deleted (and the flashes, when this request changed them) are
 * applied to it before it is written, so two requests that change different keys both keep their
 * change. Without `lock`, saves of one session in this process take turns (never the store's
 * lock: `lock: false` never waits on a lock). With `lock: true`, `load()` takes the store's lock
 * and holds it until the save is done, which serialises whole requests across processes
 * (read-modify-write of one key is then safe too).
 */
export class RequestSession implements Session {
  readonly #settings: SessionSettings;
  readonly #environ: Environ;
  /** The verified id the request's cookie carried, if any. */
  readonly cookieId: string | undefined;
  #id: string | undefined;
  #data = new Map<string, unknown>();
  /** The stored text this request loaded (an existing session): what a compare-and-set save expects to find. */
  #loadedText: string | undefined;
  #flashes: FlashMessage[] = [];
  #created = 0;
  #isNew = true;
  #loading: Promise<this> | undefined;
  #loaded = false;
  #changed = new Set<string>();
  #deleted = new Set<string>();
  #flashesChanged = false;
  #regenerated = false;
  #destroyed = false;
  /** Ids to remove from the store at save time (the id before regenerate, an expired id). */
  #obsolete = new Set<string>();
  #release: (() => Promise<void>) | undefined;
  /** The id whose cookie went out with the headers ("" = a clearing cookie; undefined = none). */
  #cookieSent: string | undefined;
  #headersSent = false;
  #saved = false;

  constructor(settings: SessionSettings, environ: Environ, cookieId: string | undefined) {
    this.#settings = settings;
    this.#environ = environ;
    this.cookieId = cookieId;
  }

  get id(): string | undefined {
    return this.#id;
  }
  get loaded(): boolean {
    return this.#loaded;
  }
  get isNew(): boolean {
    return this.#isNew;
  }
  get modified(): boolean {
    return this.#changed.size > 0 || this.#deleted.size > 0 || this.#flashesChanged || this.#regenerated || this.#destroyed;
  }

  load(): Promise<this> {
    this.#loading ??= this.#load();
    return this.#loading;
  }

  async #load(): Promise<this> {
    const { store, now } = this.#settings;
    const id = this.cookieId;
    let record: SessionRecord | undefined;
    if (id !== undefined) {
      if (this.#settings.lock) this.#release = await store.lock(id, { waitMs: this.#settings.lockWaitMs, ttlMs: this.#settings.lockTtlMs });
      try {
        const text = await store.get(id);
        record = parseRecord(text);
        if (record) this.#loadedText = text;
      } catch (error) {
        await this.releaseLock();
        throw error;
      }
      if (record && this.#expiredAbsolutely(record.created, now())) {
        this.#obsolete.add(id);
        record = undefined;
      }
    }
    if (record && id !== undefined) {
      this.#id = id;
      this.#isNew = false;
      this.#created = record.created;
      this.#data = new Map(Object.entries(record.data));
      this.#flashes = Array.isArray(record.flashes) ? record.flashes : [];
    } else {
      this.#startFresh();
    }
    this.#loaded = true;
    return this;
  }

  #startFresh(): void {
    this.#id = newSessionId();
    this.#isNew = true;
    this.#created = this.#settings.now();
    this.#data = new Map();
    this.#flashes = [];
  }

  #expiredAbsolutely(created: number, now: number): boolean {
    const limit = this.#settings.absoluteTimeoutSeconds;
    return limit > 0 && now >= created + limit * 1000;
  }

  #requireLoaded(method: string): void {
    if (!this.#loaded) throw new Error(`session.${method}() was called before the session was loaded: await getSession(environ).load() (or loadSession(environ)) first`);
  }

  get<T = unknown>(key: string): T | undefined {
    this.#requireLoaded('get');
    return this.#data.get(key) as T | undefined;
  }

  set(key: string, value: unknown): void {
    this.#requireLoaded('set');
    if (typeof key !== 'string') throw new TypeError('session.set(): the key must be a string');
    if (value === undefined) return this.delete(key);
    this.#data.set(key, value);
    this.#changed.add(key);
    this.#deleted.delete(key);
  }

  delete(key: string): void {
    this.#requireLoaded('delete');
    this.#data.delete(key);
    this.#deleted.add(key);
    this.#changed.delete(key);
  }

  has(key: string): boolean {
    this.#requireLoaded('has');
    return this.#data.has(key);
  }

  keys(): string[] {
    this.#requireLoaded('keys');
    return [...this.#data.keys()];
  }

  flash(message: string, category = 'message'): void {
    this.#requireLoaded('flash');
    this.#flashes.push({ category: String(category), message: String(message) });
    this.#flashesChanged = true;
  }

  consumeFlashes(categories?: string[]): FlashMessage[] {
    this.#requireLoaded('consumeFlashes');
    const take = (f: FlashMessage) => !categories || categories.includes(f.category);
    const taken = this.#flashes.filter(take);
    if (taken.length) {
      this.#flashes = this.#flashes.filter((f) => !take(f));
      this.#flashesChanged = true;
    }
    return taken;
  }

  async regenerate(): Promise<void> {
    await this.load();
    if (this.#headersSent) {
      throw new Error('session.regenerate() was called after the response headers were sent, so the new id cannot reach the client: call it before the response body starts (before the first body chunk)');
    }
    if (!this.#isNew) this.#obsolete.add(this.#id!);
    this.#id = newSessionId();
    this.#regenerated = true;
    // Every key is written under the new id.
    for (const key of this.#data.keys()) this.#changed.add(key);
  }

  async destroy(): Promise<void> {
    await this.load();
    const { store } = this.#settings;
    const ids = new Set([...this.#obsolete, ...(this.#isNew ? [] : [this.#id!])]);
    for (const id of ids) await store.destroy(id);
    this.#obsolete.clear();
    this.#startFresh();
    this.#changed.clear();
    this.#deleted.clear();
    this.#flashesChanged = false;
    this.#regenerated = false;
    this.#destroyed = true;
  }

  /** True when the session would be written by {@link save}. New sessions with no data and no flashes are not stored. */
  #willStore(): boolean {
    if (!this.#loaded) return false;
    if (this.#isNew) return (this.#data.size > 0 || this.#flashes.length > 0) && (this.#changed.size > 0 || this.#flashesChanged);
    return this.#changed.size > 0 || this.#deleted.size > 0 || this.#flashesChanged || this.#regenerated;
  }

  /** Seconds left before this session must expire: the idle timeout, capped by the absolute one. */
  #ttlSeconds(): number {
    const idle = this.#settings.idleTimeoutSeconds;
    const limit = this.#settings.absoluteTimeoutSeconds;
    if (limit <= 0) return idle;
    const left = Math.ceil((this.#created + limit * 1000 - this.#settings.now()) / 1000);
    return Math.max(1, Math.min(idle, left));
  }

  /**
   * Called by the middleware when the response headers are about to go out: which Set-Cookie to
   * add. Records that headers are sent (later id changes cannot reach the client).
   */
  cookieAction(): CookieAction {
    this.#headersSent = true;
    let action: CookieAction = { kind: 'none' };
    if (this.#willStore() || (this.#loaded && !this.#isNew && this.#settings.rolling && !this.#destroyed)) {
      action = { kind: 'set', id: this.#id!, maxAgeSeconds: this.#ttlSeconds() };
    } else if (this.cookieId !== undefined && this.#loaded && this.#isNew) {
      // The cookie names a session that is gone (destroyed now, expired, unknown): expire it.
      action = { kind: 'clear' };
    }
    this.#cookieSent = action.kind === 'set' ? action.id : action.kind === 'clear' ? '' : undefined;
    return action;
  }

  /**
   * Writes the session if this request changed it (merging into the stored record, see the class
   * comment), touches it for rolling expiry otherwise, removes obsolete ids, and releases the lock.
   * Runs once; later calls do nothing.
   * @throws SessionDataError when a value is not JSON data (the lock is released first).
   */
  async save(): Promise<void> {
    if (this.#saved) return;
    this.#saved = true;
    try {
      if (!this.#loaded) return;
      const { store } = this.#settings;
      for (const id of this.#obsolete) await store.destroy(id);
      if (this.#willStore()) {
        const id = this.#id!;
        if (this.#headersSent && this.#cookieSent !== id && this.cookieId !== id) {
          this.#environ['stackware.errors'].write(
            'session: this request changed a session whose cookie was not sent (it was first changed, or regenerated, after the response headers went out); ' +
              'the change is dropped. Load and change the session before the response body starts.\n',
          );
          return;
        }
        // Merging re-reads and writes: unless the request lock is held, this process's saves of
        // the session take turns for that step, so they never interleave (never the store's lock).
        const merging = !this.#isNew && !this.#regenerated;
        if (merging && !this.#release) this.#release = await saveTurn(store, id);
        if (merging && store.compareAndSet && this.#loadedText !== undefined && (await this.#compareAndSet(store, id))) return;
        const record = await this.#recordToWrite();
        if (record === undefined) return;
        const text = this.#serialise(record);
        await store.set(id, text, this.#ttlSeconds());
      } else if (this.#loaded && !this.#isNew && !this.#destroyed && this.#settings.rolling) {
        await store.touch(this.#id!, this.#ttlSeconds());
      }
    } finally {
      await this.releaseLock();
    }
  }

  /**
   * The merging save in compare-and-set steps: this request's changes applied to the record it
   * loaded, written only if that is still what the store holds; when another request wrote
   * meanwhile, merged into the record read again and tried again — after the first retries with a
   * short random pause (up to 2 ms × attempt), so that writers contending for one session spread
   * out — up to {@link CAS_ATTEMPTS} times. True when the save is done (written, or dropped because
   * the session vanished); false (only after that many lost races) to fall back to re-read and write.
   */
  async #compareAndSet(store: SessionStore, id: string): Promise<boolean> {
    let expected = this.#loadedText;
    for (let attempt = 0; attempt < CAS_ATTEMPTS; attempt++) {
      const current = parseRecord(expected);
      if (!current || expected === undefined) {
        this.#dropVanished();
        return true;
      }
      if (await store.compareAndSet!(id, expected, this.#serialise(this.#merged(current)), this.#ttlSeconds())) return true;
      if (attempt >= 2) await new Promise((resolve) => setTimeout(resolve, Math.random() * 2 * attempt));
      expected = await store.get(id);
    }
    return false;
  }

  /** Destroyed (logout in another tab) or expired since we read it: do not bring it back. */
  #dropVanished(): void {
    this.#environ['stackware.errors'].write('session: the session was destroyed or expired by another request before this one saved; its changes are dropped.\n');
  }

  /** The record to write: everything for a new or regenerated session; otherwise the stored record with this request's changes applied. Undefined when the session vanished meanwhile. */
  async #recordToWrite(): Promise<SessionRecord | undefined> {
    const ours = (): SessionRecord => ({ v: 1, created: this.#created, data: Object.fromEntries(this.#data), flashes: this.#flashes });
    if (this.#isNew || this.#regenerated) return ours();
    const current = parseRecord(await this.#settings.store.get(this.#id!));
    if (!current) {
      this.#dropVanished();
      return undefined;
    }
    return this.#merged(current);
  }

  /** `current` (a stored record) with this request's changes applied: keys set or deleted, and the flashes when this request changed them. */
  #merged(current: SessionRecord): SessionRecord {
    const data = new Map(Object.entries(current.data));
    for (const key of this.#deleted) data.delete(key);
    for (const key of this.#changed) data.set(key, this.#data.get(key));
    return {
      v: 1,
      created: current.created,
      data: Object.fromEntries(data),
      flashes: this.#flashesChanged ? this.#flashes : Array.isArray(current.flashes) ? current.flashes : [],
    };
  }

  #serialise(record: SessionRecord): string {
    for (const key of this.#changed) assertJsonData(this.#data.get(key), `session key ${JSON.stringify(key)}`);
    try {
      return JSON.stringify(record);
    } catch (error) {
      throw new SessionDataError(`The session could not be saved as JSON: ${(error as Error).message}`);
    }
  }

  /** Releases the store lock if this request holds it (idempotent). */
  async releaseLock(): Promise<void> {
    const release = this.#release;
    this.#release = undefined;
    if (release) await release();
  }
}
