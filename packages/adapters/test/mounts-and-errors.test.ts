import { describe, it, expect, afterEach, jest } from '@jest/globals';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, writeFile, rm, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import express from 'express';
import { Hono } from 'hono';
import { HTTPException } from 'hono/http-exception';
import pino from 'pino';
import { readBody, text, type Application, type Environ, type Middleware } from '@stackware/gateway';
import { session, getSession } from '@stackware/session';
import { errorCatcher } from '@stackware/errors';
import { staticFiles } from '@stackware/urlparser';
import { toConnectMiddleware, toNodeHandler, toFetchHandler, honoMiddleware, honoMount, honoOnError, type RequestWithEnviron } from '../src/index.js';

// Issue #22, "Adapters and middleware (wrong answers)": mounts and errors as a new user writes them.

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function tempDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

const SECRET = 'an adapter test secret that is long enough';

const echoEnviron: Application = async (environ, startResponse) => {
  const body = await readBody(environ);
  return text(JSON.stringify({ scriptName: environ.SCRIPT_NAME, pathInfo: environ.PATH_INFO, query: environ.QUERY_STRING, seen: environ['stackware.test.seen'] ?? null, body: body.toString() }))(environ, startResponse);
};

/** Marks the environ it passes inward (a copy), as session() and auth middleware do. */
const marking: Middleware = (app) => (environ, startResponse) => app({ ...environ, 'stackware.test.seen': true }, startResponse);

/** A pino logger whose records land in `records`. */
function capturedLogger(): { logger: pino.Logger; records: Array<Record<string, unknown>> } {
  const records: Array<Record<string, unknown>> = [];
  const logger = pino({ level: 'info' }, new Writable({ write(chunk, _enc, done) { records.push(JSON.parse(chunk.toString())); done(); } }));
  return { logger, records };
}

async function reports(dir: string): Promise<string[]> {
  let files: string[] = [];
  for (let i = 0; i < 100 && !files.some((f) => f.endsWith('.json')); i++) {
    await new Promise((r) => setTimeout(r, 50));
    files = await readdir(dir, { recursive: true }) as string[];
  }
  return files.filter((f) => f.endsWith('.json'));
}

describe('Express mount: SCRIPT_NAME and PATH_INFO from Express', () => {
  it('app.use("/static", toNodeHandler(staticFiles({ root }))) serves /static/style.css', async () => {
    const root = await tempDir('adapters-mount-');
    await writeFile(join(root, 'style.css'), 'body { color: teal }');
    const app = express();
    app.use('/static', toNodeHandler(staticFiles({ root })));
    app.use('/sw', toNodeHandler(echoEnviron));
    const url = await listen(createServer(app));
    const css = await fetch(`${url}/static/style.css`);
    expect(css.status).toBe(200);
    expect(await css.text()).toBe('body { color: teal }');
    expect(await (await fetch(`${url}/sw/a%20b/c?x=1`, { method: 'POST', body: 'data' })).json())
      .toEqual({ scriptName: '/sw', pathInfo: '/a b/c', query: 'x=1', seen: null, body: 'data' });
  });

  it('a nested router mount is the whole SCRIPT_NAME; the old { scriptName } option still agrees', async () => {
    const app = express();
    const router = express.Router();
    router.use('/b', toNodeHandler(echoEnviron));
    app.use('/a', router);
    app.use('/old', toNodeHandler(echoEnviron, { scriptName: '/old' }));
    const url = await listen(createServer(app));
    expect(await (await fetch(`${url}/a/b/c`)).json()).toMatchObject({ scriptName: '/a/b', pathInfo: '/c' });
    expect(await (await fetch(`${url}/old/c`)).json()).toMatchObject({ scriptName: '/old', pathInfo: '/c' });
  });

  it('an earlier toConnectMiddleware does not freeze SCRIPT_NAME: the mount wins, its environ keys stay', async () => {
    const root = await tempDir('adapters-mount-');
    await writeFile(join(root, 'style.css'), 'body {}');
    const app = express();
    app.use(toConnectMiddleware(marking));
    app.use(toConnectMiddleware((inner) => session(inner, { secret: SECRET })));
    app.use('/static', toNodeHandler(staticFiles({ root })));
    app.use('/sw', toNodeHandler(echoEnviron));
    app.use('/count', toNodeHandler(async (environ, startResponse) => {
      const s = getSession(environ);
      await s.load();
      s.set('n', (s.get<number>('n') ?? 0) + 1);
      return text(`n=${s.get<number>('n')} at ${environ.SCRIPT_NAME}`)(environ, startResponse);
    }));
    const url = await listen(createServer(app));
    expect((await fetch(`${url}/static/style.css`)).status).toBe(200);
    expect(await (await fetch(`${url}/sw/x`)).json()).toMatchObject({ scriptName: '/sw', pathInfo: '/x', seen: true });
    const first = await fetch(`${url}/count`);
    const cookie = first.headers.get('set-cookie')!.split(';')[0]!;
    expect(await first.text()).toBe('n=1 at /count');
    expect(await (await fetch(`${url}/count`, { headers: { cookie } })).text()).toBe('n=2 at /count');
  });
});

describe('two Stackware middlewares added to Express separately', () => {
  for (const order of ['inner handler first', 'outer handler first', 'only the outer handler'] as const) {
    it(`a route error reaches the outer exception catcher: report and log (${order})`, async () => {
      const errorDir = await tempDir('adapters-errors-');
      const { logger, records } = capturedLogger();
      const catcher = toConnectMiddleware((inner) => errorCatcher(inner, { logger, errorDir }));
      const sessions = toConnectMiddleware((inner) => session(inner, { secret: SECRET }));
      const app = express();
      app.use(catcher);
      app.use(sessions);
      app.get('/ok', (req, res) => { res.send(`ok ${typeof getSession((req as RequestWithEnviron).environ!)}`); });
      app.get('/boom', () => { throw new Error('route exploded behind two adapters'); });
      if (order === 'inner handler first') app.use(sessions.errorHandler, catcher.errorHandler);
      else if (order === 'outer handler first') app.use(catcher.errorHandler, sessions.errorHandler);
      else app.use(catcher.errorHandler);
      const url = await listen(createServer(app));
      expect(await (await fetch(`${url}/ok`)).text()).toBe('ok object');
      const res = await fetch(`${url}/boom`, { headers: { accept: 'text/html' } });
      expect(res.status).toBe(500);
      const page = await res.text();
      expect(page).not.toContain('route exploded');
      const saved = await reports(errorDir);
      expect(saved).toHaveLength(1);
      expect(page).toContain(saved[0]!.replace(/^.*\//, '').replace(/\.json$/, ''));
      expect(records.some((r) => JSON.stringify(r).includes('route exploded behind two adapters'))).toBe(true);
    });
  }
});

describe('Hono', () => {
  it('honoMount gives the application its SCRIPT_NAME; a plain hono.mount as the README showed did not', async () => {
    const root = await tempDir('adapters-hono-');
    await writeFile(join(root, 'hello.txt'), 'hello');
    const hono = new Hono();
    honoMount(hono, '/sw', echoEnviron);
    honoMount(hono, '/static', staticFiles({ root }));
    expect(await (await hono.request('/sw/a/b?q=1')).json()).toMatchObject({ scriptName: '/sw', pathInfo: '/a/b', query: 'q=1' });
    expect(await (await hono.request('/sw')).json()).toMatchObject({ scriptName: '/sw', pathInfo: '' });
    expect(await (await hono.request('/static/hello.txt')).text()).toBe('hello');
    // Under a basePath and inside app.route(), the mount is the whole matched prefix.
    const api = new Hono().basePath('/api');
    honoMount(api, '/sw/', echoEnviron);
    expect(await (await api.request('/api/sw/x')).json()).toMatchObject({ scriptName: '/api/sw', pathInfo: '/x' });
    const sub = new Hono();
    honoMount(sub, '/sw', echoEnviron);
    const outer = new Hono().route('/sub', sub);
    expect(await (await outer.request('/sub/sw/y')).json()).toMatchObject({ scriptName: '/sub/sw', pathInfo: '/y' });
    // Before: SCRIPT_NAME "" (the path arrived stripped of its mount).
    const plain = new Hono();
    plain.mount('/sw', toFetchHandler(echoEnviron));
    expect(await (await plain.request('/sw/a')).json()).toMatchObject({ scriptName: '', pathInfo: '/a' });
  });

  it('a route error under honoMiddleware(errorCatcher) is printed once, not twice (with honoOnError, as the README shows)', async () => {
    const { logger, records } = capturedLogger();
    const consoleError = jest.spyOn(console, 'error').mockImplementation(() => undefined);
    const stderr = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      const hono = new Hono<{ Variables: { environ: Environ } }>();
      hono.use('*', honoMiddleware((inner) => errorCatcher(inner, { logger })));
      hono.onError(honoOnError);
      hono.get('/boom', () => { throw new Error('hono route exploded'); });
      hono.get('/teapot', () => { throw new HTTPException(418, { message: 'short and stout' }); });
      const res = await hono.request('/boom');
      expect(res.status).toBe(500);
      expect(await res.text()).not.toContain('hono route exploded');
      expect((await hono.request('/teapot')).status).toBe(418);
      const printed = [...consoleError.mock.calls, ...stderr.mock.calls].map((args) => args.map(String).join(' ')).filter((line) => line.includes('hono route exploded'));
      const logged = records.filter((r) => JSON.stringify(r).includes('hono route exploded'));
      expect(printed.length + logged.length).toBe(1);
    } finally {
      consoleError.mockRestore();
      stderr.mockRestore();
    }
  });
});
