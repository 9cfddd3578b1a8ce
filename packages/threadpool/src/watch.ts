import { watch, statSync, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';

/**
 * Calls `onChange` (debounced by `debounceMs`) when any of `paths` changes. A file is watched
 * through its directory, so editors that replace the file (write a new one and rename it over
 * the old) are seen too; a directory is watched recursively. Returns a function that stops watching.
 */
export function watchPaths(paths: string[], onChange: (path: string) => void, debounceMs = 100): () => void {
  const watchers: FSWatcher[] = [];
  let timer: NodeJS.Timeout | undefined;
  const fire = (path: string) => {
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => onChange(path), debounceMs);
    timer.unref();
  };
  for (const path of paths) {
    let isDirectory = false;
    try {
      isDirectory = statSync(path).isDirectory();
    } catch {
      // A file that does not exist yet: watch its directory for it.
    }
    const target = isDirectory ? path : dirname(path);
    const name = basename(path);
    const watcher = watch(target, { recursive: isDirectory, persistent: false }, (_event, file) => {
      if (isDirectory || file === null || file === name) fire(path);
    });
    watcher.on('error', () => {});
    watchers.push(watcher);
  }
  return () => {
    if (timer) clearTimeout(timer);
    for (const w of watchers) w.close();
  };
}
