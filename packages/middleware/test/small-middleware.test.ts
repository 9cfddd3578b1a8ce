import { describe, it, expect } from '@jest/globals';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { gunzipSync, brotliDecompressSync, inflateSync } from 'node:zlib';
import { Writable } from 'node:stream';
import pino from 'pino';
import { TestClient, text, json, type Application } from '@stackware/gateway';
import { serve } from '@stackware/server';
import { globalLock, forwardedHeaders, parseForwarded, getOriginalRemote, compression, negotiateEncoding, accessLog } from '../src/index.js';

const run = promisify(execFile);

describe('globalLock', () => {
  it('serialises requests across awaits, through the whole streamed body, in order', async () => {
    let active = 0;
    let maxActive = 0;
    const order: number[] = [];
    const slow: Application = async (environ, startResponse) => {
      active++;
      maxActive = Math.max(maxActive, active);
      await new Promise((r) => setTimeout(r, 5));
      startResponse('200 OK', [['Content-Type', 'text/plain']]);
      const n = Number(environ.QUERY_STRING);
      return Object.assign((async function* () {
        await new Promise((r) => setTimeout(r, 5));
        yield Buffer.from(String(n));
        order.push(n);
      })(), { close: () => { active--; } });
    };
    const client = new TestClient(globalLock(slow));
    const results = await Promise.all([1, 2, 3, 4, 5].map((n) => client.get(`/?${n}`)));
    expect(results.map((r) => r.text())).toEqual(['1', '2', '3', '4', '5']);
    expect(maxActive).toBe(1);
    expect(order).toEqual([1, 2, 3, 4, 5]);
  });

  it('releases the lock when the application throws', async () => {
    let calls = 0;
    const flaky: Application = (environ, startResponse) => {
      calls++;
      if (calls === 1) throw new Error('first call fails');
      return text('ok')(environ, startResponse);
    };
    const locked = globalLock(flaky);
    const client = new TestClient(locked, { throwErrors: false });
    expect((await client.get('/')).statusCode).toBe(500);
    expect((await client.get('/')).text()).toBe('ok');
    expect(locked.held).toBe(false);
  });

  it('answers 503 with Retry-After when the queue is full or the wait too long', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => { release = r; });
    const blocking: Application = async (environ, startResponse) => { await gate; return text('done')(environ, startResponse); };
    const client = new TestClient(globalLock(blocking, { maxQueue: 1, retryAfterSeconds: 7 }));
    const first = client.get('/');
    const second = client.get('/');
    const third = await client.get('/');
    expect(third.statusCode).toBe(503);
    expect(third.header('retry-after')).toBe('7');
    release();
    expect((await first).text()).toBe('done');
    expect((await second).text()).toBe('done');

    let release2!: () => void;
    const gate2 = new Promise<void>((r) => { release2 = r; });
    const client2 = new TestClient(globalLock(async (e, s) => { await gate2; return text('x')(e, s); }, { waitTimeoutMs: 30 }));
    const holder = client2.get('/');
    const timedOut = await client2.get('/');
    expect(timedOut.statusCode).toBe(503);
    expect(timedOut.text()).toContain('waited more than 30 ms');
    release2();
    await holder;
  });
});

describe('forwardedHeaders', () => {
  const show: Application = (environ, startResponse) => json({
    remote: environ.REMOTE_ADDR, scheme: environ['stackware.url_scheme'], host: environ.HTTP_HOST, name: environ.SERVER_NAME,
    port: environ.SERVER_PORT, script: environ.SCRIPT_NAME, original: getOriginalRemote(environ) ?? null,
  })(environ, startResponse);
  const headers = {
    'X-Forwarded-For': '6.6.6.6, 203.0.113.9, 10.0.0.2', 'X-Forwarded-Proto': 'https', 'X-Forwarded-Host': 'example.com',
    'X-Forwarded-Port': '8443', 'X-Forwarded-Prefix': '/shop/',
  };

  it('trusts nothing by default', async () => {
    const res = await new TestClient(forwardedHeaders(show)).get('/', { headers, remoteAddr: '10.0.0.1' });
    expect(res.json()).toMatchObject({ remote: '10.0.0.1', scheme: 'http', host: 'localhost', script: '', original: null });
  });

  it('takes the Nth value from the right for each trusted header, keeping the originals', async () => {
    const res = await new TestClient(forwardedHeaders(show, { for: 2, proto: 1, host: 1, port: 1, prefix: 1 })).get('/', { headers, remoteAddr: '10.0.0.1' });
    expect(res.json()).toEqual({
      remote: '203.0.113.9', scheme: 'https', host: 'example.com:8443', name: 'example.com', port: '8443', script: '/shop',
      original: { REMOTE_ADDR: '10.0.0.1', url_scheme: 'http', HTTP_HOST: 'localhost', SERVER_NAME: 'localhost', SERVER_PORT: '80', SCRIPT_NAME: '' },
    });
  });

  it('ignores spoofed or malformed values, and too few hops', async () => {
    const res = await new TestClient(forwardedHeaders(show, { for: 3, proto: 1, host: 1 })).get('/', {
      headers: { 'X-Forwarded-For': 'not-an-ip, 1.2.3.4', 'X-Forwarded-Proto': 'javascript', 'X-Forwarded-Host': 'evil.com/<x>' },
    });
    expect(res.json()).toMatchObject({ remote: '127.0.0.1', scheme: 'http', host: 'localhost' });
  });

  it('never makes SCRIPT_NAME protocol-relative ("//evil.example") from X-Forwarded-Prefix, and refuses control characters', async () => {
    const app = forwardedHeaders(show, { prefix: 1 });
    expect((await new TestClient(app).get('/', { headers: { 'X-Forwarded-Prefix': '//evil.example/' } })).json()).toMatchObject({ script: '/evil.example' });
    expect((await new TestClient(app).get('/', { headers: { 'X-Forwarded-Prefix': '/\tshop' } })).json()).toMatchObject({ script: '' });
    expect((await new TestClient(app).get('/', { headers: { 'X-Forwarded-Prefix': '/\\evil.example' } })).json()).toMatchObject({ script: '' });
  });

  it('reads RFC 7239 Forwarded', async () => {
    expect(parseForwarded('for=192.0.2.60;proto=http;by=203.0.113.43, for="[2001:db8:cafe::17]:4711";proto=https')).toEqual([
      { for: '192.0.2.60', proto: 'http', by: '203.0.113.43' }, { for: '[2001:db8:cafe::17]:4711', proto: 'https' },
    ]);
    const res = await new TestClient(forwardedHeaders(show, { forwarded: 1 })).get('/', {
      headers: { Forwarded: 'for=192.0.2.60;proto=http, for="[2001:db8:cafe::17]:4711";proto=https;host=shop.example' },
    });
    expect(res.json()).toMatchObject({ remote: '2001:db8:cafe::17', scheme: 'https', host: 'shop.example', port: '443' });
  });
});

describe('compression', () => {
  const big = 'compress me please '.repeat(200);
  const page = text(big);

  it('negotiates by q-value, with the server preference on ties', () => {
    expect(negotiateEncoding('gzip, br', ['br', 'gzip'])).toBe('br');
    expect(negotiateEncoding('gzip;q=1, br;q=0.5', ['br', 'gzip'])).toBe('gzip');
    expect(negotiateEncoding('br;q=0, *;q=0.1', ['br', 'gzip'])).toBe('gzip');
    expect(negotiateEncoding('identity', ['br', 'gzip'])).toBeUndefined();
    expect(negotiateEncoding(undefined, ['br', 'gzip'])).toBeUndefined();
  });

  it('compresses array bodies in one piece, keeping a known length', async () => {
    const client = new TestClient(compression(page));
    const gz = await client.get('/', { headers: { 'Accept-Encoding': 'gzip' } });
    expect(gz.header('content-encoding')).toBe('gzip');
    expect(gz.header('vary')).toBe('Accept-Encoding');
    expect(gz.header('content-length')).toBeUndefined();
    expect(gz.contentLength).toBe(gz.body.length);
    expect(gunzipSync(gz.body).toString()).toBe(big);
    const br = await client.get('/', { headers: { 'Accept-Encoding': 'br, gzip' } });
    expect(brotliDecompressSync(br.body).toString()).toBe(big);
    const deflated = await new TestClient(compression(page, { encodings: ['deflate'] })).get('/', { headers: { 'Accept-Encoding': 'deflate' } });
    expect(inflateSync(deflated.body).toString()).toBe(big);
  });

  it('keeps streamed bodies streamed: one compressed chunk per produced chunk', async () => {
    const stream: Application = (_e, startResponse) => (async function* () {
      startResponse('200 OK', [['Content-Type', 'text/event-stream'], ['ETag', '"abc"']]);
      for (let i = 0; i < 3; i++) yield Buffer.from(`data: event ${i} ${'x'.repeat(300)}\n\n`);
    })();
    const res = await new TestClient(compression(stream, { contentTypes: /event-stream/ })).get('/', { headers: { 'Accept-Encoding': 'gzip' } });
    expect(res.chunks.length).toBeGreaterThanOrEqual(3);
    expect(res.header('etag')).toBe('W/"abc"');
    // Each chunk decodes on its own prefix: the first event is readable before the stream ends.
    const { createGunzip } = await import('node:zlib');
    const gunzip = createGunzip();
    const firstPart = await new Promise<string>((resolve) => {
      gunzip.once('data', (d: Buffer) => resolve(d.toString()));
      gunzip.write(res.chunks[0]);
    });
    gunzip.destroy();
    expect(firstPart).toContain('data: event 0');
    expect(gunzipSync(res.body).toString()).toContain('data: event 2');
  });

  it('leaves alone: small bodies, images, no-transform, already encoded, 304, and clients without gzip', async () => {
    const ae = { 'Accept-Encoding': 'gzip' };
    const small = await new TestClient(compression(text('tiny'))).get('/', { headers: ae });
    expect(small.header('content-encoding')).toBeUndefined();
    expect(small.header('vary')).toBe('Accept-Encoding');
    const png = await new TestClient(compression((_e, s) => { s('200 OK', [['Content-Type', 'image/png']]); return [Buffer.alloc(5000)]; })).get('/', { headers: ae });
    expect(png.header('content-encoding')).toBeUndefined();
    expect(png.header('vary')).toBeUndefined();
    const noTransform = await new TestClient(compression(text(big, { headers: [['Cache-Control', 'no-transform']] }))).get('/', { headers: ae });
    expect(noTransform.header('content-encoding')).toBeUndefined();
    const encoded = await new TestClient(compression(text(big, { headers: [['Content-Encoding', 'br']] }))).get('/', { headers: ae });
    expect(encoded.header('content-encoding')).toBe('br');
    expect(encoded.text()).toBe(big);
    // A byte range is a range of the identity representation (RFC 9110 §14.4): never re-encoded.
    const partial = await new TestClient(compression((_e, s) => { s('206 Partial Content', [['Content-Type', 'text/plain'], ['Content-Range', `bytes 0-1999/${big.length}`], ['Content-Length', '2000']]); return [Buffer.from(big.slice(0, 2000))]; })).get('/', { headers: { ...ae, Range: 'bytes=0-1999' } });
    expect(partial.header('content-encoding')).toBeUndefined();
    expect(partial.text()).toBe(big.slice(0, 2000));
    // A 304 answering the weak ETag we gave out carries it back weak (RFC 9110 §15.4.5), not the app's strong one.
    const revalidated = await new TestClient(compression((_e, s) => { s('304 Not Modified', [['ETag', '"v1"']]); return []; })).get('/', { headers: { ...ae, 'If-None-Match': 'W/"v1"' } });
    expect([revalidated.header('etag'), revalidated.header('vary')]).toEqual(['W/"v1"', 'Accept-Encoding']);
    const strong = await new TestClient(compression((_e, s) => { s('304 Not Modified', [['ETag', '"v1"']]); return []; })).get('/', { headers: { ...ae, 'If-None-Match': '"v1"' } });
    expect(strong.header('etag')).toBe('"v1"');
    const notModified = await new TestClient(compression((_e, s) => { s('304 Not Modified', []); return []; })).get('/', { headers: ae });
    expect(notModified.header('content-encoding')).toBeUndefined();
    expect((await new TestClient(compression(page)).get('/')).text()).toBe(big);
  });

  it('answers HEAD with the compressed headers and no Content-Length (not the length of a compressed empty body)', async () => {
    const server = await serve(compression(page), { host: '127.0.0.1', port: 0, accessLog: false });
    try {
      const get = await run('curl', ['-s', '-H', 'Accept-Encoding: gzip', '-D', '-', '-o', '/dev/null', server.url + '/']);
      expect(get.stdout).toMatch(/content-length: \d+/i);
      const head = await run('curl', ['-s', '-I', '-H', 'Accept-Encoding: gzip', server.url + '/']);
      expect(head.stdout).toMatch(/content-encoding: gzip/i);
      expect(head.stdout).toMatch(/vary: accept-encoding/i);
      expect(head.stdout).not.toMatch(/content-length/i); // it said 20 (gzip of nothing) while GET sends more
    } finally {
      await server.close();
    }
    // The lazy (startResponse inside the body) path: no encoder output for HEAD either.
    const lazy: Application = (_e, startResponse) => (async function* () {
      startResponse('200 OK', [['Content-Type', 'text/plain']]);
      yield Buffer.from(big);
    })();
    const res = await new TestClient(compression(lazy)).head('/', { headers: { 'Accept-Encoding': 'gzip' } });
    expect(res.header('content-encoding')).toBe('gzip');
    expect(res.body.length).toBe(0);
  });

  it('is decoded by curl --compressed over the real HTTP server', async () => {
    const server = await serve(compression(page), { host: '127.0.0.1', port: 0, accessLog: false });
    try {
      const { stdout } = await run('curl', ['-s', '--compressed', '-D', '-', server.url + '/']);
      expect(stdout).toMatch(/content-encoding: (br|gzip)/i);
      expect(stdout.slice(stdout.indexOf('\r\n\r\n') + 4)).toBe(big);
      const raw = await run('curl', ['-s', '-H', 'Accept-Encoding: gzip', '-o', '/dev/null', '-w', '%{size_download}', server.url + '/']);
      expect(Number(raw.stdout)).toBeLessThan(big.length / 5);
    } finally {
      await server.close();
    }
  });
});

describe('accessLog', () => {
  function capture() {
    const lines: Array<Record<string, unknown>> = [];
    const logger = pino({ level: 'info' }, new Writable({ write(chunk, _enc, done) { lines.push(JSON.parse(chunk.toString())); done(); } }));
    return { lines, logger };
  }

  it('logs one combined-log record per request when the response is over', async () => {
    const { lines, logger } = capture();
    const client = new TestClient(accessLog(text('hello'), { logger }));
    await client.get('/a/b?c=1', { headers: { 'User-Agent': 'jest', Referer: 'http://r/', 'X-Request-Id': 'abc-123' } });
    await new Promise((r) => setImmediate(r));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      msg: 'request', req_id: 'abc-123', remote_addr: '127.0.0.1', remote_user: '-', method: 'GET', path: '/a/b?c=1',
      protocol: 'HTTP/1.1', status: 200, bytes: 5, referer: 'http://r/', user_agent: 'jest',
    });
    expect(typeof lines[0]!.duration_ms).toBe('number');
  });

  it('marks responses cut short and failed applications', async () => {
    const { lines, logger } = capture();
    const endless: Application = (_e, s) => (async function* () { s('200 OK', [['Content-Type', 'text/plain']]); for (;;) yield Buffer.from('x'); })();
    await new TestClient(accessLog(endless, { logger })).get('/', { disconnectAfterChunks: 3 });
    await new TestClient(accessLog(() => { throw new Error('nope'); }, { logger }), { throwErrors: false }).get('/fail');
    expect(lines[0]).toMatchObject({ status: 200, aborted: true });
    expect(lines[1]).toMatchObject({ status: 500, path: '/fail', aborted: true });
  });
});
