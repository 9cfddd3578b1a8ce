import type { ResourceLimits } from 'node:worker_threads';
import type { StackwareFactories } from '@stackware/gateway';
import { appFactory, defineOptions, option } from '@stackware/gateway/options';
import { threadPool } from './pool.js';
import { threadPoolGroups } from './groups.js';
import { DEFAULTS, type ThreadPoolOptions } from './options.js';

/** The deploy-file options of {@link threadPool} ({@link ThreadPoolOptions}, `log` excepted). */
export const THREAD_POOL_OPTIONS = defineOptions({
  module: option.required(option.string('the application module (relative to the deploy file); TypeScript is fine', { example: '"site.ts"' })),
  export: option.string('the export that holds the application', { default: 'default' }),
  factory: option.boolean('the export is a factory each thread calls once with factoryOptions', { default: false }),
  factoryOptions: option.any('the argument given to the factory (structured-cloneable)'),
  threads: option.number('worker threads, all started at once', { integer: true, min: 1, defaultText: 'os.availableParallelism()' }),
  timeoutMs: option.number('per request: no progress from the thread within this → 504, and the thread is replaced (0: none)', { unit: 'ms', integer: true, min: 0, default: DEFAULTS.timeoutMs }),
  initTimeoutMs: option.number('extra time a request may wait for its thread to initialise the application', { unit: 'ms', integer: true, min: 0, default: DEFAULTS.initTimeoutMs }),
  maxRequestsPerThread: option.number('replace a thread after this many requests, dropping none (0: never)', { integer: true, min: 0, default: 0 }),
  maxQueue: option.number('requests that may wait for a thread; when full: 503 with Retry-After', { integer: true, min: 0, default: DEFAULTS.maxQueue }),
  retryAfterSeconds: option.number('the Retry-After of the pool\'s 503 answers', { unit: 's', integer: true, min: 0, default: DEFAULTS.retryAfterSeconds }),
  resourceLimits: option.table<ResourceLimits>('per-thread V8 limits (node:worker_threads ResourceLimits); a thread over them is replaced (503)'),
  maxOldGenerationSizeMb: option.number('shorthand for resourceLimits.maxOldGenerationSizeMb', { unit: 'MiB', integer: true, min: 16, default: DEFAULTS.maxOldGenerationSizeMb }),
  windowBytes: option.number('response bytes a thread may send ahead of the server (flow-control window)', { unit: 'bytes', integer: true, min: 1, default: DEFAULTS.windowBytes }),
  watch: option.either(option.boolean(''), option.strings(''), 'reload when files change: true watches the module file, a list those files and directories', { default: false }),
  shutdownTimeoutMs: option.number('close() waits this long for requests in progress before terminating threads', { unit: 'ms', integer: true, min: 0, default: DEFAULTS.shutdownTimeoutMs }),
  name: option.string('a name for log lines', { defaultText: 'the section name' }),
});

/**
 * `use = "@stackware/threadpool"`: an application run in a thread pool. Options:
 * {@link THREAD_POOL_OPTIONS} (the README's table; `module` is relative to the deploy file):
 * ```toml
 * [app.main]
 * use = "@stackware/threadpool"
 * module = "site.ts"
 * threads = 4
 * timeoutMs = 10000
 * ```
 */
export const threadPoolFactory = appFactory(
  THREAD_POOL_OPTIONS,
  ({ module, ...options }, context) => threadPool({ name: context.name, module, ...options }, { here: context.here }),
  { description: 'Runs an application module in a pool of worker threads (timeouts, memory limits, recycling)' },
);

/** The deploy-file options of {@link threadPoolGroups}. */
export const THREAD_POOL_GROUPS_OPTIONS = defineOptions({
  groups: option.required(option.table<Record<string, ThreadPoolOptions>>('the named pools: each a table of the thread pool\'s options', { type: 'table of pools', example: '{ default = { module = "site.ts" } }' })),
  routes: option.table<Record<string, string>>('URL prefix → group name', { type: 'table of strings', example: '{ "/admin" = "admin" }' }),
  defaultGroup: option.string('the group for requests no route matches', { default: 'default' }),
});

/**
 * `use = "@stackware/threadpool#groups"`: several named pools and URL-prefix routing
 * ({@link threadPoolGroups}); module paths are relative to the deploy file:
 * ```toml
 * [app.main]
 * use = "@stackware/threadpool#groups"
 * groups.default = { module = "site.ts", threads = 4 }
 * groups.admin = { module = "site.ts", threads = 1, timeoutMs = 120000 }
 * routes = { "/admin" = "admin" }
 * ```
 */
export const threadPoolGroupsFactory = appFactory(
  THREAD_POOL_GROUPS_OPTIONS,
  ({ groups, ...options }, context) => threadPoolGroups({ groups, ...options }, { here: context.here }),
  { description: 'Named thread pools with routing by URL prefix (mod_wsgi process groups)' },
);

/** The deploy-file factories of @stackware/threadpool. */
export const factories: StackwareFactories = {
  apps: { default: threadPoolFactory, groups: threadPoolGroupsFactory },
};
