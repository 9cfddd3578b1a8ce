/**
 * Thread-pool benchmark (@stackware/threadpool): throughput of @stackware/server's HTTP server
 * running an application on its own thread vs through a pool of 2 worker threads, for
 * - a CPU-bound handler (~2 ms of pure-JavaScript work per request, the same fixed amount of work
 *   in both cases: the iteration count is calibrated once, here, and passed to every server), and
 * - the trivial hello app (apps/hello/app.ts): the pool's per-request overhead.
 * Each server runs in its own process; autocannon (keep-alive) runs in this process, so the load
 * generator shares the machine's cores with the server — on a 2-core machine the pool's 2 threads
 * compete with it and with the server thread. Rounds alternate the cases. The steady figure is
 * the server process's CPU time per request (all its threads); the goals of issue 21 are printed
 * beside the figures. Loopback only, bounded durations; `--quick` proves it runs (1 s per case).
 *
 * The same file is the server (`--serve <case>`); the pool's threads load the CPU-bound app from
 * bench/lib/cpu-app.ts (shared with the peers benchmark).
 */
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
  return (await serve(app, { host: '127.0.0.1', port: 0, accessLog: false, timeoutMs: 0 })).url;
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

/** The goals of issue 21, printed beside the figures. */
const GOAL_POOL_OVERHEAD_US = 40;
const GOAL_CPU_RATIO = 1.8;

async function main(): Promise<void> {
  const quick = process.argv.includes('--quick');
  const { startServerChild, compare, markdownTable, fmtRps, fmtRatio, emitFigures } = await import('./lib/index.js');
  const settings = quick ? { rounds: 1, durationS: 1, warmupS: 0 } : { rounds: 3, durationS: 5, warmupS: 2 };

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

  const env = { ...process.env, [CPU_ITERATIONS_ENV]: String(iterations) };
  const servers = Object.fromEntries(await Promise.all(Object.keys(CASES).map(async (name) => [name, await startServerChild(here, ['--serve', name], { env })] as const)));
  let failed = false;
  try {
    const figures: Record<string, Awaited<ReturnType<typeof compare>>> = {};
    for (const group of ['hello', 'cpu'] as const) {
      const names = Object.keys(CASES).filter((n) => CASES[n]!.group === group);
      figures[group] = await compare(names.map((n) => ({
        label: CASES[n]!.label, kind: CASES[n]!.pooled ? 'stackware' : 'baseline', url: servers[n]!.url, child: servers[n],
      })), { ...settings, connections: group === 'cpu' ? 16 : 32 });
    }
    const parallelAfter = await rawParallelism(iterations, quick ? 0.5 : 2);
    const bound = Math.min(parallelBefore, parallelAfter);
    process.stdout.write(`autocannon: keep-alive connections (32 for hello, 16 for the CPU-bound handler), ${settings.rounds} alternating round(s) of ${settings.durationS} s after a ${settings.warmupS} s warm-up; each server in its own process on 127.0.0.1; CPU work measured at ${msPerRequest.toFixed(2)} ms per request; ${(await import('node:os')).availableParallelism()} CPUs shared with the load generator. Server CPU µs/req: the server process's CPU time (every thread) over a round divided by its requests, the median of the rounds.\n\n`);
    const rows = [...figures.hello!, ...figures.cpu!].map((f) => [f.kind === 'stackware' ? `**${f.label}**` : f.label, fmtRps(f.rps), f.kind === 'baseline' ? '1.00× (baseline)' : fmtRatio(f.ratio), f.p99.toFixed(1), f.cpuMicrosPerRequest === undefined ? '–' : f.cpuMicrosPerRequest.toFixed(0), f.errors]);
    process.stdout.write(`${markdownTable(['case', 'req/s', 'ratio to its baseline', 'p99 ms', 'server CPU µs/req', 'errors'], rows)}\n\n`);
    const [helloInline, helloPool] = figures.hello!;
    const [cpuInline, cpuPool] = figures.cpu!;
    const overhead = (helloPool!.cpuMicrosPerRequest ?? NaN) - (helloInline!.cpuMicrosPerRequest ?? NaN);
    const goal = (ok: boolean) => (ok ? 'met' : 'NOT met');
    process.stdout.write(markdownTable(['goal (issue 21)', 'target', 'measured', ''], [
      ['hello through the pool: CPU per request over in-process', `≤ ${GOAL_POOL_OVERHEAD_US} µs`, `${overhead.toFixed(0)} µs (${helloPool!.cpuMicrosPerRequest?.toFixed(0)} vs ${helloInline!.cpuMicrosPerRequest?.toFixed(0)})`, goal(overhead <= GOAL_POOL_OVERHEAD_US)],
      ['CPU-bound handler, 2 threads vs in-process', `≥ ${GOAL_CPU_RATIO.toFixed(1)}×`, `${fmtRatio(cpuPool!.ratio)}`, goal(cpuPool!.ratio >= GOAL_CPU_RATIO)],
      ['the machine\'s own bound: 2 plain worker_threads vs 1, same work, no Stackware', '(bounds the line above)', `${parallelBefore.toFixed(2)}× before, ${parallelAfter.toFixed(2)}× after`, `pool reaches ${(cpuPool!.ratio / bound).toFixed(2)} of it`],
    ]) + '\n\n');
    process.stdout.write(`CPU-bound CPU per request: ${cpuInline!.cpuMicrosPerRequest?.toFixed(0)} µs in-process, ${cpuPool!.cpuMicrosPerRequest?.toFixed(0)} µs through the pool. On a machine busy with other work, a process with 3 runnable threads also gets a larger share of the CPU than one with a single thread, so the ratio can exceed the plain-thread bound.\n`);
    emitFigures({ title: 'Thread pool: hello, server CPU time per request', unit: 'µs/req', higherIsBetter: false, bars: figures.hello!.map((f) => ({ label: f.label, kind: f.kind, value: f.cpuMicrosPerRequest ?? 0, ratio: (f.cpuMicrosPerRequest ?? 0) / (helloInline!.cpuMicrosPerRequest || 1) })) });
    emitFigures({ title: 'Thread pool: CPU-bound handler (~2 ms)', unit: 'req/s', higherIsBetter: true, bars: figures.cpu!.map((f) => ({ label: f.label, kind: f.kind, value: f.rps, ratio: f.ratio })) });
    failed = [...figures.hello!, ...figures.cpu!].some((f) => f.errors > 0 || f.rps <= 0);
  } finally {
    await Promise.allSettled(Object.values(servers).map((s) => s.stop()));
  }
  if (failed) {
    process.stderr.write('threadpool bench: a case had errors\n');
    process.exitCode = 1;
  }
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
