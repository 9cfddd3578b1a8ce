/**
 * Strict HTTP/1.1 (RFC 9112) on a raw socket: what the HTTP server answers to requests that
 * node:http alone lets through or answers badly (issue 19).
 */
import { describe, it, expect, beforeAll, afterAll } from '@jest/globals';
import type { Application, Environ } from '@stackware/gateway';
import { serve, type HttpServer } from '../src/index.js';
import { rawRequest } from './helpers.js';

const app: Application = async (environ: Environ, startResponse) => {
  let length = 0;
  for await (const chunk of environ['stackware.input']) length += chunk.byteLength;
  startResponse('200 OK', [['Content-Type', 'application/json']]);
  return [Buffer.from(JSON.stringify({ HTTP_HOST: environ.HTTP_HOST ?? null, SERVER_NAME: environ.SERVER_NAME, PATH_INFO: environ.PATH_INFO, length }))];
};

const statusOf = (text: string) => Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);
const bodyOf = (text: string) => text.slice(text.indexOf('\r\n\r\n') + 4);

describe('strict HTTP/1.1 (RFC 9112)', () => {
  let server: HttpServer;
  beforeAll(async () => {
    server = await serve(app, { port: 0, accessLog: false, clientTimeoutMs: 500, keepAliveTimeoutMs: 2000 });
  });
  afterAll(async () => {
    await server.close();
  });

  it('answers 400 to a request with two Host headers (§3.2)', async () => {
    const res = await rawRequest(server.port, 'GET /x HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\nConnection: close\r\n\r\n');
    expect(statusOf(res.text)).toBe(400);
    expect(bodyOf(res.text)).toContain('More than one Host header');
  });

  it('takes the authority of an absolute-form target over the Host header (§3.2.2)', async () => {
    const res = await rawRequest(server.port, 'GET http://target.example:8081/p/q HTTP/1.1\r\nHost: header.example\r\nConnection: close\r\n\r\n');
    expect(statusOf(res.text)).toBe(200);
    expect(JSON.parse(bodyOf(res.text))).toMatchObject({ HTTP_HOST: 'target.example:8081', SERVER_NAME: 'target.example', PATH_INFO: '/p/q' });
  });

  it('answers a bad chunk size with 400, then closes the connection (§7.1)', async () => {
    const res = await rawRequest(server.port, ['POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n', '5\r\nhello\r\nzz\r\nbad\r\n0\r\n\r\n'], { gapMs: 100 });
    expect(statusOf(res.text)).toBe(400);
    expect(res.text).toMatch(/\r\nConnection: close\r\n/i);
    expect(res.closedByServer).toBe(true);
  });

  it('closes an HTTP/1.0 connection that used chunked coding, even with keep-alive asked (§6.1)', async () => {
    const res = await rawRequest(server.port, 'POST /echo HTTP/1.0\r\nHost: h\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n');
    expect(res.text).toMatch(/\r\nConnection: close\r\n/i);
    expect(res.closedByServer).toBe(true);
  });

  it('keeps an ordinary HTTP/1.0 keep-alive connection open (the control)', async () => {
    const res = await rawRequest(server.port, 'POST /echo HTTP/1.0\r\nHost: h\r\nConnection: keep-alive\r\nContent-Length: 5\r\n\r\nhello', { timeoutMs: 1000 });
    expect(statusOf(res.text.replace(/^HTTP\/1\.0/, 'HTTP/1.1'))).toBe(200);
    expect(res.closedByServer).toBe(false);
  });

  it('cuts off a body dripped slower than clientTimeoutMs with 408 (body-progress timeout, not the request timeout)', async () => {
    const drip = ['POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 20\r\n\r\n', ...Array.from({ length: 20 }, () => 'x')];
    const res = await rawRequest(server.port, drip, { gapMs: 1000, timeoutMs: 15_000 });
    expect(statusOf(res.text)).toBe(408);
    expect(bodyOf(res.text)).toContain('The client sent no data for 500 ms');
    expect(res.closedByServer).toBe(true);
  }, 20_000);

  it.each([
    ['%00', '/a%00b'],
    ['a dot-dot segment', '/a/../b'],
    ['an encoded dot-dot segment', '/a/%2e%2E/b'],
    ['a dot segment', '/a/./b'],
  ])('answers 400 to a path with %s', async (_what, path) => {
    const res = await rawRequest(server.port, `GET ${path} HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n`);
    expect(statusOf(res.text)).toBe(400);
  });
});
