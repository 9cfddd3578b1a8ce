/**
 * @stackware/config overhead: the same hello response served (1) as a bare application, (2) as
 * the stack a deploy file builds — configuration filter + composite (urlMap, 4 mounts) + a
 * pipeline of two filters — and (3) that stack inside the live-reload wrapper, each by
 * @stackware/server's HTTP server in its own process; autocannon on 127.0.0.1, ratio to (1).
 * Also: the time to load and check the deploy file (median of 20). `--quick`: 1 s per case.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import type { Application, AppFactory, FilterFactory } from '../packages/gateway/src/index.js';
import { serve } from '../packages/server/src/index.js';
import { defineDeployment, LiveApplication, loadDeployment } from '../packages/config/src/index.js';

const BODY = Buffer.from('Hello, world!\n');
const hello: Application = (_environ, startResponse) => {
  startResponse('200 OK', [['Content-Type', 'text/plain; charset=utf-8'], ['Content-Length', String(BODY.length)]]);
  return [BODY];
};
const helloFactory: AppFactory = () => hello;
const passThrough: FilterFactory = () => (app) => (environ, startResponse) => app(environ, startResponse);

function stack() {
  return defineDeployment({
    main: 'root',
    defaults: { title: 'bench' },
    apps: { site: { use: helloFactory }, a: { use: helloFactory }, b: { use: helloFactory }, c: { use: helloFactory } },
    filters: { f1: { use: passThrough }, f2: { use: passThrough } },
    pipelines: { main: ['f1', 'f2', 'site'] },
    composites: { root: { '/': 'main', '/a': 'a', '/b': 'b', 'http://other.example/': 'c' } },
    locations: { '/docs': { title: 'docs' } },
  });
}

const CASES: Record<string, { label: string; app: () => Promise<Application> }> = {
  bare: { label: 'hello (bare application)', app: async () => hello },
  stack: { label: 'deploy-file stack: config filter + urlMap (4 mounts) + 2 filters', app: async () => stack().buildApplication() },
  live: { label: 'the same stack in LiveApplication (live reload)', app: async () => new LiveApplication(await stack().build()).app },
};

async function measure(name: string, seconds: number): Promise<{ rps: number; p50: number; p99: number; errors: number }> {
  const child = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', fileURLToPath(import.meta.url), '--serve', name], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${name} did not start`)), 30_000);
      child.stdout.once('data', (d: Buffer) => { clearTimeout(timer); resolve(Number(d.toString().trim())); });
    });
    const url = `http://127.0.0.1:${port}/page`;
    await autocannon({ url, connections: 32, duration: Math.min(1, seconds) }); // warm-up
    const r = await autocannon({ url, connections: 32, duration: seconds });
    return { rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, errors: r.errors + r.non2xx };
  } finally {
    child.kill('SIGKILL');
  }
}

async function loadTimeMs(): Promise<number> {
  const dir = await mkdtemp(join(tmpdir(), 'stackware-bench-config-'));
  try {
    const file = join(dir, 'site.toml');
    const lines = ['main = "root"', '[defaults]', 'title = "${BENCH_TITLE:-bench}"', '[composite.root]', '"/" = "main"'];
    for (let i = 0; i < 20; i++) lines.push(`"/m${i}" = "main"`);
    lines.push('[app.site]', 'use = "@stackware/middleware#urlMap"', 'mounts = {}', '[pipeline.main]', 'pipeline = ["site"]');
    for (let i = 0; i < 20; i++) lines.push(`[location."/m${i}"]`, `n = ${i}`);
    await writeFile(file, lines.join('\n'));
    const times: number[] = [];
    for (let i = 0; i < 20; i++) {
      const start = process.hrtime.bigint();
      await (await loadDeployment(file)).buildApplication();
      times.push(Number(process.hrtime.bigint() - start) / 1e6);
    }
    times.sort((a, b) => a - b);
    return times[10]!;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  if (args[0] === '--serve') {
    const running = await serve(await CASES[args[1]!]!.app(), { port: 0, accessLog: false });
    process.stdout.write(`${new URL(running.url).port}\n`);
    return;
  }
  const seconds = args.includes('--quick') ? 1 : 5;
  console.log(`Deploy-file stack overhead: GET /page, hello (${BODY.length} bytes), autocannon 32 connections, ${seconds} s per case, each server in its own process.\n`);
  console.log('| application | req/s | p50 ms | p99 ms | errors | ratio to bare |');
  console.log('|---|---:|---:|---:|---:|---:|');
  let baseline = 0;
  for (const [name, { label }] of Object.entries(CASES)) {
    const m = await measure(name, seconds);
    baseline ||= m.rps;
    console.log(`| ${label} | ${m.rps.toFixed(0)} | ${m.p50} | ${m.p99} | ${m.errors} | ${(m.rps / baseline).toFixed(2)} |`);
  }
  console.log(`\nLoad + check + build a deploy file (22 mounts, 20 locations), median of 20: ${(await loadTimeMs()).toFixed(2)} ms`);
}

await main();
