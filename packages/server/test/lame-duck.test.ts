/**
 * The lame-duck phase of a graceful stop (lameDuckMs; LameDuck in shutdown.ts), on every gateway
 * that listens (HTTP, FastCGI, SCGI), over real sockets:
 * - after close() begins the listener stays open; an idempotent request on a new connection gets
 *   503 + Retry-After: 1, a POST on a new connection is served, a request on a connection
 *   accepted before the stop is served;
 * - the phase ends once no connection has come for LAME_DUCK_QUIET_MS, or at lameDuckMs under a
 *   steady stream of connections; then the listener refuses connections;
 * - lameDuckMs 0 (the default): the listener closes at once.
 * The logic without sockets: LameDuck itself.
 */
import { describe, expect, it } from '@jest/globals';
import { connect } from 'node:net';
import { request } from 'node:http';
import type { Application } from '@stackware/gateway';
import { serve, serveFastCGI, serveSCGI } from '../src/index.js';
import { LAME_DUCK_QUIET_MS, LameDuck } from '../src/shutdown.js';
import { FcgiTestClient, cgiParams, parseCgiResponse } from './fastcgi-client.js';

const app: Application = (environ, startResponse) => {
  startResponse('200 OK', [['Content-Type', 'text/plain']]);
  return [Buffer.from(`served ${String(environ.REQUEST_METHOD)}`)];
};
const silent = { write: () => undefined };

/** True when a TCP connection to the port is refused (the listener is closed). */
function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => { socket.destroy(); resolve(false); });
    socket.once('error', () => resolve(true));
  });
}

function httpRequest(port: number, method: string, agent: import('node:http').Agent | false = false): Promise<{ status: number; retryAfter?: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path: '/', agent, headers: method === 'POST' ? { 'Content-Length': '0' } : {} }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, retryAfter: res.headers['retry-after'] as string | undefined, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('LameDuck', () => {
  it('refuses idempotent requests on connections accepted during the phase only, and ends when quiet', async () => {
    const duck = new LameDuck(5000);
    const before = {};
    duck.accepted(before); // before the phase: not late
    const running = duck.run();
    const late = {};
    duck.accepted(late);
    expect(duck.refuses(before, 'GET')).toBe(false);
    expect(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE'].map((m) => duck.refuses(late, m))).toEqual([true, true, true, true, true, true]);
    expect(['POST', 'PATCH', 'LOCK'].map((m) => duck.refuses(late, m))).toEqual([false, false, false]);
    const outcome = await running;
    expect(outcome).toMatchObject({ refused: 6, served: 3, ended: 'quiet' });
    expect(outcome.elapsedMs).toBeGreaterThanOrEqual(LAME_DUCK_QUIET_MS - 5);
    expect(outcome.elapsedMs).toBeLessThan(5000);
    expect(duck.refuses(late, 'GET')).toBe(false); // over: nothing more is refused
  });

  it('ends at lameDuckMs while connections keep coming', async () => {
    const duck = new LameDuck(600);
    const running = duck.run();
    const feeder = setInterval(() => duck.accepted({}), 50);
    try {
      const outcome = await running;
      expect(outcome.ended).toBe('timeout');
      expect(outcome.elapsedMs).toBeGreaterThanOrEqual(595);
    } finally {
      clearInterval(feeder);
    }
  });

  it('0 ms: no phase', async () => {
    const duck = new LameDuck(0);
    expect(await duck.run()).toEqual({ elapsedMs: 0, refused: 0, served: 0, ended: 'quiet' });
    const late = {};
    duck.accepted(late);
    expect(duck.refuses(late, 'GET')).toBe(false);
  });
});

describe('HTTP server: lameDuckMs', () => {
  it('keeps listening after close(): GET on a new connection 503 + Retry-After, POST served, then the listener closes', async () => {
    const server = await serve(app, { port: 0, lameDuckMs: 5000, accessLog: false });
    const { Agent } = await import('node:http');
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      expect((await httpRequest(server.port, 'GET', agent)).status).toBe(200); // a keep-alive connection from before the stop
      const closing = server.close();
      const fresh = await httpRequest(server.port, 'GET');
      expect(fresh).toMatchObject({ status: 503, retryAfter: '1' });
      expect(await httpRequest(server.port, 'POST')).toMatchObject({ status: 200, body: 'served POST' });
      expect(await httpRequest(server.port, 'GET', agent)).toMatchObject({ status: 200, body: 'served GET' }); // the old connection: served
      const started = performance.now();
      await closing;
      expect(performance.now() - started).toBeLessThan(4000); // ended by quiet, not by the 5 s bound
      expect(await refused(server.port)).toBe(true);
    } finally {
      agent.destroy();
      await server.close();
    }
  });

  it('lameDuckMs 0 (default): the listener closes at once', async () => {
    const server = await serve(app, { port: 0, accessLog: false });
    const closing = server.close();
    expect(await refused(server.port)).toBe(true);
    await closing;
  });
});

describe('FastCGI: lameDuckMs', () => {
  it('keeps listening after close(): GET on a new connection 503 + Retry-After, POST served; logs the outcome', async () => {
    const logged: string[] = [];
    const server = await serveFastCGI(app, { port: 0, lameDuckMs: 5000, log: { write: (t) => void logged.push(t) } });
    const port = Number(new URL(server.url.replace('fastcgi:', 'http:')).port);
    const early = await FcgiTestClient.connect({ port });
    const closing = server.close();
    try {
      const late = await FcgiTestClient.connect({ port });
      const get = parseCgiResponse((await late.request(1, cgiParams('/'))).stdout);
      expect(get.status).toBe('503 Service Unavailable');
      expect(get.headers).toContainEqual(['Retry-After', '1']);
      const post = await FcgiTestClient.connect({ port });
      const served = parseCgiResponse((await post.request(1, cgiParams('/', [['CONTENT_LENGTH', '0']], 'POST'))).stdout);
      expect([served.status, served.body.toString()]).toEqual(['200 OK', 'served POST']);
      const old = parseCgiResponse((await early.request(1, cgiParams('/'))).stdout); // accepted before the stop
      expect([old.status, old.body.toString()]).toEqual(['200 OK', 'served GET']);
      await closing;
      expect(await refused(port)).toBe(true);
      expect(logged.join('')).toMatch(/FastCGI: lame duck over after \d+ ms \(no new connection for 250 ms\): 1 idempotent requests on new connections answered 503, 1 others served/);
    } finally {
      early.close();
      await server.close();
    }
  });

  it('lameDuckMs 0 (default): the listener closes at once', async () => {
    const server = await serveFastCGI(app, { port: 0, log: silent });
    const port = Number(new URL(server.url.replace('fastcgi:', 'http:')).port);
    const closing = server.close();
    expect(await refused(port)).toBe(true);
    await closing;
  });
});

describe('SCGI: lameDuckMs', () => {
  it('GET on a new connection during the phase: 503 + Retry-After', async () => {
    const server = await serveSCGI(app, { port: 0, lameDuckMs: 5000, log: silent });
    const port = Number(new URL(server.url.replace('scgi:', 'http:')).port);
    const closing = server.close();
    const headers = Buffer.from('CONTENT_LENGTH\u00000\u0000SCGI\u00001\u0000REQUEST_METHOD\u0000GET\u0000REQUEST_URI\u0000/\u0000SERVER_PROTOCOL\u0000HTTP/1.1\u0000SERVER_NAME\u0000localhost\u0000SERVER_PORT\u000080\u0000', 'latin1');
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = connect(port, '127.0.0.1', () => socket.write(Buffer.concat([Buffer.from(`${headers.length}:`), headers, Buffer.from(',')])));
      let text = '';
      socket.on('data', (d: Buffer) => (text += d.toString('latin1')));
      socket.on('end', () => resolve(text));
      socket.on('error', reject);
    });
    expect(answer).toMatch(/^Status: 503 Service Unavailable\r\n/);
    expect(answer).toMatch(/\r\nRetry-After: 1\r\n/);
    await closing;
    expect(await refused(port)).toBe(true);
  });
});
