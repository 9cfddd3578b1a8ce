/**
 * The limits every gateway shares (limits.ts), on the FastCGI gateway directly: 413, 431, 504,
 * 408, the idle and half-sent-record timeouts, maxConnections (idle flood, FCGI_OVERLOADED) and
 * per-request flow control on a multiplexed connection. Loopback only; every wait is bounded.
 */
import { describe, it, expect, afterEach } from '@jest/globals';
import { connect, type Socket } from 'node:net';
import type { Application, Environ, RunningServer } from '@stackware/gateway';
import { serveFastCGI, type LimitOptions } from '../src/index.js';
import { ProtocolStatus, RecordType, encodeBeginRequest, encodeRecord } from '../src/fastcgi/records.js';
import { FcgiTestClient, cgiParams, parseCgiResponse } from './fastcgi-client.js';

const ran: string[] = [];
/** Hung requests are released here when a test ends (bounded: 20 s at most anyway). */
let release: Array<() => void> = [];

const app: Application = async (environ: Environ, startResponse) => {
  ran.push(environ.PATH_INFO);
  if (environ.PATH_INFO === '/hang') {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, 20_000);
      release.push(() => { clearTimeout(timer); resolve(); });
    });
  }
  let length = 0;
  if (environ.PATH_INFO === '/echo') for await (const chunk of environ['stackware.input']) length += chunk.byteLength;
  startResponse('200 OK', [['Content-Type', 'text/plain']]);
  return [Buffer.from(`ok ${length}`)];
};

const portOf = (server: RunningServer) => Number(server.url.split(':').at(-1));
const logged: string[] = [];
const servers: RunningServer[] = [];
const clients: FcgiTestClient[] = [];
const sockets: Socket[] = [];

async function start(options: LimitOptions & { inputHighWaterBytes?: number }): Promise<number> {
  const server = await serveFastCGI(app, { port: 0, log: { write: (t) => void logged.push(t) }, ...options });
  servers.push(server);
  return portOf(server);
}

async function client(port: number): Promise<FcgiTestClient> {
  const c = await FcgiTestClient.connect({ port });
  clients.push(c);
  return c;
}

afterEach(async () => {
  for (const r of release) r();
  release = [];
  for (const c of clients.splice(0)) c.close();
  for (const s of sockets.splice(0)) s.destroy();
  for (const s of servers.splice(0)) await s.close();
});

/** Resolves when the server closes `socket` (true), or false after `timeoutMs`. */
function closedWithin(socket: Socket, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    if (socket.destroyed) return resolve(true);
    const timer = setTimeout(() => resolve(false), timeoutMs);
    socket.once('close', () => { clearTimeout(timer); resolve(true); });
    socket.resume();
  });
}

function rawConnect(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    sockets.push(socket);
    socket.once('connect', () => resolve(socket));
    socket.once('error', reject);
  });
}

describe('FastCGI gateway limits (limits.ts)', () => {
  it('answers 413 to a CONTENT_LENGTH over maxBodyBytes without running the application', async () => {
    const c = await client(await start({ maxBodyBytes: 1000 }));
    ran.length = 0;
    const result = await c.request(1, cgiParams('/echo', [['CONTENT_LENGTH', '5000000']], 'POST'), { stdin: Buffer.alloc(2000) });
    const res = parseCgiResponse(result.stdout);
    expect(res.status).toBe('413 Content Too Large');
    expect(res.body.toString()).toBe('Request body is larger than 1000 bytes\n');
    expect(result.protocolStatus).toBe(ProtocolStatus.REQUEST_COMPLETE);
    expect(ran).toEqual([]);
  });

  it('answers 413 when STDIN goes over maxBodyBytes with no CONTENT_LENGTH', async () => {
    const c = await client(await start({ maxBodyBytes: 1000 }));
    const result = await c.request(1, cgiParams('/echo', [], 'POST'), { stdin: Buffer.alloc(5000) });
    expect(parseCgiResponse(result.stdout).status).toBe('413 Content Too Large');
  });

  it('answers 431 to request headers over maxHeaderBytes', async () => {
    const c = await client(await start({ maxHeaderBytes: 4096 }));
    const result = await c.request(1, cgiParams('/hello', [['HTTP_X_BIG', 'x'.repeat(5000)]]));
    expect(parseCgiResponse(result.stdout).status).toBe('431 Request Header Fields Too Large');
  });

  it('answers 504 when the application makes no progress within timeoutMs', async () => {
    const c = await client(await start({ timeoutMs: 300 }));
    const result = await c.request(1, cgiParams('/hang'));
    const res = parseCgiResponse(result.stdout);
    expect(res.status).toBe('504 Gateway Timeout');
    expect(res.body.toString()).toBe('The application did not respond within 300 ms\n');
  });

  it('answers 408 when the client stops sending the body for clientTimeoutMs', async () => {
    const c = await client(await start({ clientTimeoutMs: 300 }));
    c.begin(1, cgiParams('/echo', [['CONTENT_LENGTH', '100']], 'POST'), { stdin: Buffer.alloc(10), stdinOpen: true });
    await c.until(() => c.ended(1));
    expect(parseCgiResponse(c.result(1).stdout).status).toBe('408 Request Timeout');
  });

  it('closes a connection with a half-sent record after headersTimeoutMs', async () => {
    const port = await start({ headersTimeoutMs: 300, requestTimeoutMs: 1000 });
    const socket = await rawConnect(port);
    socket.write(encodeBeginRequest(1, 1, 0).subarray(0, 5)); // 5 of the 16 bytes
    expect(await closedWithin(socket, 10_000)).toBe(true);
    expect(logged.join('')).toMatch(/half sent/);
  });

  it('closes an idle keep-alive connection after keepAliveTimeoutMs, and serves before that', async () => {
    const c = await client(await start({ keepAliveTimeoutMs: 300 }));
    const first = await c.request(1, cgiParams('/hello'), { keepConn: true });
    expect(parseCgiResponse(first.stdout).status).toBe('200 OK');
    expect(await closedWithin(c.socket, 10_000)).toBe(true);
  });

  it('an idle flood of 1,030 connections (maxConnections 1024, the default) does not lock out a good client', async () => {
    const port = await start({});
    const flood: Socket[] = [];
    for (let i = 0; i < 1030; i++) flood.push(await rawConnect(port));
    const c = await client(port);
    const result = await c.request(1, cgiParams('/hello'));
    expect(parseCgiResponse(result.stdout).status).toBe('200 OK');
    // the oldest idle connections made room: some of the flood were closed
    await new Promise((r) => setTimeout(r, 200));
    expect(flood.filter((s) => s.destroyed || s.readableEnded).length).toBeGreaterThan(0);
  }, 60_000);

  it('refuses a request over maxConnections with FCGI_OVERLOADED when no connection is idle', async () => {
    const port = await start({ maxConnections: 2 });
    const busy = [await client(port), await client(port)];
    busy.forEach((b, i) => b.begin(1, cgiParams(`/hang?${i}`)));
    await new Promise((r) => setTimeout(r, 200));
    const late = await client(port);
    late.write(encodeBeginRequest(1, 1, 0));
    await late.until(() => late.ended(1));
    expect(late.result(1).protocolStatus).toBe(ProtocolStatus.OVERLOADED);
    expect(await closedWithin(late.socket, 10_000)).toBe(true);
  });

  it('a multiplexed request that does not read its body pauses the connection (bounded), then times out and frees it', async () => {
    const c = await client(await start({ timeoutMs: 1000, inputHighWaterBytes: 64 * 1024 }));
    // request 1 never reads its STDIN; 32 MiB of it is offered
    c.begin(1, cgiParams('/hang', [['CONTENT_LENGTH', String(32 * 1024 * 1024)]], 'POST'), { stdinOpen: true, keepConn: true });
    const chunk = Buffer.alloc(65528);
    const records: Buffer[] = [];
    for (let sent = 0; sent < 32 * 1024 * 1024; sent += chunk.length) records.push(encodeRecord(RecordType.STDIN, 1, chunk));
    c.write(records);
    await new Promise((r) => setTimeout(r, 300));
    // the gateway stopped reading: most of the 32 MiB still waits on the client's side
    expect(c.socket.writableLength).toBeGreaterThan(8 * 1024 * 1024);
    // request 1 times out (504), its queue is dropped, the connection reads again; request 2 is served
    c.begin(2, cgiParams('/hello'), { keepConn: true });
    await c.until(() => c.ended(1) && c.ended(2), 20_000);
    expect(parseCgiResponse(c.result(1).stdout).status).toBe('504 Gateway Timeout');
    expect(parseCgiResponse(c.result(2).stdout).status).toBe('200 OK');
  }, 30_000);
});
