/**
 * `pnpm bench [--quick] [name...]`: runs every `bench/*.bench.ts` in its own process (so one
 * benchmark's servers and memory never skew the next) and prints their figures.
 * Each benchmark script prints its own table and accepts `--quick` (a short run for CI that only
 * proves it works). Scripts run with tsx and the "source" export condition.
 */
import { readdirSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const quick = args.includes('--quick');
const only = args.filter((a) => !a.startsWith('--'));
const scripts = readdirSync(here).filter((f) => f.endsWith('.bench.ts') && (only.length === 0 || only.some((o) => f.startsWith(o)))).sort();
let failed = 0;
for (const script of scripts) {
  process.stdout.write(`\n## ${script}\n\n`);
  const run = spawnSync(process.execPath, ['--conditions=source', '--import', 'tsx', join(here, script), ...(quick ? ['--quick'] : [])], { stdio: 'inherit' });
  if (run.status !== 0) {
    failed++;
    process.stdout.write(`(${script} failed with exit code ${run.status})\n`);
  }
}
process.exitCode = failed ? 1 : 0;
