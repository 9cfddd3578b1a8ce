// Builds every package whose dist/ is missing or older than its sources: Jest's globalSetup runs
// it, so that tests which spawn the `stackware` command (which runs dist/) never run a stale
// build. Also `node scripts/build-if-stale.mjs` by hand. A full `pnpm build` rebuilds everything.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

/** Newest mtime (ms) of the files under `dir` (0 when none). */
function newest(dir) {
  let max = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) max = Math.max(max, statSync(join(entry.parentPath ?? entry.path, entry.name)).mtimeMs);
  }
  return max;
}

/** The packages whose build is missing or stale: `{ name, dir, build }` (build: the script). */
export function stalePackages() {
  const stale = [];
  const shared = statSync(join(root, 'tsconfig.base.json')).mtimeMs;
  for (const name of readdirSync(join(root, 'packages'))) {
    const dir = join(root, 'packages', name);
    const pkgFile = join(dir, 'package.json');
    if (!existsSync(pkgFile)) continue;
    const build = JSON.parse(readFileSync(pkgFile, 'utf8')).scripts?.build;
    if (!build) continue;
    const stamp = join(dir, 'dist', 'index.js');
    const sources = Math.max(newest(join(dir, 'src')), shared, statSync(pkgFile).mtimeMs, statSync(join(dir, 'tsconfig.build.json')).mtimeMs);
    if (!existsSync(stamp) || statSync(stamp).mtimeMs < sources) stale.push({ name, dir, build });
  }
  return stale;
}

/**
 * Runs each stale package's build script. tsc still emits JavaScript when the sources have type
 * errors: then the errors are printed and the run goes on (`pnpm typecheck` is where they fail).
 * Throws (with the output) when a build left dist/ missing or stale.
 */
export default function buildIfStale() {
  const env = { ...process.env, PATH: `${join(root, 'node_modules', '.bin')}${delimiter}${process.env.PATH ?? ''}` };
  const stale = stalePackages();
  for (const { name, dir, build } of stale) {
    process.stderr.write(`building packages/${name} (dist/ missing or older than src/): ${build}\n`);
    const result = spawnSync(build, { cwd: dir, env, shell: true, encoding: 'utf8' });
    if (result.status !== 0) process.stderr.write(`build of packages/${name} reported errors (${build}):\n${result.stdout}${result.stderr}\n`);
  }
  const still = stalePackages().filter((p) => stale.some((s) => s.name === p.name));
  if (still.length) throw new Error(`dist/ is still missing or stale after building: ${still.map((p) => `packages/${p.name}`).join(', ')} (see the errors above)`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) buildIfStale();
