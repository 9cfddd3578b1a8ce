/**
 * Server benchmark: requests/s of the hello app (apps/hello/app.ts) on @stackware/server's HTTP
 * server against a bare node:http handler that writes the same response — same process model (one
 * server process, spawned), same load generator (autocannon, keep-alive, in this process), same
 * connections and duration. Rounds alternate the servers so drift on a shared machine hits both.
 * Loopback only, bounded durations; `--quick` proves it runs (1 s per case).
 * The same file is the server: `server.bench.ts --serve <case>`.
 */
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import { fileURLToPath } from 'node:url';
import { createWriteStream } from 'node:fs';
import hello from '../apps/hello/app.js';
import { createLogger, serve } from '../packages/server/src/index.js';

interface AutocannonResult { requests: { average: number }; latency: { p99: number }; errors: number; non2xx: number; timeouts: number }
type Autocannon = (options: { url: string; connections: number; duration: number }) => Promise<AutocannonResult>;
const autocannonModule: string = 'autocannon';
const autocannon = ((await import(autocannonModule)) as { default: Autocannon }).default;

const BODY = Buffer.from('Hello, world!\n');

const CASES: Record<string, { label: string; start(): Promise<string> }> = {
  bare: {
    label: 'bare node:http handler (baseline)',
    start: () => new Promise((resolve) => {
      const server = createServer((_req, res) => {
        res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': BODY.length });
        res.end(BODY);
      });
      server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as { port: number }).port}/`));
    }),
  },
  stackware: {
    label: '@stackware/server, hello app (access log off)',
    start: async () => (await serve(hello, { port: 0, accessLog: false })).url + '/',
  },
  'stackware-log': {
    label: '@stackware/server, hello app (access log on, JSON to /dev/null)',
    start: async () => (await serve(hello, { port: 0, accessLog: true, logger: createLogger({ destination: createWriteStream('/dev/null'), pretty: false }) })).url + '/',
  },
};

if (process.argv[2] === '--serve') {
  const url = await CASES[process.argv[3]!]!.start();
  process.stdout.write(`${url}\n`);
  process.once('SIGTERM', () => process.exit(0));
} else {
  const quick = process.argv.includes('--quick');
  const seconds = quick ? 1 : 8;
  const rounds = quick ? 1 : 2;
  const connections = 32;
  const totals: Record<string, { rps: number[]; p99: number[]; errors: number }> = {};
  for (let round = 0; round < rounds; round++) {
    for (const name of Object.keys(CASES)) {
      const child = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', fileURLToPath(import.meta.url), '--serve', name], { stdio: ['ignore', 'pipe', 'inherit'] });
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      try {
        const url = await new Promise<string>((resolve, reject) => {
          let out = '';
          child.stdout.on('data', (d: Buffer) => {
            out += d;
            if (out.includes('\n')) resolve(out.split('\n')[0]!);
          });
          child.once('exit', (code) => reject(new Error(`server ${name} exited with ${code}`)));
        });
        await autocannon({ url, connections, duration: 1 }); // warm-up (JIT)
        const r = await autocannon({ url, connections, duration: seconds });
        const t = (totals[name] ??= { rps: [], p99: [], errors: 0 });
        t.rps.push(r.requests.average);
        t.p99.push(r.latency.p99);
        t.errors += r.errors + r.non2xx + r.timeouts;
      } finally {
        child.kill('SIGTERM');
        await exited;
      }
    }
  }
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const base = mean(totals.bare!.rps);
  process.stdout.write(`autocannon: ${connections} keep-alive connections, ${seconds} s per case after a 1 s warm-up, ${rounds} alternating round(s); each server in its own process on 127.0.0.1.\n\n`);
  process.stdout.write('| server | requests/s | p99 latency (ms) | errors | ratio to bare node:http |\n|---|---:|---:|---:|---:|\n');
  for (const [name, c] of Object.entries(CASES)) {
    const t = totals[name]!;
    process.stdout.write(`| ${c.label} | ${Math.round(mean(t.rps))} | ${mean(t.p99).toFixed(1)} | ${t.errors} | ${(mean(t.rps) / base).toFixed(2)} |\n`);
  }
  process.stdout.write(`\nTarget: ratio ≥ 0.90 for the hello app with the access log off.\n`);
}
