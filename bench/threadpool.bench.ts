/**
 * Thread-pool benchmark (@stackware/threadpool): throughput of @stackware/server's HTTP server
 * running an application on its own thread vs through a pool of 2 worker threads, for
 * - a CPU-bound handler (~2 ms of pure-JavaScript work per request, the same fixed amount of work
 *   in both cases: the iteration count is calibrated once, here, and passed to every server), and
 * - the trivial hello app (apps/hello/app.ts): the pool's per-request overhead.
 * Each server runs in its own process; autocannon (keep-alive, 32 connections) runs in this
 * process, so the load generator shares the machine's cores with the server — on a 2-core machine
 * the pool's 2 threads compete with it and with the server thread. Rounds alternate the cases.
 * Loopback only, bounded durations; `--quick` proves it runs (1 s per case).
 *
 * The same file is the server (`--serve <case>`); the pool's threads load the CPU-bound app from
 * bench/lib/cpu-app.ts (shared with the peers benchmark).
 */
import { spawn } from 'node:child_process';
import { isMainThread, Worker } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import type { Application } from '../packages/gateway/src/index.js';
import { calibrate, cpu, CPU_ITERATIONS_ENV, work } from './lib/cpu-app.js';

const here = fileURLToPath(import.meta.url);
const helloModule = fileURLToPath(new URL('../apps/hello/app.ts', import.meta.url));
const cpuModule = fileURLToPath(new URL('./lib/cpu-app.ts', import.meta.url));

const CASES: Record<string, { label: string; group: 'cpu' | 'hello'; pooled: boolean }> = {
  'cpu-inline': { label: 'CPU-bound (~2 ms), on the server thread (baseline)', group: 'cpu', pooled: false },
  'cpu-pool': { label: 'CPU-bound (~2 ms), threadPool, 2 threads', group: 'cpu', pooled: true },
  'hello-inline': { label: 'hello, on the server thread (baseline)', group: 'hello', pooled: false },
  'hello-pool': { label: 'hello, threadPool, 2 threads', group: 'hello', pooled: true },
};

async function startServer(name: string): Promise<string> {
  const { serve } = await import('../packages/server/src/index.js');
  const { threadPool } = await import('../packages/threadpool/src/index.js');
  const c = CASES[name]!;
  let app: Application;
  if (c.pooled) {
    const pool = threadPool(c.group === 'cpu' ? { module: cpuModule, export: 'cpu', threads: 2 } : { module: helloModule, threads: 2 });
    await pool.ready();
    app = pool;
  } else {
    app = c.group === 'cpu' ? cpu : ((await import('../apps/hello/app.js')).default as Application);
  }
  return (await serve(app, { host: '127.0.0.1', port: 0, accessLog: false, timeoutMs: 0 })).url + '/';
}

/**
 * The parallelism this machine offers right now, without Stackware: the same work run for
 * `seconds` in 2 plain worker threads at once vs in 1; returns total(2) / total(1). On a shared
 * machine it is often well below 2, and it bounds what any thread pool can show.
 */
async function rawParallelism(iterations: number, seconds: number): Promise<number> {
  const source = `const { parentPort, workerData } = require('node:worker_threads');
    ${work.toString()}
    const end = performance.now() + workerData.ms; let calls = 0;
    while (performance.now() < end) { work(workerData.iterations); calls++; }
    parentPort.postMessage(calls);`;
  const total = async (threads: number) => {
    const counts = await Promise.all(Array.from({ length: threads }, () => new Promise<number>((resolve, reject) => {
      const worker = new Worker(source, { eval: true, workerData: { iterations, ms: seconds * 1000 } });
      worker.once('message', (n: number) => { resolve(n); void worker.terminate(); });
      worker.once('error', reject);
    })));
    return counts.reduce((a, b) => a + b, 0);
  };
  const one = await total(1);
  const two = await total(2);
  return two / Math.max(one, 1);
}

interface AutocannonResult { requests: { average: number }; latency: { p99: number }; errors: number; non2xx: number; timeouts: number }
type Autocannon = (options: { url: string; connections: number; duration: number }) => Promise<AutocannonResult>;

async function main(): Promise<void> {
  const quick = process.argv.includes('--quick');
  const seconds = quick ? 1 : 8;
  const rounds = quick ? 1 : 2;
  const connections = 32;
  const autocannonModule: string = 'autocannon';
  const autocannon = ((await import(autocannonModule)) as { default: Autocannon }).default;

  // Calibrate the work to ~2 ms of CPU time on this machine, once, so every server does the same
  // work (CPU time, not wall time: a loaded machine must not shrink the work).
  const iterations = calibrate(2);
  // The fastest of several runs: the work's cost without preemption (the machine is shared).
  const fastest = (n: number) => {
    let best = Infinity;
    for (let i = 0; i < 9; i++) {
      const t = performance.now();
      work(n);
      best = Math.min(best, performance.now() - t);
    }
    return best;
  };
  const msPerRequest = fastest(iterations);
  const parallelBefore = await rawParallelism(iterations, quick ? 0.5 : 2);

  const totals: Record<string, { rps: number[]; p99: number[]; errors: number }> = {};
  for (let round = 0; round < rounds; round++) {
    for (const name of Object.keys(CASES)) {
      const child = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', here, '--serve', name], {
        stdio: ['ignore', 'pipe', 'inherit'],
        env: { ...process.env, [CPU_ITERATIONS_ENV]: String(iterations) },
      });
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      try {
        const url = await new Promise<string>((resolve, reject) => {
          let out = '';
          child.stdout.on('data', (d: Buffer) => {
            out += d;
            if (out.includes('\n')) resolve(out.split('\n')[0]!);
          });
          child.once('exit', (code) => reject(new Error(`server ${name} exited with ${code}`)));
        });
        await autocannon({ url, connections, duration: 1 }); // warm-up (JIT)
        const r = await autocannon({ url, connections, duration: seconds });
        const t = (totals[name] ??= { rps: [], p99: [], errors: 0 });
        t.rps.push(r.requests.average);
        t.p99.push(r.latency.p99);
        t.errors += r.errors + r.non2xx + r.timeouts;
      } finally {
        child.kill('SIGTERM');
        await exited;
      }
    }
  }
  const parallelAfter = await rawParallelism(iterations, quick ? 0.5 : 2);
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const base = { cpu: mean(totals['cpu-inline']!.rps), hello: mean(totals['hello-inline']!.rps) };
  process.stdout.write(`autocannon: ${connections} keep-alive connections, ${seconds} s per case after a 1 s warm-up, ${rounds} alternating round(s); each server in its own process on 127.0.0.1; CPU work measured at ${msPerRequest.toFixed(2)} ms per request; ${(await import('node:os')).availableParallelism()} CPUs shared with the load generator.\n\n`);
  process.stdout.write('| case | requests/s | p99 latency (ms) | errors | ratio to its baseline |\n|---|---:|---:|---:|---:|\n');
  for (const [name, c] of Object.entries(CASES)) {
    const t = totals[name]!;
    process.stdout.write(`| ${c.label} | ${Math.round(mean(t.rps))} | ${mean(t.p99).toFixed(1)} | ${t.errors} | ${(mean(t.rps) / base[c.group]).toFixed(2)} |\n`);
  }
  process.stdout.write(`\nParallelism the machine offered, without Stackware (the same work in 2 plain worker threads vs 1): ${parallelBefore.toFixed(2)}× before the cases, ${parallelAfter.toFixed(2)}× after. The CPU-bound ratio cannot exceed it.\n`);
  process.stdout.write('\nTargets: CPU-bound through 2 threads ≥ 1.7× the server thread alone (on an idle 2-core machine); hello through the pool: the ratio is the pool\'s overhead (messages and a thread hop per request).\n');
}

// Only as the entry script (not when imported).
if (isMainThread && process.argv[1] === here) {
  if (process.argv[2] === '--serve') {
    const url = await startServer(process.argv[3]!);
    process.stdout.write(`${url}\n`);
    process.once('SIGTERM', () => process.exit(0));
  } else {
    await main();
  }
}
