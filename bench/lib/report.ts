/**
 * Reporting for benchmarks: Markdown tables, number formats, the machine description, and the
 * figures file that `bench/run.ts` reads to draw the chart.
 *
 * A benchmark that wants its figures in the chart calls {@link emitFigures}: when run by
 * `bench/run.ts`, the environment variable STACKWARE_BENCH_FIGURES names a JSON-lines file and each
 * call appends one group to it; run on its own, the call does nothing.
 */
import { appendFileSync, readFileSync } from 'node:fs';
import { cpus, totalmem, loadavg } from 'node:os';
import { execFileSync } from 'node:child_process';

/** The environment variable naming the JSON-lines figures file (set by bench/run.ts). */
export const FIGURES_ENV = 'STACKWARE_BENCH_FIGURES';

/** One bar of the chart. */
export interface ChartBar {
  label: string;
  kind: 'baseline' | 'stackware' | 'peer';
  value: number;
  /** value / the group's baseline value (for memory: the ratio of sizes). */
  ratio: number;
}

/** One panel of the chart: a group of bars measured side by side in one run. */
export interface ChartGroup {
  title: string;
  /** The unit of `value`, e.g. "req/s" or "MiB". */
  unit: string;
  /** true when more is better (req/s); false for costs (memory). */
  higherIsBetter: boolean;
  bars: ChartBar[];
}

/** Appends a group to the figures file when bench/run.ts asked for one; otherwise does nothing. */
export function emitFigures(group: ChartGroup): void {
  const file = process.env[FIGURES_ENV];
  if (file) appendFileSync(file, `${JSON.stringify(group)}\n`);
}

/** Reads a figures file written by {@link emitFigures} (missing file: no groups). */
export function readFigures(file: string): ChartGroup[] {
  let text = '';
  try { text = readFileSync(file, 'utf8'); } catch { return []; }
  return text.split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as ChartGroup);
}

/** A Markdown table; `align` per column: "l" or "r" [first column left, the rest right]. */
export function markdownTable(header: readonly string[], rows: ReadonlyArray<ReadonlyArray<string | number>>, align?: readonly ('l' | 'r')[]): string {
  const a = align ?? header.map((_, i) => (i === 0 ? 'l' : 'r'));
  const cell = (v: string | number) => String(v).replaceAll('|', '\\|');
  return [
    `| ${header.map(cell).join(' | ')} |`,
    `|${a.map((x) => (x === 'r' ? '---:' : '---')).join('|')}|`,
    ...rows.map((r) => `| ${r.map(cell).join(' | ')} |`),
  ].join('\n');
}

/** Requests/s as a whole number with thousands separators. */
export const fmtRps = (n: number): string => Math.round(n).toLocaleString('en-US');
/** A ratio with two decimals and a "×". */
export const fmtRatio = (n: number): string => `${n.toFixed(2)}×`;
/** Milliseconds, one decimal below 10, whole above. */
export const fmtMs = (n: number): string => (n < 10 ? n.toFixed(1) : n.toFixed(0));

/** What the figures were measured on: recorded at the top of every report. */
export interface MachineInfo {
  cpuModel: string;
  cores: number;
  memoryGiB: number;
  node: string;
  os: string;
  loadAverage: [number, number, number];
  date: string;
  commit: string;
}

/** Describes this machine now (CPU model, cores, memory, Node, kernel, load average, UTC date, git commit). */
export function machineInfo(): MachineInfo {
  const cpuList = cpus();
  let os: string = process.platform;
  try { os = execFileSync('uname', ['-sr'], { encoding: 'utf8' }).trim(); } catch { /* not fatal */ }
  let commit = 'unknown';
  try { commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim(); } catch { /* not a checkout */ }
  const [l1, l5, l15] = loadavg();
  return {
    cpuModel: cpuList[0]?.model.trim() ?? 'unknown',
    cores: cpuList.length,
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    os,
    loadAverage: [l1!, l5!, l15!].map((x) => Math.round(x * 100) / 100) as [number, number, number],
    date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    commit,
  };
}
