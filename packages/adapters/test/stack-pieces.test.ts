import { describe, it, expect, afterEach } from '@jest/globals';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, writeFile, rm, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import express from 'express';
import { Hono } from 'hono';
import pino from 'pino';
import { session, getSession } from '@stackware/session';
import { errorCatcher } from '@stackware/errors';
import { staticFiles } from '@stackware/urlparser';
import { toConnectMiddleware, toFetchHandler, type RequestWithEnviron } from '../src/index.js';

// The cases with the real Stackware packages: a session counter inside Express, the
// exception catcher around an Express route, static files mounted in Hono.

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

const SECRET = 'an adapter test secret that is long enough';

describe('Stackware middleware inside Express', () => {
  it('session(): a counter kept across requests by an Express route', async () => {
    const app = express();
    app.use(toConnectMiddleware((inner) => session(inner, { secret: SECRET })));
    app.get('/count', async (req, res) => {
      const s = getSession((req as RequestWithEnviron).environ!);
      await s.load();
      const count = ((s.get('count') as number | undefined) ?? 0) + 1;
      s.set('count', count);
      res.type('text/plain').send(String(count));
    });
    const url = await listen(createServer(app));
    let cookie = '';
    const seen: string[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await fetch(`${url}/count`, { headers: cookie ? { cookie } : {} });
      const set = res.headers.get('set-cookie');
      if (set) cookie = set.split(';')[0]!;
      seen.push(await res.text());
    }
    expect(seen).toEqual(['1', '2', '3']);
    expect(cookie).toMatch(/^stackware_session=/);
  });

  it('errorCatcher(): an Express route that throws gets the production error page with an error id', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'adapters-errors-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const app = express();
    const catcher = toConnectMiddleware((inner) => errorCatcher(inner, { logger: pino({ level: 'silent' }), errorDir: dir }));
    app.use(catcher);
    app.get('/ok', (_req, res) => { res.send('fine'); });
    app.get('/boom', () => { throw new Error('express route exploded'); });
    app.use(catcher.errorHandler);
    const url = await listen(createServer(app));
    expect(await (await fetch(`${url}/ok`)).text()).toBe('fine');
    const res = await fetch(`${url}/boom`, { headers: { accept: 'text/html' } });
    expect(res.status).toBe(500);
    const page = await res.text();
    expect(page).not.toContain('express route exploded');
    // The post-mortem report is written after the response; wait for it (bounded) before cleaning up.
    let files: string[] = [];
    for (let i = 0; i < 100 && !files.some((f) => f.endsWith('.json')); i++) {
      await new Promise((r) => setTimeout(r, 50));
      files = await readdir(dir, { recursive: true }) as string[];
    }
    expect(files.some((f) => f.endsWith('.json'))).toBe(true);
    const errorId = files.find((f) => f.endsWith('.json'))!.replace(/^.*\//, '').replace(/\.json$/, '');
    expect(page).toContain(errorId);
  });
});

describe('Stackware static files mounted in Hono', () => {
  it('serves files, ranges and 304s through toFetchHandler', async () => {
    const root = await mkdtemp(join(tmpdir(), 'adapters-static-'));
    cleanups.push(() => rm(root, { recursive: true, force: true }));
    await writeFile(join(root, 'hello.txt'), 'hello from stackware static files');
    const hono = new Hono();
    hono.mount('/static', toFetchHandler(staticFiles({ root })));
    const res = await hono.request('/static/hello.txt');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(await res.text()).toBe('hello from stackware static files');
    const etag = res.headers.get('etag')!;
    expect((await hono.request('/static/hello.txt', { headers: { 'if-none-match': etag } })).status).toBe(304);
    const range = await hono.request('/static/hello.txt', { headers: { range: 'bytes=0-4' } });
    expect(range.status).toBe(206);
    expect(await range.text()).toBe('hello');
    expect((await hono.request('/static/../package.json')).status).toBe(404);
  });
});
