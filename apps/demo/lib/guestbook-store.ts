/**
 * The guestbook on disk: `<dataDir>/guestbook.json`, an array of entries (newest first, at most
 * {@link MAX_ENTRIES}). Writers take a lock directory (`mkdir` is atomic, across threads and
 * processes), read, add, write a temporary file and rename it over the old one; readers never
 * lock and always see a whole file (rename is atomic on one file system).
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rmdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { HTTPError } from '@stackware/gateway';

/** One signed entry. */
export interface GuestbookEntry {
  name: string;
  message: string;
  /** ISO 8601 time of signing. */
  at: string;
}

/** Entries kept; older ones are dropped. */
export const MAX_ENTRIES = 200;
/** How long a writer waits for the lock before answering 503, in ms. */
const LOCK_WAIT_MS = 5000;
/** A lock older than this is left over from a crashed writer and is removed, in ms. */
const STALE_LOCK_MS = 10_000;

/** Reads the entries (newest first); none when the file does not exist yet. */
export async function readEntries(dir: string): Promise<GuestbookEntry[]> {
  try {
    const data = JSON.parse(await readFile(join(dir, 'guestbook.json'), 'utf8')) as unknown;
    return Array.isArray(data) ? (data as GuestbookEntry[]) : [];
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
}

/**
 * Adds `entry` at the top, under the lock.
 * @throws HTTPError 503 when the lock is still held after 5 s.
 */
export async function addEntry(dir: string, entry: GuestbookEntry): Promise<void> {
  const lock = join(dir, 'guestbook.lock');
  const deadline = Date.now() + LOCK_WAIT_MS;
  for (let wait = 5; ; wait = Math.min(wait * 2, 100)) {
    try {
      await mkdir(lock);
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const since = await stat(lock).then((s) => Date.now() - s.mtimeMs, () => 0);
      if (since > STALE_LOCK_MS) await rmdir(lock).catch(() => {});
      if (Date.now() > deadline) throw new HTTPError(503, 'The guestbook is busy; try again in a moment.');
      await delay(wait);
    }
  }
  try {
    const entries = [entry, ...(await readEntries(dir))].slice(0, MAX_ENTRIES);
    const tmp = join(dir, `guestbook.${randomBytes(6).toString('hex')}.tmp`);
    await writeFile(tmp, JSON.stringify(entries, null, 1));
    await rename(tmp, join(dir, 'guestbook.json'));
  } finally {
    await rmdir(lock);
  }
}
