/**
 * @stackware/threadpool — the thread-pool bridge (layer 1b): runs an application in a pool of
 * worker threads, so CPU-bound work uses every core and a hung or runaway request takes down only
 * its thread, never the server.
 */
export { threadPool, type ThreadPoolApplication, type ThreadPoolStats } from './pool.js';
export { threadPoolGroups, type ThreadPoolGroupsOptions, type ThreadPoolGroupsApplication } from './groups.js';
export { ThreadPoolOptionError, DEFAULTS, type ThreadPoolOptions } from './options.js';
export { droppedEnvironKeys } from './environ-transfer.js';
export { factories, threadPoolFactory, threadPoolGroupsFactory, THREAD_POOL_OPTIONS, THREAD_POOL_GROUPS_OPTIONS } from './factories.js';
