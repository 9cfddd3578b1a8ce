/**
 * A CPU-bound application for benchmarks: a fixed amount of pure-JavaScript work per request
 * (`STACKWARE_BENCH_CPU_ITERATIONS` rounds, calibrated to ~2 ms by the parent with
 * {@link calibrate} and passed to every server, so in-process and pooled servers do the same work).
 * This module has no side effects: worker threads of a thread pool load it.
 */
import type { Application } from '@stackware/gateway';

/** The environment variable carrying the iteration count to server processes and their threads. */
export const CPU_ITERATIONS_ENV = 'STACKWARE_BENCH_CPU_ITERATIONS';

/** `iterations` rounds of integer mixing: no allocation, and the result is used, so it cannot be optimised away. */
export function work(iterations: number): number {
  let x = 0x9e3779b9;
  for (let i = 0; i < iterations; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    x = (x + i) | 0;
  }
  return x;
}

/**
 * The iteration count that takes about `targetMs` of CPU time on this machine (a few rounds of
 * measuring process CPU time, not wall time, so a loaded machine does not shrink the work).
 */
export function calibrate(targetMs = 2): number {
  let iterations = 200_000;
  for (let attempt = 0; attempt < 8; attempt++) {
    work(iterations);
    const before = process.cpuUsage();
    for (let i = 0; i < 10; i++) work(iterations);
    const used = process.cpuUsage(before);
    const ms = (used.user + used.system) / 1000 / 10;
    iterations = Math.max(1000, Math.round(iterations * (targetMs / Math.max(ms, 0.01))));
  }
  return iterations;
}

/** The CPU-bound application: the work, then a short text answer. */
export const cpu: Application = (_environ, startResponse) => {
  const body = Buffer.from(`${work(Number(process.env[CPU_ITERATIONS_ENV] ?? 1_000_000))}\n`);
  startResponse('200 OK', [['Content-Type', 'text/plain; charset=utf-8'], ['Content-Length', String(body.length)]]);
  return [body];
};
