import { describe, it, expect, afterEach } from '@jest/globals';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import Fastify, { type FastifyInstance } from 'fastify';
import pino from 'pino';
import type { Middleware } from '@stackware/gateway';
import { session, getSession } from '@stackware/session';
import { errorCatcher } from '@stackware/errors';
import { basicAuth, compression } from '@stackware/middleware';
import { stackwareHooks, type RequestWithEnviron } from '../src/index.js';

// Issue #22: Stackware middleware around native Fastify routes (onRequest/onSend/onError hooks),
// as toConnectMiddleware does in Express and honoMiddleware in Hono. Real Fastify on loopback.

const cleanups: Array<() => Promise<unknown> | void> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function start(fastify: FastifyInstance): Promise<string> {
  await fastify.listen({ port: 0, host: '127.0.0.1' });
  cleanups.push(() => fastify.close());
  return `http://127.0.0.1:${(fastify.server.address() as AddressInfo).port}`;
}

const SECRET = 'an adapter test secret that is long enough';

/** Tags the response and shows what it saw of the route's response. */
const tagging: Middleware = (app) => (environ, startResponse) => app({ ...environ, 'stackware.test.seen': true }, (status, headers, error) =>
  startResponse(status, [...headers, ['X-Stackware', `saw ${status}`]], error));

describe('Stackware middleware around native Fastify routes', () => {
  it('passes the route response through the middleware: status, headers, JSON and text bodies; environ on request.raw', async () => {
    const fastify = Fastify();
    await fastify.register(stackwareHooks, { middleware: tagging });
    fastify.get('/json', async (request) => ({ seen: (request.raw as RequestWithEnviron).environ?.['stackware.test.seen'] ?? null }));
    fastify.post('/echo', async (request, reply) => { reply.code(201).header('X-Route', 'yes'); return `echo ${JSON.stringify(request.body)}`; });
    const url = await start(fastify);
    const json = await fetch(`${url}/json`);
    expect(json.status).toBe(200);
    expect(json.headers.get('x-stackware')).toBe('saw 200 OK');
    expect(json.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await json.json()).toEqual({ seen: true });
    const echo = await fetch(`${url}/echo`, { method: 'POST', body: JSON.stringify({ a: 1 }), headers: { 'content-type': 'application/json' } });
    expect([echo.status, echo.headers.get('x-route'), echo.headers.get('x-stackware')]).toEqual([201, 'yes', 'saw 201 Created']);
    expect(await echo.text()).toBe('echo {"a":1}');
    const head = await fetch(`${url}/json`, { method: 'HEAD' });
    expect([head.status, head.headers.get('x-stackware'), await head.text()]).toEqual([200, 'saw 200 OK', '']);
    const missing = await fetch(`${url}/nowhere`);
    expect([missing.status, missing.headers.get('x-stackware')]).toEqual([404, 'saw 404 Not Found']);
  });

  it('session(): a counter in a native route, the cookie set by the middleware after the route ran', async () => {
    const fastify = Fastify();
    await fastify.register(stackwareHooks, { middleware: (inner) => session(inner, { secret: SECRET }) });
    fastify.get('/count', async (request) => {
      const s = getSession((request.raw as RequestWithEnviron).environ!);
      await s.load();
      s.set('n', (s.get<number>('n') ?? 0) + 1);
      return `n=${s.get<number>('n')}`;
    });
    const url = await start(fastify);
    let cookie = '';
    const seen: string[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await fetch(`${url}/count`, { headers: cookie ? { cookie } : {} });
      const set = res.headers.get('set-cookie');
      if (set) cookie = set.split(';')[0]!;
      seen.push(await res.text());
    }
    expect(seen).toEqual(['n=1', 'n=2', 'n=3']);
  });

  it('basicAuth(): the middleware answers 401 itself and the route does not run', async () => {
    let ran = 0;
    const fastify = Fastify();
    await fastify.register(stackwareHooks, { middleware: (inner) => basicAuth(inner, { realm: 'test', checkPassword: (user, password) => user === 'ann' && password === 'secret' }) });
    fastify.get('/private', async (request) => { ran++; return { user: (request.raw as RequestWithEnviron).environ?.REMOTE_USER }; });
    const url = await start(fastify);
    const refused = await fetch(`${url}/private`);
    expect(refused.status).toBe(401);
    expect(refused.headers.get('www-authenticate')).toMatch(/^Basic realm="test"/);
    await refused.text();
    expect(ran).toBe(0);
    const ok = await fetch(`${url}/private`, { headers: { authorization: `Basic ${Buffer.from('ann:secret').toString('base64')}` } });
    expect(await ok.json()).toEqual({ user: 'ann' });
  });

  it('errorCatcher(): a route that throws gets the production error page with an error id, logged once', async () => {
    const errorDir = await mkdtemp(join(tmpdir(), 'fastify-errors-'));
    cleanups.push(() => rm(errorDir, { recursive: true, force: true }));
    const records: Array<Record<string, unknown>> = [];
    const logger = pino({ level: 'info' }, new Writable({ write(chunk, _enc, done) { records.push(JSON.parse(chunk.toString())); done(); } }));
    const fastify = Fastify();
    await fastify.register(stackwareHooks, { middleware: (inner) => errorCatcher(inner, { logger, errorDir }) });
    fastify.get('/boom', async () => { throw new Error('fastify route exploded'); });
    fastify.get('/teapot', async (_request, reply) => reply.code(418).send({ short: 'stout' }));
    const url = await start(fastify);
    const res = await fetch(`${url}/boom`, { headers: { accept: 'text/html' } });
    expect(res.status).toBe(500);
    const page = await res.text();
    expect(page).not.toContain('fastify route exploded');
    let files: string[] = [];
    for (let i = 0; i < 100 && !files.some((f) => f.endsWith('.json')); i++) {
      await new Promise((r) => setTimeout(r, 50));
      files = await readdir(errorDir, { recursive: true }) as string[];
    }
    const id = files.find((f) => f.endsWith('.json'))!.replace(/^.*\//, '').replace(/\.json$/, '');
    expect(page).toContain(id);
    expect(records.filter((r) => JSON.stringify(r).includes('fastify route exploded'))).toHaveLength(1);
    const teapot = await fetch(`${url}/teapot`);
    expect([teapot.status, await teapot.json()]).toEqual([418, { short: 'stout' }]);
  });

  it('compression(): a native route large enough is compressed by the Stackware middleware', async () => {
    const fastify = Fastify();
    await fastify.register(stackwareHooks, { middleware: (inner) => compression(inner) });
    const big = 'fastify route text '.repeat(300);
    fastify.get('/big', async (_request, reply) => { reply.type('text/plain'); return big; });
    const url = await start(fastify);
    const res = await fetch(`${url}/big`, { headers: { 'accept-encoding': 'gzip' } });
    expect(res.headers.get('content-encoding')).toBe('gzip');
    expect(await res.text()).toBe(big); // fetch decodes it
  });

  it('keeps a streamed route response streamed through the middleware', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => { release = resolve; });
    const fastify = Fastify();
    await fastify.register(stackwareHooks, { middleware: tagging });
    fastify.get('/stream', async (_request, reply) => {
      reply.type('text/plain');
      return Readable.from((async function* () {
        yield Buffer.from('first;');
        await gate;
        yield Buffer.from('second');
      })());
    });
    const url = await start(fastify);
    const res = await fetch(`${url}/stream`);
    expect(res.headers.get('x-stackware')).toBe('saw 200 OK');
    const reader = res.body!.getReader();
    let timer: NodeJS.Timeout | undefined;
    const first = await Promise.race([
      reader.read(),
      new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error('the first chunk did not arrive before the body ended: the response was buffered')), 5000); }),
    ]).finally(() => clearTimeout(timer));
    expect(Buffer.from(first.value!).toString()).toBe('first;');
    release();
    let rest = '';
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      rest += Buffer.from(value).toString();
    }
    expect(rest).toBe('second');
  });

  it('stays inside the scope it is registered in (Fastify encapsulation)', async () => {
    const fastify = Fastify();
    await fastify.register(async (scoped) => {
      await scoped.register(stackwareHooks, { middleware: tagging });
      scoped.get('/inside', async () => 'inside');
    });
    fastify.get('/outside', async () => 'outside');
    const url = await start(fastify);
    expect((await fetch(`${url}/inside`)).headers.get('x-stackware')).toBe('saw 200 OK');
    expect((await fetch(`${url}/outside`)).headers.get('x-stackware')).toBeNull();
  });
});
