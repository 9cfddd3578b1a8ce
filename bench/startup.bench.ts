/**
 * Start-up cost of the production path: CPU seconds until the first answer, and resident memory
 * of each process once ready, for `stackware serve hello.mjs` (the compiled CLI in dist/, a
 * JavaScript hello) in one process, with `--workers 2` and with `--threads 2`, beside bare
 * `node hello.mjs` (node:http) measured in the same run. One more row serves the TypeScript hello
 * (apps/hello/app.ts): the only case that registers tsx. Each case starts fresh processes; the
 * figures are medians of 5 starts (`--quick`: 1). Linux (/proc) only.
 *
 * "CPU to ready" is user + system time of every process of the case (primary and workers) from
 * spawn until it answers GET / with 200 (with --workers: until both workers run and one answered),
 * read from /proc before the processes are stopped. RSS is VmRSS of each process at that moment.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cpuMicros, emitFigures, markdownTable, median, rssBytes, type ChartBar } from './lib/index.js';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const BIN = join(root, 'packages/cli/bin/stackware.js');
const quick = process.argv.includes('--quick');
const ROUNDS = quick ? 1 : 5;

const HELLO_APP = `// A Stackware application in plain JavaScript.
const body = Buffer.from('Hello, world!\\n');
export default function hello(_environ, startResponse) {
  startResponse('200 OK', [['Content-Type', 'text/plain; charset=utf-8'], ['Content-Length', String(body.length)]]);
  return [body];
}
`;

const BARE_NODE = `// Bare node:http hello world.
import { createServer } from 'node:http';
const body = Buffer.from('Hello, world!\\n');
createServer((_req, res) => {
  res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': body.length });
  res.end(body);
}).listen(Number(process.env.PORT), '127.0.0.1');
`;

interface Case {
  label: string;
  /** Arguments after `node`; PORT is in the environment and in `{{PORT}}`. */
  args: (dir: string) => string[];
  /** Worker processes to wait for (prefork). */
  workers: number;
  kind: 'baseline' | 'stackware';
}

const CASES: Case[] = [
  { label: 'bare node hello.mjs (node:http)', args: (dir) => [join(dir, 'bare.mjs')], workers: 0, kind: 'baseline' },
  { label: 'stackware serve hello.mjs', args: (dir) => [BIN, 'serve', join(dir, 'hello.mjs'), '--port', '{{PORT}}', '--no-access-log'], workers: 0, kind: 'stackware' },
  { label: 'stackware serve hello.mjs --workers 2', args: (dir) => [BIN, 'serve', join(dir, 'hello.mjs'), '--port', '{{PORT}}', '--no-access-log', '--workers', '2'], workers: 2, kind: 'stackware' },
  { label: 'stackware serve hello.mjs --threads 2', args: (dir) => [BIN, 'serve', join(dir, 'hello.mjs'), '--port', '{{PORT}}', '--no-access-log', '--threads', '2'], workers: 0, kind: 'stackware' },
  { label: 'stackware serve apps/hello/app.ts (TypeScript: tsx)', args: () => [BIN, 'serve', join(root, 'apps/hello/app.ts'), '--port', '{{PORT}}', '--no-access-log'], workers: 0, kind: 'stackware' },
];

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

function answers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: '/', agent: false, timeout: 2000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode === 200));
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}

/** The child processes of `pid` (/proc/<pid>/task/<tid>/children). */
function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

interface Start { cpuSeconds: number; rssMiB: number[] }

async function startOnce(c: Case, dir: string): Promise<Start> {
  const port = await freePort();
  const args = c.args(dir).map((a) => a.replace('{{PORT}}', String(port)));
  const child: ChildProcess = spawn(process.execPath, args, { cwd: dir, detached: true, stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, NODE_OPTIONS: '', PORT: String(port) } });
  const pid = child.pid!;
  try {
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`${c.label}: exited with ${child.exitCode} before answering`);
      if (Date.now() > deadline) throw new Error(`${c.label}: no answer within 60 s`);
      if (childrenOf(pid).length >= c.workers && (await answers(port))) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    // With prefork, every worker must be serving: ask until both have answered or 10 s passed.
    if (c.workers > 0) {
      const until = Date.now() + 10_000;
      while (Date.now() < until && childrenOf(pid).some((w) => cpuMicros(w) === 0)) await new Promise((r) => setTimeout(r, 20));
      for (let i = 0; i < 8; i++) await answers(port);
    }
    const pids = [pid, ...childrenOf(pid)];
    return { cpuSeconds: pids.reduce((sum, p) => sum + cpuMicros(p), 0) / 1e6, rssMiB: pids.map((p) => rssBytes(p) / 1024 / 1024) };
  } finally {
    const exited = new Promise((r) => child.once('exit', r));
    try { process.kill(-pid, 'SIGTERM'); } catch { /* gone */ }
    const timer = setTimeout(() => { try { process.kill(-pid, 'SIGKILL'); } catch { /* gone */ } }, 5000);
    await exited;
    clearTimeout(timer);
  }
}

async function main(): Promise<void> {
  // The command runs dist/: bring it up to date first (as the tests do).
  const build = spawnSync(process.execPath, [join(root, 'scripts/build-if-stale.mjs')], { stdio: 'inherit' });
  if (build.status !== 0) throw new Error('build failed');
  const dir = await mkdtemp(join(tmpdir(), 'stackware-bench-startup-'));
  try {
    await writeFile(join(dir, 'hello.mjs'), HELLO_APP);
    await writeFile(join(dir, 'bare.mjs'), BARE_NODE);
    const results: Array<{ c: Case; cpu: number; rss: number[] }> = [];
    for (const c of CASES) {
      const starts: Start[] = [];
      for (let i = 0; i < ROUNDS; i++) starts.push(await startOnce(c, dir));
      const processes = Math.max(...starts.map((s) => s.rssMiB.length));
      const rss = Array.from({ length: processes }, (_, i) => median(starts.map((s) => s.rssMiB[i] ?? 0)));
      results.push({ c, cpu: median(starts.map((s) => s.cpuSeconds)), rss });
    }
    const bare = results[0]!;
    const bareRss = bare.rss[0]!;
    console.log(`Start-up of the production path (compiled dist/, JavaScript hello), median of ${ROUNDS} start${ROUNDS > 1 ? 's' : ''}; CPU = user + system of every process until the first 200 answer; RSS of each process then.\n`);
    console.log(markdownTable(
      ['case', 'CPU to ready (s)', 'CPU ratio to bare', 'RSS per process (MiB)', 'largest RSS ratio to bare'],
      results.map(({ c, cpu, rss }) => [
        c.label,
        cpu.toFixed(2),
        (cpu / bare.cpu).toFixed(2),
        rss.map((m, i) => `${i === 0 ? (rss.length > 1 ? 'primary ' : '') : 'worker '}${m.toFixed(0)}`).join(', '),
        (Math.max(...rss) / bareRss).toFixed(2),
      ]),
    ));
    console.log('\nTargets (issue 17): each process ≤ 1.3× bare node\'s RSS; the CLI ready in ≤ 0.25 s of CPU.');
    const bars: ChartBar[] = results.map(({ c, rss }) => ({ label: c.label.replace('stackware serve ', ''), kind: c.kind, value: Math.max(...rss), ratio: Math.max(...rss) / bareRss }));
    emitFigures({ title: 'Start-up: largest RSS per process when ready', unit: 'MiB', higherIsBetter: false, bars });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
