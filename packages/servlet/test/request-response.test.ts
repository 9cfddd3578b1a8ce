import { describe, it, expect } from '@jest/globals';
import { TestClient, type Application } from '@stackware/gateway';
import { HTTPServlet, servletApp, type Transaction } from '../src/index.js';

class Echo extends HTTPServlet {
  respondToGet(t: Transaction) {
    return this.respondToPost(t);
  }
  async respondToPost(t: Transaction) {
    const r = t.request;
    t.response.setHeader('Content-Type', 'application/json');
    await t.response.write(JSON.stringify({
      fields: r.fields(),
      a: r.field('a'),
      missing: r.field('missing', 'fallback'),
      values: r.fieldValues('a'),
      has: [r.hasField('a'), r.hasField('nope')],
      cookies: r.cookies(),
      theme: r.cookie('theme'),
      ua: r.header('User-Agent'),
      headers: r.headers(),
      uri: r.uri(),
      extra: r.extraURLPath(),
      urlPath: r.urlPath(),
      remote: r.remoteAddress(),
      method: r.method(),
      secure: r.isSecure(),
      url: r.url(),
    }));
  }
}

describe('HTTPRequest', () => {
  const client = new TestClient(servletApp(Echo), { scriptName: '/app' });

  it('merges query and urlencoded form fields Webware-style (query first, repeats → arrays)', async () => {
    const res = await client.post('/app/x?a=1&q=only', { form: { a: ['2', '3'], b: 'bee' } });
    const data = res.json<Record<string, unknown>>();
    expect(data.fields).toEqual({ a: ['1', '2', '3'], q: 'only', b: 'bee' });
    expect(data.a).toEqual(['1', '2', '3']);
    expect(data.values).toEqual(['1', '2', '3']);
    expect(data.missing).toBe('fallback');
    expect(data.has).toEqual([true, false]);
  });

  it('exposes cookies, headers, uri, extraURLPath, remoteAddress', async () => {
    const res = await client.get('/app/item/42?a=%C3%A9', {
      headers: { 'User-Agent': 'jest', Cookie: 'theme=dark; n=a%20b' },
      remoteAddr: '10.1.2.3',
    });
    const data = res.json<Record<string, unknown>>();
    expect(data.a).toBe('é');
    expect(data.cookies).toEqual({ theme: 'dark', n: 'a b' });
    expect(data.theme).toBe('dark');
    expect(data.ua).toBe('jest');
    expect(data.headers).toMatchObject({ 'user-agent': 'jest', host: 'localhost' });
    expect(data.uri).toBe('/app/item/42?a=%C3%A9');
    expect(data.extra).toBe('/item/42');
    expect(data.urlPath).toBe('/app');
    expect(data.remote).toBe('10.1.2.3');
    expect(data.method).toBe('GET');
    expect(data.secure).toBe(false);
    expect(data.url).toBe('http://localhost/app/item/42?a=%C3%A9');
  });

  it('reads JSON bodies on demand, with 415 and 400 for wrong ones', async () => {
    class Api extends HTTPServlet {
      async respondToPost(t: Transaction) {
        const body = await t.request.json<{ n: number }>();
        t.response.setHeader('Content-Type', 'application/json');
        await t.response.write(JSON.stringify({ doubled: body.n * 2 }));
      }
    }
    const api = new TestClient(servletApp(Api));
    expect((await api.post('/', { json: { n: 21 } })).json()).toEqual({ doubled: 42 });
    const notJson = await api.post('/', { body: 'n=1', headers: { 'Content-Type': 'text/plain' } });
    expect(notJson.statusCode).toBe(415);
    const bad = await api.post('/', { body: '{nope', headers: { 'Content-Type': 'application/json' } });
    expect(bad.statusCode).toBe(400);
    expect(bad.text()).toContain('not valid JSON');
  });
});

class CookiePage extends HTTPServlet {
  respondToGet(t: Transaction) {
    const { request, response } = t;
    const action = request.field('do');
    if (action === 'set') {
      response.setCookie('theme', 'dark blue; =x');
      response.setCookie('scoped', '1', { path: '/app', maxAge: 3600, sameSite: 'strict' });
    } else if (action === 'delete') {
      response.deleteCookie('theme');
    }
    response.setHeader('Content-Type', 'text/plain');
    void response.write(`theme=${request.cookie('theme') ?? '(none)'}`);
  }
}

describe('cookies', () => {
  it('round-trips through a browser-like jar: set, read back, delete', async () => {
    const client = new TestClient(servletApp(CookiePage), { cookies: true });
    const set = await client.get('/app?do=set');
    const lines = set.headerAll('set-cookie');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^theme=dark%20blue%3B%20%3Dx; Path=\/; HttpOnly; SameSite=Lax$/);
    expect(lines[1]).toMatch(/^scoped=1; Max-Age=3600; Path=\/app; HttpOnly; SameSite=Strict$/);
    expect((await client.get('/app')).text()).toBe('theme=dark blue; =x');
    const del = await client.get('/app?do=delete');
    expect(del.header('set-cookie')).toMatch(/^theme=; Max-Age=0; Path=\/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; SameSite=Lax$/);
    expect((await client.get('/app')).text()).toBe('theme=(none)');
  });

  it('marks cookies Secure on https', async () => {
    const res = await new TestClient(servletApp(CookiePage)).get('/?do=set', { scheme: 'https' });
    expect(res.header('set-cookie')).toContain('; Secure');
  });
});

describe('HTTPResponse', () => {
  it('buffers small output into one body with Content-Length', async () => {
    class Small extends HTTPServlet {
      respondToGet(t: Transaction) {
        for (let i = 0; i < 10; i++) void t.response.write('0123456789');
        expect(t.response.isCommitted()).toBe(false);
      }
    }
    const res = await new TestClient(servletApp(Small)).get('/');
    expect(res.header('content-length')).toBe('100');
    expect(res.chunks).toHaveLength(1);
  });

  it('commits and streams once the buffer is full, awaiting the gateway', async () => {
    const states: boolean[] = [];
    class Big extends HTTPServlet {
      async respondToGet(t: Transaction) {
        const kib = Buffer.alloc(1024, 'a');
        for (let i = 0; i < 40; i++) {
          await t.response.write(kib);
          states.push(t.response.isCommitted());
        }
        expect(() => t.response.setHeader('X-Late', '1')).toThrow(/committed/);
      }
    }
    const res = await new TestClient(servletApp(Big, { bufferBytes: 8 * 1024 })).get('/');
    expect(res.body.length).toBe(40 * 1024);
    expect(res.header('content-length')).toBeUndefined();
    expect(res.chunks.length).toBe(5);
    expect(states.indexOf(true)).toBe(7);
  });

  it('flush() commits at once', async () => {
    class Flushes extends HTTPServlet {
      async respondToGet(t: Transaction) {
        await t.response.write('head ');
        await t.response.flush();
        expect(t.response.isCommitted()).toBe(true);
        await t.response.write('tail');
      }
    }
    const res = await new TestClient(servletApp(Flushes)).get('/');
    expect(res.chunks.map(String)).toEqual(['head ', 'tail']);
  });

  it('sendRedirect drops buffered output and answers a redirect with an escaped link', async () => {
    class Redirects extends HTTPServlet {
      respondToGet(t: Transaction) {
        void t.response.write('ignored');
        t.response.sendRedirect('/login?next=/a"b', 303);
      }
    }
    const res = await new TestClient(servletApp(Redirects)).get('/');
    expect(res.statusCode).toBe(303);
    expect(res.header('location')).toBe('/login?next=/a"b');
    expect(res.text()).not.toContain('ignored');
    expect(res.text()).toContain('/login?next=/a&quot;b');
  });

  it('stops the servlet when the client goes away mid-stream (the next write throws)', async () => {
    let thrown: unknown;
    let writes = 0;
    class Endless extends HTTPServlet {
      async respondToGet(t: Transaction) {
        try {
          for (let i = 0; i < 1000; i++) {
            await t.response.write(Buffer.alloc(4096));
            writes++;
          }
        } catch (error) {
          thrown = error;
          throw error;
        }
      }
    }
    const res = await new TestClient(servletApp(Endless, { bufferBytes: 4096 }), { throwErrors: false }).get('/', { disconnectAfterChunks: 3 });
    expect(res.completed).toBe(false);
    expect((thrown as Error).name).toBe('ClientDisconnectedError');
    expect(writes).toBeLessThan(10);
  });

  it('percent-encodes a non-ASCII redirect URL (Node cannot send it raw; the real server broke the connection)', async () => {
    const app: Application = servletApp(class extends HTTPServlet {
      respondToGet(t: Transaction) {
        t.response.sendRedirect('/日本/café?q=é x&r=%41', 303);
      }
    });
    const res = await new TestClient(app).get('/');
    expect(res.statusCode).toBe(303);
    expect(res.header('location')).toBe('/%E6%97%A5%E6%9C%AC/caf%C3%A9?q=%C3%A9%20x&r=%41');
    expect(res.text()).toContain('href="/%E6%97%A5%E6%9C%AC/caf%C3%A9?q=%C3%A9%20x&amp;r=%41"');
  });

  it('rejects header injection in redirects', async () => {
    const app: Application = servletApp(class extends HTTPServlet {
      respondToGet(t: Transaction) {
        t.response.sendRedirect('/x\r\nSet-Cookie: evil=1');
      }
    });
    await expect(new TestClient(app).get('/')).rejects.toThrow(/CR, LF/);
  });
});
