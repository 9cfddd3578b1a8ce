import { describe, it, expect, beforeAll, afterAll } from '@jest/globals';
import { createServer, type Server, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { TestClient, text } from '@stackware/gateway';
import { serve } from '@stackware/server';
import { freePort } from '@stackware/testing';
import { proxy, urlMap, type ProxyApplication } from '../src/index.js';

// A real upstream HTTP server on loopback.
let upstream: Server;
let upstreamUrl: string;
let releaseStream!: () => void;
const seen: IncomingMessage[] = [];

beforeAll(async () => {
  upstream = createServer(async (req, res) => {
    seen.push(req);
    if (req.url!.startsWith('/base/stream')) {
      res.writeHead(200, { 'Content-Type': 'text/plain' });
      res.write('first;');
      await new Promise<void>((r) => { releaseStream = r; });
      res.end('second');
      return;
    }
    if (req.url!.startsWith('/base/slow')) {
      setTimeout(() => { res.writeHead(200, { 'Content-Type': 'text/plain' }); res.end('late'); }, 2000);
      return;
    }
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    res.setHeader('Set-Cookie', ['a=1', 'b=2']);
    res.setHeader('Connection', 'close, X-Secret-Hop');
    res.setHeader('X-Secret-Hop', 'must not pass');
    res.setHeader('Keep-Alive', 'timeout=5');
    res.writeHead(201, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ url: req.url, method: req.method, headers: req.headers, body: Buffer.concat(chunks).toString() }));
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
});

afterAll(async () => {
  upstream.closeAllConnections();
  await new Promise<void>((r) => upstream.close(() => r()));
});

describe('proxy', () => {
  let api: ProxyApplication;
  beforeAll(() => { api = proxy({ target: `${upstreamUrl}/base`, headersTimeoutMs: 500 }); });
  afterAll(() => api.close());

  it('refuses dot segments, which the upstream would resolve past the mount, the base path and any auth in front', async () => {
    const client = new TestClient(urlMap({ '/api': api, '/': text('site') }));
    const before = seen.length;
    for (const path of ['/api/../secret', '/api/%2e%2e/secret', '/api/x/..%2Fsecret', '/api/./x', '/api/..%5Csecret', '/api/..']) {
      const res = await client.get(path);
      expect(res.statusCode).toBe(400);
    }
    expect(seen.length).toBe(before); // nothing reached the upstream
    expect((await client.get('/api/..x/a.b/...')).statusCode).toBe(201); // names with dots are fine
  });

  it('forwards path, query, method, body; drops hop-by-hop headers both ways; adds X-Forwarded-*', async () => {
    const client = new TestClient(urlMap({ '/api': api, '/': text('site') }));
    const res = await client.post('/api/items/caf%C3%A9?x=1&y=%20', {
      body: 'payload',
      headers: { 'Content-Type': 'text/plain', Connection: 'X-Client-Hop', 'X-Client-Hop': 'drop me', 'X-Keep': 'keep me', 'X-Forwarded-For': '198.51.100.7' },
      remoteAddr: '192.0.2.1',
    });
    expect(res.statusCode).toBe(201);
    const echoed = res.json<{ url: string; method: string; headers: Record<string, string>; body: string }>();
    expect(echoed.url).toBe('/base/items/caf%C3%A9?x=1&y=%20');
    expect(echoed.method).toBe('POST');
    expect(echoed.body).toBe('payload');
    expect(echoed.headers['x-keep']).toBe('keep me');
    expect(echoed.headers['x-client-hop']).toBeUndefined();
    expect(echoed.headers['x-forwarded-for']).toBe('198.51.100.7, 192.0.2.1');
    expect(echoed.headers['x-forwarded-proto']).toBe('http');
    expect(echoed.headers['x-forwarded-host']).toBe('localhost');
    expect(echoed.headers['x-forwarded-prefix']).toBe('/api');
    expect(echoed.headers.host).toBe(new URL(upstreamUrl).host);
    expect(res.headerAll('set-cookie')).toEqual(['a=1', 'b=2']);
    expect(res.header('x-secret-hop')).toBeUndefined();
    expect(res.header('keep-alive')).toBeUndefined();
    expect(res.header('connection')).toBeUndefined();
  });

  it('streams a chunked upload up', async () => {
    const res = await new TestClient(api).put('/up', { body: (async function* () { yield Buffer.from('part1-'); yield Buffer.from('part2'); })() });
    expect(res.json<{ body: string; headers: Record<string, string> }>().body).toBe('part1-part2');
  });

  it('streams the response down through the real HTTP server', async () => {
    const server = await serve(api, { host: '127.0.0.1', port: 0, accessLog: false });
    try {
      const res = await fetch(`${server.url}/stream`);
      const reader = res.body!.getReader();
      let timer: NodeJS.Timeout | undefined;
      const first = await Promise.race([reader.read(), new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error('the proxy buffered the response')), 5000); })])
        .finally(() => clearTimeout(timer));
      expect(Buffer.from(first.value!).toString()).toBe('first;');
      releaseStream();
      let rest = '';
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        rest += Buffer.from(value).toString();
      }
      expect(rest).toBe('second');
    } finally {
      await server.close();
    }
  });

  it('answers 504 when the upstream is too slow, 502 when it is down', async () => {
    const slow = await new TestClient(api).get('/slow');
    expect(slow.statusCode).toBe(504);
    const down = proxy({ target: `http://127.0.0.1:${await freePort()}` });
    try {
      const res = await new TestClient(down).get('/');
      expect(res.statusCode).toBe(502);
      expect(res.errors).toContain('proxy: GET');
    } finally {
      await down.close();
    }
  });

  it('refuses a non-HTTP target at construction', () => {
    expect(() => proxy({ target: 'ftp://example.com/' })).toThrow(/http/);
  });
});
