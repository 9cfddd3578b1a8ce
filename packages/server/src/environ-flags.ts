import cluster from 'node:cluster';

/** The process-model flags of the environ (`stackware.multithread`, `stackware.multiprocess`, `stackware.run_once`). */
export interface EnvironFlags {
  multithread: boolean;
  multiprocess: boolean;
  runOnce: boolean;
}

/**
 * The environ flags for a server running in this process: `multiprocess` is true inside a
 * node:cluster worker (prefork), unless `overrides` say otherwise; `multithread` is false
 * (a thread-pool bridge sets it for the applications it runs); `runOnce` is false (CGI sets it).
 */
export function environFlags(overrides: Partial<EnvironFlags> = {}): EnvironFlags {
  return {
    multithread: overrides.multithread ?? false,
    multiprocess: overrides.multiprocess ?? cluster.isWorker,
    runOnce: overrides.runOnce ?? false,
  };
}
