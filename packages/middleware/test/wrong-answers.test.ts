import { describe, it, expect } from '@jest/globals';
import { execFile } from 'node:child_process';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import { Writable } from 'node:stream';
import { gunzipSync } from 'node:zlib';
import pino from 'pino';
import { TestClient, json, type Application } from '@stackware/gateway';
import { serve } from '@stackware/server';
import { compression, forwardedHeaders, proxy } from '../src/index.js';

// Issue #22, "Adapters and middleware (wrong answers)": each case here failed before its fix.

const run = promisify(execFile);

describe('proxy and Expect: 100-continue', () => {
  it('forwards a >1 KiB body that curl sends with Expect: 100-continue (it answered 502)', async () => {
    const seen: Array<{ expect?: string; bytes: number }> = [];
    const upstream = createServer(async (req: IncomingMessage, res) => {
      let bytes = 0;
      for await (const chunk of req) bytes += (chunk as Buffer).length;
      seen.push({ expect: req.headers.expect, bytes });
      res.writeHead(200, { 'Content-Type': 'text/plain' });
      res.end(`got ${bytes}`);
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    const api = proxy({ target: `http://127.0.0.1:${(upstream.address() as AddressInfo).port}` });
    const server = await serve(api, { host: '127.0.0.1', port: 0, accessLog: false, logger: pino({ level: 'silent' }) });
    try {
      const body = 'x'.repeat(4096);
      // curl adds the header itself above 1 KiB (7.x) or 1 MiB (8.x): ask for it explicitly.
      const { stdout, stderr } = await run('curl', ['-sv', '-w', '\n%{http_code}', '--data-binary', body, '-H', 'Content-Type: text/plain', '-H', 'Expect: 100-continue', server.url + '/upload']);
      expect(stderr).toMatch(/< HTTP\/1.1 100 Continue/);
      expect(stdout).toBe('got 4096\n200');
      expect(seen).toEqual([{ expect: undefined, bytes: 4096 }]);
    } finally {
      await server.close();
      await api.close();
      upstream.closeAllConnections();
      await new Promise<void>((r) => upstream.close(() => r()));
    }
  });
});

describe('compression threshold without Content-Length', () => {
  const streamed = (parts: string[], extra: Array<[string, string]> = []): Application => (_e, startResponse) => (async function* () {
    startResponse('200 OK', [['Content-Type', 'text/plain'], ...extra]);
    for (const part of parts) yield Buffer.from(part);
  })();

  it('sends a 5-byte streamed body as it is (it became 25 bytes of gzip)', async () => {
    const res = await new TestClient(compression(streamed(['he', 'llo']))).get('/', { headers: { 'Accept-Encoding': 'gzip' } });
    expect(res.header('content-encoding')).toBeUndefined();
    expect(res.header('vary')).toBe('Accept-Encoding');
    expect(res.text()).toBe('hello');
  });

  it('compresses a streamed body once the buffered chunks reach the threshold, and keeps the rest streamed', async () => {
    const parts = ['a'.repeat(600), 'b'.repeat(600), 'c'.repeat(600), 'd'.repeat(600)];
    const res = await new TestClient(compression(streamed(parts, [['ETag', '"s1"']]))).get('/', { headers: { 'Accept-Encoding': 'gzip' } });
    expect(res.header('content-encoding')).toBe('gzip');
    expect(res.header('etag')).toBe('W/"s1"');
    expect(gunzipSync(res.body).toString()).toBe(parts.join(''));
    expect(res.chunks.length).toBeGreaterThanOrEqual(3);
  });

  it('applies the threshold to a lazy startResponse and to the legacy write()', async () => {
    const legacy: Application = (_e, startResponse) => {
      const write = startResponse('200 OK', [['Content-Type', 'text/plain']]);
      return (async function* () {
        await write(Buffer.from('tiny'));
        yield Buffer.from('!');
      })();
    };
    const res = await new TestClient(compression(legacy)).get('/', { headers: { 'Accept-Encoding': 'gzip' } });
    expect(res.header('content-encoding')).toBeUndefined();
    expect(res.text()).toBe('tiny!');
    const big = 'y'.repeat(3000);
    const bigLegacy: Application = (_e, startResponse) => {
      const write = startResponse('200 OK', [['Content-Type', 'text/plain']]);
      return (async function* () {
        await write(Buffer.from(big));
        yield Buffer.alloc(0);
      })();
    };
    const gz = await new TestClient(compression(bigLegacy)).get('/', { headers: { 'Accept-Encoding': 'gzip' } });
    expect(gz.header('content-encoding')).toBe('gzip');
    expect(gunzipSync(gz.body).toString()).toBe(big);
  });
});

describe('compression and caches: Vary on 206 and 304', () => {
  const ae = { 'Accept-Encoding': 'gzip' };
  it('a 206 of a compressible type carries Vary: Accept-Encoding (RFC 9110 §12.5.5), still uncompressed', async () => {
    const partial: Application = (_e, s) => { s('206 Partial Content', [['Content-Type', 'text/plain'], ['Content-Range', 'bytes 0-4/5000'], ['Content-Length', '5']]); return [Buffer.from('hello')]; };
    const res = await new TestClient(compression(partial)).get('/', { headers: { ...ae, Range: 'bytes=0-4' } });
    expect(res.header('content-encoding')).toBeUndefined();
    expect(res.header('vary')).toBe('Accept-Encoding');
    expect(res.text()).toBe('hello');
  });

  it('a 304 carries Vary: Accept-Encoding whatever ETag the client revalidates (RFC 9110 §15.4.5)', async () => {
    const notModified: Application = (_e, s) => { s('304 Not Modified', [['ETag', '"v1"']]); return []; };
    for (const tag of ['"v1"', 'W/"v1"', '*']) {
      const res = await new TestClient(compression(notModified)).get('/', { headers: { ...ae, 'If-None-Match': tag } });
      expect([tag, res.header('vary')]).toEqual([tag, 'Accept-Encoding']);
    }
    const withVary: Application = (_e, s) => { s('304 Not Modified', [['ETag', '"v1"'], ['Vary', 'Cookie']]); return []; };
    expect((await new TestClient(compression(withVary)).get('/', { headers: { ...ae, 'If-None-Match': '"v1"' } })).header('vary')).toBe('Cookie, Accept-Encoding');
  });
});

describe('forwardedHeaders and default ports', () => {
  const show: Application = (environ, startResponse) => json({ host: environ.HTTP_HOST, name: environ.SERVER_NAME, port: environ.SERVER_PORT, scheme: environ['stackware.url_scheme'] })(environ, startResponse);

  it('strips :443 for https and :80 for http from the host name', async () => {
    const app = forwardedHeaders(show, { proto: 1, host: 1, port: 1 });
    const client = new TestClient(app);
    expect((await client.get('/', { headers: { 'X-Forwarded-Proto': 'https', 'X-Forwarded-Host': 'example.com:443' } })).json())
      .toEqual({ host: 'example.com', name: 'example.com', port: '443', scheme: 'https' });
    expect((await client.get('/', { headers: { 'X-Forwarded-Proto': 'https', 'X-Forwarded-Host': 'example.com', 'X-Forwarded-Port': '443' } })).json())
      .toEqual({ host: 'example.com', name: 'example.com', port: '443', scheme: 'https' });
    expect((await client.get('/', { headers: { 'X-Forwarded-Proto': 'http', 'X-Forwarded-Host': 'example.com:80' } })).json())
      .toEqual({ host: 'example.com', name: 'example.com', port: '80', scheme: 'http' });
    // Not a default port for the scheme: kept.
    expect((await client.get('/', { headers: { 'X-Forwarded-Proto': 'http', 'X-Forwarded-Host': 'example.com:443' } })).json())
      .toEqual({ host: 'example.com:443', name: 'example.com', port: '443', scheme: 'http' });
    expect((await client.get('/', { headers: { 'X-Forwarded-Proto': 'https', 'X-Forwarded-Host': '[2001:db8::1]:443' } })).json())
      .toEqual({ host: '[2001:db8::1]', name: '2001:db8::1', port: '443', scheme: 'https' });
  });

  it('strips it from the RFC 7239 Forwarded host too', async () => {
    const res = await new TestClient(forwardedHeaders(show, { forwarded: 1 })).get('/', { headers: { Forwarded: 'proto=https;host="shop.example:443"' } });
    expect(res.json()).toEqual({ host: 'shop.example', name: 'shop.example', port: '443', scheme: 'https' });
  });
});

describe('the server access log and a complete 500', () => {
  it('logs the 500 the gateway answered for a failed application with its bytes and not as aborted', async () => {
    const records: Array<Record<string, unknown>> = [];
    const logger = pino({ level: 'info' }, new Writable({ write(chunk, _enc, done) { records.push(JSON.parse(chunk.toString())); done(); } }));
    const failing: Application = () => { throw new Error('the application failed'); };
    const server = await serve(failing, { host: '127.0.0.1', port: 0, logger });
    try {
      const res = await fetch(server.url + '/fail');
      const body = await res.text();
      expect(res.status).toBe(500);
      for (let i = 0; i < 100 && !records.some((r) => r.msg === 'request'); i++) await new Promise((r) => setTimeout(r, 20));
      const record = records.find((r) => r.msg === 'request');
      expect(record).toMatchObject({ status: 500, path: '/fail', bytes: Buffer.byteLength(body) });
      expect(record!.aborted).toBeUndefined();
    } finally {
      await server.close();
    }
  });
});
