/**
 * The shared limits (limits.ts) on the SCGI gateway and the HTTP server directly: the timeouts
 * on a connection that sends nothing or half a header, 413/504 over SCGI, and maxConnections
 * (an idle flood does not lock out a good client; with no idle connection the new one gets 503).
 * Loopback only; every wait is bounded.
 */
import { describe, it, expect, afterEach } from '@jest/globals';
import { connect, type Socket } from 'node:net';
import type { Application, RunningServer } from '@stackware/gateway';
import { serve, serveSCGI, type LimitOptions } from '../src/index.js';
import { parseCgiResponse } from './fastcgi-client.js';
import { rawRequest } from './helpers.js';

let release: Array<() => void> = [];
const reached: string[] = [];
const app: Application = async (environ, startResponse) => {
  reached.push(environ.PATH_INFO);
  if (environ.PATH_INFO === '/hang') {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, 20_000);
      release.push(() => { clearTimeout(timer); resolve(); });
    });
  }
  startResponse('200 OK', [['Content-Type', 'text/plain']]);
  return [Buffer.from('ok')];
};

const servers: RunningServer[] = [];
const sockets: Socket[] = [];
afterEach(async () => {
  for (const r of release.splice(0)) r();
  for (const s of sockets.splice(0)) s.destroy();
  for (const s of servers.splice(0)) await s.close();
});

async function scgi(options: LimitOptions): Promise<number> {
  const server = await serveSCGI(app, { port: 0, log: { write: () => undefined }, ...options });
  servers.push(server);
  return Number(server.url.split(':').at(-1));
}

function netstring(pairs: Array<[string, string]>): Buffer {
  const body = Buffer.from(pairs.map(([n, v]) => `${n}\0${v}\0`).join(''), 'latin1');
  return Buffer.concat([Buffer.from(`${body.length}:`), body, Buffer.from(',')]);
}

const request = (path: string, length = 0) => netstring([['CONTENT_LENGTH', String(length)], ['SCGI', '1'], ['REQUEST_METHOD', length ? 'POST' : 'GET'], ['REQUEST_URI', path], ['PATH_INFO', path]]);

function open(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    sockets.push(socket);
    socket.once('connect', () => resolve(socket));
    socket.once('error', reject);
  });
}

/** Everything the server sends until it closes `socket` (bounded by `timeoutMs`: then `closed` is false). */
function reply(socket: Socket, timeoutMs = 10_000): Promise<{ data: Buffer; closed: boolean }> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => resolve({ data: Buffer.concat(chunks), closed: false }), timeoutMs);
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', () => undefined);
    socket.once('close', () => { clearTimeout(timer); resolve({ data: Buffer.concat(chunks), closed: true }); });
  });
}

describe('SCGI gateway limits', () => {
  it('answers 413 to a CONTENT_LENGTH over maxBodyBytes', async () => {
    const socket = await open(await scgi({ maxBodyBytes: 1000 }));
    socket.end(Buffer.concat([request('/x', 5000), Buffer.alloc(5000)]));
    const res = await reply(socket);
    expect(parseCgiResponse(res.data).status).toBe('413 Content Too Large');
  });

  it('answers 504 when the application makes no progress within timeoutMs', async () => {
    const socket = await open(await scgi({ timeoutMs: 300 }));
    socket.write(request('/hang'));
    const res = await reply(socket);
    expect(parseCgiResponse(res.data).status).toBe('504 Gateway Timeout');
  });

  it('closes a connection that sends nothing after keepAliveTimeoutMs', async () => {
    const socket = await open(await scgi({ keepAliveTimeoutMs: 300 }));
    expect((await reply(socket)).closed).toBe(true);
  });

  it('closes a connection whose header netstring is not complete within headersTimeoutMs', async () => {
    const socket = await open(await scgi({ headersTimeoutMs: 300, requestTimeoutMs: 1000 }));
    socket.write(request('/x').subarray(0, 10));
    expect((await reply(socket)).closed).toBe(true);
  });

  it('over maxConnections: the oldest idle connection makes room; with none idle, 503', async () => {
    const port = await scgi({ maxConnections: 3 });
    const idle = [await open(port), await open(port), await open(port)];
    const idleClosed = reply(idle[0]!);
    const good = await open(port);
    good.write(request('/x'));
    expect(parseCgiResponse((await reply(good)).data).status).toBe('200 OK');
    expect((await idleClosed).closed).toBe(true);
    // now make every connection busy: a new one is refused with 503
    for (const s of idle.slice(1)) s.write(request('/hang'));
    await new Promise((r) => setTimeout(r, 300)); // the server sees the good connection close
    const busy = await open(port);
    busy.write(request('/hang'));
    await new Promise((r) => setTimeout(r, 200));
    const late = await open(port);
    late.write(request('/x'));
    expect(parseCgiResponse((await reply(late)).data).status).toBe('503 Service Unavailable');
  });
});

describe('HTTP server maxConnections', () => {
  it('an idle flood over maxConnections does not lock out a good client; with none idle, 503', async () => {
    const server = await serve(app, { port: 0, accessLog: false, maxConnections: 20 });
    servers.push(server);
    for (let i = 0; i < 30; i++) await open(server.port);
    const good = await rawRequest(server.port, 'GET /x HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n');
    expect(good.text).toMatch(/^HTTP\/1\.1 200 OK/);
    for (const s of sockets.splice(0)) s.destroy();
    const busy: Socket[] = [];
    for (let i = 0; i < 20; i++) {
      const s = await open(server.port);
      s.write('GET /hang HTTP/1.1\r\nHost: h\r\n\r\n');
      busy.push(s);
    }
    await new Promise((r) => setTimeout(r, 300));
    const late = await rawRequest(server.port, 'GET /late HTTP/1.1\r\nHost: h\r\n\r\n');
    expect(late.text).toMatch(/^HTTP\/1\.1 503 Service Unavailable/);
    expect(reached).not.toContain('/late'); // refused before the application
  });
});
