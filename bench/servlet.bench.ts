/**
 * Servlet benchmark: requests/s of a Webware-style Page (servletApp: instance pool, HTTPRequest,
 * buffered HTTPResponse, Page.writeHTML, the html template) against a plain gateway application
 * answering the same bytes; and a 64 KiB multipart upload through the servlet (busboy → temp file
 * → removed) against a plain application that only reads and drops the body.
 * Served by @stackware/server's HTTP server in a child process; autocannon, 16 connections,
 * 127.0.0.1 only, bounded durations. `--quick` proves it runs (1 s per case).
 * The same file is the server: `servlet.bench.ts --serve <case>`.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { html as htmlResponse, readBody, text, type Application } from '../packages/gateway/src/index.js';
import { serve } from '../packages/server/src/index.js';
import { html, Page, servletApp } from '../packages/servlet/src/index.js';

// autocannon ships no types here: the little used, typed locally.
interface AutocannonResult { requests: { average: number }; latency: { p99: number }; errors: number; non2xx: number }
type Autocannon = (options: { url: string; connections: number; duration: number; method?: string; headers?: Record<string, string>; body?: Buffer }) => Promise<AutocannonResult>;
const autocannonModule: string = 'autocannon';
const autocannon = ((await import(autocannonModule)) as { default: Autocannon }).default;

const ITEMS = Array.from({ length: 20 }, (_, i) => `item <${i}> & more`);

class Listing extends Page {
  override canBeThreaded() {
    return false;
  }
  override title() {
    return 'Listing';
  }
  override async writeContent() {
    await this.writeln(html`<ul>${ITEMS.map((item) => html`<li>${item}</li>`)}</ul>`);
  }
}

class Upload extends Page {
  override async respondToPost() {
    const file = this.request.file('file');
    this.response.setHeader('Content-Type', 'text/plain; charset=utf-8');
    await this.write(`got ${file?.size ?? 0}\n`);
  }
}

/** The page Listing writes, produced once: what the plain application answers. */
async function listingBytes(): Promise<string> {
  const { TestClient } = await import('../packages/gateway/src/index.js');
  return (await new TestClient(servletApp(Listing)).get('/')).text();
}

const BOUNDARY = 'stackwarebench';
const FILE = Buffer.alloc(64 * 1024, 'u');
const UPLOAD_BODY = Buffer.concat([
  Buffer.from(`--${BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="f.bin"\r\nContent-Type: application/octet-stream\r\n\r\n`),
  FILE,
  Buffer.from(`\r\n--${BOUNDARY}--\r\n`),
]);

const CASES: Record<string, { label: string; app: () => Promise<Application>; upload?: boolean }> = {
  plain: { label: 'plain application, same HTML (baseline)', app: async () => htmlResponse(await listingBytes()) },
  page: { label: 'Page servlet (pool, request, response, writeHTML)', app: async () => servletApp(Listing) },
  'upload-plain': {
    label: '64 KiB multipart POST: plain app reads the body (baseline)',
    upload: true,
    app: async () => async (environ, startResponse) => text(`got ${(await readBody(environ)).length}\n`)(environ, startResponse),
  },
  'upload-servlet': { label: '64 KiB multipart POST: servlet (busboy → temp file)', upload: true, app: async () => servletApp(Upload) },
};

async function runServer(name: string): Promise<void> {
  const server = await serve(await CASES[name]!.app(), { host: '127.0.0.1', port: 0, accessLog: false });
  process.stdout.write(`${server.url}\n`);
  process.once('SIGTERM', () => void server.close().finally(() => process.exit(0)));
}

interface Figure { label: string; rps: number; p99: number; errors: number }

async function measure(name: string, seconds: number): Promise<Figure> {
  const child = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', fileURLToPath(import.meta.url), '--serve', name], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`server for ${name} did not start`)), 30_000);
      child.stdout.once('data', (d: Buffer) => { clearTimeout(timer); resolve(d.toString().trim()); });
      child.once('exit', () => { clearTimeout(timer); reject(new Error(`server for ${name} exited`)); });
    });
    const c = CASES[name]!;
    const request = c.upload
      ? { method: 'POST', headers: { 'content-type': `multipart/form-data; boundary=${BOUNDARY}` }, body: UPLOAD_BODY }
      : {};
    await autocannon({ url: `${url}/`, connections: 16, duration: 1, ...request }); // warm-up (JIT)
    const result = await autocannon({ url: `${url}/`, connections: 16, duration: seconds, ...request });
    return { label: c.label, rps: result.requests.average, p99: result.latency.p99, errors: result.errors + result.non2xx };
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
  const figures: Record<string, Figure> = {};
  for (const name of Object.keys(CASES)) figures[name] = await measure(name, seconds);
  console.log(`Servlet benchmark: server in a child process, 16 connections, ${seconds} s per case, 127.0.0.1${quick ? ' (--quick)' : ''}\n`);
  console.log('| case | requests/s | vs its baseline | p99 latency ms | errors |');
  console.log('|---|---:|---:|---:|---:|');
  for (const [name, f] of Object.entries(figures)) {
    const base = name.startsWith('upload') ? figures['upload-plain']! : figures.plain!;
    console.log(`| ${f.label} | ${f.rps.toFixed(0)} | ${(f.rps / base.rps).toFixed(2)} | ${f.p99} | ${f.errors} |`);
  }
  if (Object.values(figures).some((f) => f.errors > 0)) {
    console.error('A case had errors: its figure is not a measurement');
    process.exitCode = 1;
  }
}

const serveAt = process.argv.indexOf('--serve');
if (serveAt !== -1) await runServer(process.argv[serveAt + 1]!);
else await main();
