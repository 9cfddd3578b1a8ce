/**
 * Loaded inside each pool thread (see pools.ts): rebuilds the deployment's application from the
 * deploy file, without pools or process groups (the request was already dispatched here).
 */
import type { Application } from '@stackware/gateway';
import { loadDeployment } from './load.js';
import { useModulePaths } from './groups.js';
import type { PoolEntryOptions } from './pools.js';

/** The pool-thread factory: `(options: PoolEntryOptions) => Application`. */
export async function poolApplication(options: PoolEntryOptions): Promise<Application> {
  await useModulePaths(); // a process group's modulePaths (STACKWARE_MODULE_PATHS), per thread
  const deployment = await loadDeployment(options.file);
  return deployment.buildApplication(options.app, { pools: false, groups: false });
}
