/**
 * Stackware against its peers, side by side in one run on one machine:
 * - hello world (same body bytes everywhere): bare node:http (baseline), Stackware's HTTP server,
 *   Stackware with the default stack (errorCatcher → session, untouched → urlMap; access log off),
 *   the `stackware serve` command as users run it (the bin on the compiled dist/, a .mjs hello),
 *   with `--no-access-log` and with its shipped defaults (access log on, to a file; 30 s timeout),
 *   Express 5, Fastify 5, Hono on @hono/node-server; then the resident memory of each server and
 *   the goals of issue 21 measured in this run, each beside its target;
 * - a page that reads and writes a session (a per-visitor counter), both in Redis: Stackware
 *   (session + RedisStore on ioredis) against Express 5 + express-session + connect-redis (node-redis),
 *   both with the same semantics (1-day idle expiry renewed by every request, cookie re-sent);
 * - static files, 1 KiB and 1 MiB: express.static (baseline), Stackware `staticFiles`, sirv (on
 *   node:http), @fastify/static, nginx; each goal of issue 21 is printed beside its figure;
 * - a CPU-bound handler (~2 ms): on the server thread (baseline) vs threadPool with 2 threads;
 * - nginx in front: HTTP proxy_pass to `serve` (baseline) vs fastcgi_pass to `serveFastCGI`.
 *
 * Every Node server runs in its own process (this file with `--serve <case>`); nginx and Redis are
 * the real ones (@stackware/testing). autocannon runs in this process on 127.0.0.1, with a warm-up,
 * then rounds that alternate the cases of a group; each figure is the median of its rounds.
 * The machine's cores are shared by the load generator and the servers: compare ratios within a run.
 * `--quick`: 1 s loads, one round, no warm-up — proves every case runs. Any error or non-2xx answer
 * fails the benchmark (exit code 1).
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { writeFile } from 'node:fs/promises';
import { mkdtempSync, rmSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Application } from '@stackware/gateway';
import type { Case, CaseFigures, ServerChild } from './lib/index.js';
import { CPU_ITERATIONS_ENV, calibrate } from './lib/cpu-app.js';
// Server children import only what their case needs (memory is measured): the load generator and
// report helpers load in the parent only.
const lib = process.argv.includes('--serve') ? undefined : await import('./lib/index.js');
const { startServerChild, compare, emitFigures, markdownTable, fmtRps, fmtRatio, fmtMs } = lib ?? ({} as typeof import('./lib/index.js'));

const here = fileURLToPath(import.meta.url);
const bin = fileURLToPath(new URL('../packages/cli/bin/stackware.js', import.meta.url));
const helloMjs = fileURLToPath(new URL('./fixtures/hello.mjs', import.meta.url));
const cpuModule = fileURLToPath(new URL('./lib/cpu-app.ts', import.meta.url));
const SECRET = 'bench-secret-0123456789-abcdefghijklmnop';
const BODY = Buffer.from('Hello, world!\n');
const TYPE = 'text/plain; charset=utf-8';

const hello: Application = (_environ, startResponse) => {
  startResponse('200 OK', [['Content-Type', TYPE], ['Content-Length', String(BODY.length)]]);
  return [BODY];
};

function listenNode(handler: Parameters<typeof createServer>[1]): Promise<string> {
  return new Promise((resolve) => {
    const server = createServer(handler).listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`));
  });
}

async function stackware(app: Application, options: { timeoutMs?: number } = {}): Promise<string> {
  const { serve } = await import('@stackware/server');
  return (await serve(app, { host: '127.0.0.1', port: 0, accessLog: false, ...options })).url;
}

/** The session page: read the visitor's counter, add one, answer it. */
async function stackwareCounter(): Promise<Application> {
  const { loadSession } = await import('@stackware/session');
  return async (environ, startResponse) => {
    const s = await loadSession(environ);
    const n = (s.get<number>('n') ?? 0) + 1;
    s.set('n', n);
    const body = Buffer.from(`n=${n}\n`);
    startResponse('200 OK', [['Content-Type', TYPE], ['Content-Length', String(body.length)]]);
    return [body];
  };
}

/** Server side: start case `name` and print its URL (the first stdout line). */
const SERVERS: Record<string, (args: string[]) => Promise<string>> = {
  'node-hello': () => listenNode((_req, res) => { res.writeHead(200, { 'Content-Type': TYPE, 'Content-Length': BODY.length }); res.end(BODY); }),
  'stackware-hello': () => stackware(hello),
  'stackware-stack': async () => {
    const { errorCatcher } = await import('@stackware/errors');
    const { session } = await import('@stackware/session');
    const { urlMap } = await import('@stackware/middleware');
    return stackware(errorCatcher(session(urlMap({ '/': hello }), { secret: SECRET })));
  },
  'express-hello': async () => {
    const { default: express } = await import('express');
    const app = express();
    app.get('/', (_req, res) => { res.type(TYPE).send(BODY); });
    return listenNode(app);
  },
  'fastify-hello': async () => {
    const { default: Fastify } = await import('fastify');
    const f = Fastify();
    f.get('/', (_req, reply) => reply.type(TYPE).send(BODY));
    await f.listen({ port: 0, host: '127.0.0.1' });
    return `http://127.0.0.1:${(f.server.address() as AddressInfo).port}`;
  },
  'hono-hello': async () => {
    const { Hono } = await import('hono');
    const { serve } = await import('@hono/node-server');
    const app = new Hono();
    app.get('/', (c) => c.body(BODY, 200, { 'Content-Type': TYPE }));
    return new Promise((resolve) => {
      serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, (info) => resolve(`http://127.0.0.1:${info.port}`));
    });
  },
  'stackware-session': async ([redisUrl]) => {
    const { errorCatcher } = await import('@stackware/errors');
    const { session, RedisStore } = await import('@stackware/session');
    const { urlMap } = await import('@stackware/middleware');
    const store = new RedisStore({ url: redisUrl! });
    return stackware(errorCatcher(session(urlMap({ '/': await stackwareCounter() }), { secret: SECRET, store })));
  },
  'express-session': async ([redisUrl]) => {
    const { default: express } = await import('express');
    const { default: expressSession } = await import('express-session');
    const { RedisStore } = await import('connect-redis');
    const { createClient } = await import('redis');
    const client = createClient({ url: redisUrl! });
    await client.connect();
    const app = express();
    // Same semantics as Stackware's defaults: 1-day idle expiry renewed (and the cookie re-sent) on every request.
    app.use(expressSession({ store: new RedisStore({ client }), secret: SECRET, resave: false, saveUninitialized: false, rolling: true, cookie: { maxAge: 86_400_000, httpOnly: true, sameSite: 'lax' } }));
    app.get('/', (req, res) => {
      const s = req.session as unknown as { n?: number };
      s.n = (s.n ?? 0) + 1;
      res.type(TYPE).send(Buffer.from(`n=${s.n}\n`));
    });
    return listenNode(app);
  },
  'stackware-static': async ([dir]) => {
    const { staticFiles } = await import('@stackware/urlparser');
    return stackware(staticFiles({ root: dir! }));
  },
  'express-static': async ([dir]) => {
    const { default: express } = await import('express');
    const app = express();
    app.use(express.static(dir!));
    return listenNode(app);
  },
  'sirv-static': async ([dir]) => {
    const { default: sirv } = await import('sirv');
    // Production mode (dev: false, the default): sirv stats every file once at start-up and keeps the headers.
    const serveDir = sirv(dir!, { etag: true });
    return listenNode((req, res) => serveDir(req, res, () => { res.statusCode = 404; res.end(); }));
  },
  'fastify-static': async ([dir]) => {
    const { default: Fastify } = await import('fastify');
    const { default: fastifyStatic } = await import('@fastify/static');
    const f = Fastify();
    await f.register(fastifyStatic, { root: dir! });
    await f.listen({ port: 0, host: '127.0.0.1' });
    return `http://127.0.0.1:${(f.server.address() as AddressInfo).port}`;
  },
  'cpu-inline': async () => {
    const { cpu } = await import('./lib/cpu-app.js');
    return stackware(cpu, { timeoutMs: 0 });
  },
  'cpu-pool': async () => {
    const { threadPool } = await import('@stackware/threadpool');
    const pool = threadPool({ module: cpuModule, export: 'cpu', threads: 2 });
    await pool.ready();
    return stackware(pool, { timeoutMs: 0 });
  },
  // Hello through the thread pool (apps/hello/app.ts in 2 threads): profiled by profiles.bench.ts.
  'pool-hello': async () => {
    const { threadPool } = await import('@stackware/threadpool');
    const pool = threadPool({ module: fileURLToPath(new URL('../apps/hello/app.ts', import.meta.url)), threads: 2 });
    await pool.ready();
    return stackware(pool, { timeoutMs: 0 });
  },
  fastcgi: async () => {
    const { serveFastCGI } = await import('@stackware/server');
    return (await serveFastCGI(hello, { host: '127.0.0.1', port: 0 })).url;
  },
};

// ---------------------------------------------------------------------------------------------

const quick = process.argv.includes('--quick');
const settings = quick ? { rounds: 1, durationS: 1, warmupS: 0 } : { rounds: 5, durationS: 3, warmupS: 2 };
const children: ServerChild[] = [];
const cleanups: Array<() => Promise<void>> = [];
let failures = 0;

async function child(name: string, args: string[] = [], env?: NodeJS.ProcessEnv): Promise<ServerChild> {
  const c = await startServerChild(here, ['--serve', name, ...args], env ? { env } : {});
  children.push(c);
  return c;
}

/**
 * `stackware serve bench/fixtures/hello.mjs --host 127.0.0.1 --port 0 ...args` as users run it: the
 * bin on the compiled dist/ (built first if stale), plain node, its stdout (the log) to a file.
 */
async function cliChild(args: string[]): Promise<ServerChild> {
  const logs = mkdtempSync(join(tmpdir(), 'stackware-bench-log-'));
  cleanups.push(async () => rmSync(logs, { recursive: true, force: true }));
  const c = await startServerChild(bin, ['serve', helloMjs, '--host', '127.0.0.1', '--port', '0', ...args], {
    loader: 'none', logFile: join(logs, 'stdout.log'), env: { ...process.env, NODE_OPTIONS: '' },
  });
  children.push(c);
  return c;
}

/** `pnpm build` of the packages whose dist/ is older than their sources (the bin runs dist/). */
function buildIfStale(): void {
  const r = spawnSync(process.execPath, [fileURLToPath(new URL('../scripts/build-if-stale.mjs', import.meta.url))], { stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.status !== 0) throw new Error(`scripts/build-if-stale.mjs failed (${r.status ?? r.signal})`);
}

function log(message: string): void {
  process.stderr.write(`[peers] ${message}\n`);
}

/** Prints a group's table, records its chart figures, counts errors as failures. */
function report(title: string, note: string, figures: CaseFigures[], chartTitle = title, cpuPanel = false): void {
  const rows = figures.map((f) => [
    f.kind === 'stackware' ? `**${f.label}**` : f.label,
    fmtRps(f.rps), f.kind === 'baseline' ? '1.00× (baseline)' : fmtRatio(f.ratio), fmtMs(f.p50), fmtMs(f.p99),
    f.cpuMicrosPerRequest === undefined ? '–' : f.cpuMicrosPerRequest.toFixed(0),
    Math.round(f.bytesPerRequest), f.errors,
  ]);
  process.stdout.write(`### ${title}\n\n${note}\n\n${markdownTable(['server', 'req/s', 'ratio', 'p50 ms', 'p99 ms', 'server CPU µs/req', 'bytes/response', 'errors'], rows)}\n\n`);
  emitFigures({ title: chartTitle, unit: 'req/s', higherIsBetter: true, bars: figures.map((f) => ({ label: f.label, kind: f.kind, value: f.rps, ratio: f.ratio })) });
  const base = figures.find((f) => f.kind === 'baseline')?.cpuMicrosPerRequest;
  if (cpuPanel && base && figures.every((f) => f.cpuMicrosPerRequest !== undefined)) {
    emitFigures({ title: `${chartTitle}: server CPU time per request`, unit: 'µs/req', higherIsBetter: false, bars: figures.map((f) => ({ label: f.label, kind: f.kind, value: f.cpuMicrosPerRequest!, ratio: f.cpuMicrosPerRequest! / base })) });
  }
  for (const f of figures) if (f.errors > 0 || f.rps <= 0) { failures++; log(`${title}: ${f.label} had ${f.errors} errors, ${f.rps} req/s`); }
}

async function stopAll(): Promise<void> {
  await Promise.allSettled(children.splice(0).map((c) => c.stop()));
  for (const cleanup of cleanups.splice(0).toReversed()) await cleanup().catch((e: unknown) => log(`cleanup: ${String(e)}`));
}

const onRun = (label: string, round: number, r: { rps: number; errors: number }) => log(`${label} round ${round + 1}: ${Math.round(r.rps)} req/s, ${r.errors} errors`);
const common = { ...settings, onRun };

/** Fetches once and checks the body (same bytes everywhere); returns the cookie a visitor got, if any. */
async function check(url: string, expected?: Buffer, cookie?: string): Promise<string | undefined> {
  const res = await fetch(url, cookie ? { headers: { cookie } } : {});
  const body = Buffer.from(await res.arrayBuffer());
  if (res.status !== 200) throw new Error(`${url}: status ${res.status}`);
  if (expected && !body.equals(expected)) throw new Error(`${url}: body differs (${body.length} bytes, expected ${expected.length})`);
  return res.headers.getSetCookie()[0]?.split(';')[0];
}

/** The `stackware serve` cases of the hello group: not `--serve` children of this file but the bin. */
const CLI_CASES: Record<string, string[]> = {
  'cli-hello': ['--no-access-log'],
  'cli-defaults': [],
};

async function helloGroup(): Promise<void> {
  const spec: Array<[string, Case['kind'], string]> = [
    ['node-hello', 'baseline', 'bare node:http'],
    ['stackware-hello', 'stackware', 'Stackware serve(hello)'],
    ['stackware-stack', 'stackware', 'Stackware + errorCatcher, session, urlMap'],
    ['cli-hello', 'stackware', 'stackware serve hello.mjs --no-access-log'],
    ['cli-defaults', 'stackware', 'stackware serve hello.mjs (defaults: access log)'],
    ['express-hello', 'peer', 'Express 5'],
    ['fastify-hello', 'peer', 'Fastify 5'],
    ['hono-hello', 'peer', 'Hono on @hono/node-server'],
  ];
  buildIfStale();
  const servers = await Promise.all(spec.map(([name]) => (CLI_CASES[name] ? cliChild(CLI_CASES[name]) : child(name))));
  for (const s of servers) await check(s.url + '/', BODY);
  const figures = await compare(spec.map(([, kind, label], i) => ({ label, kind, url: servers[i]!.url, child: servers[i] })), common);
  report('Hello world', `"${BODY.toString().trim()}\\n" (${BODY.length} body bytes) from every server; autocannon 32 keep-alive connections. Response heads differ by framework defaults (Express adds ETag and X-Powered-By): see bytes/response. Server CPU µs/req (the server process's CPU time over a round divided by its requests) is the steadier figure on a shared machine: requests/s also depends on how much CPU the scheduler gives each process.`, figures, 'Hello world', true);
  const rss = servers.map((s) => s.rssBytes() / 2 ** 20);
  const rows = spec.map(([, kind, label], i) => [kind === 'stackware' ? `**${label}**` : label, rss[i]!.toFixed(1), kind === 'baseline' ? '1.00× (baseline)' : fmtRatio(rss[i]! / rss[0]!)]);
  process.stdout.write(`### Memory\n\nResident set size (VmRSS) of each hello server process right after its hello runs.\n\n${markdownTable(['server', 'RSS MiB', 'ratio'], rows)}\n\n`);
  emitFigures({ title: 'Memory after the hello runs (RSS)', unit: 'MiB', higherIsBetter: false, bars: spec.map(([, kind, label], i) => ({ label, kind, value: rss[i]!, ratio: rss[i]! / rss[0]! })) });
  const by = (name: string) => { const i = spec.findIndex(([n]) => n === name); return { f: figures[i]!, rss: rss[i]! }; };
  helloGoals(by('node-hello'), by('stackware-hello'), by('stackware-stack'), by('cli-hello'), by('cli-defaults'), by('fastify-hello'));
  await stopAll();
}

/** The goals of issue 21 that the hello group measures, each beside its target ("met?" yes/no). */
function helloGoals(...[node, serve, stack, cli, defaults, fastify]: Array<{ f: CaseFigures; rss: number }>): void {
  const cpu = (x: { f: CaseFigures }) => x.f.cpuMicrosPerRequest ?? NaN;
  const us = (v: number) => `${v >= 0 ? '+' : ''}${v.toFixed(1)} µs`;
  const rows: Array<[string, string, string, boolean]> = [
    ['Hello: `stackware serve` req/s against Fastify', '≥ 1.00×', fmtRatio(cli!.f.rps / fastify!.f.rps), cli!.f.rps >= fastify!.f.rps],
    ['Hello: `stackware serve` CPU/request over bare node:http', '≤ +3 µs', us(cpu(cli!) - cpu(node!)), cpu(cli!) - cpu(node!) <= 3],
    ['Hello: `serve()` in code, req/s against Fastify (tracked)', '≥ 1.00×', fmtRatio(serve!.f.rps / fastify!.f.rps), serve!.f.rps >= fastify!.f.rps],
    ['Hello: `serve()` in code, CPU/request over bare node:http (tracked)', '≤ +3 µs', us(cpu(serve!) - cpu(node!)), cpu(serve!) - cpu(node!) <= 3],
    ['Defaults as shipped: `stackware serve` with its access log, req/s against bare node:http', '≥ 0.85×', fmtRatio(defaults!.f.rps / node!.f.rps), defaults!.f.rps >= 0.85 * node!.f.rps],
    ['Default stack: CPU/request over bare `serve()`', '≤ +5 µs', us(cpu(stack!) - cpu(serve!)), cpu(stack!) - cpu(serve!) <= 5],
    ['Default stack: RSS against bare `serve()`', '≤ 1.15×', fmtRatio(stack!.rss / serve!.rss), stack!.rss <= 1.15 * serve!.rss],
  ];
  process.stdout.write(`### Goals (issue 21): hello, defaults, default stack\n\nEach figure from the hello runs above (medians of the same rounds; CPU µs/request is the server process's CPU time per request, the steadier figure on a shared machine).\n\n${markdownTable(['goal', 'target', 'measured', 'met?'], rows.map(([g, t, m, ok]) => [g, t, m, ok ? 'yes' : '**no**']), ['l', 'r', 'r', 'l'])}\n\n`);
}

async function sessionGroup(): Promise<void> {
  const { startRedis } = await import('@stackware/testing');
  const redis = await startRedis();
  cleanups.push(() => redis.stop());
  const [express, sw] = await Promise.all([child('express-session', [redis.url]), child('stackware-session', [redis.url])]);
  // 64 visitors each get their cookie first; the load then takes the visitors in turn.
  const visitors = async (url: string) => Promise.all(Array.from({ length: 64 }, async () => (await check(url + '/'))!));
  const [expressCookies, swCookies] = [await visitors(express!.url), await visitors(sw!.url)];
  if (expressCookies.some((c) => !c) || swCookies.some((c) => !c)) throw new Error('a session server set no cookie');
  const figures = await compare([
    { label: 'Express 5 + express-session + connect-redis', kind: 'baseline', url: express!.url, cookies: expressCookies, child: express },
    { label: 'Stackware + errorCatcher, session (RedisStore), urlMap', kind: 'stackware', url: sw!.url, cookies: swCookies, child: sw },
  ], common);
  // The counters prove each request read and wrote its visitor's session.
  const after = Number((await (await fetch(sw!.url + '/', { headers: { cookie: swCookies[0]! } })).text()).replace('n=', ''));
  if (!(after > 2)) throw new Error(`the Stackware session counter did not grow (n=${after})`);
  report('Session read + write (Redis)', 'A page that increments a per-visitor counter in its session; 64 visitors with cookies, taken in turn; one local Redis for both. Stackware\'s RedisStore uses ioredis, connect-redis uses node-redis (its supported client); both renew a 1-day idle expiry and re-send the cookie on every request.', figures, 'Session read + write (Redis store)', true);
  const [expressFigure, swFigure] = figures;
  process.stdout.write(`Goal (issue 21): Stackware ≥ 2.00× express-session + connect-redis in requests/s — measured ${fmtRatio(swFigure!.ratio)} (${swFigure!.ratio >= 2 ? 'met' : 'NOT met'}); server CPU ${swFigure!.cpuMicrosPerRequest?.toFixed(0) ?? '–'} vs ${expressFigure!.cpuMicrosPerRequest?.toFixed(0) ?? '–'} µs/req.\n\n`);
  await stopAll();
}

/** Prints a goal of issue 21 beside the figure measured for it, with met / not met. */
function goal(name: string, target: string, measured: string, met: boolean): void {
  process.stdout.write(`- **Goal — ${name}:** ${target}; measured ${measured}: **${met ? 'met' : 'not met'}**.\n`);
}

async function staticGroup(): Promise<void> {
  const { startNginx, tempDir } = await import('@stackware/testing');
  const files = await tempDir('stackware-bench-static-');
  cleanups.push(() => files.cleanup());
  const small = Buffer.alloc(1024, 'a');
  const large = Buffer.alloc(1024 * 1024, 7);
  await writeFile(join(files.dir, 'small.txt'), small);
  await writeFile(join(files.dir, 'large.bin'), large);
  const [express, sw, sirv, fastify] = await Promise.all(['express-static', 'stackware-static', 'sirv-static', 'fastify-static'].map((name) => child(name, [files.dir])));
  const nginx = await startNginx(`server { listen 127.0.0.1:{{PORT}}; keepalive_requests 1000000; sendfile on; tcp_nopush on; root ${files.dir}; location / { } }`);
  cleanups.push(() => nginx.stop());
  for (const [path, bytes, connections, name] of [['/small.txt', small, 32, '1 KiB'], ['/large.bin', large, 8, '1 MiB']] as const) {
    for (const url of [express!.url, sw!.url, sirv!.url, fastify!.url, nginx.url]) await check(url + path, bytes);
    const figures = await compare([
      { label: 'express.static', kind: 'baseline', url: express!.url, path, child: express },
      { label: 'Stackware staticFiles', kind: 'stackware', url: sw!.url, path, child: sw },
      { label: 'sirv (node:http)', kind: 'peer', url: sirv!.url, path, child: sirv },
      { label: '@fastify/static', kind: 'peer', url: fastify!.url, path, child: fastify },
      { label: 'nginx (1 worker, sendfile)', kind: 'peer', url: nginx.url, path },
    ], { ...common, connections });
    report(`Static file, ${name}`, `GET ${path} (${bytes.length} bytes), autocannon ${connections} keep-alive connections; the same file for all five. sirv in production mode (stats cached at start-up); Stackware's parser caches stats (and a small file's bytes) kept true by a directory watcher.`, figures);
    const ours = figures.find((f) => f.kind === 'stackware')!;
    const toNginx = ours.rps / figures.at(-1)!.rps;
    if (name === '1 KiB') {
      goal('static 1 KiB CPU', '≤ 40 µs server CPU per request', `${ours.cpuMicrosPerRequest?.toFixed(0) ?? '–'} µs`, (ours.cpuMicrosPerRequest ?? Infinity) <= 40);
      goal('static 1 KiB vs nginx', '≥ 0.50× nginx requests/s', `${toNginx.toFixed(2)}×`, toNginx >= 0.5);
    } else {
      goal('static 1 MiB vs nginx', '≥ 0.80× nginx requests/s', `${toNginx.toFixed(2)}×`, toNginx >= 0.8);
    }
    process.stdout.write('\n');
  }
  await stopAll();
}

async function cpuGroup(): Promise<void> {
  const iterations = calibrate(2);
  const env = { ...process.env, [CPU_ITERATIONS_ENV]: String(iterations) };
  const [inline, pooled] = await Promise.all([child('cpu-inline', [], env), child('cpu-pool', [], env)]);
  const figures = await compare([
    { label: 'on the server thread', kind: 'baseline', url: inline!.url, child: inline },
    { label: 'threadPool, 2 threads', kind: 'stackware', url: pooled!.url, child: pooled },
  ], { ...common, connections: 16 });
  report('CPU-bound handler (~2 ms)', `${iterations.toLocaleString('en-US')} rounds of integer mixing per request (calibrated here, before the load, to ~2 ms of CPU time; under load each request costs more: see server CPU µs/req), served by Stackware's HTTP server; autocannon 16 connections. On an idle 2-core machine 2 threads can at best roughly double the in-process figure (the load generator needs CPU too); on a machine busy with other work, a process with 3 runnable threads also gets a larger share of the CPU than one with a single thread, so the ratio can go higher.`, figures);
  await stopAll();
}

async function fastcgiGroup(): Promise<void> {
  const { startNginx } = await import('@stackware/testing');
  const [http, fcgi] = await Promise.all([child('stackware-hello'), child('fastcgi')]);
  const address = (u: string) => u.replace(/^\w+:\/\//, '');
  const proxy = await startNginx(`upstream app { server ${address(http!.url)}; keepalive 32; }
    server { listen 127.0.0.1:{{PORT}}; keepalive_requests 1000000; location / { proxy_http_version 1.1; proxy_set_header Connection ""; proxy_set_header Host $host; proxy_pass http://app; } }`);
  cleanups.push(() => proxy.stop());
  const fastcgi = await startNginx(`upstream app { server ${address(fcgi!.url)}; keepalive 32; }
    server { listen 127.0.0.1:{{PORT}}; keepalive_requests 1000000; location / { include /etc/nginx/fastcgi_params; fastcgi_param SCRIPT_NAME ''; fastcgi_param PATH_INFO $uri; fastcgi_keep_conn on; fastcgi_pass app; } }`);
  cleanups.push(() => fastcgi.stop());
  for (const u of [proxy.url, fastcgi.url]) await check(u + '/', BODY);
  const figures = await compare([
    { label: 'nginx → HTTP proxy_pass → serve', kind: 'baseline', url: proxy.url, child: http },
    { label: 'nginx → FastCGI → serveFastCGI', kind: 'stackware', url: fastcgi.url, child: fcgi },
  ], common);
  report('Behind nginx: FastCGI vs HTTP proxy', 'The hello app behind nginx (1 worker, upstream keep-alive 32 connections, `fastcgi_keep_conn on` for FastCGI, client keep-alive not capped at the default 1000 requests per connection); autocannon 32 connections to nginx. Server CPU: the Stackware process only (nginx not counted).', figures, 'Behind nginx: FastCGI vs HTTP proxy', true);
  const [viaHttp, viaFastcgi] = figures;
  goal('FastCGI behind nginx', '≥ 1.00× the HTTP proxy behind nginx (requests/s)', `${viaFastcgi!.ratio.toFixed(2)}× (server CPU ${viaFastcgi!.cpuMicrosPerRequest?.toFixed(0) ?? '–'} vs ${viaHttp!.cpuMicrosPerRequest?.toFixed(0) ?? '–'} µs/req)`, viaFastcgi!.ratio >= 1);
  process.stdout.write('\n');
  await stopAll();
}

async function main(): Promise<void> {
  process.stdout.write(`${quick ? 'Quick run (1 s, one round, no warm-up): proves every case runs; the figures mean nothing.' : `Each figure: the median of ${settings.rounds} rounds of ${settings.durationS} s after a ${settings.warmupS} s warm-up per server; the rounds alternate the cases of a group.`} Ratios are to the group's baseline, measured in the same run. The load generator (autocannon) shares the machine's cores with the servers.\n\n`);
  const groups: Array<[string, () => Promise<void>]> = [['hello', helloGroup], ['session', sessionGroup], ['static', staticGroup], ['cpu', cpuGroup], ['fastcgi', fastcgiGroup]];
  const only = process.argv.slice(2).filter((a) => !a.startsWith('--'));
  for (const [name, run] of groups) {
    if (only.length > 0 && !only.includes(name)) continue;
    try {
      await run();
    } catch (error) {
      failures++;
      log(`${name} failed: ${error instanceof Error ? error.stack : String(error)}`);
      process.stdout.write(`### ${name}\n\nFAILED: ${error instanceof Error ? error.message : String(error)}\n\n`);
      await stopAll();
    }
  }
  if (failures > 0) process.exitCode = 1;
}

const serveAt = process.argv.indexOf('--serve');
if (serveAt !== -1) {
  const name = process.argv[serveAt + 1]!;
  const start = SERVERS[name];
  if (!start) throw new Error(`unknown case ${name}; one of ${Object.keys(SERVERS).join(', ')}`);
  process.stdout.write(`${await start(process.argv.slice(serveAt + 2))}\n`);
  process.once('SIGTERM', () => process.exit(0));
} else {
  await main();
}
