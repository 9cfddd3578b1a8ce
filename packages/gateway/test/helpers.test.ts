import { describe, it, expect } from '@jest/globals';
import {
  createEnviron, createInput, BadRequestError, InputConsumedError, requestUri, applicationUri, shiftPathInfo, decodePath,
  getHeader, getHeaders, setHeader, removeHeader, requestHeader, HTTPError, isHTTPError, statusLine,
  text, html, redirect, notFound, escapeHtml, compose, readBody, collectBody, onBodyClose, TestClient, CookieJar,
  asApplication, TO_APPLICATION, iriToUri, type Application, type Environ, type Middleware,
} from '../src/index.js';

const env = (target: string, headers: Array<[string, string]> = [], more: Partial<Parameters<typeof createEnviron>[0]> = {}): Environ =>
  createEnviron({ method: 'GET', target, headers, ...more });

describe('createEnviron', () => {
  it('maps headers to HTTP_* keys, joins repeats, keeps CONTENT_TYPE/LENGTH apart', () => {
    const e = env('/x', [['Host', 'example.com:8080'], ['Accept', 'a'], ['Accept', 'b'], ['Cookie', 'a=1'], ['Cookie', 'b=2'], ['Content-Type', 'text/plain'], ['Content-Length', '3'], ['X_Under', 'dropped']]);
    expect(e.HTTP_ACCEPT).toBe('a, b');
    expect(e.HTTP_COOKIE).toBe('a=1; b=2');
    expect(e.CONTENT_TYPE).toBe('text/plain');
    expect(e.CONTENT_LENGTH).toBe('3');
    expect(e.HTTP_CONTENT_TYPE).toBeUndefined();
    expect(e.HTTP_X_UNDER).toBeUndefined();
    expect(e.SERVER_NAME).toBe('example.com');
    expect(e.REQUEST_URI).toBe('/x');
  });

  it('refuses conflicting Content-Length headers (request smuggling)', () => {
    expect(() => env('/', [['Content-Length', '3'], ['Content-Length', '4']])).toThrow(BadRequestError);
  });

  it('reduces an absolute-form target to its path and query', () => {
    const e = env('http://example.com/a/b?c=1');
    expect([e.PATH_INFO, e.QUERY_STRING]).toEqual(['/a/b', 'c=1']);
  });

  it('splits the mount point into SCRIPT_NAME and refuses paths outside it', () => {
    const e = env('/app/x/y', [], { scriptName: '/app' });
    expect([e.SCRIPT_NAME, e.PATH_INFO]).toEqual(['/app', '/x/y']);
    expect(env('/app', [], { scriptName: '/app' }).PATH_INFO).toBe('');
    expect(() => env('/application', [], { scriptName: '/app' })).toThrow(BadRequestError);
  });
});

describe('decodePath', () => {
  it('decodes UTF-8 escapes, %2F, and leaves plain paths alone', () => {
    expect(decodePath('/caf%C3%A9')).toBe('/café');
    expect(decodePath('/a%2Fb')).toBe('/a/b');
    expect(decodePath('/plain')).toBe('/plain');
  });
  it('returns undefined for invalid UTF-8, overlong encodings and broken escapes', () => {
    expect(decodePath('/%FF')).toBeUndefined();
    expect(decodePath('/%C0%AE%C0%AE')).toBeUndefined(); // overlong "."
    expect(decodePath('/%2')).toBeUndefined();
    expect(decodePath('/%zz')).toBeUndefined();
  });
});

describe('URIs', () => {
  it('requestUri and applicationUri rebuild the URL (PEP 3333)', () => {
    const e = env('/app/a%20b?x=1', [['Host', 'example.com']], { scriptName: '/app' });
    expect(requestUri(e)).toBe('http://example.com/app/a%20b?x=1');
    expect(requestUri(e, false)).toBe('http://example.com/app/a%20b');
    expect(applicationUri(e)).toBe('http://example.com/app');
    const noHost = env('/', [], { scheme: 'https', serverName: 'h', serverPort: 8443 });
    expect(requestUri(noHost)).toBe('https://h:8443/');
    expect(applicationUri(noHost)).toBe('https://h:8443/');
  });

  it('shiftPathInfo moves one segment at a time', () => {
    const e = env('/a//b/c/');
    expect(shiftPathInfo(e)).toBe('a');
    expect([e.SCRIPT_NAME, e.PATH_INFO]).toEqual(['/a', '//b/c/']);
    expect(shiftPathInfo(e)).toBe('b');
    expect([e.SCRIPT_NAME, e.PATH_INFO]).toEqual(['/a/b', '/c/']);
    expect(shiftPathInfo(e)).toBe('c');
    expect([e.SCRIPT_NAME, e.PATH_INFO]).toEqual(['/a/b/c', '/']);
    expect(shiftPathInfo(e)).toBe('');
    expect([e.SCRIPT_NAME, e.PATH_INFO]).toEqual(['/a/b/c', '']);
    expect(shiftPathInfo(e)).toBeUndefined();
  });
});

describe('headers', () => {
  it('looks up, sets and removes response headers case-insensitively', () => {
    const h: Array<[string, string]> = [['Content-Type', 'text/plain'], ['Set-Cookie', 'a'], ['set-cookie', 'b']];
    expect(getHeader(h, 'content-type')).toBe('text/plain');
    expect(getHeaders(h, 'SET-COOKIE')).toEqual(['a', 'b']);
    setHeader(h, 'content-type', 'text/html');
    expect(getHeaders(h, 'Content-Type')).toEqual(['text/html']);
    removeHeader(h, 'Set-Cookie');
    expect(h).toEqual([['content-type', 'text/html']]);
    expect(getHeader(h, 'missing')).toBeUndefined();
  });
  it('reads request headers from the environ', () => {
    const e = env('/', [['X-Forwarded-For', '1.2.3.4'], ['Content-Type', 'a/b']]);
    expect(requestHeader(e, 'x-forwarded-for')).toBe('1.2.3.4');
    expect(requestHeader(e, 'X_FORWARDED_FOR')).toBe('1.2.3.4');
    expect(requestHeader(e, 'content-type')).toBe('a/b');
    expect(requestHeader(e, 'missing')).toBeUndefined();
  });
});

describe('HTTPError and response helpers', () => {
  it('renders its status, escapes the message, exposes 4xx messages only', async () => {
    const e = new HTTPError(404, '<b>gone</b>');
    expect(e.statusLine).toBe('404 Not Found');
    expect(isHTTPError(e)).toBe(true);
    const res = await new TestClient(e.toApplication()).get('/');
    expect(res.statusCode).toBe(404);
    expect(res.text()).toContain('&lt;b&gt;gone&lt;/b&gt;');
    const hidden = await new TestClient(new HTTPError(500, 'secret path /etc').toApplication()).get('/');
    expect(hidden.text()).not.toContain('secret');
    const allow = await new TestClient(new HTTPError(405, undefined, { headers: [['Allow', 'GET']] }).toApplication()).get('/');
    expect(allow.header('allow')).toBe('GET');
    expect(() => new HTTPError(200)).toThrow(RangeError);
    expect(isHTTPError(new Error('x'))).toBe(false);
    expect(statusLine(418)).toBe("418 I'm a Teapot");
  });

  it('text, html, redirect and notFound answer valid responses', async () => {
    const t = await new TestClient(text('héllo')).get('/');
    expect([t.header('content-type'), t.header('content-length'), t.text()]).toEqual(['text/plain; charset=utf-8', '6', 'héllo']);
    const h = await new TestClient(html('<p>x</p>', { status: 202 })).get('/');
    expect([h.statusCode, h.text()]).toEqual([202, '<p>x</p>']);
    const r = await new TestClient(redirect('/next?a="b"', 303)).get('/');
    expect([r.statusCode, r.header('location')]).toEqual([303, '/next?a="b"']);
    expect(r.text()).toContain('&quot;b&quot;');
    // Non-ASCII is percent-encoded (Node refuses header values above U+00FF); control characters throw.
    const iri = await new TestClient(redirect('/日本?q=é x&y=%41')).get('/');
    expect(iri.header('location')).toBe('/%E6%97%A5%E6%9C%AC?q=%C3%A9%20x&y=%41');
    expect(iriToUri('https://example.com/ok')).toBe('https://example.com/ok');
    for (const bad of ['/a\r\nSet-Cookie: x=1', '/\t/evil.example', '/a\0']) expect(() => redirect(bad)).toThrow(TypeError);
    const n = await new TestClient(notFound('<script>')).get('/');
    expect(n.statusCode).toBe(404);
    expect(n.text()).toContain('&lt;script&gt;');
    expect(escapeHtml(`<a href="x">'&'</a>`)).toBe('&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
  });
});

describe('compose', () => {
  it('applies the first middleware outermost', async () => {
    const tag = (name: string): Middleware => (app) => (environ, startResponse) =>
      app(environ, (status, headers, error) => startResponse(status, [...headers, ['X-Order', name]], error));
    const res = await new TestClient(compose(tag('outer'), tag('inner'))(text('x'))).get('/');
    expect(res.headerAll('x-order')).toEqual(['inner', 'outer']);
  });
});

describe('bodies and input', () => {
  it('readBody enforces maxBytes with a 413, by declared length and by counting', async () => {
    const app: Application = async (environ, startResponse) => {
      await readBody(environ, { maxBytes: 4 });
      return text('ok')(environ, startResponse);
    };
    const client = new TestClient(app, { throwErrors: false });
    await expect(new TestClient(app).post('/', { body: '12345' })).rejects.toMatchObject({ status: 413 });
    await expect(new TestClient(app).post('/', { body: (async function* () { yield Buffer.from('123'); yield Buffer.from('45'); })() })).rejects.toMatchObject({ status: 413 });
    expect((await client.post('/', { body: '1234' })).statusCode).toBe(200);
  });

  it('createInput stops at the content length and has a single consumer', async () => {
    const input = createInput([Buffer.from('abc'), Buffer.from('defgh')], 5);
    const parts: string[] = [];
    for await (const c of input) parts.push(Buffer.from(c).toString());
    expect(parts).toEqual(['abc', 'de']);
    await expect((async () => { for await (const _ of input) { /* again */ } })()).rejects.toBeInstanceOf(InputConsumedError);
  });

  it('collectBody reads and closes; onBodyClose runs after the inner close', async () => {
    const log: string[] = [];
    const inner = Object.assign([Buffer.from('a'), Buffer.from('b')], { close: () => { log.push('inner'); } });
    const wrapped = onBodyClose(inner, () => { log.push('after'); });
    expect((await collectBody(wrapped)).toString()).toBe('ab');
    await wrapped.close?.();
    expect(log).toEqual(['inner', 'after']);
  });

  it('onBodyClose keeps array bodies arrays (known length) and runs onClose when the inner close throws', async () => {
    const log: string[] = [];
    const inner = Object.assign([Buffer.from('abc')], { close: () => { throw new Error('inner close failed'); } });
    const wrapped = onBodyClose(inner, () => { log.push('after'); });
    expect(Array.isArray(wrapped)).toBe(true);
    const res = await new TestClient((_e, startResponse) => { startResponse('200 OK', [['Content-Type', 'text/plain']]); return wrapped; }, { throwErrors: false }).get('/');
    expect(res.contentLength).toBe(3);
    expect(log).toEqual(['after']);
  });
});

describe('CookieJar', () => {
  it('stores, path-matches, expires and overwrites cookies', () => {
    const jar = new CookieJar();
    jar.setCookie('a=1; Path=/');
    jar.setCookie('b="quoted"; Path=/docs');
    jar.setCookie('c=3; Expires=Thu, 01 Jan 1970 00:00:00 GMT');
    expect(jar.cookieHeader('/')).toBe('a=1');
    expect(jar.cookieHeader('/docs/x')).toBe('b=quoted; a=1');
    expect(jar.cookieHeader('/docsx')).toBe('a=1');
    jar.setCookie('a=2; Path=/');
    expect(jar.get('a')).toBe('2');
    jar.setCookie('garbage');
    expect(jar.all().length).toBe(2);
  });
});

describe('asApplication', () => {
  it('converts values with a static TO_APPLICATION, passes functions, refuses others', async () => {
    const app = text('converted');
    class Page { static [TO_APPLICATION]() { return app; } }
    expect(await asApplication(Page)).toBe(app);
    expect(await asApplication(app)).toBe(app);
    expect(await asApplication('nope')).toBeUndefined();
  });
});

describe('formatBytes', () => {
  it('writes byte counts in IEC units, at most two decimals', async () => {
    const { formatBytes } = await import('../src/index.js');
    expect([0, 1, 512, 1024, 1536, 5 * 1024 * 1024, 5 * 1024 * 1024 + 64 * 1024, 2 ** 30, 2 ** 50].map(formatBytes))
      .toEqual(['0 bytes', '1 byte', '512 bytes', '1 KiB', '1.5 KiB', '5 MiB', '5.06 MiB', '1 GiB', '1024 TiB']);
    expect(() => formatBytes(-1)).toThrow(RangeError);
    expect(() => formatBytes(Number.NaN)).toThrow(RangeError);
  });
});
