/**
 * `pnpm bench [--quick] [--jobs N] [--out DIR] [name...]`: runs every `bench/*.bench.ts` (or those
 * whose file name starts with one of `name...`) each in its own process (so one benchmark's servers
 * and memory never skew the next), shows their output, and writes one report:
 * - `DIR/latest.md`: the machine (CPU model, cores, memory, load average, Node, package versions,
 *   date, commit), a link to the chart, then each benchmark's Markdown output;
 * - `DIR/latest.svg`: a chart drawn from the figures the benchmarks emit (bench/lib `emitFigures`);
 * - `DIR/latest.json`: the machine and the charted figures, for tools.
 * DIR defaults to `bench/results` for a full run of every benchmark, and to a temp dir for a quick
 * run or a run of some benchmarks only (their figures must not replace the committed report).
 *
 * `--quick` (for CI): every benchmark gets its `--quick` flag (about 1 s loads, one round), runs with
 * up to `--jobs` [4] benchmarks at once, and has 240 s; the whole run takes a few minutes and only
 * proves that every benchmark runs. A full run is sequential (the benchmarks never load the machine
 * together), each benchmark has 15 minutes. The exit code is 1 when any benchmark fails (non-zero
 * exit or time-out). Scripts run with tsx and the "source" export condition.
 */
import { readdirSync, readFileSync, mkdirSync, writeFileSync, rmSync, mkdtempSync } from 'node:fs';
import { spawn, execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dirname, join, relative } from 'node:path';
import { tmpdir } from 'node:os';
import { FIGURES_ENV, machineInfo, readFigures, renderChart, markdownTable, type ChartGroup } from './lib/index.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = dirname(here);
const args = process.argv.slice(2);
const quick = args.includes('--quick');
const option = (name: string): string | undefined => { const i = args.indexOf(name); return i === -1 ? undefined : args[i + 1]; };
const jobs = quick ? Math.max(1, Number(option('--jobs') ?? 4)) : 1;
const optionValues = new Set([option('--jobs'), option('--out')].filter((v) => v !== undefined));
const only = args.filter((a) => !a.startsWith('--') && !optionValues.has(a));
// Only a full run of every benchmark replaces the committed report; quick or partial runs go to a temp dir.
const outDir = option('--out') ?? (quick || only.length > 0 ? mkdtempSync(join(tmpdir(), 'stackware-bench-')) : join(here, 'results'));
// A quick run only proves each benchmark runs; peers starts ~20 servers, so it gets 240 s on a busy CI machine.
const timeoutMs = quick ? 240_000 : 15 * 60_000;
const scripts = readdirSync(here).filter((f) => f.endsWith('.bench.ts') && (only.length === 0 || only.some((o) => f.startsWith(o))))
  // The peer comparison first: it is the report's headline.
  .sort((a, b) => (a === 'peers.bench.ts' ? -1 : b === 'peers.bench.ts' ? 1 : a.localeCompare(b)));
if (scripts.length === 0) {
  process.stderr.write(`no bench/*.bench.ts matches ${only.join(', ')}\n`);
  process.exit(1);
}
mkdirSync(outDir, { recursive: true });
const work = mkdtempSync(join(tmpdir(), 'stackware-bench-figures-'));

interface Outcome { script: string; ok: boolean; detail: string; stdout: string; seconds: number; figures: ChartGroup[] }

/** Runs one script in its own process group (so a time-out kills its servers too). */
function runScript(script: string, live: boolean): Promise<Outcome> {
  const figuresFile = join(work, `${script}.jsonl`);
  const started = Date.now();
  const child = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', join(here, script), ...(quick ? ['--quick'] : [])], {
    cwd: root,
    detached: true,
    stdio: ['ignore', 'pipe', live ? 'inherit' : 'pipe'],
    env: { ...process.env, [FIGURES_ENV]: figuresFile },
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => { stdout += d.toString(); if (live) process.stdout.write(d); });
  child.stderr?.on('data', (d: Buffer) => { stderr += d.toString(); });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    try { process.kill(-child.pid!, 'SIGKILL'); } catch { /* already gone */ }
  }, timeoutMs);
  return new Promise((resolve) => {
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      // Servers a benchmark left behind (it crashed before stopping them) go with its group.
      try { process.kill(-child.pid!, 'SIGKILL'); } catch { /* none left */ }
      const ok = code === 0 && !timedOut;
      const detail = timedOut ? `timed out after ${timeoutMs / 1000} s` : ok ? 'ok' : `exit ${code ?? signal}`;
      if (!ok && stderr) process.stderr.write(`\n--- ${script} stderr (last 40 lines) ---\n${stderr.split('\n').slice(-40).join('\n')}\n`);
      resolve({ script, ok, detail, stdout, seconds: (Date.now() - started) / 1000, figures: readFigures(figuresFile) });
    });
  });
}

async function runAll(): Promise<Outcome[]> {
  const outcomes = new Map<string, Outcome>();
  const queue = [...scripts];
  const worker = async (): Promise<void> => {
    for (let script = queue.shift(); script !== undefined; script = queue.shift()) {
      if (jobs === 1) process.stdout.write(`\n## ${script}\n\n`);
      const outcome = await runScript(script, jobs === 1);
      if (jobs > 1) process.stdout.write(`\n## ${script}\n\n${outcome.stdout}`);
      process.stdout.write(`\n(${script}: ${outcome.detail}, ${outcome.seconds.toFixed(0)} s)\n`);
      outcomes.set(script, outcome);
    }
  };
  await Promise.all(Array.from({ length: Math.min(jobs, scripts.length) }, worker));
  return scripts.map((s) => outcomes.get(s)!);
}

/** The version of an installed package (bench's own dependencies), or "?". */
function installed(name: string): string {
  try {
    return (JSON.parse(readFileSync(join(here, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return '?';
  }
}

function tool(command: string, versionArgs: string[], pattern: RegExp): string {
  try {
    const out = execFileSync(command, versionArgs, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    return pattern.exec(out)?.[1] ?? '?';
  } catch (error) {
    // nginx -v writes to stderr.
    const err = (error as { stderr?: string }).stderr ?? '';
    return pattern.exec(err)?.[1] ?? 'not installed';
  }
}

function nginxVersion(): string {
  try {
    const r = spawnSyncText('nginx', ['-v']);
    return /nginx\/(\S+)/.exec(r)?.[1] ?? '?';
  } catch {
    return 'not installed';
  }
}

function spawnSyncText(command: string, commandArgs: string[]): string {
  // nginx prints its version on stderr and exits 0: capture both streams.
  return execFileSync('sh', ['-c', `${command} ${commandArgs.join(' ')} 2>&1`], { encoding: 'utf8' });
}

const machine = machineInfo();
const stackwareVersion = (JSON.parse(readFileSync(join(root, 'packages', 'server', 'package.json'), 'utf8')) as { version: string }).version;
const versions: Array<[string, string]> = [
  ['Stackware (packages/*)', `${stackwareVersion} @ ${machine.commit}`],
  ['Node.js', machine.node],
  ...['express', 'fastify', 'hono', '@hono/node-server', 'express-session', 'connect-redis', 'redis', 'autocannon'].map((n): [string, string] => [n, installed(n)]),
  ['nginx', nginxVersion()],
  ['redis-server', tool('redis-server', ['--version'], /v=(\S+)/)],
];
process.stdout.write(`# Stackware benchmarks${quick ? ' (quick)' : ''}\n\n${machine.date}, ${machine.cpuModel}, ${machine.cores} cores, load average ${machine.loadAverage.join(' ')}; ${scripts.length} benchmarks${jobs > 1 ? `, ${jobs} at a time` : ''}.\n`);

const outcomes = await runAll();
const loadAfter = machineInfo().loadAverage;
const groups = outcomes.flatMap((o) => o.figures);
const failed = outcomes.filter((o) => !o.ok);

const md: string[] = [];
md.push(`# Stackware benchmarks${quick ? ' (quick run: the figures mean nothing)' : ''}`, '');
md.push(`Produced by \`pnpm bench${quick ? ' --quick' : ''}\` (bench/run.ts) on ${machine.date}. Every benchmark ran in its own process${jobs > 1 ? `, ${jobs} at a time` : ', one after the other'}; each prints its own tables below.`, '');
md.push('**Read the ratios, not the absolute numbers.** The load generator (autocannon, in the benchmark\'s process) shares the machine\'s cores with the servers it loads, and this machine is shared with other work: absolute requests/s move from run to run, while ratios measured side by side in one run (rounds alternate the cases of a group; each figure is a median) are what compare.', '');
md.push('## Machine', '');
md.push(markdownTable(['', ''], [
  ['CPU', machine.cpuModel],
  ['cores', machine.cores],
  ['memory', `${machine.memoryGiB} GiB`],
  ['OS', machine.os],
  ['load average (1/5/15 min) at the start', machine.loadAverage.join(' / ')],
  ['load average at the end', loadAfter.join(' / ')],
  ...versions,
], ['l', 'l']), '');
md.push('## At a glance', '', 'Each Stackware case against its group\'s baseline and the best other server or framework of the group (from the tables below; for CPU time and memory, lower is better).', '');
const glance = groups.flatMap((g) => g.bars.filter((b) => b.kind === 'stackware').map((b) => {
  const base = g.bars.find((x) => x.kind === 'baseline');
  const others = g.bars.filter((x) => x.kind === 'peer');
  const best = others.length ? others.reduce((a, c) => (g.higherIsBetter ? (c.value > a.value ? c : a) : (c.value < a.value ? c : a))) : undefined;
  const fmt = (v: number) => `${v >= 100 ? Math.round(v).toLocaleString('en-US') : v.toFixed(1)} ${g.unit}`;
  return [g.title, b.label, fmt(b.value), base ? `${b.ratio.toFixed(2)}× ${base.label}` : '–', best ? `${best.label}: ${(best.value / (base?.value ?? 1)).toFixed(2)}×` : '–'];
}));
md.push(markdownTable(['group', 'Stackware case', 'figure', 'ratio to the baseline', 'best peer (ratio to the baseline)'], glance, ['l', 'l', 'r', 'r', 'l']), '');
md.push('## Chart', '', `![Requests/s and memory per group, with ratios to each group's baseline](latest.svg)`, '');
md.push('## Runs', '', markdownTable(['benchmark', 'result', 'seconds'], outcomes.map((o) => [o.script, o.ok ? 'ok' : `**FAILED** (${o.detail})`, o.seconds.toFixed(0)])), '');
for (const o of outcomes) {
  md.push(`## ${o.script.replace(/\.bench\.ts$/, '')}${o.script === 'peers.bench.ts' ? ': Stackware against its peers' : ''}`, '');
  // Demote the scripts' own headings one level below ours.
  md.push(o.stdout.trim().replace(/^(#{1,5}) /gm, '$1## '), '');
  if (!o.ok) md.push(`**This benchmark failed: ${o.detail}.**`, '');
}
writeFileSync(join(outDir, 'latest.md'), md.join('\n'));
const subtitle = `${machine.date} · ${machine.cpuModel}, ${machine.cores} cores (shared with the load generator) · Node ${machine.node} · load avg ${machine.loadAverage[0]} at start · compare within a panel`;
writeFileSync(join(outDir, 'latest.svg'), renderChart(groups, 'Stackware benchmarks: each panel measured side by side in one run', subtitle));
writeFileSync(join(outDir, 'latest.json'), `${JSON.stringify({ machine, loadAfter, versions: Object.fromEntries(versions), quick, outcomes: outcomes.map(({ script, ok, detail, seconds }) => ({ script, ok, detail, seconds })), groups }, null, 2)}\n`);
rmSync(work, { recursive: true, force: true });

const where = relative(process.cwd(), outDir) || '.';
process.stdout.write(`\nReport: ${join(where, 'latest.md')}, chart: ${join(where, 'latest.svg')}\n`);
if (failed.length > 0) process.stdout.write(`${failed.length} of ${outcomes.length} benchmarks failed: ${failed.map((o) => `${o.script} (${o.detail})`).join(', ')}\n`);
else process.stdout.write(`${outcomes.length} benchmarks ran.\n`);
process.exitCode = failed.length > 0 ? 1 : 0;
