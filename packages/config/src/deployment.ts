import type { AppFactory, Application, ApplicationSource, FilterFactory, ServerFactory } from '@stackware/gateway';
import { parseListenAddress } from './operations.js';
import { ConfigError } from './config-error.js';
import { sortLocations, type LocationDef } from './location.js';
import { checkOptionType, closest, typeName } from './options.js';
import { parseGroup, type GroupDef, type GroupSection } from './groups.js';

/** Where sections and keys are in the source text (line numbers for messages); absent for code. */
export interface SourceLocator {
  locate(section: string[], key?: string): { line: number; column: number } | undefined;
}

/** An `[app.NAME]` section: a factory (`use`) with options, or a ready application (`application`). */
export interface AppSection {
  /** "@pkg", "@pkg#name", "./module.ts#export" (an app factory), or the factory itself. */
  use?: string | AppFactory;
  /** "./module.ts#export" whose export is an Application (or has `[TO_APPLICATION]`, e.g. a Servlet class), or the application itself. Takes no options. */
  application?: string | Application | ApplicationSource;
  [option: string]: unknown;
}

/** A `[filter.NAME]` section: a filter factory and its options. */
export interface FilterSection {
  /** "@pkg", "@pkg#name", "./module.ts#export" (a filter factory), or the factory itself. */
  use?: string | FilterFactory;
  [option: string]: unknown;
}

/** A `[server.NAME]` section. Every key but `use` and `app` is passed to the server factory. */
export interface ServerSection {
  /** Server factory; default "@stackware/server". */
  use?: string | ServerFactory;
  /** The application it serves (default: the main application). */
  app?: string;
  /** "http" (default), "fastcgi" or "scgi". */
  protocol?: 'http' | 'fastcgi' | 'scgi';
  host?: string;
  port?: number;
  workers?: number;
  threads?: number;
  [option: string]: unknown;
}

/** A `[pool.NAME]` section: a thread-pool group that `[location]` tables can pick with `pool = "NAME"`. */
export interface PoolSection {
  /** Worker threads (default 2). */
  threads?: number;
  /** Per-request timeout in ms; a request that takes longer is answered 504 and its thread replaced (default 30000). */
  timeoutMs?: number;
}

/**
 * A deployment in code: the same shape the deploy file produces. Section names are the keys.
 * @example
 * const deployment = defineDeployment({
 *   apps: { site: { use: siteFactory, title: 'Hi' } },
 *   filters: { errors: { use: '@stackware/errors' } },
 *   pipelines: { main: ['errors', 'site'] },
 *   composites: { root: { '/': 'main', '/admin': 'admin' } },
 *   locations: { '/admin': { debug: true } },
 * });
 * const app = await deployment.buildApplication('root');
 */
export interface DeploymentSpec {
  /** For messages: the deploy file's path (default "<code>"). */
  file?: string;
  /** `${here}` and the base of module paths (default: the current directory). */
  here?: string;
  /** The application `buildApplication()` builds by default (default: "main" if declared, else the only application nobody mounts). */
  main?: string;
  defaults?: Record<string, unknown>;
  apps?: Record<string, AppSection>;
  filters?: Record<string, FilterSection>;
  /** Name → `[filter..., app]`, the first filter outermost. */
  pipelines?: Record<string, string[]>;
  /** Name → prefix ("/admin", "http://host/") → application name; the key `notFound` names the not-found application. */
  composites?: Record<string, Record<string, string>>;
  servers?: Record<string, ServerSection>;
  pools?: Record<string, PoolSection>;
  /** Process groups (mod_wsgi's daemon processes): name → section (groups.ts). */
  groups?: Record<string, GroupSection>;
  /** Prefix → settings merged over `defaults` for requests under it; the key `pool` picks a thread-pool group, `group` a process group. */
  locations?: Record<string, Record<string, unknown>>;
  /** `[metrics]`: `listen = "HOST:PORT"` (the metrics listener, loopback unless `public = true`). */
  metrics?: Record<string, unknown>;
  /** Line numbers for messages (the TOML loader provides one). */
  locator?: SourceLocator;
}

/** A resolved application definition: an app section, a pipeline or a composite. */
export type AppDef =
  | { readonly kind: 'app'; readonly name: string; readonly use: string | AppFactory | undefined; readonly application: string | Application | ApplicationSource | undefined; readonly options: Readonly<Record<string, unknown>> }
  | { readonly kind: 'pipeline'; readonly name: string; readonly filters: readonly string[]; readonly app: string }
  | { readonly kind: 'composite'; readonly name: string; readonly mounts: ReadonlyArray<readonly [prefix: string, app: string]>; readonly notFound: string | undefined };

export interface FilterDef { readonly name: string; readonly use: string | FilterFactory; readonly options: Readonly<Record<string, unknown>> }
export interface ServerDef {
  readonly name: string;
  readonly use: string | ServerFactory;
  readonly app: string | undefined;
  readonly protocol: 'http' | 'fastcgi' | 'scgi';
  /** Prefork worker processes (0: serve in the `stackware serve` process). Handled by @stackware/config, not passed to the factory. */
  readonly workers: number;
  /** Worker threads that run the application (0: none, the event loop runs it). Handled by @stackware/config, not passed to the factory. */
  readonly threads: number;
  /** Prefork only: a worker whose resident memory passes this many MiB is replaced gracefully (0: no limit). Handled by @stackware/config, not passed to the factory. */
  readonly maxMemoryMb: number;
  /** The options passed to the server factory: every key as written except use, app, workers, threads and maxMemoryMb; `protocol` always (dropped when the factory's optionTypes does not list it). */
  readonly options: Readonly<Record<string, unknown>>;
}
export interface PoolDef { readonly name: string; readonly threads: number; readonly timeoutMs: number }

/** Section type words in the deploy file, and their `DeploymentSpec` keys. */
export const SECTION_TYPES = { app: 'apps', filter: 'filters', pipeline: 'pipelines', composite: 'composites', server: 'servers', pool: 'pools', group: 'groups', location: 'locations' } as const;
export type SectionType = keyof typeof SECTION_TYPES;

const SERVER_KEYS: Record<string, 'string' | 'number'> = { host: 'string', port: 'number', workers: 'number', threads: 'number', maxMemoryMb: 'number' };
const PROTOCOLS = ['http', 'fastcgi', 'scgi'] as const;
const BARE_KEY = /^[A-Za-z0-9_-]+$/;

/** The section label as written in TOML: `app.site`, `location."/admin"`. */
export function sectionLabel(type: string, name?: string): string {
  if (name === undefined) return type;
  return `${type}.${BARE_KEY.test(name) ? name : JSON.stringify(name)}`;
}

/** Normalises a path prefix: "/admin/" → "/admin", "/" → "". */
export function normalisePrefix(prefix: string): string {
  return prefix.replace(/\/+$/, '');
}

/**
 * A validated deployment: every section checked for shape and references (names, pipelines,
 * cycles). `check()` then loads every factory and checks option types; `buildApplication()`
 * builds an application (see build.ts). Inspect `apps`, `filters`, `servers`, `pools`,
 * `locations` and `defaults` directly.
 */
export class DeploymentDefinition {
  readonly file: string;
  readonly here: string;
  readonly defaults: Readonly<Record<string, unknown>>;
  readonly apps = new Map<string, AppDef>();
  readonly filters = new Map<string, FilterDef>();
  readonly servers = new Map<string, ServerDef>();
  readonly pools = new Map<string, PoolDef>();
  /** `[group.NAME]` process groups (groups.ts). */
  readonly groups = new Map<string, GroupDef>();
  /** Locations, shortest prefix first. */
  readonly locations: readonly LocationDef[];
  readonly locator: SourceLocator | undefined;
  /** `[metrics]`: the metrics listener (`listen` absent: none). */
  readonly metrics: Readonly<{ listen?: string; public?: boolean }>;
  private readonly mainName: string | undefined;

  constructor(spec: DeploymentSpec) {
    this.file = spec.file ?? '<code>';
    this.here = spec.here ?? process.cwd();
    this.locator = spec.locator;
    const defaults = spec.defaults ?? {};
    if (typeName(defaults) !== 'table') this.fail('defaults', undefined, undefined, `[defaults] must be a table, got ${typeName(defaults)}`, 'write [defaults] followed by key = value lines');
    this.defaults = Object.freeze({ ...defaults });
    this.metrics = this.defineMetrics(spec.metrics ?? {});

    for (const [name, section] of Object.entries(spec.apps ?? {})) this.defineApp(name, section);
    for (const [name, list] of Object.entries(spec.pipelines ?? {})) this.definePipeline(name, list);
    for (const [name, table] of Object.entries(spec.composites ?? {})) this.defineComposite(name, table);
    for (const [name, section] of Object.entries(spec.filters ?? {})) this.defineFilter(name, section);
    for (const [name, section] of Object.entries(spec.pools ?? {})) this.definePool(name, section);
    for (const [name, section] of Object.entries(spec.groups ?? {})) this.groups.set(name, parseGroup(name, section, this.here, (key, problem, fix) => this.fail('group', name, key, problem, fix)));
    const locations: LocationDef[] = [];
    for (const [prefix, table] of Object.entries(spec.locations ?? {})) locations.push(this.defineLocation(prefix, table));
    this.locations = Object.freeze(sortLocations(locations));
    this.checkReferences();
    this.checkCycles();
    if (spec.main !== undefined && !this.apps.has(spec.main)) {
      this.fail(undefined, undefined, 'main', `main names "${spec.main}", which is not an application`, this.knownApps());
    }
    this.mainName = spec.main;
    for (const [name, section] of Object.entries(spec.servers ?? {})) this.defineServer(name, section);
  }

  /** Throws a ConfigError located at the section (and key) in the file. */
  /** Checks `[metrics]`: `listen` a "HOST:PORT" string, `public` a boolean, nothing else. */
  private defineMetrics(section: Record<string, unknown>): Readonly<{ listen?: string; public?: boolean }> {
    if (typeName(section) !== 'table') this.fail('metrics', undefined, undefined, `[metrics] must be a table, got ${typeName(section)}`, 'write [metrics] followed by listen = "127.0.0.1:9100"');
    const { listen, public: open, ...rest } = section;
    const extra = Object.keys(rest)[0];
    if (extra !== undefined) this.fail('metrics', undefined, extra, `unknown key "${extra}" in [metrics]`, 'its keys are listen = "HOST:PORT" and public = true|false');
    if (listen !== undefined && listen !== '') {
      if (typeof listen !== 'string') this.fail('metrics', undefined, 'listen', `must be a string "HOST:PORT", got ${typeName(listen)}`, 'write listen = "127.0.0.1:9100"');
      try {
        parseListenAddress(listen, 'listen');
      } catch (error) {
        this.fail('metrics', undefined, 'listen', (error as Error).message, 'write listen = "127.0.0.1:9100"');
      }
    }
    if (open !== undefined && typeof open !== 'boolean') this.fail('metrics', undefined, 'public', `must be true or false, got ${typeName(open)}`, 'write public = true to bind a non-loopback address on purpose');
    // listen = "" (e.g. "${METRICS:-}" unset): no listener.
    return Object.freeze({ ...(listen !== undefined && listen !== '' ? { listen: listen as string } : {}), ...(open !== undefined ? { public: open as boolean } : {}) });
  }

  fail(type: string | undefined, name: string | undefined, key: string | undefined, problem: string, fix: string, cause?: unknown): never {
    const path = type === undefined ? [] : name === undefined ? [type] : [type, name];
    const at = this.locator?.locate(path, key) ?? (key !== undefined ? this.locator?.locate(path) : undefined);
    throw new ConfigError({ file: this.file, section: type === undefined ? undefined : sectionLabel(type, name), key, line: at?.line, column: at?.column, problem, fix, cause });
  }

  /** The name of the application `buildApplication()` builds when given none. */
  get main(): string {
    if (this.mainName !== undefined) return this.mainName;
    if (this.apps.has('main')) return 'main';
    const mounted = new Set<string>();
    for (const def of this.apps.values()) for (const ref of references(def)) mounted.add(ref);
    const roots = [...this.apps.keys()].filter((n) => !mounted.has(n));
    if (roots.length === 1) return roots[0]!;
    if (this.apps.size === 0) this.fail(undefined, undefined, undefined, 'the deployment declares no application', 'add an [app.NAME] section (with use = "...")');
    return this.fail(undefined, undefined, 'main', `cannot tell which application is the main one (candidates: ${roots.join(', ')})`, `name one: write main = "${roots[0]}" at the top of the file, or call the application "main"`);
  }

  private knownApps(): string {
    const names = [...this.apps.keys()];
    return names.length ? `use one of: ${names.join(', ')}` : 'declare it with [app.NAME], [pipeline.NAME] or [composite.NAME]';
  }

  private claimName(type: string, name: string): void {
    const existing = this.apps.get(name);
    if (existing) this.fail(type, name, undefined, `the name "${name}" is already used by [${sectionLabel(existing.kind, name)}]`, 'apps, pipelines and composites share one namespace: rename one of them');
    if (!BARE_KEY.test(name)) this.fail(type, name, undefined, `"${name}" is not a valid name`, 'use letters, digits, "-" and "_"');
  }

  private defineApp(name: string, section: AppSection): void {
    this.claimName('app', name);
    if (typeName(section) !== 'table') this.fail('app', name, undefined, `must be a table, got ${typeName(section)}`, `write [app.${name}] with use = "..."`);
    const { use, application, ...options } = section;
    if (use === undefined && application === undefined) {
      this.fail('app', name, 'use', 'missing "use": nothing says what builds this application', 'add use = "@scope/package", use = "./lib/module.ts#factory", or application = "./lib/module.ts#app" for a ready application');
    }
    if (use !== undefined && application !== undefined) this.fail('app', name, 'application', 'has both "use" and "application"', 'keep one: "use" names a factory, "application" a ready application');
    if (use !== undefined && typeof use !== 'string' && typeof use !== 'function') this.fail('app', name, 'use', `must be a string, got ${typeName(use)}`, 'write use = "@scope/package" or use = "./lib/module.ts#factory"');
    if (application !== undefined) {
      if (typeof application !== 'string' && typeof application !== 'function' && (typeof application !== 'object' || application === null)) this.fail('app', name, 'application', `must be a string, got ${typeName(application)}`, 'write application = "./lib/module.ts#app"');
      const first = Object.keys(options)[0];
      if (first !== undefined) this.fail('app', name, first, `unknown option "${first}": a ready application (application = ...) takes no options`, 'remove it, or export a factory and write use = "./module.ts#factory" to pass options');
    }
    this.apps.set(name, Object.freeze({ kind: 'app', name, use, application, options: Object.freeze(options) }));
  }

  private definePipeline(name: string, list: unknown): void {
    this.claimName('pipeline', name);
    if (!Array.isArray(list) || list.length === 0 || !list.every((x) => typeof x === 'string')) {
      this.fail('pipeline', name, 'pipeline', `must be a non-empty array of names, got ${typeName(list)}`, 'write pipeline = ["filterA", "filterB", "app"]');
    }
    const names = list as string[];
    this.apps.set(name, Object.freeze({ kind: 'pipeline', name, filters: Object.freeze(names.slice(0, -1)), app: names.at(-1)! }));
  }

  private defineComposite(name: string, table: Record<string, string>): void {
    this.claimName('composite', name);
    if (typeName(table) !== 'table') this.fail('composite', name, undefined, `must be a table, got ${typeName(table)}`, `write [composite.${name}] with "/prefix" = "app" lines`);
    const mounts: Array<readonly [string, string]> = [];
    let notFound: string | undefined;
    for (const [key, value] of Object.entries(table)) {
      if (typeof value !== 'string') this.fail('composite', name, key, `must name an application (a string), got ${typeName(value)}`, `write "${key}" = "appName"`);
      if (key === 'notFound') notFound = value;
      else if (key.startsWith('/') || /^https?:\/\/[^/]+/i.test(key)) mounts.push([key, value]);
      else this.fail('composite', name, key, `"${key}" is not a URL prefix`, `write "/${key.replace(/^\/*/, '')}" (a path) or "http://host/" (a host), or notFound = "app"`);
    }
    if (mounts.length === 0) this.fail('composite', name, undefined, 'mounts no application', `add a line "/" = "appName" under [composite.${name}]`);
    this.apps.set(name, Object.freeze({ kind: 'composite', name, mounts: Object.freeze(mounts), notFound }));
  }

  private defineFilter(name: string, section: FilterSection): void {
    if (!BARE_KEY.test(name)) this.fail('filter', name, undefined, `"${name}" is not a valid name`, 'use letters, digits, "-" and "_"');
    if (typeName(section) !== 'table') this.fail('filter', name, undefined, `must be a table, got ${typeName(section)}`, `write [filter.${name}] with use = "..."`);
    const { use, ...options } = section;
    if (use === undefined) this.fail('filter', name, 'use', 'missing "use": nothing says what builds this filter', 'add use = "@scope/package" or use = "./lib/module.ts#filterFactory"');
    if (typeof use !== 'string' && typeof use !== 'function') this.fail('filter', name, 'use', `must be a string, got ${typeName(use)}`, 'write use = "@scope/package"');
    this.filters.set(name, Object.freeze({ name, use, options: Object.freeze(options) }));
  }

  private definePool(name: string, section: PoolSection): void {
    if (typeName(section) !== 'table') this.fail('pool', name, undefined, `must be a table, got ${typeName(section)}`, `write [pool.${name}] with threads = 2`);
    const { threads: rawThreads = 2, timeoutMs: rawTimeout = 30_000, ...rest } = section as Record<string, unknown>;
    // Numbers may come from the environment as strings: threads = "${THREADS:-2}".
    const asNumber = (v: unknown) => { const c = checkOptionType(v, 'number'); return 'value' in c ? c.value : v; };
    const threads = asNumber(rawThreads);
    const timeoutMs = asNumber(rawTimeout);
    const unknown = Object.keys(rest)[0];
    if (unknown !== undefined) this.fail('pool', name, unknown, `unknown option "${unknown}"`, `a pool takes threads and timeoutMs${closest(unknown, ['threads', 'timeoutMs']) ? ` (did you mean ${closest(unknown, ['threads', 'timeoutMs'])}?)` : ''}`);
    if (typeof threads !== 'number' || !Number.isInteger(threads) || threads < 1) this.fail('pool', name, 'threads', `must be a whole number ≥ 1, got ${typeName(threads)} ${JSON.stringify(threads)}`, 'write threads = 4');
    if (typeof timeoutMs !== 'number' || !(timeoutMs > 0)) this.fail('pool', name, 'timeoutMs', `must be a number of milliseconds > 0, got ${typeName(timeoutMs)} ${JSON.stringify(timeoutMs)}`, 'write timeoutMs = 30000');
    this.pools.set(name, Object.freeze({ name, threads, timeoutMs }));
  }

  private defineLocation(prefix: string, table: Record<string, unknown>): LocationDef {
    if (!prefix.startsWith('/')) this.fail('location', prefix, undefined, `"${prefix}" is not a path prefix`, `write [location."/${prefix.replace(/^\/*/, '')}"]`);
    if (typeName(table) !== 'table') this.fail('location', prefix, undefined, `must be a table, got ${typeName(table)}`, `write [location."${prefix}"] followed by key = value lines`);
    const { pool, group, ...settings } = table;
    if (group !== undefined) {
      if (typeof group !== 'string') this.fail('location', prefix, 'group', `must name a [group.NAME] section, got ${typeName(group)}`, 'write group = "name"');
      if (!this.groups.has(group)) this.fail('location', prefix, 'group', `no process group named "${group}"`, this.groups.size ? `use one of: ${[...this.groups.keys()].join(', ')}` : `declare [group.${group}] with processes = N`);
      if (pool !== undefined) this.fail('location', prefix, 'pool', 'a location is served by a thread pool or by a process group, not both', 'remove pool, and give the group threads = N instead');
    }
    if (pool !== undefined) {
      if (typeof pool !== 'string') this.fail('location', prefix, 'pool', `must name a [pool.NAME] section, got ${typeName(pool)}`, 'write pool = "name"');
      if (!this.pools.has(pool)) this.fail('location', prefix, 'pool', `no thread-pool group named "${pool}"`, this.pools.size ? `use one of: ${[...this.pools.keys()].join(', ')}` : `declare [pool.${pool}] with threads = N`);
    }
    return Object.freeze({ prefix: normalisePrefix(prefix), settings: Object.freeze(settings), pool: pool as string | undefined, group: group as string | undefined });
  }

  private defineServer(name: string, section: ServerSection): void {
    if (typeName(section) !== 'table') this.fail('server', name, undefined, `must be a table, got ${typeName(section)}`, `write [server.${name}] with port = 8080`);
    const { use = '@stackware/server', app, ...options } = section;
    const protocol = options.protocol ?? 'http';
    if (typeof use !== 'string' && typeof use !== 'function') this.fail('server', name, 'use', `must be a string, got ${typeName(use)}`, 'write use = "@stackware/server"');
    if (!PROTOCOLS.includes(protocol as never)) this.fail('server', name, 'protocol', `unknown protocol ${JSON.stringify(protocol)}`, `use one of: ${PROTOCOLS.join(', ')}`);
    if (app !== undefined && (typeof app !== 'string' || !this.apps.has(app))) this.fail('server', name, 'app', `no application named ${JSON.stringify(app)}`, this.knownApps());
    for (const [key, type] of Object.entries(SERVER_KEYS)) {
      if (options[key] === undefined) continue;
      // Numbers may come from the environment as strings: port = "${PORT:-8080}".
      const checked = checkOptionType(options[key], type);
      const value = 'value' in checked ? checked.value : options[key];
      options[key] = value;
      if (typeof value !== type || (type === 'number' && (!Number.isInteger(value) || (value as number) < 0))) {
        this.fail('server', name, key, `must be ${type === 'number' ? 'a whole number ≥ 0' : 'a string'}, got ${typeName(value)} ${JSON.stringify(value)}`, `write ${key} = ${type === 'number' ? '8080' : '"127.0.0.1"'}`);
      }
    }
    if (typeof options.port === 'number' && options.port > 65535) this.fail('server', name, 'port', `port ${options.port} is out of range`, 'use a port from 0 to 65535');
    if (app === undefined) void this.main; // a server needs a main application; fails with the fix now rather than at start
    const { workers = 0, threads = 0, maxMemoryMb = 0, ...factoryOptions } = options;
    const others = [...this.servers.values()].find((s) => s.workers !== workers);
    if (others) this.fail('server', name, 'workers', `workers = ${String(workers)} differs from [${sectionLabel('server', others.name)}] (workers = ${others.workers})`, 'prefork applies to the whole deployment: give every server section the same workers value');
    this.servers.set(name, Object.freeze({ name, use, app, protocol: protocol as ServerDef['protocol'], workers: workers as number, threads: threads as number, maxMemoryMb: maxMemoryMb as number, options: Object.freeze({ ...factoryOptions, protocol }) }));
  }

  private checkReferences(): void {
    for (const def of this.apps.values()) {
      if (def.kind === 'pipeline') {
        def.filters.forEach((f) => {
          if (this.filters.has(f)) return;
          if (this.apps.has(f)) this.fail('pipeline', def.name, 'pipeline', `"${f}" is an application, but only the last element of a pipeline may be one`, `move "${f}" to the end, or declare a [filter.${f}]`);
          this.fail('pipeline', def.name, 'pipeline', `no filter named "${f}"`, this.suggest(f, this.filters.keys(), `declare [filter.${f}] with use = "..."`));
        });
        if (!this.apps.has(def.app)) {
          if (this.filters.has(def.app)) this.fail('pipeline', def.name, 'pipeline', `the last element "${def.app}" is a filter; a pipeline must end with an application`, 'add the application it wraps at the end of the list');
          this.fail('pipeline', def.name, 'pipeline', `no application named "${def.app}"`, this.suggest(def.app, this.apps.keys(), `declare [app.${def.app}]`));
        }
      } else if (def.kind === 'composite') {
        for (const [prefix, app] of [...def.mounts, ...(def.notFound ? [['notFound', def.notFound] as const] : [])]) {
          if (!this.apps.has(app)) this.fail('composite', def.name, prefix, `no application named "${app}"`, this.suggest(app, this.apps.keys(), `declare [app.${app}]`));
        }
      }
    }
  }

  private suggest(name: string, known: Iterable<string>, otherwise: string): string {
    const near = closest(name, known);
    return near ? `did you mean "${near}"? (or ${otherwise})` : otherwise;
  }

  private checkCycles(): void {
    const state = new Map<string, 'visiting' | 'done'>();
    const visit = (name: string, path: string[]): void => {
      if (state.get(name) === 'done') return;
      if (state.get(name) === 'visiting') {
        const cycle = [...path.slice(path.indexOf(name)), name];
        const def = this.apps.get(path.at(-1)!)!;
        const key = def.kind === 'pipeline' ? 'pipeline' : def.kind === 'composite' ? (def.mounts.find(([, a]) => a === name)?.[0] ?? 'notFound') : undefined;
        this.fail(def.kind, def.name, key, `a cycle: ${cycle.join(' → ')}`, 'an application cannot contain itself: point one of them at a different application');
      }
      state.set(name, 'visiting');
      for (const ref of references(this.apps.get(name)!)) visit(ref, [...path, name]);
      state.set(name, 'done');
    };
    for (const name of this.apps.keys()) visit(name, []);
  }
}

/** The application names an application definition refers to. */
export function references(def: AppDef): string[] {
  if (def.kind === 'pipeline') return [def.app];
  if (def.kind === 'composite') return [...def.mounts.map(([, a]) => a), ...(def.notFound ? [def.notFound] : [])];
  return [];
}

/** What a `use`/`application` value resolves to, for messages. */
export function describeUse(use: unknown): string {
  if (typeof use === 'string') return use;
  if (typeof use === 'function') return `<${use.name || 'anonymous'} function>`;
  return `<${typeName(use)}>`;
}

