/**
 * Metrics benchmark (issue 23): the server's CPU time per request for the hello app with metrics
 * off (the shipped default: `operations()` is undefined, prom-client is not loaded) and on
 * (`installMetrics()` before the server starts, as `--metrics` does: each request is counted and
 * timed in the histogram), beside bare node:http — one server process each, the same load
 * generator, rounds alternating the cases. Goals: off costs nothing measurable over the server
 * without the feature (the off path is one property check when the server is created and one
 * optional call per request); on costs ≤ 2 µs of CPU per request. On a shared machine requests/s is
 * noise: compare the CPU µs per request of the cases within one run.
 * Loopback only, bounded durations; `--quick` proves it runs (1 s per case).
 * The same file is the server: `metrics.bench.ts --serve <case>`.
 */
import { fileURLToPath } from 'node:url';
import { createServer } from 'node:http';
import { announce, compare, emitFigures, markdownTable, startServerChild, type Case, type ServerChild } from './lib/index.js';

const BODY = Buffer.from('Hello, world!\n');

const CASES: Record<string, { label: string; kind: Case['kind']; start(): Promise<string> }> = {
  bare: {
    label: 'bare node:http handler (baseline)',
    kind: 'baseline',
    start: () => new Promise((resolve) => {
      const server = createServer((_req, res) => {
        res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': BODY.length });
        res.end(BODY);
      });
      server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as { port: number }).port}`));
    }),
  },
  off: {
    label: '@stackware/server, hello, metrics off (default)',
    kind: 'stackware',
    start: async () => {
      const { serve } = await import('../packages/server/src/index.js');
      const hello = (await import('../apps/hello/app.js')).default;
      return (await serve(hello, { port: 0, accessLog: false })).url;
    },
  },
  on: {
    label: '@stackware/server, hello, metrics on (--metrics)',
    kind: 'stackware',
    start: async () => {
      const { installMetrics } = await import('../packages/server/src/metrics/index.js');
      installMetrics();
      const { serve } = await import('../packages/server/src/index.js');
      const hello = (await import('../apps/hello/app.js')).default;
      return (await serve(hello, { port: 0, accessLog: false })).url;
    },
  },
};

if (process.argv[2] === '--serve') {
  const url = await CASES[process.argv[3]!]!.start();
  announce(url);
} else {
  const quick = process.argv.includes('--quick');
  const children: ServerChild[] = [];
  try {
    const cases: Case[] = [];
    for (const [name, c] of Object.entries(CASES)) {
      const child = await startServerChild(fileURLToPath(import.meta.url), ['--serve', name]);
      children.push(child);
      cases.push({ label: c.label, kind: c.kind, url: child.url, path: '/', child });
    }
    const figures = await compare(cases, quick ? { rounds: 1, durationS: 1, warmupS: 1 } : { rounds: 4, durationS: 4, warmupS: 2 });
    const cpu = (label: string) => figures.find((f) => f.label === label)?.cpuMicrosPerRequest;
    const off = cpu(CASES.off!.label);
    const on = cpu(CASES.on!.label);
    const fmt = (v: number | undefined) => (v === undefined ? 'n/a' : v.toFixed(1));
    process.stdout.write(`${markdownTable(['case', 'requests/s', 'CPU µs/request'], figures.map((f) => [f.label, Math.round(f.rps), fmt(f.cpuMicrosPerRequest)]))}\n\n`);
    process.stdout.write(`metrics on − off: ${off !== undefined && on !== undefined ? (on - off).toFixed(1) : 'n/a'} µs of CPU per request (goal: ≤ 2 µs); off is the shipped default (goal: nothing measurable — no prom-client, one optional call per request)\n`);
    emitFigures({ title: 'Metrics off / on (hello, CPU µs per request)', unit: 'µs', higherIsBetter: false, bars: figures.map((f) => ({ label: f.label, kind: f.kind, value: f.cpuMicrosPerRequest ?? 0, ratio: (f.cpuMicrosPerRequest ?? 0) / (cpu(CASES.bare!.label) || 1) })) });
  } finally {
    await Promise.all(children.map((c) => c.stop()));
  }
}
