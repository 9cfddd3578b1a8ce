/**
 * CPU profiles of server processes under load, for the benchmark report: start a server child with
 * `node --cpu-prof` (V8's sampling profiler; a `.cpuprofile` per thread, written when the process
 * exits normally), load it, stop it (SIGTERM: the child exits through process.exit, which writes the
 * profile), then sum the self time of each function over every profile it wrote and print the top N.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import type { ServerChild } from './child.js';
import { load, type LoadOptions } from './load.js';
import { markdownTable } from './report.js';

/** One row of a profile table: a function (name + file:line) and its self time. */
export interface ProfileRow {
  /** The function's name, "(anonymous)" when it has none; "(garbage collector)", "(program)" are V8's own. */
  functionName: string;
  /** `file:line` (1-based line; the path relative to the repository, `node:internal/...` for Node's own). */
  location: string;
  /** Self time (samples in this function itself, not its callees), in ms. */
  selfMs: number;
  /** selfMs / the busy time of the profile (every sample but "(idle)"), in percent. */
  percent: number;
}

/** The parsed summary of one or more `.cpuprofile` files. */
export interface ProfileSummary {
  /** The top rows by self time, largest first. */
  top: ProfileRow[];
  /** Time the profiled threads were busy (not "(idle)"), in ms. */
  busyMs: number;
  /** Profile files summed (one per thread: the main thread plus each worker thread). */
  files: number;
}

interface CpuProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
}
interface CpuProfile {
  startTime: number;
  nodes: CpuProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** `file:///repo/packages/x.ts` → `packages/x.ts`; Node's own stay as they are. */
function shortUrl(url: string, root: string): string {
  if (!url) return '';
  if (url.startsWith('file://')) {
    const path = decodeURIComponent(new URL(url).pathname);
    const rel = relative(root, path);
    // pnpm's store: keep the package's own path (node_modules/.pnpm/<pkg>@<v>/node_modules/<pkg>/...).
    const store = /node_modules\/\.pnpm\/[^/]+\/node_modules\/(.+)$/.exec(rel);
    return store ? `node_modules/${store[1]}` : rel;
  }
  return url;
}

/**
 * Sums the self time per function (name + file:line) over the given `.cpuprofile` files (V8's
 * format: each sample's node id and the µs since the previous sample) and returns the `n` [10]
 * largest. Percentages are of the busy time: "(idle)" samples (the event loop waiting) are left out
 * of both the rows and the total. `root`: paths are shown relative to it [process.cwd()].
 * `sinceMicros`: only samples taken at or after this CLOCK_MONOTONIC time in µs (V8's profile
 * timestamps, and `process.hrtime.bigint() / 1000n` in any process of the machine) [0: all], so
 * that a server's start-up stays out of its profile under load; `untilMicros`: and before this
 * one [Infinity] (its shutdown stays out too).
 * @throws SyntaxError when a file is not JSON.
 */
export function summarizeProfiles(files: readonly string[], n = 10, root = process.cwd(), sinceMicros = 0, untilMicros = Infinity): ProfileSummary {
  const selfMicros = new Map<string, { functionName: string; location: string; micros: number }>();
  let busy = 0;
  for (const file of files) {
    const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
    const byId = new Map<number, CpuProfileNode>();
    for (const node of profile.nodes) byId.set(node.id, node);
    let at = profile.startTime;
    for (let i = 0; i < profile.samples.length; i++) {
      const frame = byId.get(profile.samples[i]!)?.callFrame;
      const delta = profile.timeDeltas[i] ?? 0;
      at += delta;
      if (!frame || frame.functionName === '(idle)' || delta <= 0 || at < sinceMicros || at > untilMicros) continue;
      busy += delta;
      const url = shortUrl(frame.url, root);
      const location = url ? `${url}:${frame.lineNumber + 1}` : '';
      const key = `${frame.functionName}\0${location}`;
      const entry = selfMicros.get(key);
      if (entry) entry.micros += delta;
      else selfMicros.set(key, { functionName: frame.functionName || '(anonymous)', location, micros: delta });
    }
  }
  const top = [...selfMicros.values()].sort((a, b) => b.micros - a.micros).slice(0, n)
    .map((e): ProfileRow => ({ functionName: e.functionName, location: e.location, selfMs: e.micros / 1000, percent: busy > 0 ? (e.micros / busy) * 100 : 0 }));
  return { top, busyMs: busy / 1000, files: files.length };
}

/** A profile summary as a Markdown table: function, file:line, self ms, % of busy time. */
export function profileTable(summary: ProfileSummary): string {
  return markdownTable(['function', 'file:line', 'self ms', '% of busy'], summary.top.map((r) => [
    `\`${r.functionName}\``, r.location ? `\`${r.location}\`` : '–', r.selfMs.toFixed(1), `${r.percent.toFixed(1)} %`,
  ]), ['l', 'l', 'r', 'r']);
}

/** Options of {@link profileServer}: the load (see {@link LoadOptions}, without `url`) and the number of rows. */
export interface ProfileServerOptions extends Omit<LoadOptions, 'url'> {
  /** Rows in the summary [10]. */
  top?: number;
  /** An unprofiled load before the profiled one (JIT warm-up), in s [0]. */
  warmupS?: number;
}

/**
 * Profiles one server under load: `start(nodeArgs)` must start the server child with `nodeArgs`
 * among node's own flags (see `ServerChildOptions.nodeArgs`); the child is warmed for `warmupS`,
 * loaded for `durationS`, stopped with SIGTERM (it must exit normally for V8 to write its profiles),
 * and the samples every profile it wrote (one per thread) took during the second load are summed:
 * start-up, warm-up and shutdown stay out. The temporary profile directory is removed afterwards.
 * @throws Error when the child wrote no profile (it was killed rather than exiting), or the load had errors.
 */
export async function profileServer(start: (nodeArgs: string[]) => Promise<ServerChild>, options: ProfileServerOptions = {}): Promise<ProfileSummary & { requests: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'stackware-bench-profile-'));
  try {
    const child = await start(['--cpu-prof', `--cpu-prof-dir=${dir}`]);
    let requests = 0;
    let since = 0;
    let until = Infinity;
    try {
      if (options.warmupS) await load({ ...options, url: child.url, durationS: options.warmupS });
      since = Number(process.hrtime.bigint() / 1000n);
      const result = await load({ ...options, url: child.url });
      until = Number(process.hrtime.bigint() / 1000n);
      if (result.errors > 0) throw new Error(`profiling ${child.url}: ${result.errors} errors under load`);
      requests = result.total;
    } finally {
      await child.stop();
    }
    const files = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile')).map((f) => join(dir, f));
    if (files.length === 0) throw new Error(`profiling ${child.url}: the server wrote no .cpuprofile (was it killed instead of exiting?)`);
    return { ...summarizeProfiles(files, options.top ?? 10, process.cwd(), since, until), requests };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
