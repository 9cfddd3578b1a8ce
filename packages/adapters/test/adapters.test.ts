import { describe, it, expect, afterEach } from '@jest/globals';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { Hono } from 'hono';
import { serve as honoServe } from '@hono/node-server';
import Fastify from 'fastify';
import { TestClient, readBody, text, type Application, type Middleware, type Environ } from '@stackware/gateway';
import { urlMap } from '@stackware/middleware';
import {
  toNodeHandler, fromNodeHandler, toFetchHandler, fromFetchHandler, toConnectMiddleware, honoMiddleware, stackwareFastify,
  type RequestWithEnviron,
} from '../src/index.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/**
 * A streaming application: sends "first", then waits until the test opens the gate, then sends
 * "second". A client can only read "first" before opening the gate if every layer streams.
 */
function gatedApp(): { app: Application; open(): void; closed: () => boolean } {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => { release = resolve; });
  let closed = false;
  const app: Application = (_environ, startResponse) => Object.assign((async function* () {
    startResponse('200 OK', [['Content-Type', 'text/plain']]);
    yield Buffer.from('first;');
    await gate;
    yield Buffer.from('second');
  })(), { close: () => { closed = true; } });
  return { app, open: release, closed: () => closed };
}

/** Reads the first chunk, fails clearly if it does not come while the gate is shut, then opens it and reads the rest. */
async function expectStreamed(url: string, gated: { open(): void }): Promise<void> {
  const res = await fetch(url);
  expect(res.status).toBe(200);
  const reader = res.body!.getReader();
  let timer: NodeJS.Timeout | undefined;
  const first = await Promise.race([
    reader.read(),
    new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error('the first chunk did not arrive before the body ended: the response was buffered')), 5000); }),
  ]).finally(() => clearTimeout(timer));
  expect(Buffer.from(first.value!).toString()).toBe('first;');
  gated.open();
  let rest = '';
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    rest += Buffer.from(value).toString();
  }
  expect(rest).toBe('second');
}

/** A small Stackware middleware: counts requests in the environ, tags the response, and can catch errors. */
const tagging: Middleware = (app) => async (environ, startResponse) => {
  environ['stackware.test.seen'] = true;
  try {
    return await app(environ, (status, headers, error) => startResponse(status, [...headers, ['X-Stackware', 'yes']], error));
  } catch (error) {
    const body = Buffer.from(`caught: ${(error as Error).message}`);
    startResponse('500 Internal Server Error', [['Content-Type', 'text/plain'], ['Content-Length', String(body.length)], ['X-Stackware', 'caught']], error);
    return [body];
  }
};

const echoEnviron: Application = async (environ, startResponse) => {
  const body = await readBody(environ);
  return text(JSON.stringify({ scriptName: environ.SCRIPT_NAME, pathInfo: environ.PATH_INFO, query: environ.QUERY_STRING, method: environ.REQUEST_METHOD, body: body.toString() }))(environ, startResponse);
};

describe('toNodeHandler', () => {
  it('serves an application from node:http and streams', async () => {
    const gated = gatedApp();
    const url = await listen(createServer(toNodeHandler(gated.app)));
    await expectStreamed(url, gated);
    expect(gated.closed()).toBe(true);
  });

  it('mounts inside Express with SCRIPT_NAME and reads POST bodies', async () => {
    const app = express();
    app.use('/sw', toNodeHandler(echoEnviron, { scriptName: '/sw' }));
    const url = await listen(createServer(app));
    const res = await fetch(`${url}/sw/a/b?x=1`, { method: 'POST', body: 'payload' });
    expect(await res.json()).toEqual({ scriptName: '/sw', pathInfo: '/a/b', query: 'x=1', method: 'POST', body: 'payload' });
  });

  it('answers 400 for a path that is not UTF-8', async () => {
    const url = await listen(createServer(toNodeHandler(echoEnviron)));
    expect((await fetch(`${url}/%FF`)).status).toBe(400);
  });
});

describe('fromNodeHandler', () => {
  function legacyExpress() {
    const app = express();
    const router = express.Router();
    router.get('/hello', (req, res) => {
      res.set('X-Original-Url', req.originalUrl);
      res.cookie('legacy', '1');
      res.cookie('other', '2');
      res.json({ url: req.url, environ: Boolean((req as RequestWithEnviron).environ), query: req.query });
    });
    router.post('/echo', express.text({ type: '*/*' }), (req, res) => { res.type('text/plain').send(`echo:${req.body as string}`); });
    router.get('/stream', (_req, res) => {
      res.type('text/plain');
      res.write('a');
      setTimeout(() => { res.write('b'); res.end('c'); }, 10);
    });
    router.get('/boom', () => { throw new Error('express route failed'); });
    app.use(router);
    return app;
  }

  it('mounts an Express router under /legacy in a Stackware URL map (strict TestClient)', async () => {
    const site = urlMap({ '/legacy': fromNodeHandler(legacyExpress()), '/': text('stackware home') });
    const client = new TestClient(site);
    const res = await client.get('/legacy/hello?x=1');
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ url: '/hello?x=1', environ: true, query: { x: '1' } });
    expect(res.header('x-original-url')).toBe('/legacy/hello?x=1');
    expect(res.headerAll('set-cookie')).toEqual(['legacy=1; Path=/', 'other=2; Path=/']);
    expect((await client.post('/legacy/echo', { body: 'hi', headers: { 'Content-Type': 'text/plain' } })).text()).toBe('echo:hi');
    expect((await client.get('/legacy/stream')).text()).toBe('abc');
    expect((await client.get('/')).text()).toBe('stackware home');
  });

  it('answers 404 (or the fallback) when Express calls next(), and rejects with the route error', async () => {
    const client = new TestClient(fromNodeHandler(legacyExpress()), { throwErrors: false });
    const missing = await new TestClient(fromNodeHandler((_req, _res, next) => next!())).get('/nothing');
    expect(missing.statusCode).toBe(404);
    const fallback = await new TestClient(fromNodeHandler((_req, _res, next) => next!(), { fallback: text('fallback') })).get('/');
    expect(fallback.text()).toBe('fallback');
    // Express 5 renders its own 500 page for a route error when it has no error handler.
    expect((await client.get('/boom')).statusCode).toBe(500);
  });

  it('keeps Express responses streamed through a real server', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => { release = r; });
    const app = express();
    app.get('/', async (_req, res) => {
      res.type('text/plain');
      res.write('first;');
      await gate;
      res.end('second');
    });
    const url = await listen(createServer(toNodeHandler(fromNodeHandler(app))));
    await expectStreamed(url, { open: release });
  });
});

describe('toConnectMiddleware', () => {
  it('runs a Stackware middleware inside Express: environ visible in routes, headers added, response passed through', async () => {
    const app = express();
    const mw = toConnectMiddleware(tagging);
    app.use(mw);
    app.get('/', (req, res) => { res.send(`seen=${String((req as RequestWithEnviron).environ?.['stackware.test.seen'])}`); });
    app.get('/cookies', (_req, res) => { res.cookie('a', '1').cookie('b', '2').send('two cookies'); });
    app.get('/boom', () => { throw new Error('route exploded'); });
    app.use(mw.errorHandler);
    const url = await listen(createServer(app));
    const res = await fetch(url);
    expect(await res.text()).toBe('seen=true');
    expect(res.headers.get('x-stackware')).toBe('yes');
    const cookies = await fetch(`${url}/cookies`);
    expect(cookies.headers.getSetCookie()).toEqual(['a=1; Path=/', 'b=2; Path=/']);
    const boom = await fetch(`${url}/boom`);
    expect(boom.status).toBe(500);
    expect(await boom.text()).toBe('caught: route exploded');
    expect(boom.headers.get('x-stackware')).toBe('caught');
    const missing = await fetch(`${url}/missing`);
    expect(missing.status).toBe(404);
    expect(missing.headers.get('x-stackware')).toBe('yes');
  });

  it('keeps Express responses streamed through the middleware', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => { release = r; });
    const app = express();
    app.use(toConnectMiddleware(tagging));
    app.get('/', async (_req, res) => {
      res.type('text/plain');
      res.write('first;');
      await gate;
      res.end('second');
    });
    await expectStreamed(await listen(createServer(app)), { open: release });
  });
});

describe('fetch and Hono', () => {
  it('toFetchHandler: a Stackware application mounted in Hono, streamed', async () => {
    const gated = gatedApp();
    const hono = new Hono();
    hono.mount('/sw', toFetchHandler(gated.app));
    hono.mount('/echo', toFetchHandler(echoEnviron));
    const server = honoServe({ fetch: hono.fetch, port: 0, hostname: '127.0.0.1' }) as unknown as Server;
    await new Promise<void>((r) => server.once('listening', () => r()));
    cleanups.push(() => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    await expectStreamed(`${url}/sw/`, gated);
    const res = await fetch(`${url}/echo/x?y=1`, { method: 'PUT', body: 'body' });
    expect(await res.json()).toMatchObject({ pathInfo: '/x', query: 'y=1', method: 'PUT', body: 'body' });
  });

  it('fromFetchHandler: a Hono app inside a Stackware URL map (strict TestClient)', async () => {
    const hono = new Hono();
    hono.get('/hi/:name', (c) => { c.header('Set-Cookie', 'h=1'); return c.text(`hi ${c.req.param('name')} ${c.req.query('q') ?? ''}`); });
    hono.post('/json', async (c) => c.json({ got: await c.req.json<unknown>() }));
    const site = urlMap({ '/api': fromFetchHandler(hono.fetch) });
    const client = new TestClient(site);
    const res = await client.get('/api/hi/bob?q=2');
    expect(res.text()).toBe('hi bob 2');
    expect(res.header('set-cookie')).toBe('h=1');
    expect((await client.post('/api/json', { json: { a: 1 } })).json()).toEqual({ got: { a: 1 } });
    expect((await client.get('/api/none')).statusCode).toBe(404);
  });

  it('fromFetchHandler: neither the Host header nor dot segments can change the path the handler routes', async () => {
    const hono = new Hono();
    hono.get('*', (c) => c.text(new URL(c.req.url).pathname));
    const handler = fromFetchHandler(hono.fetch);
    // /admin is protected by the URL map; the same handler answers the public part.
    const site = urlMap({ '/admin': text('login first', { status: 401 }), '/': handler });
    const client = new TestClient(site, { throwErrors: false });
    for (const host of ['evil.example/admin/secret?', 'x@evil.example', 'a b']) {
      const res = await client.get('/public', { headers: { Host: host } });
      expect([res.statusCode, res.text()]).toEqual([200, '/public']); // was "/admin/secret" (or a 500)
    }
    for (const path of ['/x/../admin/secret', '/x/%2e%2e/admin/secret', '/x/..%2Fadmin']) {
      expect((await client.get(path)).statusCode).toBe(400); // the URL parser would have made it /admin/...
    }
    expect((await client.get('/a.b/..c', { headers: { Host: 'example.com:8080' } })).text()).toBe('/a.b/..c');
  });

  it('honoMiddleware: a Stackware middleware around Hono handlers, errors included', async () => {
    const hono = new Hono<{ Variables: { environ: Environ } }>();
    hono.use('*', honoMiddleware(tagging));
    hono.onError((_error, c) => c.text('hono error page', 500)); // keeps Hono from logging; c.error still carries the error
    hono.get('/', (c) => c.text(`seen=${String(c.get('environ')['stackware.test.seen'])}`));
    hono.get('/boom', () => { throw new Error('hono handler failed'); });
    const ok = await hono.request('/');
    expect(await ok.text()).toBe('seen=true');
    expect(ok.headers.get('x-stackware')).toBe('yes');
    const boom = await hono.request('/boom');
    expect(boom.status).toBe(500);
    expect(await boom.text()).toBe('caught: hono handler failed');
  });
});

describe('Fastify', () => {
  it('mounts a Stackware application under a prefix, with raw bodies and streaming', async () => {
    const gated = gatedApp();
    const fastify = Fastify();
    await fastify.register(stackwareFastify, { app: echoEnviron, prefix: '/sw' });
    await fastify.register(stackwareFastify, { app: gated.app, prefix: '/stream' });
    fastify.get('/native', async () => ({ native: true }));
    await fastify.listen({ port: 0, host: '127.0.0.1' });
    cleanups.push(() => fastify.close());
    const url = `http://127.0.0.1:${(fastify.server.address() as AddressInfo).port}`;
    const res = await fetch(`${url}/sw/a?b=1`, { method: 'POST', body: '{"json":"left raw"}', headers: { 'content-type': 'application/json' } });
    expect(await res.json()).toEqual({ scriptName: '/sw', pathInfo: '/a', query: 'b=1', method: 'POST', body: '{"json":"left raw"}' });
    expect(await (await fetch(`${url}/native`)).json()).toEqual({ native: true });
    await expectStreamed(`${url}/stream/`, gated);
  });
});
