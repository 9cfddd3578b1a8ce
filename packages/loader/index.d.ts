/**
 * Registers, in the calling thread, tsx (so `.ts` modules import directly) and a resolve hook that
 * adds the "source" export condition (so workspace packages resolve to src/index.ts). Idempotent.
 * Call it first in every entry point that loads user TypeScript: the CLI, worker-thread
 * bootstraps, cluster workers. Compiled deployments (`pnpm build`) do not need it.
 */
export function registerLoaders(): void;
