import type { AppFactory, FactoryContext, OptionType, StackwareFactories } from '@stackware/gateway';
import { threadPool } from './pool.js';
import { threadPoolGroups, type ThreadPoolGroupsOptions } from './groups.js';
import type { ThreadPoolOptions } from './options.js';

const POOL_OPTION_TYPES: Record<string, OptionType> = {
  module: 'string', export: 'string', factory: 'boolean', factoryOptions: 'any', threads: 'number', timeoutMs: 'number',
  initTimeoutMs: 'number', maxRequestsPerThread: 'number', maxQueue: 'number', retryAfterSeconds: 'number',
  resourceLimits: 'table', maxOldGenerationSizeMb: 'number', windowBytes: 'number', watch: 'any', shutdownTimeoutMs: 'number', name: 'string',
};

/**
 * `use = "@stackware/threadpool"`: an application run in a thread pool. Options are those of
 * {@link threadPool} (`module` is relative to the deploy file):
 * ```toml
 * [app:main]
 * use = "@stackware/threadpool"
 * module = "site.ts"
 * threads = 4
 * timeoutMs = 10000
 * ```
 */
export const threadPoolFactory: AppFactory = Object.assign(
  (options: Record<string, unknown>, context: FactoryContext) => threadPool({ name: context.name, ...(options as unknown as ThreadPoolOptions) }, { here: context.here }),
  { description: 'Runs an application module in a pool of worker threads (timeouts, memory limits, recycling)', optionTypes: POOL_OPTION_TYPES },
);

/**
 * `use = "@stackware/threadpool#groups"`: several named pools and URL-prefix routing
 * ({@link threadPoolGroups}); module paths are relative to the deploy file:
 * ```toml
 * [app:main]
 * use = "@stackware/threadpool#groups"
 * groups.default = { module = "site.ts", threads = 4 }
 * groups.admin = { module = "site.ts", threads = 1, timeoutMs = 120000 }
 * routes = { "/admin" = "admin" }
 * ```
 */
export const threadPoolGroupsFactory: AppFactory = Object.assign(
  (options: Record<string, unknown>, context: FactoryContext) => threadPoolGroups(options as unknown as ThreadPoolGroupsOptions, { here: context.here }),
  { description: 'Named thread pools with routing by URL prefix (mod_wsgi process groups)', optionTypes: { groups: 'table', routes: 'table', defaultGroup: 'string' } as Record<string, OptionType> },
);

/** The deploy-file factories of @stackware/threadpool. */
export const factories: StackwareFactories = {
  apps: { default: threadPoolFactory, groups: threadPoolGroupsFactory },
};
