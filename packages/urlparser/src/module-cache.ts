import type { Stats } from 'node:fs';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { importModule } from '@stackware/loader';

/** How a module is imported: `importModule(url)` from @stackware/loader by default (tsx registered for TypeScript). Tests and embedders may pass their own. */
export type ImportModule = (url: string) => Promise<Record<string, unknown>>;

const defaultImport: ImportModule = (url) => importModule(url);
const require = createRequire(import.meta.url);

interface Entry {
  stamp: string;
  module: Promise<Record<string, unknown>>;
}

function stampOf(stats: Stats): string {
  return `${stats.ino}:${stats.size}:${stats.mtimeMs}`;
}

/**
 * Imports modules by file path and keeps them; with `reload`, a module whose file changed (inode,
 * size or mtime differ from the ones it was loaded with) is imported again.
 *
 * ES modules are cached by URL, so a changed file is re-imported under a new URL
 * (`file:///site/page.ts?stackware-reload=3`); a module that Node or tsx loaded as CommonJS is
 * also dropped from `require.cache`. Only the changed file itself is reloaded: modules it imports
 * keep their first instance (restart, or let the server's file watcher reload, for those).
 * Every reloaded version stays in memory until the process exits — reloading is for development.
 * A failed import is not cached: the next request tries again.
 */
export class ModuleCache {
  readonly #entries = new Map<string, Entry>();
  readonly #reload: boolean;
  readonly #import: ImportModule;
  /** Paths imported at least once (a failed import too: Node keeps an errored module under its URL). */
  readonly #seen = new Set<string>();
  #version = 0;

  constructor(options: { reload?: boolean; importModule?: ImportModule } = {}) {
    this.#reload = options.reload ?? true;
    this.#import = options.importModule ?? defaultImport;
  }

  /** The module namespace of `path`; `stats` is its current `fs.stat` (the caller has it already). */
  load(path: string, stats: Stats): Promise<Record<string, unknown>> {
    const stamp = stampOf(stats);
    const entry = this.#entries.get(path);
    if (entry && (entry.stamp === stamp || !this.#reload)) return entry.module;
    let url = pathToFileURL(path).href;
    if (this.#seen.has(path)) {
      url += `?stackware-reload=${++this.#version}`;
      delete require.cache[path];
    }
    this.#seen.add(path);
    const module = this.#import(url);
    const fresh: Entry = { stamp, module };
    this.#entries.set(path, fresh);
    module.catch(() => {
      if (this.#entries.get(path) === fresh) this.#entries.delete(path);
    });
    return module;
  }
}
