/**
 * Integration: the finished packages composed the way a real site composes them —
 * errorCatcher(session(compression(urlMap({ '/': urlParser({ root }), '/app': servlets, '/admin': basicAuth(...) }))))
 * — through the strict TestClient and over the real HTTP server.
 */
import { describe, it, expect, beforeAll, afterAll } from '@jest/globals';
import { mkdir, writeFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { gunzipSync, brotliDecompressSync } from 'node:zlib';
import { HTTPError, TestClient, json, type Application } from '@stackware/gateway';
import { serve, type HttpServer } from '@stackware/server';
import { session, MemoryStore } from '@stackware/session';
import { errorCatcher } from '@stackware/errors';
import { urlParser } from '@stackware/urlparser';
import { HTTPServlet, Page, html, servletApp, type Transaction } from '@stackware/servlet';
import { tempDir } from '@stackware/testing';
import pino from 'pino';
import { basicAuth, compression, formLogin, safeEqual, urlMap } from '@stackware/middleware';

const SECRET = 'integration test secret, at least 32 characters';
const CSS = `body { color: #333; }\n${'.rule { margin: 0 auto; padding: 1em; }\n'.repeat(200)}`;

/** A Page that counts visits in the session and echoes a query field (escaped). */
class Counter extends Page {
  override title() {
    return 'Counter';
  }
  override async writeContent() {
    const s = await this.session();
    const n = (s.get<number>('n') ?? 0) + 1;
    s.set('n', n);
    await this.writeln(html`<h1>Visit ${n}</h1><p>${String(this.request.field('q', ''))}</p>`);
  }
}

/** Streams its output (flush after each part) and writes to a NEW session only after the first chunk went out. */
class LateSession extends HTTPServlet {
  async respondToGet(t: Transaction) {
    t.response.setHeader('Content-Type', 'text/plain; charset=utf-8');
    await t.response.write('first part\n'.repeat(200));
    await t.response.flush();
    const s = await t.session();
    s.set('late', true);
    await t.response.write('second part\n'.repeat(200));
  }
}

/** Loads the session before streaming, then changes it while streaming. */
class EarlySession extends HTTPServlet {
  async respondToGet(t: Transaction) {
    const s = await t.session();
    t.response.setHeader('Content-Type', 'text/plain; charset=utf-8');
    await t.response.write(`streamed ${String(s.get('n') ?? 0)}\n`.repeat(500));
    await t.response.flush();
    s.set('n', ((s.get<number>('n') ?? 0) + 1));
    await t.response.write('done\n');
  }
}

class Forbidden extends Page {
  override async writeContent() {
    throw new HTTPError(403, 'No entry for <script>alert(1)</script>');
  }
}

class Boom extends Page {
  override async writeContent() {
    await this.write('partial');
    throw new Error('database is on fire');
  }
}

const whoami: Application = (environ, startResponse) => json({ user: environ.REMOTE_USER ?? null })(environ, startResponse);

let root: string;
let cleanup: () => Promise<void>;
let site: Application;
const silent = pino({ level: 'silent' });

beforeAll(async () => {
  ({ dir: root, cleanup } = await tempDir('stack-integration-'));
  await mkdir(`${root}/docs`, { recursive: true });
  await writeFile(`${root}/index.html`, '<!doctype html><h1>Home</h1>\n');
  await writeFile(`${root}/style.css`, CSS);
  await writeFile(`${root}/docs/index.html`, '<h1>Docs</h1>\n');
  await writeFile(`${root}/.secret`, 'hidden');
  const servlets = urlMap({
    '/counter': servletApp(Counter),
    '/late': servletApp(LateSession),
    '/early': servletApp(EarlySession),
    '/forbidden': servletApp(Forbidden),
    '/boom': servletApp(Boom),
  });
  site = errorCatcher(
    session(
      compression(
        urlMap({
          '/': urlParser({ root, reload: false }),
          '/app': servlets,
          '/admin': basicAuth(whoami, { realm: 'Admin', checkPassword: (u, p) => u === 'admin' && safeEqual(p, 'pw') }),
          '/members': formLogin(whoami, { checkPassword: (u, p) => u === 'alice' && safeEqual(p, 'wonderland') }),
          '/club': formLogin(servletApp(Counter), { checkPassword: (u, p) => u === 'bob' && safeEqual(p, 'builder') }),
        }),
        { thresholdBytes: 256 },
      ),
      { secret: SECRET, store: new MemoryStore() },
    ),
    { debug: false, logger: silent },
  );
});

afterAll(async () => {
  await cleanup();
});

describe('a whole site through the strict TestClient', () => {
  it('serves static files, compressed when large, with working conditional and HEAD requests', async () => {
    const client = new TestClient(site);
    const home = await client.get('/');
    expect(home.statusCode).toBe(200);
    expect(home.text()).toContain('<h1>Home</h1>');
    expect(home.header('set-cookie')).toBeUndefined(); // nothing loaded the session

    const css = await client.get('/style.css', { headers: { 'Accept-Encoding': 'gzip' } });
    expect(css.statusCode).toBe(200);
    expect(css.header('content-encoding')).toBe('gzip');
    expect(css.header('vary')).toMatch(/accept-encoding/i);
    expect(gunzipSync(css.body).toString()).toBe(CSS);
    const etag = css.header('etag')!;
    expect(etag.startsWith('W/')).toBe(true);

    // The weak ETag the client got back must validate (RFC 9110 §13.1.2: weak comparison for If-None-Match).
    const again = await client.get('/style.css', { headers: { 'Accept-Encoding': 'gzip', 'If-None-Match': etag } });
    expect(again.statusCode).toBe(304);
    expect(again.body.length).toBe(0);
    expect(again.header('etag')).toBe(etag); // the 304 names the stored (compressed) representation
    expect(again.header('vary')).toMatch(/accept-encoding/i);
    const since = await client.get('/style.css', { headers: { 'If-Modified-Since': css.header('last-modified')! } });
    expect(since.statusCode).toBe(304);

    const head = await client.head('/style.css', { headers: { 'Accept-Encoding': 'br' } });
    expect(head.statusCode).toBe(200);
    expect(head.header('content-encoding')).toBe('br');
    expect(head.body.length).toBe(0);

    // Ranges on the identity representation are honoured.
    const range = await client.get('/style.css', { headers: { Range: 'bytes=0-3' } });
    expect(range.statusCode).toBe(206);
    expect(range.text()).toBe('body');
    const bigRange = await client.get('/style.css', { headers: { Range: 'bytes=0-2999', 'Accept-Encoding': 'gzip' } });
    expect(bigRange.statusCode).toBe(206);
    expect(bigRange.header('content-encoding')).toBeUndefined(); // a range of the identity bytes, not gzipped
    expect(bigRange.text()).toBe(CSS.slice(0, 3000));

    expect((await client.get('/docs')).header('location')).toBe('/docs/');
    expect((await client.get('/.secret')).statusCode).toBe(404);
    // dot segments: 400 from the gateway (the TestClient too) before the application runs (SPEC.md)
    expect((await client.get('/../etc/passwd')).statusCode).toBe(400);
    expect((await client.get('/%2e%2e/%2e%2e/etc/passwd')).statusCode).toBe(400);
  });

  it('runs a session-backed servlet Page under a URL map, escaping what it echoes', async () => {
    const client = new TestClient(site, { cookies: true });
    const first = await client.get('/app/counter', { query: { q: '<script>x</script>' } });
    expect(first.statusCode).toBe(200);
    expect(first.text()).toContain('<h1>Visit 1</h1>');
    expect(first.text()).toContain('&lt;script&gt;x&lt;/script&gt;');
    expect(first.header('set-cookie')).toMatch(/^stackware_session=.*Path=\//);
    expect((await client.get('/app/counter')).text()).toContain('<h1>Visit 2</h1>');
    // Tampering with the cookie gives a fresh session, not an error.
    const value = client.cookies.get('stackware_session')!;
    client.cookies.set('stackware_session', value.slice(0, -2) + (value.endsWith('AA') ? 'BB' : 'AA'));
    expect((await client.get('/app/counter')).text()).toContain('<h1>Visit 1</h1>');
  });

  it('saves a change an existing session gets while a compressed servlet response streams', async () => {
    const client = new TestClient(site, { cookies: true });
    await client.get('/app/counter'); // creates the session (n = 1)
    const res = await client.get('/app/early', { headers: { 'Accept-Encoding': 'gzip' } });
    expect(res.statusCode).toBe(200);
    expect(res.header('content-encoding')).toBe('gzip');
    expect(res.header('set-cookie')).toMatch(/^stackware_session=/); // rolling: re-sent before the first chunk
    const text = gunzipSync(res.body).toString();
    expect(text).toContain('streamed 1\n');
    expect(text.endsWith('done\n')).toBe(true);
    const next = await client.get('/app/early');
    expect(next.text()).toContain('streamed 2\n'); // the change made while streaming was saved
  });

  it('a NEW session first changed after the headers went out gets no cookie, as documented, and the response is intact', async () => {
    const client = new TestClient(site, { cookies: true });
    const res = await client.get('/app/late');
    expect(res.statusCode).toBe(200);
    expect(res.header('set-cookie')).toBeUndefined();
    expect(res.text()).toBe('first part\n'.repeat(200) + 'second part\n'.repeat(200));
  });

  it('answers an HTTPError thrown by a servlet with its status, escaped', async () => {
    const res = await new TestClient(site).get('/app/forbidden');
    expect(res.statusCode).toBe(403);
    expect(res.text()).not.toContain('<script>alert(1)');
  });

  it('answers the safe error page, with an id, for a servlet that fails', async () => {
    const res = await new TestClient(site).get('/app/boom', { headers: { Accept: 'text/html' } });
    expect(res.statusCode).toBe(500);
    expect(res.text()).not.toContain('database is on fire');
    expect(res.text()).toMatch(/[0-9a-f]{16}/);
  });

  it('protects /admin with Basic auth and /members with the form login in the same session stack', async () => {
    const client = new TestClient(site, { cookies: true });
    expect((await client.get('/admin/')).statusCode).toBe(401);
    const ok = await client.get('/admin/', { headers: { Authorization: `Basic ${Buffer.from('admin:pw').toString('base64')}` } });
    expect(ok.json()).toEqual({ user: 'admin' });

    const redirected = await client.get('/members/page');
    expect(redirected.statusCode).toBe(303);
    expect(redirected.header('location')).toBe('/members/login?next=%2Fmembers%2Fpage');
    const login = await client.post('/members/login', { form: { username: 'alice', password: 'wonderland', next: '/members/page' } });
    expect(login.statusCode).toBe(303);
    expect(login.header('location')).toBe('/members/page');
    expect((await client.get('/members/page')).json()).toEqual({ user: 'alice' });
  });
});

describe('form login around a session-using servlet', () => {
  it('logs in (new session id), then the servlet keeps its own data in the same session until logout', async () => {
    const client = new TestClient(site, { cookies: true });
    const toLogin = await client.get('/club/counter?q=1');
    expect(toLogin.statusCode).toBe(303);
    const next = new URLSearchParams(toLogin.header('location')!.split('?')[1]).get('next')!;
    expect(next).toBe('/club/counter?q=1');
    const before = client.cookies.get('stackware_session');
    const login = await client.post('/club/login', { form: { username: 'bob', password: 'builder', next } });
    expect(login.header('location')).toBe('/club/counter?q=1');
    expect(client.cookies.get('stackware_session')).not.toBe(before);
    expect((await client.get('/club/counter?q=1')).text()).toContain('<h1>Visit 1</h1>');
    expect((await client.get('/club/counter')).text()).toContain('<h1>Visit 2</h1>');
    await client.post('/club/logout');
    expect((await client.get('/club/counter')).statusCode).toBe(303);
  });
});

interface RawResponse { status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }

function fetchRaw(url: string, method = 'GET', headers: Record<string, string> = {}): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.setTimeout(20_000, () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

describe('the same site over the real HTTP server', () => {
  let server: HttpServer;
  beforeAll(async () => {
    server = await serve(site, { host: '127.0.0.1', port: 0, accessLog: false });
  });
  afterAll(async () => {
    await server.close();
  });

  it('streams a compressed servlet response and sends the session cookie with it', async () => {
    const first = await fetchRaw(`${server.url}/app/counter`);
    const cookie = String(first.headers['set-cookie']).split(';')[0]!;
    const res = await fetchRaw(`${server.url}/app/early`, 'GET', { 'Accept-Encoding': 'br', Cookie: cookie });
    expect(res.status).toBe(200);
    expect(res.headers['content-encoding']).toBe('br');
    expect(res.headers['transfer-encoding']).toBe('chunked');
    expect(String(res.headers['set-cookie'])).toMatch(/^stackware_session=/);
    expect(brotliDecompressSync(res.body).toString()).toContain('done\n');
  });

  it('HEAD and conditional GET of a static file carry no body', async () => {
    const get = await fetchRaw(`${server.url}/style.css`, 'GET', { 'Accept-Encoding': 'gzip' });
    expect(get.status).toBe(200);
    expect(gunzipSync(get.body).toString()).toBe(CSS);
    const head = await fetchRaw(`${server.url}/style.css`, 'HEAD', { 'Accept-Encoding': 'gzip' });
    expect(head.status).toBe(200);
    expect(head.body.length).toBe(0);
    const cond = await fetchRaw(`${server.url}/style.css`, 'GET', { 'Accept-Encoding': 'gzip', 'If-None-Match': String(get.headers.etag) });
    expect(cond.status).toBe(304);
    expect(cond.body.length).toBe(0);
  });

  it('HEAD of a servlet page has the GET headers (same Content-Length) and no body; the session cookie comes with both', async () => {
    const get = await fetchRaw(`${server.url}/app/counter`);
    const head = await fetchRaw(`${server.url}/app/counter`, 'HEAD');
    expect(head.status).toBe(200);
    expect(head.body.length).toBe(0);
    expect(head.headers['content-length']).toBe(get.headers['content-length']);
    expect(String(head.headers['set-cookie'])).toMatch(/^stackware_session=/);
  });

  it('a servlet HTTPError and a servlet crash reach the error catcher', async () => {
    expect((await fetchRaw(`${server.url}/app/forbidden`)).status).toBe(403);
    const boom = await fetchRaw(`${server.url}/app/boom`);
    expect(boom.status).toBe(500);
    expect(boom.body.toString()).not.toContain('database is on fire');
  });
});
