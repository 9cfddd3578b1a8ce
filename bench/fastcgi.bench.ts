/**
 * FastCGI vs HTTP behind nginx: the hello app served by `serveFastCGI` behind nginx
 * `fastcgi_pass` (upstream keep-alive, fastcgi_keep_conn on), against the HTTP server (`serve`)
 * behind nginx `proxy_pass` (upstream keep-alive, HTTP/1.1). One run, ratio printed.
 * Each Stackware server runs in its own child process (this file with `--serve <case>`), nginx
 * with one worker; autocannon loads nginx on 127.0.0.1 for a bounded time, in alternating rounds
 * (best round kept, as the machine is shared). `--quick` runs one 1 s round to prove it works.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import type { Application } from '../packages/gateway/src/index.js';
import { serve, serveFastCGI } from '../packages/server/src/index.js';
import { startNginx } from '../packages/testing/src/index.js';

const BODY = Buffer.from('Hello, world!\n');
const hello: Application = (_environ, startResponse) => {
  startResponse('200 OK', [['Content-Type', 'text/plain; charset=utf-8'], ['Content-Length', String(BODY.length)]]);
  return [BODY];
};

const CASES = {
  fastcgi: {
    label: 'nginx → FastCGI (serveFastCGI)',
    start: async () => (await serveFastCGI(hello, { port: 0 })).url,
    location: (upstream: string) => `include /etc/nginx/fastcgi_params; fastcgi_param SCRIPT_NAME ''; fastcgi_param PATH_INFO $uri; fastcgi_keep_conn on; fastcgi_pass ${upstream};`,
  },
  http: {
    label: 'nginx → HTTP proxy_pass (serve)',
    start: async () => (await serve(hello, { port: 0, accessLog: false })).url,
    location: (upstream: string) => `proxy_http_version 1.1; proxy_set_header Connection ""; proxy_set_header Host $host; proxy_pass http://${upstream};`,
  },
} as const;
type CaseName = keyof typeof CASES;

async function startChild(name: CaseName): Promise<{ child: ChildProcess; address: string }> {
  const child = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', fileURLToPath(import.meta.url), '--serve', name], { stdio: ['ignore', 'pipe', 'inherit'] });
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not start`)), 30_000);
    child.stdout!.once('data', (d: Buffer) => { clearTimeout(timer); resolve(d.toString().trim()); });
  });
  return { child, address: url.replace(/^\w+:\/\//, '') };
}

interface Running { url: string; stop(): Promise<void> }

/** Starts the Stackware server for `name` in a child process and nginx in front of it. */
async function startCase(name: CaseName): Promise<Running> {
  const { child, address } = await startChild(name);
  try {
    const nginx = await startNginx(`upstream app { server ${address}; keepalive 32; }
      server { listen 127.0.0.1:{{PORT}}; keepalive_requests 1000000; location / { ${CASES[name].location('app')} } }`);
    return { url: `${nginx.url}/`, stop: async () => { await nginx.stop(); child.kill('SIGKILL'); } };
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
}

type Figures = { rps: number; p50: number; p99: number; errors: number };

async function load(url: string, seconds: number): Promise<Figures> {
  const r = await autocannon({ url, connections: 32, duration: seconds });
  return { rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, errors: r.errors + r.non2xx };
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  if (args[0] === '--serve') {
    process.stdout.write(`${await CASES[args[1] as CaseName].start()}\n`);
    return;
  }
  const quick = args.includes('--quick');
  const seconds = quick ? 1 : 5;
  const rounds = quick ? 1 : 3;
  console.log(`Hello app (${BODY.length} bytes) behind nginx (1 worker, upstream keep-alive), autocannon 32 connections; ${rounds} round(s) of ${seconds} s per case, alternating, best round kept (the machine is shared); each Stackware server in its own process.\n`);
  const running = { http: await startCase('http'), fastcgi: await startCase('fastcgi') };
  const best: Partial<Record<CaseName, Figures>> = {};
  try {
    for (const name of ['http', 'fastcgi'] as const) await load(running[name].url, 1); // warm-up (JIT, upstream connections)
    for (let round = 0; round < rounds; round++) {
      for (const name of ['http', 'fastcgi'] as const) {
        const figures = await load(running[name].url, seconds);
        if (!best[name] || figures.rps > best[name]!.rps) best[name] = figures;
      }
    }
  } finally {
    await running.http.stop();
    await running.fastcgi.stop();
  }
  const http = best.http!;
  const fastcgi = best.fastcgi!;
  console.log('| path | req/s | p50 ms | p99 ms | errors | ratio to HTTP |');
  console.log('|---|---:|---:|---:|---:|---:|');
  console.log(`| ${CASES.http.label} | ${http.rps.toFixed(0)} | ${http.p50} | ${http.p99} | ${http.errors} | 1.00 |`);
  console.log(`| ${CASES.fastcgi.label} | ${fastcgi.rps.toFixed(0)} | ${fastcgi.p50} | ${fastcgi.p99} | ${fastcgi.errors} | ${(fastcgi.rps / http.rps).toFixed(2)} |`);
  const ratio = fastcgi.rps / http.rps;
  console.log(`\n- **Goal — FastCGI behind nginx:** ≥ 1.00× the HTTP proxy behind nginx; measured ${ratio.toFixed(2)}×: **${ratio >= 1 ? 'met' : 'not met'}** (server CPU per request: see the peers benchmark).`);
}

await main();
