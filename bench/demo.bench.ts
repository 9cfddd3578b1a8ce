/**
 * A realistic page, tracked (no peer, no goal): the demo site's home page (apps/demo) for a visitor
 * who has a session, through the whole demo stack as `stackware serve apps/demo/site.toml` runs it
 * (the bin on the compiled dist/; HTTP server → config → thread pool of 2 threads → exception
 * catcher → file sessions → error pages → URL map → URL parser → the Page servlet; access log on,
 * to a file). 16 visitors each first get their session cookie from /counter, then the load takes
 * them in turn on GET /. Prints requests/s, latency, the server process's CPU µs per request (every
 * thread of it) and its resident memory after the load. Loopback only; the data directory is a
 * temporary one; `--quick`: a 1 s load (proves the case runs).
 */
import { fileURLToPath } from 'node:url';
import { mkdtempSync, rmSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compare, emitFigures, fmtMs, fmtRps, markdownTable, startServerChild } from './lib/index.js';

const quick = process.argv.includes('--quick');
const bin = fileURLToPath(new URL('../packages/cli/bin/stackware.js', import.meta.url));
const site = fileURLToPath(new URL('../apps/demo/site.toml', import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'stackware-bench-demo-'));
const VISITORS = 16;

const built = spawnSync(process.execPath, [fileURLToPath(new URL('../scripts/build-if-stale.mjs', import.meta.url))], { stdio: ['ignore', 'inherit', 'inherit'] });
if (built.status !== 0) throw new Error('scripts/build-if-stale.mjs failed');

const server = await startServerChild(bin, ['serve', site], {
  loader: 'none',
  logFile: join(work, 'stdout.log'),
  startTimeoutMs: 180_000,
  env: { ...process.env, NODE_OPTIONS: '', PORT: '0', HOST: '127.0.0.1', STACKWARE_DATA_DIR: join(work, 'data') },
});
try {
  const cookies = await Promise.all(Array.from({ length: VISITORS }, async () => {
    const res = await fetch(`${server.url}/counter`);
    await res.arrayBuffer();
    const cookie = res.headers.getSetCookie()[0]?.split(';')[0];
    if (res.status !== 200 || !cookie) throw new Error(`/counter answered ${res.status} without a session cookie`);
    return cookie;
  }));
  const home = await fetch(`${server.url}/`, { headers: { cookie: cookies[0]! } });
  const page = await home.text();
  if (home.status !== 200 || !page.includes('</html>')) throw new Error(`/ answered ${home.status} (${page.length} bytes)`);
  const settings = quick ? { rounds: 1, durationS: 1, warmupS: 0 } : { rounds: 5, durationS: 3, warmupS: 3 };
  const [f] = await compare([{ label: 'demo home page', kind: 'baseline', url: server.url, path: '/', cookies, child: server }], { ...settings, connections: 16 });
  const rss = server.rssBytes() / 2 ** 20;
  process.stdout.write(`${quick ? 'Quick run (1 s, one round): proves the case runs; the figures mean nothing.' : `The median of ${settings.rounds} rounds of ${settings.durationS} s after a ${settings.warmupS} s warm-up.`} GET / (${Buffer.byteLength(page)} body bytes of HTML) with one of ${VISITORS} session cookies, autocannon 16 keep-alive connections.\n\n`);
  process.stdout.write(`### Demo home page with a session (tracked)\n\n${markdownTable(['case', 'req/s', 'p50 ms', 'p99 ms', 'server CPU µs/req', 'RSS MiB', 'errors'], [
    ['`stackware serve apps/demo/site.toml`, GET / with a session', fmtRps(f!.rps), fmtMs(f!.p50), fmtMs(f!.p99), f!.cpuMicrosPerRequest?.toFixed(0) ?? '–', rss.toFixed(1), f!.errors],
  ])}\n\n`);
  emitFigures({ title: 'Demo home page with a session (tracked)', unit: 'req/s', higherIsBetter: true, bars: [{ label: 'demo home page', kind: 'stackware', value: f!.rps, ratio: 1 }] });
  if (f!.errors > 0 || f!.rps <= 0) {
    process.stderr.write(`[demo] ${f!.errors} errors, ${f!.rps} req/s\n`);
    process.exitCode = 1;
  }
} finally {
  await server.stop();
  rmSync(work, { recursive: true, force: true });
}
