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

/** Runs each stale package's build script; throws when one fails (with its output). */
export default function buildIfStale() {
  const env = { ...process.env, PATH: `${join(root, 'node_modules', '.bin')}${delimiter}${process.env.PATH ?? ''}` };
  for (const { name, dir, build } of stalePackages()) {
    process.stderr.write(`building packages/${name} (dist/ missing or older than src/): ${build}\n`);
    const result = spawnSync(build, { cwd: dir, env, shell: true, encoding: 'utf8' });
    if (result.status !== 0) throw new Error(`build of packages/${name} failed (${build}):\n${result.stdout}${result.stderr}`);
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) buildIfStale();
