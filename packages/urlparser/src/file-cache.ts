import { watch, type FSWatcher, type Stats } from 'node:fs';
import { open } from 'node:fs/promises';
import { join, sep } from 'node:path';

/** Most entries (files and directories) one parser keeps; the oldest goes first beyond it. */
export const CACHE_MAX_ENTRIES = 4096;
/** Files up to this size (bytes) have their contents kept in memory once served. */
export const CACHE_MAX_FILE_BYTES = 64 * 1024;
/** Most file contents (bytes) one parser keeps in memory. */
export const CACHE_MAX_CONTENT_BYTES = 16 * 1024 * 1024;

/** What the cache keeps per path: the lstat result (never a symlink's), and the bytes of a small file once read. */
export interface CacheEntry {
  readonly path: string;
  readonly dir: string;
  readonly stats: Stats;
  readonly cache: FileCache;
  /** The file's bytes, once read (files of at most CACHE_MAX_FILE_BYTES). */
  content?: Buffer;
  /** Set while the contents are being read, so concurrent requests share one read. */
  reading?: Promise<Buffer | undefined>;
  /** Per-options precomputed response headers (static-file.ts). */
  headers?: WeakMap<object, unknown>;
}

/** Stats objects the cache handed out, to their entries (static-file.ts finds a file's cached bytes from its Stats). */
const ENTRIES = new WeakMap<Stats, CacheEntry>();

/** The cache entry behind a Stats object the cache handed out, if it is still current. */
export function cacheEntryOf(stats: Stats): CacheEntry | undefined {
  const entry = ENTRIES.get(stats);
  return entry && entry.cache.current(entry) ? entry : undefined;
}

interface WatchedDirectory {
  watcher: FSWatcher;
  /** Bumped on every change in the directory: a lookup that started before a change is not stored. */
  generation: number;
}

/**
 * The stat and small-file cache of a URL parser (what sirv and nginx's `open_file_cache` do):
 * a path's lstat result is kept, and the bytes of a small file once it is served, so a hot file
 * costs no system call at all. It stays true through a watcher rather than a time to live:
 * every directory that holds a cached entry is watched (node:fs `watch`, inotify on Linux, one
 * watch per directory, not recursive), and any event in it drops the entry it names (and what lies
 * below it, for a directory) before the next request reads it. A directory that cannot be watched
 * (watch limit reached, a file system without notifications) is never cached: its files are stat'ed
 * on every request as before. Bounded: {@link CACHE_MAX_ENTRIES} entries, contents only for files
 * of at most {@link CACHE_MAX_FILE_BYTES}, {@link CACHE_MAX_CONTENT_BYTES} of contents in all.
 * Only regular files and directories are cached: never a symlink (its target may change in a
 * directory nobody watches).
 */
export class FileCache {
  private readonly entries = new Map<string, CacheEntry>();
  private readonly directories = new Map<string, WatchedDirectory | null>();
  private contentBytes = 0;

  /** The current entry for `path`, if any. */
  get(path: string): CacheEntry | undefined {
    return this.entries.get(path);
  }

  /** True while `entry` is the one the cache holds for its path. */
  current(entry: CacheEntry): boolean {
    return this.entries.get(entry.path) === entry;
  }

  /**
   * Starts watching `dir` (once) and returns its generation, to pass to {@link store} after the
   * lookup; -1 when the directory cannot be watched (then nothing in it is stored).
   */
  begin(dir: string): number {
    let watched = this.directories.get(dir);
    if (watched === undefined) {
      try {
        const watcher = watch(dir, { persistent: false }, (_event, name) => this.changed(dir, name));
        watcher.on('error', () => this.forget(dir, true));
        watched = { watcher, generation: 0 };
      } catch {
        watched = null;
      }
      this.directories.set(dir, watched);
    }
    return watched ? watched.generation : -1;
  }

  /** Keeps `stats` for `path` (in `dir`), unless `dir` changed since {@link begin} returned `generation`. Returns the Stats to use. */
  store(dir: string, path: string, stats: Stats, generation: number): Stats {
    const watched = this.directories.get(dir);
    if (generation < 0 || !watched || watched.generation !== generation || !(stats.isFile() || stats.isDirectory())) return stats;
    this.drop(path);
    if (this.entries.size >= CACHE_MAX_ENTRIES) this.drop(this.entries.keys().next().value!);
    const entry: CacheEntry = { path, dir, stats, cache: this };
    this.entries.set(path, entry);
    ENTRIES.set(stats, entry);
    return stats;
  }

  /**
   * The bytes of a cached small file, read once (open, fstat, read, close); undefined when the file
   * is too large, the content budget is spent, or the file changed under the read (then the caller
   * streams it from disk as usual).
   */
  async content(entry: CacheEntry): Promise<Buffer | undefined> {
    if (entry.content) return entry.content;
    if (entry.stats.size > CACHE_MAX_FILE_BYTES || this.contentBytes + entry.stats.size > CACHE_MAX_CONTENT_BYTES) return undefined;
    entry.reading ??= this.read(entry).finally(() => { entry.reading = undefined; });
    return entry.reading;
  }

  private async read(entry: CacheEntry): Promise<Buffer | undefined> {
    const generation = this.directories.get(entry.dir)?.generation;
    let bytes: Buffer;
    const handle = await open(entry.path, 'r');
    try {
      const now = await handle.stat();
      const was = entry.stats;
      if (now.ino !== was.ino || now.size !== was.size || now.mtimeMs !== was.mtimeMs) return undefined;
      bytes = Buffer.allocUnsafe(was.size);
      let filled = 0;
      while (filled < bytes.length) {
        const { bytesRead } = await handle.read(bytes, filled, bytes.length - filled, filled);
        if (bytesRead === 0) return undefined;
        filled += bytesRead;
      }
    } finally {
      await handle.close();
    }
    // Kept only if nothing changed in the directory meanwhile and the entry is still the cache's.
    if (!this.current(entry) || this.directories.get(entry.dir)?.generation !== generation) return bytes;
    if (this.contentBytes + bytes.length > CACHE_MAX_CONTENT_BYTES) return bytes;
    entry.content = bytes;
    this.contentBytes += bytes.length;
    return bytes;
  }

  /** A change in `dir`: drops the named entry and what lies below it; with no name, everything in `dir`. */
  private changed(dir: string, name: string | Buffer | null): void {
    const watched = this.directories.get(dir);
    if (watched) watched.generation++;
    if (name === null || name === undefined) {
      this.dropBelow(dir);
      return;
    }
    const path = join(dir, name.toString());
    this.drop(path);
    if (this.directories.has(path)) {
      this.dropBelow(path);
      this.forget(path, false);
    }
  }

  /** Stops watching `dir` (its watcher failed or it is gone); with `entries`, drops what lies below it too. */
  private forget(dir: string, entries: boolean): void {
    const watched = this.directories.get(dir);
    watched?.watcher.close();
    this.directories.delete(dir);
    if (entries) this.dropBelow(dir);
  }

  private dropBelow(dir: string): void {
    const prefix = dir.endsWith(sep) ? dir : dir + sep;
    for (const path of this.entries.keys()) if (path.startsWith(prefix)) this.drop(path);
    for (const [path, watched] of this.directories) {
      if (!path.startsWith(prefix)) continue;
      watched?.watcher.close();
      this.directories.delete(path);
    }
  }

  private drop(path: string): void {
    const entry = this.entries.get(path);
    if (!entry) return;
    this.entries.delete(path);
    if (entry.content) this.contentBytes -= entry.content.length;
    entry.content = undefined;
  }

  /** Stops every watcher and empties the cache. */
  close(): void {
    for (const watched of this.directories.values()) watched?.watcher.close();
    this.directories.clear();
    for (const path of this.entries.keys()) this.drop(path);
  }
}
