import { statSync, realpathSync, type Stats } from 'node:fs';
import { lstat, readdir, realpath, stat } from 'node:fs/promises';
import { basename, extname, join, resolve } from 'node:path';
import { asApplication, RESOURCE_PATH_KEY, notFound as notFoundPage, quotePath, redirect, shiftPathInfo, type Application, type Environ } from '@stackware/gateway';
import { compileHide, DEFAULT_HIDE, SOURCE_EXTENSIONS, type HideOption } from './hide.js';
import { isInside, unsafeSegmentReason } from './safe-path.js';
import { serveFile, type StaticFileOptions } from './static-file.js';
import { FileCache } from './file-cache.js';
import { ModuleCache, type ImportModule } from './module-cache.js';
import { HOOK_EXTENSIONS, HOOK_NAME, toDirectoryHook, type DirectoryHook } from './hook.js';
import { directoryListing } from './listing.js';

/** A file the parser found, as given to a {@link ResourceFactory}. */
export interface Resource {
  /** Absolute path on disk (inside the root, or a symlink target when `allowSymlinksOutside`). */
  path: string;
  /** The file name ("page.ts"). */
  name: string;
  /** The lower-cased extension with its dot (".ts"), "" when none. */
  extension: string;
  stats: Stats;
  /** True when the file answers as its directory's index (the URL ended in "/"; PATH_INFO is "/"). */
  index: boolean;
  /** Imports the file as a module: cached, and re-imported when the file changes (with `reload`). */
  loadModule(): Promise<Record<string, unknown>>;
  /** The parser's options (static-file options included). */
  options: Readonly<URLParserOptions>;
}

/**
 * Builds the application for one resource, or returns undefined for "not found here" (404).
 * Called on every request that resolves to the resource: cache expensive work (modules are cached
 * by `loadModule`).
 */
export type ResourceFactory = (resource: Resource, environ: Environ) => Application | undefined | Promise<Application | undefined>;

/**
 * Options of {@link urlParser}. Defaults: `indexNames` ["index", "main"], `hide` DEFAULT_HIDE,
 * `factories` {".ts", ".mts", ".js", ".mjs", ".cjs": moduleFactory, "*": static files},
 * `extensionless` true, `listing` false, `hooks` true, `allowSymlinksOutside` false, `reload` true,
 * `notFound` the gateway's 404 page; static-file options as in {@link StaticFileOptions}.
 */
export interface URLParserOptions extends StaticFileOptions {
  /** The directory to serve. Must exist. */
  root: string;
  /** Names tried, in order, for a request that ends in "/" (each with or without extension: "index" finds index.html or index.ts). */
  indexNames?: readonly string[];
  /** Names never served or walked into, matched per segment (see DEFAULT_HIDE). */
  hide?: HideOption;
  /**
   * Factories by extension (".ts", lower case), merged over the defaults; `null` removes one.
   * "*" is the factory for every other file (static files by default). A file with a server-side
   * source extension and no factory answers 404: source is never sent as text.
   */
  factories?: Record<string, ResourceFactory | null>;
  /** Find "about.html" or "about.ts" for "/about" when no file is named "about" exactly. */
  extensionless?: boolean;
  /** Answer a directory with no index with an HTML listing. */
  listing?: boolean;
  /** Serve symlinks whose target lies outside the root (default: such links answer 404). */
  allowSymlinksOutside?: boolean;
  /**
   * Re-import a module (or hook) whose file changed; an edit is seen on the next request, a hook
   * file added to or removed from a directory within a second. Costs little: files are stat'ed anyway.
   */
  reload?: boolean;
  /** The application answering 404 (a directory hook's `notFound` takes precedence). */
  notFound?: Application;
  /** Run directories' `_hook.ts` modules (default true). */
  hooks?: boolean;
  /** How modules are imported (default: `importModule(url)` from @stackware/loader, which registers tsx for a TypeScript module). */
  importModule?: ImportModule;
}

/** How often (ms) a directory is checked for a hook file that was added or removed (with `reload`). */
const HOOK_RECHECK_MS = 1000;
/** Where a directory's wrapped dispatcher finds the application resolved for this request. */
const RESOLVED = Symbol('stackware.urlparser.resolved');
/** The nearest enclosing directory hook's notFound, inherited by sub-directories. */
const NOT_FOUND = Symbol('stackware.urlparser.notFound');

// getResourcePath() and its key are owned by @stackware/gateway (src/keys.ts): servlet reads them too.
export { getResourcePath } from '@stackware/gateway';

const applications = new WeakMap<object, Promise<Application | undefined>>();

/**
 * The factory for `.ts`/`.js`/`.mjs` modules: imports the module and takes its default export, or
 * the export named after the file ("hello.ts" → `hello`), converted with `asApplication` (so an
 * Application, or a class with a static `[TO_APPLICATION]()` such as a Servlet). A module with
 * neither answers 404 and the reason goes to `stackware.errors`; an import error propagates (500).
 */
export const moduleFactory: ResourceFactory = async (resource, environ) => {
  const module = await resource.loadModule();
  let app = applications.get(module);
  if (!app) {
    const named = stem(resource.name);
    app = (async () => (await asApplication(module.default)) ?? (await asApplication(module[named])))();
    applications.set(module, app);
    app.catch(() => applications.delete(module));
  }
  const found = await app;
  if (!found) environ['stackware.errors'].write(`urlparser: ${resource.path} exports no application (a default export, or one named "${stem(resource.name)}")\n`);
  return found;
};

function stem(name: string): string {
  return basename(name, extname(name));
}

/** The factory for static files: {@link serveFile} with the parser's static-file options; extra path info answers 404. */
export const staticFactory: ResourceFactory = (resource, environ) => {
  if (environ.PATH_INFO !== '' && !resource.index) return undefined;
  return (env, startResponse) => serveFile(env, startResponse, resource.path, resource.stats, resource.options);
};

const DEFAULT_FACTORIES: Record<string, ResourceFactory> = {
  '.ts': moduleFactory, '.mts': moduleFactory, '.js': moduleFactory, '.mjs': moduleFactory, '.cjs': moduleFactory,
  '*': staticFactory,
};

interface Found {
  path: string;
  name: string;
  stats: Stats;
}

type Lookup = { found: Found } | { missing: string } | { ambiguous: string[] };

/** Shared by a parser and the nested parsers of its sub-directories. */
class Parser {
  readonly options: URLParserOptions;
  readonly root: string;
  readonly realRoot: string;
  readonly hidden: (name: string) => boolean;
  readonly factories: Record<string, ResourceFactory | null>;
  readonly modules: ModuleCache;
  readonly notFound: Application;
  readonly directories = new Map<string, Application>();
  readonly listings = new Map<string, { stamp: string; names: readonly string[] }>();
  readonly hooks = new Map<string, { checkedAt: number; path?: string; stats?: Stats }>();
  readonly wrapped = new WeakMap<DirectoryHook, Application>();
  /** lstat results (and small files' bytes), kept true by a watcher on each directory: see {@link FileCache}. */
  readonly cache = new FileCache();
  readonly hookModules = new WeakMap<object, DirectoryHook>();

  constructor(options: URLParserOptions) {
    if (typeof options?.root !== 'string' || !options.root) throw new TypeError('urlParser: the "root" option (a directory path) is required');
    let stats: Stats;
    try {
      stats = statSync(options.root);
    } catch {
      throw new Error(`urlParser: root ${JSON.stringify(options.root)} does not exist: create it or fix the "root" option`);
    }
    if (!stats.isDirectory()) throw new Error(`urlParser: root ${JSON.stringify(options.root)} is not a directory`);
    this.options = options;
    this.root = resolve(options.root);
    this.realRoot = realpathSync(this.root);
    this.hidden = compileHide(options.hide ?? DEFAULT_HIDE);
    this.factories = { ...DEFAULT_FACTORIES, ...options.factories };
    for (const [ext, factory] of Object.entries(this.factories)) {
      if (factory !== null && typeof factory !== 'function') throw new TypeError(`urlParser: factories[${JSON.stringify(ext)}] must be a function or null`);
    }
    this.modules = new ModuleCache({ reload: options.reload ?? true, importModule: options.importModule });
    this.notFound = options.notFound ?? notFoundPage();
  }

  log(environ: Environ, message: string): void {
    environ['stackware.errors'].write(`urlparser: ${message}\n`);
  }

  /** The application for a directory: runs its hook, resolves the next segment, wraps the result. */
  directory(dir: string): Application {
    let app = this.directories.get(dir);
    if (app) return app;
    if (this.options.hooks === false) {
      // No hooks (staticFiles): no await on a cached file, so a hot file costs no promise here.
      app = (incoming, startResponse) => {
        const environ: Environ = { ...incoming };
        const resolved = this.resolve(dir, environ);
        if (resolved instanceof Promise) return resolved.then((found) => (found ?? this.notFound)(environ, startResponse));
        return (resolved ?? this.notFound)(environ, startResponse);
      };
      this.directories.set(dir, app);
      return app;
    }
    app = async (incoming, startResponse) => {
      const environ: Environ = { ...incoming };
      const hook = await this.loadHook(dir);
      if (hook?.hook) {
        const answer = await hook.hook(environ);
        if (typeof answer === 'function') return answer(environ, startResponse);
      }
      const inherited = (environ as unknown as Record<symbol, unknown>)[NOT_FOUND] as Application | undefined;
      if (hook?.notFound) (environ as unknown as Record<symbol, unknown>)[NOT_FOUND] = hook.notFound;
      const resolved = (await this.resolve(dir, environ)) ?? hook?.notFound ?? inherited ?? this.notFound;
      return this.wrap(hook, resolved)(environ, startResponse);
    };
    this.directories.set(dir, app);
    return app;
  }

  /**
   * Runs `app` inside the hook's `wrap`. The middleware is built once per hook module (not per
   * request or per file: a wrap that creates state, a session store say, keeps it); the resolved
   * application travels to it in the environ under a private symbol.
   */
  wrap(hook: DirectoryHook | undefined, app: Application): Application {
    if (!hook?.wrap) return app;
    let wrapped = this.wrapped.get(hook);
    if (!wrapped) {
      const dispatch: Application = (environ, startResponse) => {
        const keys = environ as unknown as Record<symbol, unknown>;
        return ((keys[RESOLVED] ?? keys[NOT_FOUND] ?? this.notFound) as Application)(environ, startResponse);
      };
      this.wrapped.set(hook, (wrapped = hook.wrap(dispatch)));
    }
    const outer = wrapped;
    return (environ, startResponse) => {
      (environ as unknown as Record<symbol, unknown>)[RESOLVED] = app;
      return outer(environ, startResponse);
    };
  }

  async loadHook(dir: string): Promise<DirectoryHook | undefined> {
    if (this.options.hooks === false) return undefined;
    const reload = this.options.reload ?? true;
    let known = this.hooks.get(dir);
    // Which hook file a directory has is looked up again at most every HOOK_RECHECK_MS (with reload; never without).
    if (!known || (reload && performance.now() - known.checkedAt > HOOK_RECHECK_MS)) {
      let found: { path: string; stats: Stats } | undefined;
      for (const ext of HOOK_EXTENSIONS) {
        const candidate = join(dir, HOOK_NAME + ext);
        const stats = await stat(candidate).catch(() => undefined);
        if (stats?.isFile()) {
          found = { path: candidate, stats };
          break;
        }
      }
      known = { checkedAt: performance.now(), ...found };
      this.hooks.set(dir, known);
    }
    if (!known.path) return undefined;
    // An existing hook is stat'ed on every request with reload, so an edit is seen at once.
    const stats = reload ? await stat(known.path).catch(() => undefined) : known.stats;
    if (!stats) {
      this.hooks.delete(dir);
      return undefined;
    }
    const module = await this.modules.load(known.path, stats);
    let hook = this.hookModules.get(module);
    if (!hook) this.hookModules.set(module, (hook = toDirectoryHook(module, known.path)));
    return hook;
  }

  /** Finds the application for the next segment of PATH_INFO in `dir`; undefined = not found. Mutates `environ`. */
  resolve(dir: string, environ: Environ): Application | undefined | Promise<Application | undefined> {
    if (environ.PATH_INFO === '') {
      // The directory itself, without its trailing slash: redirect so relative links work (Paste, Apache's DirectorySlash).
      let location = `${quotePath(environ.SCRIPT_NAME)}/`.replace(/^\/{2,}/, '/');
      if (environ.QUERY_STRING) location += `?${environ.QUERY_STRING}`;
      const method = environ.REQUEST_METHOD;
      return redirect(location, method === 'GET' || method === 'HEAD' ? 301 : 308);
    }
    if (!environ.PATH_INFO.startsWith('/')) return undefined; // "OPTIONS *" and other non-path targets
    let segment = environ.PATH_INFO === '/' ? '' : shiftPathInfo(environ);
    if (segment === '') {
      environ.PATH_INFO = '/';
      return this.index(dir, environ);
    }
    segment = segment!;
    const unsafe = unsafeSegmentReason(segment);
    if (unsafe) return undefined;
    if (this.isHidden(segment)) return undefined;
    const lookup = this.lookup(dir, segment);
    if (lookup instanceof Promise) return lookup.then((found) => this.resolved(dir, environ, found));
    return this.resolved(dir, environ, lookup);
  }

  /** The end of {@link resolve} once the segment was looked up. */
  resolved(dir: string, environ: Environ, lookup: Lookup): Application | undefined | Promise<Application | undefined> {
    if ('ambiguous' in lookup) {
      this.log(environ, `${JSON.stringify(environ.SCRIPT_NAME)} is ambiguous: ${lookup.ambiguous.join(', ')} in ${dir} all match; answering 404 (request one by its full name, or rename one)`);
      return undefined;
    }
    if ('missing' in lookup) return undefined;
    return this.application(lookup.found, environ);
  }

  isHidden(name: string): boolean {
    if (this.hidden(name)) return true;
    const ext = extname(name);
    return stem(name) === HOOK_NAME && HOOK_EXTENSIONS.includes(ext.toLowerCase());
  }

  async index(dir: string, environ: Environ): Promise<Application | undefined> {
    for (const name of this.options.indexNames ?? ['index', 'main']) {
      if (this.isHidden(name)) continue;
      const lookup = await this.lookup(dir, name);
      if ('ambiguous' in lookup) {
        this.log(environ, `index ${JSON.stringify(name)} of ${dir} is ambiguous: ${lookup.ambiguous.join(', ')}; answering 404`);
        return undefined;
      }
      if ('found' in lookup && !lookup.found.stats.isDirectory()) return this.application(lookup.found, environ, true);
    }
    if (this.options.listing) return directoryListing(dir, { hide: (name) => this.isHidden(name), entry: (name) => this.servedAs(dir, name) });
    return undefined;
  }

  /** An exact name first; else (with `extensionless`) the one visible file named `segment` + one extension. */
  lookup(dir: string, segment: string): Lookup | Promise<Lookup> {
    const exact = this.check(dir, segment);
    if (exact instanceof Promise) return exact.then((found) => (found ? { found } : this.lookupOthers(dir, segment)));
    if (exact) return { found: exact };
    return this.lookupOthers(dir, segment);
  }

  /** With `extensionless`: the one visible file named `segment` + one extension. */
  async lookupOthers(dir: string, segment: string): Promise<Lookup> {
    if (this.options.extensionless === false) return { missing: segment };
    const names = await this.names(dir);
    if (!names) return { missing: segment };
    const matches = names.filter((n) => n.startsWith(segment + '.') && !n.slice(segment.length + 1).includes('.') && n.length > segment.length + 1 && !this.isHidden(n)).sort();
    const found: Found[] = [];
    for (const name of matches) {
      const entry = await this.check(dir, name);
      if (entry && entry.stats.isFile()) found.push(entry);
    }
    if (found.length > 1) return { ambiguous: found.map((f) => f.name) };
    return found.length === 1 ? { found: found[0]! } : { missing: segment };
  }

  /** The names in `dir`, cached until the directory changes (one stat instead of a readdir per miss). */
  async names(dir: string): Promise<readonly string[] | undefined> {
    try {
      const stats = await stat(dir);
      const stamp = `${stats.ino}:${stats.mtimeMs}`;
      const cached = this.listings.get(dir);
      if (cached && cached.stamp === stamp) return cached.names;
      const names = await readdir(dir);
      this.listings.set(dir, { stamp, names });
      return names;
    } catch {
      return undefined;
    }
  }

  /** lstat + symlink containment: the entry if it may be served. */
  check(dir: string, name: string): Found | undefined | Promise<Found | undefined> {
    const path = join(dir, name);
    // Second line of defence after the segment checks: the joined, normalised path stays under the root.
    if (!isInside(this.root, path)) return undefined;
    const cached = this.cache.get(path);
    if (cached) return { path, name, stats: cached.stats };
    return this.checkOnDisk(dir, name, path);
  }

  /** {@link check} for a path the cache does not hold. */
  async checkOnDisk(dir: string, name: string, path: string): Promise<Found | undefined> {
    const generation = this.cache.begin(dir);
    let stats: Stats;
    try {
      stats = this.cache.store(dir, path, await lstat(path), generation);
      if (stats.isSymbolicLink()) {
        const real = await realpath(path);
        if (!this.options.allowSymlinksOutside && !isInside(this.realRoot, real)) return undefined;
        stats = await stat(real);
      }
    } catch {
      return undefined;
    }
    if (!stats.isFile() && !stats.isDirectory()) return undefined;
    return { path, name, stats };
  }

  /** The factory for a file name's extension; null/undefined when the extension is refused. */
  factoryFor(name: string): ResourceFactory | null | undefined {
    const extension = extname(name).toLowerCase();
    return Object.prototype.hasOwnProperty.call(this.factories, extension) ? this.factories[extension] : SOURCE_EXTENSIONS.includes(extension) ? null : this.factories['*'];
  }

  /**
   * How a request for the entry `name` of `dir` is served — the checks {@link resolve} makes
   * (hidden and unsafe names, symlink containment, refused extensions) — for the directory listing.
   */
  async servedAs(dir: string, name: string): Promise<'file' | 'directory' | undefined> {
    if (unsafeSegmentReason(name) || this.isHidden(name)) return undefined;
    const found = await this.check(dir, name);
    if (!found) return undefined;
    if (found.stats.isDirectory()) return 'directory';
    return this.factoryFor(name) ? 'file' : undefined;
  }

  application(found: Found, environ: Environ, index = false): Application | undefined | Promise<Application | undefined> {
    if (found.stats.isDirectory()) return this.directory(found.path);
    const extension = extname(found.name).toLowerCase();
    const factory = this.factoryFor(found.name);
    if (!factory) return undefined;
    environ[RESOURCE_PATH_KEY] = found.path;
    const resource: Resource = {
      path: found.path,
      name: found.name,
      extension,
      stats: found.stats,
      index,
      loadModule: () => this.modules.load(found.path, found.stats),
      options: this.options,
    };
    return factory(resource, environ);
  }
}

/**
 * The URL parser / resource finder (Paste's URLParser, Webware's URLParser): maps PATH_INFO onto
 * the directory `root`, one segment at a time, and answers with the application the matching
 * file's factory builds.
 *
 * - Each consumed segment moves from PATH_INFO to SCRIPT_NAME (on a copy of the environ); what
 *   is left after a file stays in PATH_INFO for it (extra path info: `/app.ts/a/b` runs app.ts
 *   with SCRIPT_NAME ".../app.ts" and PATH_INFO "/a/b").
 * - An exact name wins; else "about" finds "about.html" or "about.ts"; two candidates answer 404
 *   and the reason is written to `stackware.errors`.
 * - A directory without its trailing slash answers 301 (308 for other methods than GET/HEAD) to
 *   the same URL with "/" (query string kept); with it, `indexNames` are tried, then the listing
 *   (when `listing`), else 404.
 * - Factories by extension: modules (`.ts`, `.js`, `.mjs`...) run, everything else is a static
 *   file; sub-directories are nested parsers; a directory's `_hook.ts` may rewrite the environ,
 *   wrap its applications or answer not-found (see {@link DirectoryHook}).
 * - Refused with 404 (never served): dot segments, backslashes, NUL and control characters,
 *   hidden names (`hide`), symlinks out of the root (unless `allowSymlinksOutside`), hook modules,
 *   and server-side source with no factory.
 * @throws Error at construction when `root` is missing or not a directory.
 * @example
 * const app = urlParser({ root: new URL('./site', import.meta.url).pathname, indexNames: ['index'] });
 */
export function urlParser(options: URLParserOptions): Application {
  const parser = new Parser(options);
  return parser.directory(parser.root);
}
