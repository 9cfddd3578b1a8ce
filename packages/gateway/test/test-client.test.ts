import { describe, it, expect } from '@jest/globals';
import { TestClient, ValidationError, readBody, json, type Application } from '../src/index.js';

const echo: Application = async (environ, startResponse) => {
  const body = await readBody(environ);
  const payload = Buffer.from(JSON.stringify({
    method: environ.REQUEST_METHOD,
    scriptName: environ.SCRIPT_NAME,
    pathInfo: environ.PATH_INFO,
    query: environ.QUERY_STRING,
    contentType: environ.CONTENT_TYPE ?? null,
    contentLength: environ.CONTENT_LENGTH ?? null,
    cookie: environ.HTTP_COOKIE ?? null,
    accept: environ.HTTP_ACCEPT ?? null,
    scheme: environ['stackware.url_scheme'],
    remote: environ.REMOTE_ADDR,
    body: body.toString('latin1'),
  }));
  startResponse('200 OK', [['Content-Type', 'application/json'], ['Content-Length', String(payload.length)]]);
  return [payload];
};

describe('TestClient', () => {
  it('builds the environ from the request target, decoding PATH_INFO and keeping QUERY_STRING raw', async () => {
    const res = await new TestClient(echo).get('/caf%C3%A9/a%20b?q=%20x&y');
    expect(res.json()).toMatchObject({ method: 'GET', pathInfo: '/café/a b', query: 'q=%20x&y', scheme: 'http', remote: '127.0.0.1' });
  });

  it('answers 400 to a request a gateway refuses (invalid UTF-8, NUL, dot segments, two Host headers): it never reaches the app', async () => {
    let reached = 0;
    const client = new TestClient((environ, startResponse) => { reached++; return echo(environ, startResponse); });
    const utf8 = await client.get('/%C3%28');
    expect([utf8.statusCode, utf8.text()]).toEqual([400, expect.stringMatching(/not valid percent-encoded UTF-8/)]);
    for (const path of ['/a%00b', '/a/../b', '/%2e%2e/b', '/a/./b']) expect([path, (await client.get(path)).statusCode]).toEqual([path, 400]);
    expect((await client.request('GET', '/', { headers: [['Host', 'a'], ['Host', 'b']] })).statusCode).toBe(400);
    expect(reached).toBe(0);
  });

  it('sends form, json, raw and multipart bodies', async () => {
    const client = new TestClient(echo);
    expect((await client.post('/', { form: { a: '1', b: ['2', '3'] } })).json()).toMatchObject({
      contentType: 'application/x-www-form-urlencoded', body: 'a=1&b=2&b=3', contentLength: '11',
    });
    expect((await client.put('/', { json: { x: 1 } })).json()).toMatchObject({ contentType: 'application/json', body: '{"x":1}' });
    expect((await client.post('/', { body: 'raw' })).json()).toMatchObject({ body: 'raw', contentLength: '3' });
    const fd = new FormData();
    fd.append('field', 'value');
    fd.append('file', new Blob(['file contents']), 'a.txt');
    const multipart = (await client.post('/', { formData: fd })).json<{ contentType: string; body: string }>();
    expect(multipart.contentType).toMatch(/^multipart\/form-data; boundary=/);
    expect(multipart.body).toContain('file contents');
  });

  it('sends an async iterable body without Content-Length (like a chunked upload)', async () => {
    const res = await new TestClient(echo).post('/', { body: (async function* () { yield Buffer.from('ab'); yield Buffer.from('cd'); })() });
    expect(res.json()).toMatchObject({ body: 'abcd', contentLength: null });
  });

  it('passes OPTIONS * through as PATH_INFO "*" (RFC 9112 asterisk-form), strictly validated', async () => {
    const res = await new TestClient(echo).request('OPTIONS', '*');
    expect(res.json()).toMatchObject({ method: 'OPTIONS', pathInfo: '*', query: '' });
  });

  it('mounts under scriptName', async () => {
    const res = await new TestClient(echo, { scriptName: '/app' }).get('/app/x');
    expect(res.json()).toMatchObject({ scriptName: '/app', pathInfo: '/x' });
  });

  it('keeps cookies between requests when asked, honouring deletion and paths', async () => {
    const setter: Application = (environ, startResponse) => {
      const headers: Array<[string, string]> = [['Content-Type', 'text/plain']];
      if (environ.PATH_INFO === '/login') headers.push(['Set-Cookie', 'sid=abc; Path=/; HttpOnly'], ['Set-Cookie', 'scoped=1; Path=/admin']);
      if (environ.PATH_INFO === '/logout') headers.push(['Set-Cookie', 'sid=; Path=/; Max-Age=0']);
      startResponse('200 OK', headers);
      return [Buffer.from(String(environ.HTTP_COOKIE ?? ''))];
    };
    const client = new TestClient(setter, { cookies: true });
    await client.get('/login');
    expect((await client.get('/')).text()).toBe('sid=abc');
    expect((await client.get('/admin/x')).text()).toBe('scoped=1; sid=abc');
    expect(client.cookies.get('sid')).toBe('abc');
    await client.get('/logout');
    expect((await client.get('/')).text()).toBe('');
    const stateless = new TestClient(setter);
    await stateless.get('/login');
    expect((await stateless.get('/')).text()).toBe('');
  });

  it('rejects with a ValidationError when the application breaks the contract', async () => {
    const bad: Application = (_e, startResponse) => { startResponse('200 OK', [['Content-Type', 'text/plain']]); return 'text' as never; };
    await expect(new TestClient(bad).get('/')).rejects.toBeInstanceOf(ValidationError);
  });

  it('rethrows application errors by default, or answers 500 with throwErrors: false', async () => {
    const failing: Application = () => { throw new Error('app failed'); };
    await expect(new TestClient(failing).get('/')).rejects.toThrow('app failed');
    const res = await new TestClient(failing, { throwErrors: false }).get('/');
    expect(res.statusCode).toBe(500);
    expect(res.errors).toContain('app failed');
  });

  it('simulates a client that goes away mid-stream', async () => {
    let closed = false;
    const stream: Application = (_e, startResponse) => Object.assign((async function* () {
      startResponse('200 OK', [['Content-Type', 'text/plain']]);
      for (let i = 0; i < 1000; i++) yield Buffer.from('x');
    })(), { close: () => { closed = true; } });
    const res = await new TestClient(stream).get('/', { disconnectAfterChunks: 3 });
    expect(res.completed).toBe(false);
    expect(res.chunks.length).toBe(3);
    expect(closed).toBe(true);
  });

  it('exposes headers and the environ', async () => {
    const res = await new TestClient(json({ a: 1 }, { status: 201, headers: [['X-A', '1'], ['X-A', '2']] })).get('/', { headers: [['Accept', 'application/json']] });
    expect(res.status).toBe('201 Created');
    expect(res.headerAll('x-a')).toEqual(['1', '2']);
    expect(res.environ.HTTP_ACCEPT).toBe('application/json');
    expect(res.json()).toEqual({ a: 1 });
  });
});

describe('TestClient reports the first broken rule', () => {
  it('an array body with a wrong Content-Length is content-length-mismatch, not body-not-closed (issue #22)', async () => {
    let closed = false;
    const wrong: Application = (_e, startResponse) => {
      startResponse('200 OK', [['Content-Type', 'text/plain'], ['Content-Length', '10']]);
      return Object.assign([Buffer.from('short')], { close: () => { closed = true; } });
    };
    await expect(new TestClient(wrong).get('/')).rejects.toMatchObject({ rule: 'content-length-mismatch' });
    expect(closed).toBe(true);
    await expect(new TestClient(wrong, { throwErrors: false }).get('/')).rejects.toMatchObject({ rule: 'content-length-mismatch' });
  });
});
