/**
 * FastCGI behind real nginx, beyond the conformance suite: upstream keep-alive
 * (fastcgi_keep_conn → FCGI_KEEP_CONN), stackware.errors reaching nginx's error log through
 * STDERR, and backpressure end to end (a slow HTTP client behind unbuffered nginx never makes the
 * gateway hold a whole large response).
 */
import { describe, it, expect, beforeAll, afterAll } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { request } from 'node:http';
import type { Application } from '@stackware/gateway';
import { startNginx, type NginxPeer } from '@stackware/testing';
import { serveFastCGI } from '../src/index.js';
import { send } from './conformance-http.js';

let produced = 0;
let closedStreams = 0;
const app: Application = (environ, startResponse) => {
  if (environ.PATH_INFO === '/log') {
    environ['stackware.errors'].write('a note for the error log\n');
    startResponse('200 OK', [['Content-Type', 'text/plain']]);
    return [Buffer.from('logged')];
  }
  if (environ.PATH_INFO === '/unbuffered/big') {
    startResponse('200 OK', [['Content-Type', 'application/octet-stream']]);
    const chunk = Buffer.alloc(64 * 1024, 0x63);
    return {
      async *[Symbol.asyncIterator]() { for (let i = 0; i < 2048; i++) { produced += chunk.length; yield chunk; } },
      close() { closedStreams++; },
    };
  }
  startResponse('200 OK', [['Content-Type', 'text/plain']]);
  return [Buffer.from(`hello ${environ.PATH_INFO}`)];
};

let gateway: Awaited<ReturnType<typeof serveFastCGI>>;
let nginx: NginxPeer;
let fcgiPort: number;

beforeAll(async () => {
  gateway = await serveFastCGI(app, { port: 0 });
  fcgiPort = Number(gateway.url.split(':').at(-1));
  const common = `include /etc/nginx/fastcgi_params; fastcgi_param SCRIPT_NAME ''; fastcgi_param PATH_INFO $uri; fastcgi_keep_conn on; fastcgi_pass app;`;
  nginx = await startNginx(`upstream app { server 127.0.0.1:${fcgiPort}; keepalive 4; }
    server { listen 127.0.0.1:{{PORT}};
      location /unbuffered/ { ${common} fastcgi_buffering off; }
      location / { ${common} }
    }`);
}, 30_000);
afterAll(async () => {
  await nginx?.stop();
  await gateway?.close();
});

/** Established TCP connections whose local port is the gateway's (nginx's upstream connections). */
function establishedToGateway(): number {
  const out = spawnSync('ss', ['-Htn', 'state', 'established', `( sport = :${fcgiPort} )`], { encoding: 'utf8' });
  return out.stdout.split('\n').filter((l) => l.trim()).length;
}

describe('nginx → FastCGI', () => {
  it('keeps upstream connections open with fastcgi_keep_conn (FCGI_KEEP_CONN)', async () => {
    for (let i = 0; i < 10; i++) expect((await send(nginx.url, `/k${i}`)).body.toString()).toBe(`hello /k${i}`);
    const open = establishedToGateway();
    expect(open).toBeGreaterThanOrEqual(1);
    expect(open).toBeLessThanOrEqual(4);
  });

  it('stackware.errors goes to nginx\'s error log (STDERR records)', async () => {
    expect((await send(nginx.url, '/log')).body.toString()).toBe('logged');
    const deadline = Date.now() + 10_000;
    while (!(await nginx.errorLog()).includes('a note for the error log') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(await nginx.errorLog()).toMatch(/FastCGI sent in stderr: "a note for the error log/);
  });

  it('a slow client behind unbuffered nginx bounds what the application produces', async () => {
    produced = 0;
    const total = 2048 * 64 * 1024; // 128 MiB: far more than the kernel buffers of two loopback hops (~20 MiB at most)
    const url = new URL(nginx.url);
    let received = 0;
    let resume: () => void = () => {};
    const done = new Promise<void>((resolve, reject) => {
      const req = request({ host: url.hostname, port: url.port, path: '/unbuffered/big', agent: false }, (res) => {
        res.pause();
        resume = () => { res.on('data', (d: Buffer) => { received += d.length; }); res.on('end', resolve); res.resume(); };
      });
      req.on('error', reject);
      req.end();
    });
    // wait for the response to start, then until production stalls (bounded)
    for (let i = 0; i < 100; i++) {
      if (produced > 0) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    let last = -1;
    for (let i = 0; i < 100 && produced !== last; i++) { last = produced; await new Promise((r) => setTimeout(r, 150)); }
    expect(produced).toBeGreaterThan(0);
    expect(produced).toBeLessThan(48 * 1024 * 1024);
    if (process.env.SHOW_FIGURES) process.stdout.write(`stalled at ${produced} bytes\n`);
    resume();
    await done;
    expect(received).toBe(total);
    expect(produced).toBe(total);
    expect(closedStreams).toBe(1);
  }, 60_000);
});
