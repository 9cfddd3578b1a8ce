/**
 * The dependency direction of the workspace, in one table (ARCHITECTURE.md explains it).
 * Read by .dependency-cruiser.cjs (the imports) and scripts/check-workspace.mjs (the package.json
 * dependencies, dev dependencies included); `pnpm depcheck` runs both.
 *
 * - rank: a package's level; 0 is the bottom. A package's tests may import any package of a lower
 *   rank, plus `testing` (the helpers that start real peers) and `server` (the real gateway a
 *   test serves over loopback) — a test that needs a package of its own rank or above lives in
 *   packages/integration.
 * - uses: what the package's src may import (each of a lower rank). `*`: anything.
 */
const packages = {
  gateway: { rank: 0, uses: [] },
  loader: { rank: 0, uses: [] },
  testing: { rank: 1, uses: ['gateway'] },
  server: { rank: 2, uses: ['gateway'] },
  errors: { rank: 2, uses: ['gateway'] },
  session: { rank: 2, uses: ['gateway'] },
  urlparser: { rank: 2, uses: ['gateway', 'loader'] },
  // The pool's reload watch uses the server's one file watcher (watchFiles).
  threadpool: { rank: 3, uses: ['gateway', 'loader', 'server'] },
  servlet: { rank: 3, uses: ['gateway', 'loader', 'session'] },
  middleware: { rank: 3, uses: ['gateway', 'session'] },
  adapters: { rank: 4, uses: ['gateway', 'server'] },
  config: { rank: 5, uses: ['gateway', 'loader', 'server', 'threadpool', 'errors', 'session', 'urlparser', 'servlet', 'middleware', 'adapters'] },
  cli: { rank: 6, uses: ['gateway', 'loader', 'server', 'threadpool', 'config'] },
  integration: { rank: 7, uses: '*' },
};
/** Workspace members outside packages/ (apps/*, bench): they may use any package. */
const topLevel = ['apps', 'bench'];

/** The packages `name`'s tests may import (besides its own src). */
function testUses(name) {
  const self = packages[name];
  if (self.uses === '*') return '*';
  const lower = Object.keys(packages).filter((other) => packages[other].rank < self.rank);
  return [...new Set([...self.uses, ...lower, 'testing', 'server'])].filter((other) => other !== name);
}

for (const [name, { rank, uses }] of Object.entries(packages)) {
  if (uses === '*') continue;
  for (const used of uses) {
    if (!(used in packages)) throw new Error(`scripts/architecture.cjs: ${name} uses unknown package ${used}`);
    if (packages[used].rank >= rank) throw new Error(`scripts/architecture.cjs: ${name} (rank ${rank}) uses ${used} (rank ${packages[used].rank}): a package may only use lower ranks`);
  }
}

module.exports = { packages, topLevel, testUses };
