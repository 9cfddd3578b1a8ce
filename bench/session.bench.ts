/**
 * Session benchmark: requests/s of a page that reads and writes a session (a per-visitor counter),
 * served by @stackware/server's HTTP server in a child process, with each store, against the same
 * page without a session. 64 visitors get their cookie first; autocannon's requests then take the
 * visitors in turn. Loopback only, bounded durations. `--quick` proves it runs (1 s per case).
 * The same file is the server: `session.bench.ts --serve <case> <redis url> <dir>`.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { text, type Application } from '../packages/gateway/src/index.js';
import { serve } from '../packages/server/src/index.js';
import { session, loadSession, MemoryStore, FileStore, RedisStore, type SessionStore } from '../packages/session/src/index.js';
import { startRedis, tempDir } from '../packages/testing/src/index.js';

const SECRET = 'bench-secret-0123456789-abcdefghijklmnop';

// autocannon ships no types (and @types/autocannon is not installed): the little used here, typed locally.
interface AutocannonRequest {
  setupRequest?: (req: Record<string, unknown>) => Record<string, unknown>;
  onResponse?: (status: number, body: string) => void;
}
interface AutocannonResult { requests: { average: number }; latency: { p99: number }; errors: number; non2xx: number }
type Autocannon = (options: { url: string; connections: number; duration: number; headers?: Record<string, string>; requests?: AutocannonRequest[] }) => Promise<AutocannonResult>;
const autocannonModule: string = 'autocannon';
const autocannon = ((await import(autocannonModule)) as { default: Autocannon }).default;

const CASES: Record<string, { label: string; store?: (redisUrl: string, dir: string) => SessionStore; lock?: boolean }> = {
  plain: { label: 'no session (baseline)' },
  memory: { label: 'memory store', store: () => new MemoryStore() },
  file: { label: 'file store (fsync)', store: (_u, dir) => new FileStore({ dir: `${dir}/file` }) },
  'file-nofsync': { label: 'file store (fsync: false)', store: (_u, dir) => new FileStore({ dir: `${dir}/nofsync`, fsync: false }) },
  'file-lock': { label: 'file store (fsync), lock: true', store: (_u, dir) => new FileStore({ dir: `${dir}/lock` }), lock: true },
  redis: { label: 'Redis store', store: (url) => new RedisStore({ url }) },
  'redis-lock': { label: 'Redis store, lock: true', store: (url) => new RedisStore({ url, keyPrefix: 'locked:' }), lock: true },
};

const counter: Application = async (environ, startResponse) => {
  const s = await loadSession(environ);
  const n = (s.get<number>('n') ?? 0) + 1;
  s.set('n', n);
  return text(`n=${n}\n`)(environ, startResponse);
};
const plain: Application = (environ, startResponse) => text('n=1\n')(environ, startResponse);

async function runServer(name: string, redisUrl: string, dir: string): Promise<void> {
  const c = CASES[name]!;
  const store = c.store?.(redisUrl, dir);
  const app = store ? session(counter, { secret: SECRET, store, lock: c.lock }) : plain;
  const server = await serve(app, { host: '127.0.0.1', port: 0, accessLog: false });
  process.stdout.write(`${server.url}\n`);
  process.once('SIGTERM', () => void server.close().then(() => store?.close?.()).finally(() => process.exit(0)));
}

interface Figure { label: string; rps: number; p99: number; errors: number; maxCount: number }

async function measure(name: string, seconds: number, redisUrl: string, dir: string, warmup: boolean): Promise<Figure> {
  const child = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', fileURLToPath(import.meta.url), '--serve', name, redisUrl, dir], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`server for ${name} did not start`)), 30_000);
      child.stdout.once('data', (d: Buffer) => { clearTimeout(timer); resolve(d.toString().trim()); });
      child.once('exit', () => { clearTimeout(timer); reject(new Error(`server for ${name} exited`)); });
    });
    const cookies: string[] = [];
    for (let i = 0; i < 64; i++) {
      const res = await fetch(`${url}/`);
      await res.text();
      const set = res.headers.getSetCookie()[0];
      if (set) cookies.push(set.split(';')[0]!);
    }
    let turn = 0;
    let maxCount = 0;
    // Warm the fresh server process (JIT) for a second before measuring (not in --quick: it only proves the cases run).
    if (warmup) await autocannon({ url: `${url}/`, connections: 16, duration: 1, headers: cookies.length ? { cookie: cookies[0]! } : {} });
    const result = await autocannon({
      url: `${url}/`,
      connections: 16,
      duration: seconds,
      requests: [{
        setupRequest: (req: Record<string, unknown>) => (cookies.length ? { ...req, headers: { ...(req.headers as object), cookie: cookies[turn++ % cookies.length] } } : req),
        onResponse: (_status: number, body: string) => {
          const m = /^n=(\d+)/.exec(body);
          if (m) maxCount = Math.max(maxCount, Number(m[1]));
        },
      }],
    });
    return { label: CASES[name]!.label, rps: result.requests.average, p99: result.latency.p99, errors: result.errors + result.non2xx, maxCount };
  } finally {
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  }
}

async function main(): Promise<void> {
  const quick = process.argv.includes('--quick');
  const seconds = quick ? 1 : 5;
  const redis = await startRedis();
  const files = await tempDir('stackware-bench-session-');
  const figures: Figure[] = [];
  try {
    for (const name of Object.keys(CASES)) figures.push(await measure(name, seconds, redis.url, files.dir, !quick));
  } finally {
    await redis.stop();
    await files.cleanup();
  }
  const base = figures[0]!.rps;
  console.log(`Session benchmark: server in a child process, 16 connections, 64 visitors taken in turn, ${seconds} s per case, 127.0.0.1${quick ? ' (--quick)' : ''}\n`);
  console.log('| case | requests/s | vs no session | p99 latency ms | errors | highest count seen |');
  console.log('|---|---:|---:|---:|---:|---:|');
  for (const f of figures) console.log(`| ${f.label} | ${f.rps.toFixed(0)} | ${(f.rps / base).toFixed(2)} | ${f.p99} | ${f.errors} | ${f.maxCount} |`);
  // A session case whose counters never passed 1 did not keep its sessions: its figure would be a lie.
  if (figures.some((f, i) => f.errors > 0 || (i > 0 && f.maxCount < 2))) {
    console.error('A case had errors, or its sessions were not kept');
    process.exitCode = 1;
  }
}

const serveAt = process.argv.indexOf('--serve');
if (serveAt !== -1) await runServer(process.argv[serveAt + 1]!, process.argv[serveAt + 2]!, process.argv[serveAt + 3]!);
else await main();
