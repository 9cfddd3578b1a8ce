/**
 * Server benchmark: requests/s of the hello app (apps/hello/app.ts) on @stackware/server's HTTP
 * server against a bare node:http handler that writes the same response — same process model (one
 * server process, spawned), same load generator (autocannon, keep-alive, in this process), same
 * connections and duration. Rounds alternate the servers so drift on a shared machine hits both.
 * Besides requests/s (which on a shared machine depends on how much CPU the server gets), the
 * server process reports the CPU time it spent per request (process.cpuUsage over the measured
 * run): the steadier figure of the server's own cost.
 * Loopback only, bounded durations; `--quick` proves it runs (1 s per case).
 * The same file is the server: `server.bench.ts --serve <case>`.
 */
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import { fileURLToPath } from 'node:url';
import hello from '../apps/hello/app.js';
import { createLogger, serve } from '../packages/server/src/index.js';

interface AutocannonResult { requests: { average: number; total: number }; latency: { p99: number }; errors: number; non2xx: number; timeouts: number }
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
    // the CLI's default destination (asynchronous sonic-boom), pointed at /dev/null
    start: async () => (await serve(hello, { port: 0, accessLog: true, logger: createLogger({ file: '/dev/null' }) })).url + '/',
  },
};

if (process.argv[2] === '--serve') {
  const url = await CASES[process.argv[3]!]!.start();
  process.stdout.write(`${url}\n`);
  let mark = process.cpuUsage();
  process.on('message', (message: string) => {
    if (message === 'start') mark = process.cpuUsage();
    else if (message === 'stop') {
      const used = process.cpuUsage(mark);
      process.send!({ cpuMicros: used.user + used.system });
    }
  });
  process.once('SIGTERM', () => process.exit(0));
} else {
  const quick = process.argv.includes('--quick');
  const seconds = quick ? 1 : 4;
  const rounds = quick ? 1 : 4;
  const connections = 32;
  const totals: Record<string, { rps: number[]; p99: number[]; cpu: number[]; errors: number }> = {};
  for (let round = 0; round < rounds; round++) {
    for (const name of Object.keys(CASES)) {
      const child = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', fileURLToPath(import.meta.url), '--serve', name], { stdio: ['ignore', 'pipe', 'inherit', 'ipc'] });
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      try {
        const url = await new Promise<string>((resolve, reject) => {
          let out = '';
          child.stdout!.on('data', (d: Buffer) => {
            out += d;
            if (out.includes('\n')) resolve(out.split('\n')[0]!);
          });
          child.once('exit', (code) => reject(new Error(`server ${name} exited with ${code}`)));
        });
        await autocannon({ url, connections, duration: 1 }); // warm-up (JIT)
        child.send('start');
        const r = await autocannon({ url, connections, duration: seconds });
        const cpu = new Promise<number>((resolve) => child.once('message', (m: { cpuMicros: number }) => resolve(m.cpuMicros)));
        child.send('stop');
        const t = (totals[name] ??= { rps: [], p99: [], cpu: [], errors: 0 });
        t.cpu.push((await cpu) / r.requests.total);
        t.rps.push(r.requests.average);
        t.p99.push(r.latency.p99);
        t.errors += r.errors + r.non2xx + r.timeouts;
      } finally {
        child.kill('SIGTERM');
        await exited;
      }
    }
  }
  // median of the rounds: one noisy round (another process taking the CPU) does not move it
  const mean = (xs: number[]) => {
    const sorted = [...xs].sort((a, b) => a - b);
    const mid = sorted.length >> 1;
    return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  };
  const base = mean(totals.bare!.rps);
  const baseCpu = mean(totals.bare!.cpu);
  process.stdout.write(`autocannon: ${connections} keep-alive connections, ${seconds} s per case after a 1 s warm-up, ${rounds} alternating round(s), medians; each server in its own process on 127.0.0.1.\n\n`);
  process.stdout.write('| server | requests/s | ratio to bare node:http | server CPU µs/request | CPU ratio | p99 latency (ms) | errors |\n|---|---:|---:|---:|---:|---:|---:|\n');
  for (const [name, c] of Object.entries(CASES)) {
    const t = totals[name]!;
    process.stdout.write(`| ${c.label} | ${Math.round(mean(t.rps))} | ${(mean(t.rps) / base).toFixed(2)} | ${mean(t.cpu).toFixed(1)} | ${(mean(t.cpu) / baseCpu).toFixed(2)} | ${mean(t.p99).toFixed(1)} | ${t.errors} |\n`);
  }
  process.stdout.write(`\nTarget: requests/s ratio ≥ 0.90 for the hello app with the access log off. CPU ratio: server CPU time per request relative to bare node:http (lower is cheaper).\n`);
}
