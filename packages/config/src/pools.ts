import type { Application } from '@stackware/gateway';
import { fileURLToPath } from 'node:url';
import type { DeploymentDefinition } from './deployment.js';
import { underPrefix } from './location.js';

/** A started thread-pool group. */
export interface PoolHandle {
  readonly name: string;
  readonly app: Application;
  close(): Promise<void>;
}

/** The module pool threads load: it rebuilds the deployment's application inside the thread. */
export const POOL_ENTRY = fileURLToPath(new URL(import.meta.url.endsWith('.ts') ? './pool-entry.ts' : './pool-entry.js', import.meta.url));

/** What each pool thread is given (structured-cloneable). */
export interface PoolEntryOptions {
  /** Absolute path of the deploy file. */
  file: string;
  /** The application to build in the thread. */
  app: string;
}

interface ThreadPoolModule {
  threadPool?: (options: Record<string, unknown>) => Application & { close?(): Promise<void>; ready?(): Promise<void> };
}

/**
 * Starts one thread pool per `[pool.NAME]` that a `[location]` uses, each running `name` built
 * from the deploy file inside its threads (without pools), and returns an application that sends
 * every request under such a location to its pool (the longest matching location that names a
 * pool decides) and every other request to `app`.
 * @throws ConfigError when @stackware/threadpool is missing or the deployment has no file.
 */
export async function poolDispatcher(deployment: DeploymentDefinition, name: string, app: Application): Promise<{ app: Application; pools: PoolHandle[] }> {
  const used = deployment.locations.filter((l) => l.pool !== undefined);
  const pools = new Map<string, PoolHandle>();
  for (const location of used) {
    const poolName = location.pool!;
    if (pools.has(poolName)) continue;
    const def = deployment.pools.get(poolName)!;
    pools.set(poolName, await startThreadPool(deployment, name, poolName, def.threads, def.timeoutMs, ['location', location.prefix || '/', 'pool']));
  }
  // Longest prefix first: the first match is the most specific location that names a pool.
  const routes = [...used].sort((a, b) => b.prefix.length - a.prefix.length).map((l) => [l.prefix, pools.get(l.pool!)!.app] as const);
  const dispatched: Application = (environ, startResponse) => {
    const path = environ.SCRIPT_NAME + environ.PATH_INFO;
    for (const [prefix, poolApp] of routes) if (underPrefix(path, prefix)) return poolApp(environ, startResponse);
    return app(environ, startResponse);
  };
  return { app: dispatched, pools: [...pools.values()] };
}

/**
 * Starts a @stackware/threadpool pool whose threads each build application `app` from the deploy
 * file (see pool-entry.ts). `where` names the section and key for errors.
 * @throws ConfigError when the deployment has no file or @stackware/threadpool cannot be loaded.
 */
export async function startThreadPool(deployment: DeploymentDefinition, app: string, name: string, threads: number, timeoutMs: number, where: [string, string, string]): Promise<PoolHandle> {
  const [type, section, key] = where;
  if (deployment.file === '<code>') {
    deployment.fail(type, section, key, 'thread pools need a deploy file: pool threads rebuild the application from it', 'load the deployment with loadDeployment(path), or use @stackware/threadpool directly from code');
  }
  let mod: ThreadPoolModule;
  try {
    mod = (await import('@stackware/threadpool')) as unknown as ThreadPoolModule;
  } catch (error) {
    const missing = (error as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND';
    const firstLine = (error instanceof Error ? error.message : String(error)).split('\n').find((l) => l.trim()) ?? '';
    return deployment.fail(type, section, key, `cannot load @stackware/threadpool: ${firstLine.trim()}`, missing ? 'install @stackware/threadpool' : 'the package failed to load: fix or reinstall it', error);
  }
  if (typeof mod.threadPool !== 'function') deployment.fail(type, section, key, '@stackware/threadpool has no threadPool() export yet', 'update @stackware/threadpool, or remove the thread settings');
  const entry: PoolEntryOptions = { file: deployment.file, app };
  const poolApp = mod.threadPool({ module: POOL_ENTRY, export: 'poolApplication', factory: true, factoryOptions: entry, threads, timeoutMs });
  // Let the threads load the application before the server listens, so the first requests do
  // not wait for thread start-up. A failed start-up is not fatal here: the pool has logged the
  // reason, answers 503, and retries on a later request (a fixed file then serves).
  try {
    await poolApp.ready?.();
  } catch {
    /* reported by the pool */
  }
  return { name, app: poolApp, close: async () => { await poolApp.close?.(); } };
}
