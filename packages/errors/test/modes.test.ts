import { describe, it, expect, beforeAll, afterAll } from '@jest/globals';
import { readdir, readFile, stat } from 'node:fs/promises';
import { TestClient, readBody, type Application } from '@stackware/gateway';
import { tempDir } from '@stackware/testing';
import { errorCatcher, isDebugClient, isLoopbackAddress, negotiateFormat, type ErrorReport } from '../src/index.js';
import { captureLogger } from './helpers.js';

const failing: Application = async (environ) => {
  if (environ.REQUEST_METHOD === 'POST') await readBody(environ);
  throw new Error('Widget <script>alert("x")</script> & co failed');
};

let dir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => ({ dir, cleanup } = await tempDir('stackware-errors-')));
const catchers: Array<ReturnType<typeof errorCatcher>> = [];
afterAll(async () => {
  for (const c of catchers) await c.close();
  await cleanup();
});

function debugClient(options: Parameters<typeof errorCatcher>[1] = {}) {
  const { logger, records } = captureLogger();
  const catcher = errorCatcher(failing, { logger, debug: true, pin: false, ...options });
  records.length = 0; // the start-up warning (PIN disabled): these cases count error records
  catchers.push(catcher);
  return { http: new TestClient(catcher, { throwErrors: false }), records, catcher };
}

describe('debug mode', () => {
  it('shows the debug page to a loopback client: title, frames with source lines, request, plain text', async () => {
    const { http } = debugClient();
    const res = await http.get('/shop?item=7', { headers: { Accept: 'text/html' } });
    expect(res.statusCode).toBe(500);
    const page = res.text();
    expect(page).toContain('<title>Error: Widget &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; co failed</title>');
    expect(page).not.toMatch(/<script/i);
    expect(page).toContain('modes.test.ts');
    expect(page).toContain('class="hit"'); // the failing source line is highlighted
    expect(page).toContain('throw new Error(&#39;Widget');
    expect(page).toContain('<textarea readonly');
    expect(page).toContain('http://localhost/shop?item=7');
    expect(res.header('content-security-policy')).toContain("default-src 'none'");
    expect(res.header('cache-control')).toBe('no-store');
  });

  it('answers JSON for Accept: application/json and text for curl', async () => {
    const { http } = debugClient();
    const json = await http.get('/', { headers: { Accept: 'application/json' } });
    expect(json.header('content-type')).toBe('application/json; charset=utf-8');
    const report = json.json<ErrorReport>();
    expect(report.errors[0]!.message).toContain('Widget <script>');
    expect(report.errors[0]!.frames.some((f) => f.file.endsWith('modes.test.ts'))).toBe(true);
    const text = await http.get('/', { headers: { Accept: '*/*', 'User-Agent': 'curl/8.5.0' } });
    expect(text.header('content-type')).toBe('text/plain; charset=utf-8');
    expect(text.text()).toMatch(/^Error: Widget <script>/);
    expect(text.text()).toContain('Error id:');
  });

  it('redacts cookies, authorization, and password/token fields in page, JSON and log', async () => {
    // Secrets are built at run time: the page shows this file's source lines around the frames.
    const [cookie, bearer, pass, key, token] = ['cookie', 'bearer', 'hunter', 'k-', 'abc'].map((s, i) => `${s}${i}${'x'.repeat(5)}${i}`) as [string, string, string, string, string];
    const { http, records } = debugClient();
    const res = await http.post(`/login?token=${token}&page=2`, {
      headers: { Accept: 'application/json', Cookie: `sid=${cookie}`, Authorization: `Bearer ${bearer}`, 'X-Trace': 'visible' },
      form: { user: 'ann', password: pass, api_key: key },
    });
    const body = res.text();
    for (const secret of [cookie, bearer, pass, key, token]) expect(body).not.toContain(secret);
    const report = res.json<ErrorReport>();
    expect(report.request.form).toEqual([['user', 'ann'], ['password', '[redacted]'], ['api_key', '[redacted]']]);
    expect(report.request.query).toEqual([['token', '[redacted]'], ['page', '2']]);
    expect(report.request.headers).toContainEqual(['Cookie', '[redacted]']);
    expect(report.request.headers).toContainEqual(['X-Trace', 'visible']);
    expect(JSON.stringify(records)).not.toContain(token);
    const html = await http.post('/login', { headers: { Accept: 'text/html', Cookie: `sid=${cookie}` }, form: { password: pass } });
    expect(html.text()).not.toContain(pass);
    expect(html.text()).not.toContain(cookie);
    expect(html.text()).toContain('[redacted]');
  });

  it('uses a configured redaction list', async () => {
    const { http } = debugClient({ redact: { headers: ['X-Trace'], fields: /^pin$/ } });
    const trace = ['hidden', 'trace'].join('-');
    const report = (await http.post('/', { headers: { Accept: 'application/json', 'X-Trace': trace }, form: { pin: '1234', password: 'shown-now' } })).json<ErrorReport>();
    expect(report.request.form).toEqual([['pin', '[redacted]'], ['password', 'shown-now']]);
    expect(JSON.stringify(report)).not.toContain(trace);
  });

  it('gives a non-loopback client the production page', async () => {
    const { http } = debugClient();
    const res = await http.get('/', { headers: { Accept: 'text/html' }, remoteAddr: '203.0.113.9' });
    expect(res.statusCode).toBe(500);
    expect(res.text()).not.toContain('Widget');
    expect(res.text()).not.toContain('modes.test.ts');
    expect(res.text()).toMatch(/Error id: <code>[0-9a-f]{16}<\/code>/);
  });

  it('gives a loopback client with a foreign Host header (DNS rebinding) the production page', async () => {
    const { http } = debugClient();
    const res = await http.get('/', { headers: { Accept: 'text/html', Host: 'attacker.example' } });
    expect(res.text()).not.toContain('Widget');
    const trusted = debugClient({ trustedHosts: ['*.internal.test'] });
    expect((await trusted.http.get('/', { headers: { Accept: 'text/html', Host: 'app.internal.test:8080' } })).text()).toContain('Widget');
    expect((await trusted.http.get('/', { headers: { Accept: 'text/html', Host: 'localhost' } })).text()).not.toContain('Widget');
  });

  it('lets a trusted address in, but only with a trusted Host', async () => {
    const { http } = debugClient({ trustedAddresses: ['10.1.2.3'] });
    expect((await http.get('/', { headers: { Accept: 'text/plain' }, remoteAddr: '10.1.2.3' })).text()).toContain('Widget');
    expect((await http.get('/', { headers: { Accept: 'text/plain' }, remoteAddr: '10.1.2.4' })).text()).not.toContain('Widget');
  });
});

describe('production mode (the default)', () => {
  it('answers a safe page: no message, stack, paths or environ; the id matches the log', async () => {
    const { logger, records } = captureLogger();
    const http = new TestClient(errorCatcher(failing, { logger }), { throwErrors: false });
    for (const accept of ['text/html', 'application/json', '*/*']) {
      const res = await http.get('/?q=1', { headers: { Accept: accept } });
      expect(res.statusCode).toBe(500);
      const body = res.text();
      for (const leak of ['Widget', 'modes.test.ts', '/work', 'HTTP_', 'at ']) expect(body).not.toContain(leak);
      expect(body).toContain(records.at(-1)!.error_id);
    }
    expect((await http.get('/', { headers: { Accept: 'application/json' } })).json()).toEqual({ error: 'Internal Server Error', status: 500, errorId: records.at(-1)!.error_id });
  });
});

describe('post-mortem reports', () => {
  it('saves HTML + JSON per error and serves them at /_debug/errors to trusted clients only', async () => {
    const errorDir = `${dir}/reports`;
    const { http, records, catcher } = debugClient({ errorDir });
    await http.get('/first', { headers: { Accept: 'text/html' } });
    await http.get('/second', { headers: { Accept: 'text/html' } });
    await catcher.idle();
    const files = (await readdir(errorDir)).sort();
    const ids = records.map((r) => r.error_id);
    expect(files).toEqual(ids.flatMap((id) => [`${id}.html`, `${id}.json`]).sort());
    expect((await stat(`${errorDir}/${ids[0]}.json`)).mode & 0o777).toBe(0o600);
    const saved = JSON.parse(await readFile(`${errorDir}/${ids[0]}.json`, 'utf8')) as ErrorReport;
    expect(saved.request.url).toBe('http://localhost/first');

    const list = await http.get('/_debug/errors');
    expect(list.statusCode).toBe(200);
    expect(list.text()).toContain(`/_debug/errors/${ids[0]}`);
    expect(list.text()).toContain('Widget &lt;script&gt;');
    const one = await http.get(`/_debug/errors/${ids[1]}`);
    expect(one.text()).toContain('http://localhost/second');
    expect((await http.get(`/_debug/errors/${ids[1]}.json`)).json<ErrorReport>().id).toBe(ids[1]);
    expect((await http.get('/_debug/errors/..%2F..%2Fetc%2Fpasswd')).statusCode).toBe(400); // dot segments: the gateway's 400 (SPEC.md)
    expect((await http.post('/_debug/errors')).statusCode).toBe(405);

    // The public never reaches the viewer: the request goes to the application as if it did not exist.
    const stranger = await http.get('/_debug/errors', { remoteAddr: '198.51.100.7', headers: { Accept: 'text/html' } });
    expect(stranger.statusCode).toBe(500);
    expect(stranger.text()).not.toContain(ids[0]);
    const rebinding = await http.get(`/_debug/errors/${ids[0]}`, { headers: { Host: 'evil.example' } });
    expect(rebinding.text()).not.toContain('http://localhost/first');
  });

  it('links reports under the mount point (SCRIPT_NAME) and a configured viewerPath', async () => {
    const { catcher, records } = debugClient({ errorDir: `${dir}/mounted`, viewerPath: '/_errors/' });
    const http = new TestClient(catcher, { throwErrors: false, scriptName: '/app' });
    await http.get('/app/page');
    await catcher.idle();
    const list = await http.get('/app/_errors');
    expect(list.text()).toContain(`href="/app/_errors/${records[0]!.error_id}"`);
    expect((await http.get(`/app/_errors/${records[0]!.error_id}`)).text()).toContain('http://localhost/app/page');
  });

  it('has no viewer outside debug mode', async () => {
    const { logger } = captureLogger();
    const catcher = errorCatcher(() => { throw new Error('x'); }, { logger, errorDir: `${dir}/prod` });
    catchers.push(catcher);
    const http = new TestClient(catcher, { throwErrors: false });
    const res = await http.get('/_debug/errors');
    expect(res.statusCode).toBe(500);
  });
});

describe('access rules and negotiation', () => {
  it('recognises loopback addresses', () => {
    for (const a of ['127.0.0.1', '127.8.9.1', '::1', '::ffff:127.0.0.1', '0:0:0:0:0:0:0:1']) expect(isLoopbackAddress(a)).toBe(true);
    for (const a of ['10.0.0.1', '::2', '::ffff:10.0.0.1', '', undefined, 'localhost', '1127.0.0.1']) expect(isLoopbackAddress(a)).toBe(false);
  });

  it('needs both a loopback client and a trusted Host', () => {
    const env = (addr: string, host?: string) => ({ REMOTE_ADDR: addr, HTTP_HOST: host }) as never;
    expect(isDebugClient(env('127.0.0.1', 'localhost:8080'))).toBe(true);
    expect(isDebugClient(env('::1', '[::1]:8080'))).toBe(true);
    expect(isDebugClient(env('127.0.0.1', 'LOCALHOST.'))).toBe(true);
    expect(isDebugClient(env('127.0.0.1'))).toBe(false);
    expect(isDebugClient(env('127.0.0.1', 'localhost.evil.example'))).toBe(false);
    expect(isDebugClient(env('192.0.2.1', 'localhost'))).toBe(false);
  });

  it('refuses a loopback client that is really a local proxy (X-Forwarded-For, Forwarded, X-Real-IP) unless forwardedHeaders() set REMOTE_ADDR', () => {
    // nginx's default proxy_pass to 127.0.0.1:8080 sends Host: 127.0.0.1:8080 for every client on the internet.
    const via = (headers: Record<string, string>, extra: Record<string, unknown> = {}) => ({ REMOTE_ADDR: '127.0.0.1', HTTP_HOST: '127.0.0.1:8080', ...headers, ...extra }) as never;
    expect(isDebugClient(via({}))).toBe(true);
    expect(isDebugClient(via({ HTTP_X_FORWARDED_FOR: '203.0.113.9' }))).toBe(false);
    expect(isDebugClient(via({ HTTP_FORWARDED: 'for=203.0.113.9' }))).toBe(false);
    expect(isDebugClient(via({ HTTP_X_REAL_IP: '203.0.113.9' }))).toBe(false);
    // forwardedHeaders() ran and found the client really is loopback: allowed.
    expect(isDebugClient(via({ HTTP_X_FORWARDED_FOR: '127.0.0.1' }, { 'stackware.forwarded.original': { REMOTE_ADDR: '127.0.0.1' } }))).toBe(true);
    // It ran but trusted no proxy (REMOTE_ADDR untouched): still refused.
    expect(isDebugClient(via({ HTTP_X_FORWARDED_FOR: '203.0.113.9' }, { 'stackware.forwarded.original': {} }))).toBe(false);
    // An explicitly trusted non-loopback address is the caller's decision.
    expect(isDebugClient({ REMOTE_ADDR: '10.0.0.5', HTTP_HOST: 'localhost', HTTP_X_FORWARDED_FOR: '1.2.3.4' } as never, { trustedAddresses: ['10.0.0.5'] })).toBe(true);
  });

  it('negotiates html, json and text', () => {
    expect(negotiateFormat('text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8')).toBe('html');
    expect(negotiateFormat('application/json')).toBe('json');
    expect(negotiateFormat('application/problem+json, text/html;q=0.5')).toBe('json');
    expect(negotiateFormat('text/html;q=0, application/json;q=0.1')).toBe('json');
    expect(negotiateFormat('*/*')).toBe('text');
    expect(negotiateFormat(undefined)).toBe('text');
    expect(negotiateFormat('text/plain')).toBe('text');
  });
});
