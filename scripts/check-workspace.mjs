#!/usr/bin/env node
/**
 * Checks the workspace's package.json files against the dependency direction of
 * scripts/architecture.cjs — dev dependencies included, which imports alone do not show:
 * - `dependencies` on workspace packages: only what the package's src may use;
 * - `devDependencies` on workspace packages: only what its tests may use (lower packages,
 *   testing, server);
 * - no cycle through either.
 * Usage: node scripts/check-workspace.mjs [root]   (default: the repository). Exit 1 on a violation,
 * each printed as `package.json: what is wrong (the fix)`.
 */
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const { packages, topLevel, testUses } = require('./architecture.cjs');

const root = resolve(process.argv[2] ?? join(fileURLToPath(import.meta.url), '..', '..'));
const SCOPE = '@stackware/';

/** Every workspace member: { dir, short (architecture name or undefined), json }. */
function members() {
  const found = [];
  for (const parent of ['packages', 'apps']) {
    const base = join(root, parent);
    if (!existsSync(base)) continue;
    for (const entry of readdirSync(base, { withFileTypes: true })) {
      const file = join(base, entry.name, 'package.json');
      if (entry.isDirectory() && existsSync(file)) found.push({ dir: join(base, entry.name), short: parent === 'packages' ? entry.name : undefined, json: JSON.parse(readFileSync(file, 'utf8')) });
    }
  }
  for (const name of topLevel.filter((n) => n !== 'apps')) {
    const file = join(root, name, 'package.json');
    if (existsSync(file)) found.push({ dir: join(root, name), short: undefined, json: JSON.parse(readFileSync(file, 'utf8')) });
  }
  return found;
}

const all = members();
const byName = new Map(all.map((m) => [m.json.name, m]));
const problems = [];
const edges = new Map();

for (const member of all) {
  const where = relative(root, join(member.dir, 'package.json'));
  const deps = Object.keys(member.json.dependencies ?? {}).filter((d) => byName.has(d));
  const devDeps = Object.keys(member.json.devDependencies ?? {}).filter((d) => byName.has(d));
  edges.set(member.json.name, [...new Set([...deps, ...devDeps])]);
  if (member.short === undefined) continue; // apps and bench may use anything (but still join the cycle check)
  const layer = packages[member.short];
  if (!layer) {
    problems.push(`${where}: packages/${member.short} is not in scripts/architecture.cjs (add it with its rank and what it uses)`);
    continue;
  }
  const short = (d) => (d.startsWith(SCOPE) && byName.get(d)?.dir === join(root, 'packages', d.slice(SCOPE.length)) ? d.slice(SCOPE.length) : undefined);
  const tests = testUses(member.short);
  for (const dep of deps) {
    const s = short(dep);
    if (layer.uses !== '*' && !layer.uses.includes(s)) problems.push(`${where}: dependency ${dep} is not allowed for ${member.short} (its src may use ${layer.uses.join(', ') || 'no workspace package'}; see ARCHITECTURE.md)`);
  }
  for (const dep of devDeps) {
    const s = short(dep);
    if (tests !== '*' && !tests.includes(s)) problems.push(`${where}: devDependency ${dep} is not allowed for ${member.short}'s tests (a test that needs it belongs in packages/integration)`);
  }
}

// Cycles through dependencies and devDependencies (what pnpm warns about).
const state = new Map();
const stack = [];
function visit(name) {
  state.set(name, 'open');
  stack.push(name);
  for (const next of edges.get(name) ?? []) {
    if (state.get(next) === 'open') problems.push(`package.json: cyclic workspace dependencies ${[...stack.slice(stack.indexOf(next)), next].join(' -> ')} (move the test that needs the upper package into packages/integration)`);
    else if (!state.has(next)) visit(next);
  }
  stack.pop();
  state.set(name, 'done');
}
for (const name of edges.keys()) if (!state.has(name)) visit(name);

if (problems.length > 0) {
  for (const p of problems) console.error(p);
  console.error(`✘ ${problems.length} workspace dependency problem(s)`);
  process.exit(1);
}
console.log(`✔ workspace dependencies follow scripts/architecture.cjs (${all.length} packages, no cycle)`);
