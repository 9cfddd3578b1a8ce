import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { link, open, readdir, rename, unlink, utimes, stat, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { SessionStore } from '../types.js';
import { isValidSessionId } from '../ids.js';
import { acquireWithRetry } from './retry.js';
import { isDeadHolder, newLockHolder } from './lock-holder.js';

/** Options of {@link FileStore}. */
export interface FileStoreOptions {
  /** The directory (created, mode 0700, when missing). Required. One file per session: `<id>.json`. */
  dir: string;
  /** fsync each session file before it is renamed into place, so a power loss leaves the old or the new version (default true). */
  fsync?: boolean;
  /** How often expired sessions, stale locks and temp files left by a crash are removed, in ms (default 60000; 0 = never, call `sweep()` yourself). */
  sweepIntervalMs?: number;
  /** The clock, in ms since the epoch (default `Date.now`; tests pass their own). */
  now?: () => number;
}

const TEMP_PREFIX = '.tmp-';
const TEMP_MAX_AGE_MS = 60_000;

function isMissing(error: unknown): boolean {
  return (error as NodeJS.ErrnoException)?.code === 'ENOENT';
}

/**
 * Sessions as files in one directory: safe across processes and threads on one machine (prefork
 * workers, the thread pool, CGI), survive restarts.
 * - Writes are atomic: the value goes to a temp file in the same directory (fsync'd), which is then
 *   `rename`d over `<id>.json` (POSIX rename is atomic), so a reader — or a process killed with
 *   SIGKILL in the middle of a save — sees the old or the new version, never a mix.
 * - The expiry time is the file's mtime (set into the future), so `touch` is one `utimes` call.
 * - Ids are checked against the id format (`[A-Za-z0-9_-]{32}`) before they become file names.
 * - Locks are `<id>.lock` files (created by hard-linking a complete temp file, so they are never
 *   seen half-written) holding `<token> <expiresAtMs> <pid> <hostname>`. A lock is taken over when
 *   it expired, or at once when its holder is a process on this host that no longer exists.
 * - A sweep (every `sweepIntervalMs`, timer unref'd) removes expired sessions, expired locks and temp files
 *   older than a minute.
 */
export class FileStore implements SessionStore {
  readonly dir: string;
  readonly #fsync: boolean;
  readonly #now: () => number;
  #timer: NodeJS.Timeout | undefined;

  /** @throws Error when `dir` is missing or cannot be created. */
  constructor(options: FileStoreOptions) {
    if (!options || typeof options.dir !== 'string' || options.dir === '') throw new Error('FileStore needs a "dir" option: the directory to keep session files in');
    this.dir = resolve(options.dir);
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    this.#fsync = options.fsync ?? true;
    this.#now = options.now ?? Date.now;
    const every = options.sweepIntervalMs ?? 60_000;
    if (every > 0) {
      this.#timer = setInterval(() => void this.sweep().catch(() => {}), every);
      this.#timer.unref();
    }
  }

  #path(id: string, ext: 'json' | 'lock'): string {
    if (!isValidSessionId(id)) throw new Error(`FileStore: refusing session id ${JSON.stringify(String(id).slice(0, 40))}: not a valid session id`);
    return join(this.dir, `${id}.${ext}`);
  }

  async get(id: string): Promise<string | undefined> {
    let handle;
    try {
      handle = await open(this.#path(id, 'json'), 'r');
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw error;
    }
    try {
      const info = await handle.stat();
      if (info.mtimeMs <= this.#now()) return undefined;
      return await handle.readFile('utf8');
    } finally {
      await handle.close();
    }
  }

  async set(id: string, value: string, ttlSeconds: number): Promise<void> {
    const target = this.#path(id, 'json');
    const temp = join(this.dir, `${TEMP_PREFIX}${id}-${randomBytes(6).toString('hex')}`);
    const handle = await open(temp, 'wx', 0o600);
    try {
      try {
        await handle.writeFile(value, 'utf8');
        if (this.#fsync) await handle.sync();
      } finally {
        await handle.close();
      }
      const expires = new Date(this.#now() + ttlSeconds * 1000);
      await utimes(temp, new Date(), expires);
      await rename(temp, target);
    } catch (error) {
      await unlink(temp).catch(() => {});
      throw error;
    }
  }

  async destroy(id: string): Promise<void> {
    await unlink(this.#path(id, 'json')).catch((error: unknown) => {
      if (!isMissing(error)) throw error;
    });
  }

  async touch(id: string, ttlSeconds: number): Promise<void> {
    await utimes(this.#path(id, 'json'), new Date(), new Date(this.#now() + ttlSeconds * 1000)).catch((error: unknown) => {
      if (!isMissing(error)) throw error;
    });
  }

  async lock(id: string, options: { waitMs: number; ttlMs: number }): Promise<() => Promise<void>> {
    const path = this.#path(id, 'lock');
    const holder = newLockHolder();
    const release = async () => {
      const held = await readFile(path, 'utf8').catch(() => '');
      if (held.startsWith(`${holder.token} `)) await unlink(path).catch(() => {});
    };
    // The lock file is written in full under a temp name, then hard-linked to <id>.lock: link()
    // fails with EEXIST when the lock is held, and a lock file is never seen half-written.
    const temp = join(this.dir, `${TEMP_PREFIX}${id}-${randomBytes(6).toString('hex')}.lock`);
    try {
      return await acquireWithRetry(async () => {
        await writeFile(temp, `${holder.token} ${Date.now() + options.ttlMs} ${holder.pid} ${holder.host}`, { mode: 0o600 });
        try {
          await link(temp, path);
          return release;
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
        }
        await this.#breakIfStale(path);
        return undefined;
      }, options.waitMs);
    } finally {
      await unlink(temp).catch(() => {});
    }
  }

  /**
   * Removes a lock file whose holder's time ran out, or whose holder is a dead process on this
   * host: renamed aside first, so of two waiters only one removes it.
   */
  async #breakIfStale(path: string): Promise<void> {
    const held = await readFile(path, 'utf8').catch(() => undefined);
    if (held === undefined) return;
    const [, expires, pid, host] = held.trim().split(' ');
    const expired = Number(expires) < Date.now();
    if (!expired && !(pid !== undefined && host !== undefined && isDeadHolder({ pid: Number(pid), host }))) return;
    const aside = `${path}.stale-${randomBytes(6).toString('hex')}`;
    try {
      await rename(path, aside);
    } catch {
      return; // another waiter got there first
    }
    // Between our read and the rename, another waiter may have broken the stale lock and taken a
    // fresh one: if what we moved aside is not what we read, put it back.
    const moved = await readFile(aside, 'utf8').catch(() => held);
    if (moved !== held) await link(aside, path).catch(() => {});
    await unlink(aside).catch(() => {});
  }

  /** Removes expired session files, expired lock files and temp files older than a minute. Resolves to the number of files removed. */
  async sweep(): Promise<number> {
    const now = this.#now();
    let removed = 0;
    for (const name of await readdir(this.dir)) {
      const path = join(this.dir, name);
      try {
        if (name.endsWith('.json')) {
          if ((await stat(path)).mtimeMs <= now) {
            await unlink(path);
            removed++;
          }
        } else if (name.startsWith(TEMP_PREFIX) || name.includes('.lock.stale-')) {
          if ((await stat(path)).mtimeMs < Date.now() - TEMP_MAX_AGE_MS) {
            await unlink(path);
            removed++;
          }
        } else if (name.endsWith('.lock')) {
          const expiresAt = Number((await readFile(path, 'utf8')).split(' ')[1]);
          if (expiresAt < Date.now()) {
            await unlink(path);
            removed++;
          }
        }
      } catch (error) {
        if (!isMissing(error)) throw error;
      }
    }
    return removed;
  }

  async close(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }
}
