import type { Application } from '@stackware/gateway';
import { ThreadPoolOptionError, type ThreadPoolOptions } from './options.js';
import { threadPool, type ThreadPoolApplication } from './pool.js';

/** Options of {@link threadPoolGroups}. Defaults: `routes` {}, `defaultGroup` "default". */
export interface ThreadPoolGroupsOptions {
  /** The named pools: each group's own {@link ThreadPoolOptions} (module, threads, timeoutMs...). */
  groups: Record<string, ThreadPoolOptions>;
  /**
   * URL prefix → group name ("/admin" → "admin"). A prefix matches the path itself and every path
   * below it at a "/" boundary ("/admin" matches "/admin" and "/admin/users", not "/administrator");
   * the longest matching prefix wins. The path is the request's full path, SCRIPT_NAME + PATH_INFO,
   * as in the deploy file's `[location]` sections. The environ is not changed (a group is not a mount).
   */
  routes?: Record<string, string>;
  /** The group for requests no route matches (default "default"). */
  defaultGroup?: string;
}

/** The Application {@link threadPoolGroups} returns, with its pools. */
export interface ThreadPoolGroupsApplication extends Application {
  /** The pools by group name. */
  readonly groups: Readonly<Record<string, ThreadPoolApplication>>;
  /** Resolves when every pool is ready (see {@link ThreadPoolApplication.ready}). */
  ready(): Promise<void>;
  /** Reloads every pool. */
  reload(): Promise<void>;
  /** Drains and stops every pool. */
  close(): Promise<void>;
}

/**
 * Several named thread pools in one server, and routing by URL prefix — mod_wsgi's
 * `WSGIDaemonProcess` + `WSGIProcessGroup` inside a `<Location>`: send `/admin` to a one-thread
 * pool with a long timeout while the site runs on four threads.
 *
 * @example
 * const app = threadPoolGroups({
 *   groups: {
 *     default: { module: './site.ts', threads: 4 },
 *     admin: { module: './site.ts', threads: 1, timeoutMs: 120_000 },
 *   },
 *   routes: { '/admin': 'admin' },
 * });
 * @throws ThreadPoolOptionError when a route names no group, a prefix is malformed, or the default group is missing.
 */
export function threadPoolGroups(options: ThreadPoolGroupsOptions, context: { here?: string } = {}): ThreadPoolGroupsApplication {
  if (!options || typeof options.groups !== 'object' || options.groups === null) {
    throw new ThreadPoolOptionError('threadPoolGroups needs a "groups" option: { name: { module, threads, ... } }');
  }
  const defaultGroup = options.defaultGroup ?? 'default';
  const names = Object.keys(options.groups);
  if (!names.includes(defaultGroup)) {
    throw new ThreadPoolOptionError(`threadPoolGroups has no group "${defaultGroup}" for requests no route matches (groups: ${names.join(', ') || 'none'}); add it or set "defaultGroup"`);
  }
  const routes = Object.entries(options.routes ?? {}).map(([prefix, group]) => {
    if (!names.includes(group)) throw new ThreadPoolOptionError(`threadPoolGroups route "${prefix}" names group "${group}", which is not in "groups" (${names.join(', ')})`);
    if (prefix !== '' && (!prefix.startsWith('/') || prefix.endsWith('/'))) {
      throw new ThreadPoolOptionError(`threadPoolGroups route "${prefix}" must start with "/" and not end with "/" (e.g. "/admin")`);
    }
    return { prefix, group };
  }).sort((a, b) => b.prefix.length - a.prefix.length);

  const pools: Record<string, ThreadPoolApplication> = {};
  try {
    for (const name of names) pools[name] = threadPool({ name, ...options.groups[name]! }, context);
  } catch (error) {
    for (const pool of Object.values(pools)) void pool.close();
    throw error;
  }
  const table = routes.map(({ prefix, group }) => ({ prefix, pool: pools[group]! }));
  const fallback = pools[defaultGroup]!;
  const each = (fn: (pool: ThreadPoolApplication) => Promise<void>) => Promise.all(Object.values(pools).map(fn)).then(() => {});

  const app = ((environ, startResponse) => {
    const path = environ.SCRIPT_NAME + environ.PATH_INFO;
    for (const { prefix, pool } of table) {
      if (prefix === '' || path === prefix || path.startsWith(prefix + '/')) return pool(environ, startResponse);
    }
    return fallback(environ, startResponse);
  }) as ThreadPoolGroupsApplication;
  Object.defineProperties(app, {
    groups: { value: Object.freeze(pools) },
    ready: { value: () => each((p) => p.ready()) },
    reload: { value: () => each((p) => p.reload()) },
    close: { value: () => each((p) => p.close()) },
  });
  return app;
}
