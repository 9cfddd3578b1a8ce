/**
 * Where the CPU goes: for hello (`stackware serve` as users run it, without and with its access
 * log), the default stack (errorCatcher → session, untouched → urlMap), a static 1 KiB file and
 * hello through the thread pool, the top 10 functions by self time from a CPU profile of the
 * server process under load (`node --cpu-prof`; every thread's profile summed; bench/lib/profile.ts).
 * The servers are the peers benchmark's cases (peers.bench.ts `--serve <case>`, and its
 * `stackware serve` command lines; the packages from their compiled dist/), so a regression in a figure there shows here where it came from.
 * Profiling slows the server down: read the shares, not the absolute times, and no throughput here.
 * Loopback only, bounded loads; `--quick`: 1 s per case (proves every case runs).
 */
import { fileURLToPath } from 'node:url';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { profileServer, profileTable, startServerChild, type ProfileServerOptions, type ServerChild } from './lib/index.js';

const peers = fileURLToPath(new URL('./peers.bench.ts', import.meta.url));
const bin = fileURLToPath(new URL('../packages/cli/bin/stackware.js', import.meta.url));
const helloMjs = fileURLToPath(new URL('./fixtures/hello.mjs', import.meta.url));
const quick = process.argv.includes('--quick');
const work = mkdtempSync(join(tmpdir(), 'stackware-bench-profiles-'));
writeFileSync(join(work, 'small.txt'), Buffer.alloc(1024, 'a'));

const peer = (name: string, ...args: string[]) => (nodeArgs: string[]): Promise<ServerChild> => startServerChild(peers, ['--serve', name, ...args], { nodeArgs, loader: 'dist' });
const cli = (...args: string[]) => (nodeArgs: string[]): Promise<ServerChild> => startServerChild(bin, ['serve', helloMjs, '--host', '127.0.0.1', '--port', '0', ...args], {
  nodeArgs, loader: 'none', logFile: join(work, `stdout-${args.join('') || 'defaults'}.log`), env: { ...process.env, NODE_OPTIONS: '' },
});

const CASES: Array<{ title: string; start: (nodeArgs: string[]) => Promise<ServerChild>; load?: ProfileServerOptions }> = [
  { title: 'Hello: `stackware serve hello.mjs --no-access-log`', start: cli('--no-access-log') },
  { title: 'Hello, defaults as shipped: `stackware serve hello.mjs` (access log to a file)', start: cli() },
  { title: 'Default stack: errorCatcher → session (untouched) → urlMap → hello, `serve()`', start: peer('stackware-stack') },
  { title: 'Static file, 1 KiB: `staticFiles`, `serve()`', start: peer('stackware-static', work), load: { path: '/small.txt' } },
  { title: 'Hello through the thread pool (2 threads), `serve()`', start: peer('pool-hello') },
];

// The bin runs the compiled dist/: rebuild what is stale first.
const built = spawnSync(process.execPath, [fileURLToPath(new URL('../scripts/build-if-stale.mjs', import.meta.url))], { stdio: ['ignore', 'inherit', 'inherit'] });
if (built.status !== 0) throw new Error('scripts/build-if-stale.mjs failed');

const settings = quick ? { durationS: 1, warmupS: 1 } : { durationS: 5, warmupS: 3 };
process.stdout.write(`Each table: the top 10 functions by self time in a CPU profile (\`node --cpu-prof\`) of the server process under autocannon (32 keep-alive connections, ${settings.durationS} s after a ${settings.warmupS} s warm-up that the profile leaves out, as it leaves out start-up; every thread of the process summed). "% of busy": share of the time the process was not idle. Profiling slows the server: compare shares, not times.\n\n`);
let failures = 0;
try {
  for (const c of CASES) {
    try {
      const summary = await profileServer(c.start, { connections: 32, ...settings, ...c.load });
      process.stdout.write(`### ${c.title}\n\n${summary.requests.toLocaleString('en-US')} requests, ${summary.busyMs.toFixed(0)} ms busy${summary.files > 1 ? ` over ${summary.files} threads` : ''}.\n\n${profileTable(summary)}\n\n`);
    } catch (error) {
      failures++;
      process.stderr.write(`[profiles] ${c.title}: ${error instanceof Error ? error.stack : String(error)}\n`);
      process.stdout.write(`### ${c.title}\n\nFAILED: ${error instanceof Error ? error.message : String(error)}\n\n`);
    }
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
if (failures > 0) process.exitCode = 1;
