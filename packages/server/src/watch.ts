import { watch as chokidarWatch, type FSWatcher } from 'chokidar';
import { basename, sep } from 'node:path';
import type { Logger } from 'pino';

/** Options of {@link watchFiles}. */
export interface WatchFilesOptions {
  /** Events within this many ms are reported once, with the last path. Default 300. */
  debounceMs?: number;
  /** More paths to ignore, besides {@link isIgnoredPath}'s defaults. */
  ignored?: (path: string) => boolean;
  /** Where watcher errors go (a warning each; watching goes on). */
  logger?: Logger;
  /** Keep the process alive while watching. Default true. */
  persistent?: boolean;
}

/** A running watcher. */
export interface FileWatcher {
  /** Watches more files or directories. */
  add(paths: string[]): void;
  /** Stops watching (pending debounced calls are dropped). */
  close(): Promise<void>;
}

/** Directory names never watched: dependencies, version control, logs, data, caches. */
const IGNORED_DIRECTORIES = new Set(['node_modules', 'logs', 'log', 'data', 'tmp', 'coverage', '__pycache__']);
/** File names never watched: logs, databases, editor swap and backup files. */
const IGNORED_FILE = /(\.log|\.sqlite3?|\.db|-journal|\.swp|\.swx|\.tmp|~)$|^\.#|^#.*#$|^4913$/;

/**
 * True for a path the reload watcher ignores: any segment that is a dot-directory (`.git`,
 * `.cache`) or one of `node_modules`, `logs`, `log`, `data`, `tmp`, `coverage`; files ending in
 * `.log`, `.sqlite`, `.db`, `-journal`, editor swap/backup files (`.swp`, `~`, `.#name`, vim's
 * `4913` probe). A log file or a session store written inside the application's directory then
 * never triggers a reload.
 */
export function isIgnoredPath(path: string): boolean {
  const parts = path.split(sep);
  const name = parts[parts.length - 1] ?? '';
  for (let i = 0; i < parts.length - 1; i++) {
    const part = parts[i]!;
    if (IGNORED_DIRECTORIES.has(part) || (part.startsWith('.') && part.length > 1 && part !== '..')) return true;
  }
  return IGNORED_FILE.test(name) || IGNORED_DIRECTORIES.has(name) || (name.startsWith('.') && name.length > 1);
}

/**
 * The one file watcher of Stackware's reloaders (prefork `--reload`, the deploy file's live reload,
 * the thread pool's `watch` option):
 * calls `onChange(path)` once per burst of changes (debounced by `debounceMs`) when a file under
 * `paths` (directories are watched recursively, files by themselves) is added, changed — a `touch`
 * counts, like mod_wsgi's touch-to-reload — or removed.
 *
 * It is chokidar, which keeps watching through the way editors save: writing a temporary file and
 * renaming it over the original (`sed -i`, vim, VS Code, JetBrains). Node 20's recursive
 * `fs.watch` on Linux went blind after the first such save. Paths {@link isIgnoredPath} names
 * (and `options.ignored`) are never watched.
 */
export function watchFiles(paths: string[], onChange: (path: string) => void, options: WatchFilesOptions = {}): FileWatcher {
  const debounceMs = options.debounceMs ?? 300;
  const extra = options.ignored;
  const roots = new Set(paths);
  // chokidar also asks about the roots themselves and their parents: never ignore those.
  const ignored = (path: string) => !roots.has(path) && (isIgnoredPath(relativeToRoots(path, roots)) || (extra?.(path) ?? false));
  const watcher: FSWatcher = chokidarWatch(paths, { ignoreInitial: true, ignored, persistent: options.persistent ?? true, atomic: true });
  let timer: NodeJS.Timeout | undefined;
  let last = '';
  const fire = (path: string) => {
    last = path;
    clearTimeout(timer);
    timer = setTimeout(() => onChange(last), debounceMs);
  };
  watcher.on('all', (_event, path) => fire(path));
  watcher.on('error', (error) => options.logger?.warn({ err: error }, 'file watcher error'));
  return {
    add: (more) => {
      for (const path of more) roots.add(path);
      watcher.add(more);
    },
    close: async () => {
      clearTimeout(timer);
      await watcher.close();
    },
  };
}

/** The part of `path` below the root that contains it (so a root inside `data/` is still watched). */
function relativeToRoots(path: string, roots: Set<string>): string {
  for (const root of roots) {
    if (path.startsWith(root + sep)) return path.slice(root.length + 1);
  }
  return basename(path);
}
