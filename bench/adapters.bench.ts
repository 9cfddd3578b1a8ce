/**
 * Adapter overhead: the same hello response (same bytes) served natively by each framework and
 * through the Stackware adapter in that framework, one run, ratio printed per pair.
 * Each server runs in its own child process (this file with `--serve <case>`); autocannon loads
 * it on 127.0.0.1 for a bounded time. `--quick` runs 1 s per case to prove it works.
 */
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import express from 'express';
import { Hono } from 'hono';
import { serve as honoServe } from '@hono/node-server';
import Fastify from 'fastify';
import type { Application } from '../packages/gateway/src/index.js';
import { toNodeHandler, toFetchHandler, fromNodeHandler, stackwareFastify } from '../packages/adapters/src/index.js';

const BODY = Buffer.from('Hello, world!\n');
const hello: Application = (_environ, startResponse) => {
  startResponse('200 OK', [['Content-Type', 'text/plain; charset=utf-8'], ['Content-Length', String(BODY.length)]]);
  return [BODY];
};

type Start = () => Promise<number>;
const listenNode = (handler: Parameters<typeof createServer>[1]): Start => () => new Promise((resolve) => {
  const server = createServer(handler).listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port));
});

const CASES: Record<string, { label: string; start: Start }> = {
  'node-native': { label: 'node:http handler', start: listenNode((_req, res) => { res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': BODY.length }); res.end(BODY); }) },
  'node-adapter': { label: 'node:http + toNodeHandler(hello)', start: listenNode(toNodeHandler(hello)) },
  'express-native': {
    label: 'Express 5 route',
    start: () => { const app = express(); app.get('/', (_req, res) => { res.type('text/plain').send(BODY); }); return listenNode(app)(); },
  },
  'express-adapter': {
    label: 'Express 5 + app.use(toNodeHandler(hello))',
    start: () => { const app = express(); app.use(toNodeHandler(hello)); return listenNode(app)(); },
  },
  'express-inside': {
    label: 'Express 5 route inside Stackware (fromNodeHandler)',
    start: () => { const app = express(); app.get('/', (_req, res) => { res.type('text/plain').send(BODY); }); return listenNode(toNodeHandler(fromNodeHandler(app)))(); },
  },
  'hono-native': {
    label: 'Hono route',
    start: () => { const app = new Hono(); app.get('/', (c) => c.body(BODY, 200, { 'Content-Type': 'text/plain; charset=utf-8' })); return honoListen(app.fetch); },
  },
  'hono-adapter': {
    label: 'Hono + mount(toFetchHandler(hello))',
    start: () => { const app = new Hono(); app.mount('/', toFetchHandler(hello)); return honoListen(app.fetch); },
  },
  'fastify-native': {
    label: 'Fastify route',
    start: async () => { const f = Fastify(); f.get('/', (_req, reply) => reply.type('text/plain; charset=utf-8').send(BODY)); await f.listen({ port: 0, host: '127.0.0.1' }); return (f.server.address() as AddressInfo).port; },
  },
  'fastify-adapter': {
    label: 'Fastify + stackwareFastify(hello)',
    start: async () => { const f = Fastify(); await f.register(stackwareFastify, { app: hello }); await f.listen({ port: 0, host: '127.0.0.1' }); return (f.server.address() as AddressInfo).port; },
  },
};

function honoListen(fetch: (r: Request) => Response | Promise<Response>): Promise<number> {
  return new Promise((resolve) => {
    const server = honoServe({ fetch, port: 0, hostname: '127.0.0.1' }, (info) => resolve(info.port));
    void server;
  });
}

const PAIRS: Array<[string, string[]]> = [
  ['node-native', ['node-adapter']],
  ['express-native', ['express-adapter', 'express-inside']],
  ['hono-native', ['hono-adapter']],
  ['fastify-native', ['fastify-adapter']],
];

async function measure(name: string, seconds: number): Promise<{ rps: number; p50: number; p99: number; errors: number }> {
  const child = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', fileURLToPath(import.meta.url), '--serve', name], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${name} did not start`)), 30_000);
      child.stdout.once('data', (d: Buffer) => { clearTimeout(timer); resolve(Number(d.toString().trim())); });
    });
    const url = `http://127.0.0.1:${port}/`;
    await autocannon({ url, connections: 32, duration: Math.min(1, seconds) }); // warm-up
    const r = await autocannon({ url, connections: 32, duration: seconds });
    return { rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, errors: r.errors + r.non2xx };
  } finally {
    child.kill('SIGKILL');
  }
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  if (args[0] === '--serve') {
    const port = await CASES[args[1]!]!.start();
    process.stdout.write(`${port}\n`);
    return;
  }
  const seconds = args.includes('--quick') ? 1 : 5;
  console.log(`Adapter overhead: hello (${BODY.length} bytes), autocannon 32 connections, ${seconds} s per case, each server in its own process.\n`);
  console.log('| server | req/s | p50 ms | p99 ms | errors | ratio to native |');
  console.log('|---|---:|---:|---:|---:|---:|');
  for (const [base, others] of PAIRS) {
    const baseline = await measure(base, seconds);
    console.log(`| ${CASES[base]!.label} | ${baseline.rps.toFixed(0)} | ${baseline.p50} | ${baseline.p99} | ${baseline.errors} | 1.00 |`);
    for (const other of others) {
      const m = await measure(other, seconds);
      console.log(`| ${CASES[other]!.label} | ${m.rps.toFixed(0)} | ${m.p50} | ${m.p99} | ${m.errors} | ${(m.rps / baseline.rps).toFixed(2)} |`);
    }
  }
}

await main();
