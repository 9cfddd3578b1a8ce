/**
 * Static files benchmark: a 1 KiB and a 1 MiB file served by @stackware/urlparser (urlParser
 * through @stackware/server), by express.static (serve-static, Express 5) and by nginx, in one run.
 * Ratios are against express.static and nginx measured in the same run. Each Node server runs in
 * its own process (as nginx does), so autocannon does not share their event loop. Loopback only,
 * bounded durations; `--quick` proves it runs (1 s per case).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { serve } from '../packages/server/src/index.js';
import { startNginx, tempDir } from '../packages/testing/src/index.js';
import { urlParser } from '../packages/urlparser/src/index.js';

const quick = process.argv.includes('--quick');
const durationS = quick ? 1 : 5;
const connections = 16;

// Express lives in packages/adapters, serve-static in packages/urlparser (devDependencies).
type Handler = (...args: unknown[]) => unknown;
interface ExpressApp { use(h: Handler): void; listen(port: number, host: string, cb: () => void): { address(): unknown } }
const express = createRequire(new URL('../packages/adapters/package.json', import.meta.url))('express') as (() => ExpressApp) & { static: (root: string) => Handler };
const serveStatic = createRequire(new URL('../packages/urlparser/package.json', import.meta.url))('serve-static') as (root: string) => Handler;

interface Figure { server: string; file: string; rps: number; mbps: number; p99: number; errors: number }

async function measure(server: string, url: string, file: string, bytes: number, seconds = durationS): Promise<Figure> {
  const result = await autocannon({ url, connections, duration: seconds });
  const wrongSize = result.requests.total > 0 && Math.abs(result.throughput.total / result.requests.total - bytes) > bytes * 0.5 + 512;
  return {
    server, file,
    rps: result.requests.average,
    mbps: result.throughput.average / (1024 * 1024),
    p99: result.latency.p99,
    errors: result.errors + result.non2xx + result.timeouts + (wrongSize ? 1 : 0),
  };
}

// Child mode: `--serve stackware|express <dir>` serves and prints its URL on stdout.
const serveIndex = process.argv.indexOf('--serve');
if (serveIndex !== -1) {
  const [kind, dir] = [process.argv[serveIndex + 1], process.argv[serveIndex + 2]!];
  if (kind === 'stackware' || kind === 'bytes') {
    // "bytes": the same server answering the same bytes from memory, to tell server cost from file cost.
    const small = Buffer.alloc(1024, 'a');
    const large = Buffer.alloc(1024 * 1024, 7);
    const memory = (environ: { PATH_INFO: string }, startResponse: (s: string, h: [string, string][]) => unknown) => {
      const body = environ.PATH_INFO === '/small.txt' ? small : large;
      startResponse('200 OK', [['Content-Type', 'application/octet-stream'], ['Content-Length', String(body.length)]]);
      return [body];
    };
    const running = await serve(kind === 'bytes' ? memory : urlParser({ root: dir }), { host: '127.0.0.1', port: 0, accessLog: false });
    process.stdout.write(`${running.url}\n`);
  } else {
    const app = express();
    app.use(serveStatic(dir));
    const server = app.listen(0, '127.0.0.1', () => process.stdout.write(`http://127.0.0.1:${(server.address() as { port: number }).port}\n`));
  }
  process.on('SIGTERM', () => process.exit(0));
} else {
  await main();
}

async function startChild(kind: string, dir: string): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', fileURLToPath(import.meta.url), '--serve', kind, dir], { stdio: ['ignore', 'pipe', 'inherit'] });
  const [line] = (await Promise.race([
    once(child.stdout!, 'data'),
    new Promise((_, reject) => setTimeout(() => reject(new Error(`${kind} server did not start within 30 s`)), 30_000).unref()),
  ])) as [Buffer];
  return { url: line.toString().trim(), child };
}

async function main(): Promise<void> {
const site = await tempDir('stackware-bench-static-');
await writeFile(join(site.dir, 'small.txt'), Buffer.alloc(1024, 'a'));
await writeFile(join(site.dir, 'large.bin'), Buffer.alloc(1024 * 1024, 7));
const files: Array<[string, string, number]> = [['1 KiB', '/small.txt', 1024], ['1 MiB', '/large.bin', 1024 * 1024]];

const stackware = await startChild('stackware', site.dir);
const memoryServer = await startChild('bytes', site.dir);
const expressChild = await startChild('express', site.dir);
const nginx = await startNginx(`server { listen 127.0.0.1:{{PORT}}; root ${site.dir}; location / { try_files $uri =404; } }`);

const figures: Figure[] = [];
try {
  for (const [name, path, bytes] of files) {
    for (const [server, base] of [['stackware urlParser', stackware.url], ['stackware server, bytes from memory', memoryServer.url], ['express.static', expressChild.url], ['nginx', nginx.url]] as const) {
      await measure(server, base + path, name, bytes, 1); // warm-up (JIT, page cache)
      figures.push(await measure(server, base + path, name, bytes));
    }
  }
} finally {
  for (const { child } of [stackware, memoryServer, expressChild]) {
    child.kill('SIGTERM');
    if (child.exitCode === null) await once(child, 'exit');
  }
  await nginx.stop();
  await site.cleanup();
}

console.log(`Static files benchmark: ${connections} connections, ${durationS} s per case, 127.0.0.1${quick ? ' (--quick)' : ''}\n`);
console.log('| file | server | requests/s | MiB/s | p99 ms | vs express.static | vs nginx | errors |');
console.log('|---|---|---:|---:|---:|---:|---:|---:|');
for (const f of figures) {
  const ex = figures.find((g) => g.file === f.file && g.server === 'express.static')!;
  const ng = figures.find((g) => g.file === f.file && g.server === 'nginx')!;
  console.log(`| ${f.file} | ${f.server} | ${f.rps.toFixed(0)} | ${f.mbps.toFixed(1)} | ${f.p99} | ${(f.rps / ex.rps).toFixed(2)} | ${(f.rps / ng.rps).toFixed(2)} | ${f.errors} |`);
}
if (figures.some((f) => f.errors > 0 || f.rps === 0)) {
  console.error('Some case had errors, wrong sizes or no responses');
  process.exitCode = 1;
}
}
