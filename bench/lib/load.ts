/**
 * Load runs with autocannon (keep-alive, 127.0.0.1 only, bounded in time), and the side-by-side
 * comparison every group of the peer benchmark uses: warm every server, then measure them in
 * alternating rounds (so a burst of load from elsewhere on a shared machine hits every case, not
 * one), and keep the median of each case's rounds.
 */
import autocannon from 'autocannon';
import type { ServerChild } from './child.js';

/** One autocannon run. Defaults: `connections` 32, `durationS` 5, `path` "/". */
export interface LoadOptions {
  /** Base URL of the server, e.g. "http://127.0.0.1:1234". Must be loopback. */
  url: string;
  path?: string;
  connections?: number;
  durationS?: number;
  /** Cookie header values: request i uses cookies[i % length] (a set of known visitors). */
  cookies?: readonly string[];
}

/** The figures of one load run. Latencies in ms. */
export interface LoadResult {
  rps: number;
  p50: number;
  p99: number;
  /** Connection errors + timeouts + non-2xx answers. */
  errors: number;
  total: number;
  /** Mean response bytes (head + body) per request. */
  bytesPerRequest: number;
}

/** Runs autocannon once against `options.url` (refuses anything but 127.0.0.1). */
export async function load(options: LoadOptions): Promise<LoadResult> {
  const target = new URL(options.path ?? '/', options.url);
  if (target.hostname !== '127.0.0.1') throw new Error(`load(): ${target.href} is not on 127.0.0.1; benchmarks load loopback only`);
  const cookies = options.cookies;
  let next = 0;
  const result = await autocannon({
    url: target.href,
    connections: options.connections ?? 32,
    duration: options.durationS ?? 5,
    ...(cookies && cookies.length > 0
      ? { requests: [{ setupRequest: (req: autocannon.Request) => ({ ...req, headers: { ...req.headers, cookie: cookies[next++ % cookies.length]! } }) }] }
      : {}),
  });
  return {
    rps: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    errors: result.errors + result.timeouts + result.non2xx,
    total: result.requests.total,
    bytesPerRequest: result.requests.total > 0 ? result.throughput.total / result.requests.total : 0,
  };
}

/** The median of a non-empty list. */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** One case of a comparison: a server that is already running. */
export interface Case {
  label: string;
  /** "baseline": the ratio reference of its group (exactly one per group); "stackware"; "peer". */
  kind: 'baseline' | 'stackware' | 'peer';
  url: string;
  path?: string;
  cookies?: readonly string[];
  /** The server's process, for CPU time per request and memory (absent for nginx). */
  child?: ServerChild;
}

/** Medians over the rounds of one case. */
export interface CaseFigures {
  label: string;
  kind: Case['kind'];
  rps: number;
  p50: number;
  p99: number;
  /** rps / the baseline's rps. */
  ratio: number;
  errors: number;
  /** Server CPU time per request, µs (median over rounds), when the server's pid is known. */
  cpuMicrosPerRequest?: number;
  bytesPerRequest: number;
  /** Each round's requests/s, in order. */
  rounds: number[];
}

/** Options of {@link compare}. Defaults: 3 rounds of 5 s, 2 s warm-up, 32 connections. */
export interface CompareOptions {
  rounds?: number;
  durationS?: number;
  warmupS?: number;
  connections?: number;
  /** Called after each measured run (progress on stderr, say). */
  onRun?: (label: string, round: number, result: LoadResult) => void;
}

/**
 * Warms each case (`warmupS`, figures discarded), then runs `rounds` rounds, each measuring every
 * case once in turn; returns each case's medians and its ratio to the baseline case.
 * @throws Error when no case, or more than one, is the baseline.
 */
export async function compare(cases: readonly Case[], options: CompareOptions = {}): Promise<CaseFigures[]> {
  const baselines = cases.filter((c) => c.kind === 'baseline');
  if (baselines.length !== 1) throw new Error(`compare(): exactly one baseline case expected, got ${baselines.length}`);
  const rounds = options.rounds ?? 3;
  const durationS = options.durationS ?? 5;
  const connections = options.connections ?? 32;
  for (const c of cases) {
    if ((options.warmupS ?? 2) > 0) await load({ url: c.url, path: c.path, cookies: c.cookies, connections, durationS: options.warmupS ?? 2 });
  }
  const runs = cases.map(() => ({ results: [] as LoadResult[], cpu: [] as number[] }));
  for (let round = 0; round < rounds; round++) {
    for (const [i, c] of cases.entries()) {
      const cpuBefore = c.child?.cpuMicros() ?? 0;
      const result = await load({ url: c.url, path: c.path, cookies: c.cookies, connections, durationS });
      if (c.child && result.total > 0) runs[i]!.cpu.push((c.child.cpuMicros() - cpuBefore) / result.total);
      runs[i]!.results.push(result);
      options.onRun?.(c.label, round, result);
    }
  }
  const figures = cases.map((c, i): CaseFigures => {
    const rs = runs[i]!.results;
    return {
      label: c.label,
      kind: c.kind,
      rps: median(rs.map((r) => r.rps)),
      p50: median(rs.map((r) => r.p50)),
      p99: median(rs.map((r) => r.p99)),
      ratio: 0,
      errors: rs.reduce((n, r) => n + r.errors, 0),
      cpuMicrosPerRequest: runs[i]!.cpu.length ? median(runs[i]!.cpu) : undefined,
      bytesPerRequest: median(rs.map((r) => r.bytesPerRequest)),
      rounds: rs.map((r) => r.rps),
    };
  });
  const base = figures.find((f) => f.kind === 'baseline')!.rps;
  for (const f of figures) f.ratio = base > 0 ? f.rps / base : 0;
  return figures;
}
