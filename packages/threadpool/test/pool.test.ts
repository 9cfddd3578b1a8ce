import { describe, it, expect, beforeAll, afterAll } from '@jest/globals';
import { writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { TestClient, isFileWrapper, collectBody, createEnviron, type Environ, type ResponseBody } from '@stackware/gateway';
import { tempDir } from '@stackware/testing';
import { threadPool, ThreadPoolOptionError, type ThreadPoolApplication } from '../src/index.js';
import { fixture, until, readOr } from './helpers.js';
import { serveForTest, type TestServer } from './http.js';

describe('threadPool: the gateway contract across the thread boundary', () => {
  let pool: ThreadPoolApplication;
  let client: TestClient;
  let dir: { dir: string; cleanup(): Promise<void> };
  let server: TestServer;

  beforeAll(async () => {
    dir = await tempDir('threadpool-');
    pool = threadPool({ module: fixture('app.ts'), threads: 2, windowBytes: 4096, timeoutMs: 20_000 });
    client = new TestClient(pool);
    server = await serveForTest(pool);
    await pool.ready();
  });
  afterAll(async () => {
    await server.close();
    await pool.close();
    await dir.cleanup();
  });

  it('runs the application in a worker thread, with stackware.multithread true', async () => {
    const res = await client.get('/env?x=1', { headers: { 'X-Custom': 'yes' } });
    const env = res.json<Record<string, unknown>>();
    expect(env['stackware.multithread']).toBe(true);
    expect(env).toMatchObject({ REQUEST_METHOD: 'GET', PATH_INFO: '/env', QUERY_STRING: 'x=1', HTTP_X_CUSTOM: 'yes', 'stackware.url_scheme': 'http' });
    expect(env['stackware.version']).toEqual([1, 0]);
    expect(env['stackware.input']).toBe('object');
    expect(env['stackware.file_wrapper']).toBe('function');
  });

  it('leaves functions and class instances on the server thread and lists their keys', async () => {
    class Session { get() { return 1; } }
    const res = await client.get('/env', { environ: { 'my.session': new Session(), 'my.fn': () => 1, 'my.table': { a: [1, 2] } } });
    const env = res.json<Record<string, unknown>>();
    expect(env['my.session']).toBeUndefined();
    expect(env['my.fn']).toBeUndefined();
    expect(env['my.table']).toBe('object');
    expect(env['stackware.threadpool.dropped_keys']).toEqual(expect.arrayContaining(['my.session', 'my.fn']));
    expect(env['stackware.threadpool.dropped_keys']).not.toContain('my.table');
  });

  it('spreads requests over the threads', async () => {
    const seen = new Set<string>();
    for (let round = 0; round < 20 && seen.size < 2; round++) {
      const replies = await Promise.all([client.get('/sleep?ms=30'), client.get('/sleep?ms=30')]);
      for (const r of replies) seen.add(r.text());
    }
    expect(seen.size).toBe(2);
  });

  it('streams a request body to the thread and the response back, chunk by chunk', async () => {
    const parts = Array.from({ length: 20 }, (_, i) => Buffer.alloc(3000, 65 + i));
    const res = await client.post('/echo', {
      body: (async function* () { for (const p of parts) yield p; })(),
    });
    expect(res.statusCode).toBe(200);
    expect(res.body.equals(Buffer.concat(parts))).toBe(true);
    expect(res.chunks.length).toBeGreaterThan(1);
  });

  it('streams both ways at once over HTTP: the echo of each request chunk arrives before the next chunk is sent', async () => {
    const echoed: string[] = [];
    await new Promise<void>((resolve, reject) => {
      const req = request(`${server.url}/echo`, { method: 'POST', headers: { 'Content-Type': 'application/octet-stream' } });
      req.on('error', reject);
      let sent = 1;
      req.write('chunk-1;');
      req.on('response', (res) => {
        res.on('data', (data: Buffer) => {
          echoed.push(data.toString());
          // Only now send the next chunk: a gateway that buffered the whole request would deadlock.
          if (sent < 5 && echoed.join('').endsWith(`chunk-${sent};`)) {
            sent++;
            if (sent === 5) req.end(`chunk-${sent};`);
            else req.write(`chunk-${sent};`);
          }
        });
        res.on('end', resolve);
        res.on('error', reject);
      });
    });
    expect(echoed.join('')).toBe('chunk-1;chunk-2;chunk-3;chunk-4;chunk-5;');
  });

  it('streams a large response with a small window (flow control) and keeps every byte in order', async () => {
    const res = await client.get('/count?n=200&size=10000');
    expect(res.body.length).toBe(2_000_000);
    for (let i = 0; i < 200; i += 37) expect(res.body[i * 10000]).toBe(97 + (i % 26));
  });

  it('applies backpressure: a thread produces no more than the window ahead of what the server took', async () => {
    const marker = join(dir.dir, 'backpressure');
    const environ = createEnviron({ method: 'GET', target: '/count?n=1000&size=1000&progress=1', headers: [['X-Marker', marker]] });
    const body = (await pool(environ, () => async () => {})) as ResponseBody;
    const iterator = (body as AsyncIterable<Uint8Array>)[Symbol.asyncIterator]();
    await iterator.next();
    await iterator.next();
    // Give a thread that ignored the window every chance to run ahead.
    await new Promise((r) => setTimeout(r, 300));
    const produced = readOr(`${marker}.progress`).length;
    // 2 taken + 4096 bytes of window (5 chunks of 1000) + 1 waiting in the driver.
    expect(produced).toBeLessThanOrEqual(8);
    await iterator.return!();
    await body.close!();
    await until(() => readOr(marker) === 'closed\n', 10_000, 'the body to be closed in the thread');
  });

  it('supports the legacy write() and passes a known length on', async () => {
    const res = await client.get('/legacy');
    expect(res.text()).toBe('one two three');
    const hello = await client.get('/thread');
    expect(hello.header('content-length')).toBe(String(hello.body.length));
  });

  it('answers HEAD with headers only', async () => {
    const res = await client.head('/thread');
    expect(res.statusCode).toBe(200);
    expect(res.body.length).toBe(0);
  });

  it('forwards stackware.errors to the server thread', async () => {
    const res = await client.get('/log');
    expect(res.errors).toContain('a line from the thread');
  });

  it('answers 500 for an application that throws before responding, and logs the stack', async () => {
    const res = await new TestClient(pool, { throwErrors: false }).get('/throw');
    expect(res.statusCode).toBe(500);
    expect(res.errors).toContain('boom before the response');
  });

  it('breaks the response off when the application fails mid-body', async () => {
    const res = await fetch(`${server.url}/fail-mid`).then((r) => r.arrayBuffer()).then(() => 'complete', (e: unknown) => `broken: ${String(e)}`);
    expect(res).toMatch(/^broken/);
    expect(server.errors()).toContain('boom in the middle');
  });

  it('closes the body in the thread when the client stops reading early', async () => {
    const marker = join(dir.dir, 'early-stop');
    const res = await client.get('/count?n=100000&size=1000', { headers: { 'X-Marker': marker }, disconnectAfterChunks: 3 });
    expect(res.completed).toBe(false);
    await until(() => readOr(marker) === 'closed\n', 10_000, 'the body to be closed in the thread');
  });

  it('closes the body in the thread when a real HTTP client disconnects', async () => {
    const marker = join(dir.dir, 'disconnect');
    const controller = new AbortController();
    const res = await fetch(`${server.url}/count?n=1000000&size=1000`, { headers: { 'X-Marker': marker }, signal: controller.signal });
    const reader = res.body!.getReader();
    await reader.read();
    controller.abort();
    await until(() => readOr(marker) === 'closed\n', 10_000, 'the body to be closed in the thread');
  });

  it('returns a file wrapper from the thread as a file wrapper on the server thread', async () => {
    const path = join(dir.dir, 'data.txt');
    writeFileSync(path, 'abcdefghij');
    let status = '';
    const environ = (await client.get('/thread')).environ;
    const fresh: Environ = { ...environ, PATH_INFO: '/file', QUERY_STRING: `path=${encodeURIComponent(path)}&offset=3`, REQUEST_METHOD: 'GET' };
    const body = (await pool(fresh, (s) => { status = s; return async () => {}; })) as ResponseBody;
    expect(status).toBe('200 OK');
    expect(isFileWrapper(body)).toBe(true);
    expect((await collectBody(body)).toString()).toBe('defghij');
    // And over HTTP, where the server sends it from the file.
    const res = await fetch(`${server.url}/file?path=${encodeURIComponent(path)}`);
    expect(await res.text()).toBe('abcdefghij');
    expect(res.headers.get('content-length')).toBe('10');
  });
});

describe('threadPool: loading the application', () => {
  it('calls a factory once per thread with factoryOptions', async () => {
    const pool = threadPool({ module: fixture('factory.ts'), export: 'createApp', factory: true, factoryOptions: { greeting: 'Hi' }, threads: 1 });
    try {
      const client = new TestClient(pool);
      const first = await client.get('/');
      const second = await client.get('/');
      expect(first.text()).toMatch(/^Hi from \d+ \(factory call 1\)$/);
      expect(second.text()).toBe(first.text());
    } finally {
      await pool.close();
    }
  });

  it('answers 503 and names the export when the module has no such export', async () => {
    const logs: string[] = [];
    const pool = threadPool({ module: fixture('hello.ts'), export: 'nope', threads: 1, log: (t) => logs.push(t) });
    try {
      await expect(pool.ready()).rejects.toThrow(/no export named "nope"/);
      const res = await new TestClient(pool).get('/');
      expect(res.statusCode).toBe(503);
      expect(res.errors).toContain('no export named "nope"');
    } finally {
      await pool.close();
    }
  });

  it('logs an error nobody caught in a thread and keeps the thread', async () => {
    const logs: string[] = [];
    const pool = threadPool({ module: fixture('app.ts'), threads: 1, log: (t) => logs.push(t) });
    try {
      const client = new TestClient(pool);
      const first = await client.get('/stray');
      await until(() => logs.join('').includes('a stray rejection'), 10_000, 'the log line');
      expect((await client.get('/stray')).text()).toBe(first.text());
      expect(pool.stats.replaced).toEqual({ timeout: 0, memory: 0, crash: 0, recycle: 0, init: 0 });
    } finally {
      await pool.close();
    }
  });

  it('rejects options of the wrong type with a message naming the option', () => {
    expect(() => threadPool({ module: fixture('hello.ts'), threads: 0 })).toThrow(ThreadPoolOptionError);
    expect(() => threadPool({ module: fixture('hello.ts'), timeoutMs: -1 })).toThrow(/"timeoutMs"/);
    expect(() => threadPool({} as never)).toThrow(/"module"/);
  });
});
