import { describe, it, expect } from '@jest/globals';
import { TestClient, text, bytes, type Application } from '@stackware/gateway';
import { session, getSession, hasSession, loadSession, MemoryStore, signSessionId, newSessionId, SessionLockTimeoutError } from '../src/index.js';
import { site, SECRET, OLD_SECRET, sessionCookie, concurrentDistinctKeys } from './helpers.js';

function client(app: Application = site, store = new MemoryStore(), extra: Partial<Parameters<typeof session>[1]> = {}) {
  return { client: new TestClient(session(app, { secret: SECRET, store, ...extra }), { cookies: true }), store };
}

describe('session(): lazy loading and the cookie', () => {
  it('reads nothing and sets no cookie when the application does not touch the session', async () => {
    const store = new MemoryStore();
    let reads = 0;
    const get = store.get.bind(store);
    store.get = async (id) => { reads++; return get(id); };
    const { client: c } = client(site, store);
    const res = await c.get('/untouched', { headers: { Cookie: `stackware_session=${signSessionId(newSessionId(), SECRET)}` } });
    expect(res.text()).toBe('no session here');
    expect(res.headerAll('set-cookie')).toEqual([]);
    expect(reads).toBe(0);
  });

  it('sends no cookie for a loaded but unchanged new session, and does not store it', async () => {
    const { client: c, store } = client();
    const res = await c.get('/');
    expect(res.json()).toMatchObject({ isNew: true, data: {} });
    expect(res.headerAll('set-cookie')).toEqual([]);
    expect(store.size).toBe(0);
  });

  it('counts across requests with the cookie jar; the cookie has the documented flags', async () => {
    const { client: c } = client();
    const first = await c.get('/count');
    expect(first.text()).toBe('count=1');
    const cookie = first.header('set-cookie')!;
    expect(cookie).toMatch(/^stackware_session=[A-Za-z0-9_-]{32}\.[A-Za-z0-9_-]{43}; Max-Age=86400; Path=\/; HttpOnly; SameSite=Lax$/);
    expect((await c.get('/count')).text()).toBe('count=2');
    expect((await c.get('/count')).text()).toBe('count=3');
  });

  it('sets Secure on https, Path from SCRIPT_NAME, Domain and a browser-session cookie when asked', async () => {
    const app = session(site, { secret: SECRET, cookie: { domain: 'example.org', persistent: false } });
    const res = await new TestClient(app, { scriptName: '/shop' }).get('/shop/count', { scheme: 'https' });
    const cookie = res.header('set-cookie')!;
    expect(cookie).toContain('; Path=/shop;');
    expect(cookie).toContain('; Domain=example.org;');
    expect(cookie).toContain('; Secure');
    expect(cookie).not.toContain('Max-Age');
  });

  it('getSession throws a message naming the fix without the middleware; hasSession says whether it is there', async () => {
    let message = '';
    let had: boolean | undefined;
    const app: Application = (environ, startResponse) => {
      had = hasSession(environ);
      try { getSession(environ); } catch (error) { message = (error as Error).message; }
      return text('x')(environ, startResponse);
    };
    await new TestClient(app).get('/');
    expect(had).toBe(false);
    expect(message).toMatch(/add session\(\) to the stack/);
  });

  it('get/set before load() throw an error that says to await load()', async () => {
    let message = '';
    const app = session((environ, startResponse) => {
      try { getSession(environ).get('x'); } catch (error) { message = (error as Error).message; }
      return text('x')(environ, startResponse);
    }, { secret: SECRET });
    await new TestClient(app).get('/');
    expect(message).toMatch(/await getSession\(environ\)\.load\(\)/);
  });

  it('refuses a missing or short secret at construction', () => {
    expect(() => session(site, {} as never)).toThrow(/"secret" option is required/);
    expect(() => session(site, { secret: 'short' })).toThrow(/at least 32 characters/);
    expect(() => session(site, { secret: [SECRET, 'short'] })).toThrow(/secret #2/);
  });
});

describe('session(): tampering and rotation', () => {
  it('gives a fresh session (never an error, never a store lookup) for tampered, malformed or forged cookies', async () => {
    const store = new MemoryStore();
    const looked: string[] = [];
    const get = store.get.bind(store);
    store.get = async (id) => { looked.push(id); return get(id); };
    const { client: c } = client(site, store);
    const res = await c.get('/set?secret=yes');
    const good = sessionCookie(res.headerAll('set-cookie'))!.split('=')[1]!;
    const [id, sig] = good.split('.') as [string, string];
    looked.length = 0;
    const flip = (s: string) => (s[0] === 'A' ? 'B' : 'A') + s.slice(1);
    const bad = [
      `${flip(id)}.${sig}`, // id changed, signature kept
      `${id}.${flip(sig)}`, // signature changed
      `${id}.${sig}x`, // extra character
      id, // unsigned
      `../../etc/passwd.${sig}`, // path-like id
      `${id}.${signSessionId(id, 'attacker-secret-0123456789-abcdefghijkl').split('.')[1]}`, // signed with another key
      '%%%', '', '.', `${'a'.repeat(5000)}`,
    ];
    for (const value of bad) {
      const r = await new TestClient(session(site, { secret: SECRET, store })).get('/', { headers: { Cookie: `stackware_session=${value}` } });
      expect(r.statusCode).toBe(200);
      expect(r.json()).toMatchObject({ isNew: true, data: {} });
    }
    expect(looked).toEqual([]);
    // The genuine cookie still works.
    expect((await c.get('/')).json()).toMatchObject({ isNew: false, data: { secret: 'yes' } });
  });

  it('verifies with every secret in the list and signs with the first (rotation)', async () => {
    const store = new MemoryStore();
    const old = new TestClient(session(site, { secret: OLD_SECRET, store }), { cookies: true });
    await old.get('/set?a=1');
    const oldCookie = old.cookies.get('stackware_session')!;
    const rotated = new TestClient(session(site, { secret: [SECRET, OLD_SECRET], store }), { cookies: true });
    const res = await rotated.get('/', { headers: { Cookie: `stackware_session=${oldCookie}` } });
    expect(res.json()).toMatchObject({ isNew: false, data: { a: '1' } });
    // Rolling re-sends the cookie, now signed with the new first secret.
    const resent = sessionCookie(res.headerAll('set-cookie'))!.split('=')[1]!;
    expect(resent).toBe(signSessionId(oldCookie.split('.')[0]!, SECRET));
    // Once the old secret is dropped, old-signed cookies are no longer accepted.
    const newOnly = new TestClient(session(site, { secret: SECRET, store }));
    expect((await newOnly.get('/', { headers: { Cookie: `stackware_session=${oldCookie}` } })).json()).toMatchObject({ isNew: true });
  });

  it('takes the first valid one of several cookies with the session name', async () => {
    const { client: c, store } = client();
    await c.get('/set?a=1');
    const good = c.cookies.get('stackware_session')!;
    const res = await new TestClient(session(site, { secret: SECRET, store })).get('/', { headers: { Cookie: `stackware_session=forged.value; other=1; stackware_session=${good}` } });
    expect(res.json()).toMatchObject({ isNew: false, data: { a: '1' } });
  });
});

describe('session(): regenerate, destroy, flashes', () => {
  it('regenerate() gives a new id with the same data and removes the old id (fixation defence)', async () => {
    const { client: c, store } = client();
    const before = (await c.get('/set?cart=3')).json<{ id: string }>().id;
    const fixed = c.cookies.get('stackware_session')!;
    const res = await c.get('/login?user=ann');
    const after = res.json<{ id: string; data: Record<string, string> }>();
    expect(after.id).not.toBe(before);
    expect(after.data).toEqual({ cart: '3', user: 'ann' });
    expect(c.cookies.get('stackware_session')!.startsWith(`${after.id}.`)).toBe(true);
    expect(await store.get(before)).toBeUndefined();
    // An attacker holding the pre-login cookie gets nothing.
    const attacker = await new TestClient(session(site, { secret: SECRET, store })).get('/', { headers: { Cookie: `stackware_session=${fixed}` } });
    expect(attacker.json()).toMatchObject({ isNew: true, data: {} });
    expect((await c.get('/')).json()).toMatchObject({ id: after.id, data: { user: 'ann' } });
  });

  it('destroy() removes the session and expires the cookie', async () => {
    const { client: c, store } = client();
    const { id } = (await c.get('/set?a=1')).json<{ id: string }>();
    const res = await c.get('/logout');
    expect(res.header('set-cookie')).toMatch(/^stackware_session=; Max-Age=0; Path=\/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; SameSite=Lax$/);
    expect(await store.get(id)).toBeUndefined();
    expect(c.cookies.get('stackware_session')).toBeUndefined();
    expect((await c.get('/')).json()).toMatchObject({ isNew: true, data: {} });
  });

  it('a session destroyed and then written again is saved under a new id with a new cookie', async () => {
    const { client: c, store } = client();
    const { id } = (await c.get('/set?user=ann')).json<{ id: string }>();
    const res = await c.get('/logout?m=bye');
    const fresh = res.json<{ id: string; isNew: boolean; data: object }>();
    expect(fresh.id).not.toBe(id);
    expect(fresh.data).toEqual({});
    expect(await store.get(id)).toBeUndefined();
    expect(c.cookies.get('stackware_session')!.startsWith(`${fresh.id}.`)).toBe(true);
    expect((await c.get('/flashes')).json()).toEqual({ flashes: [{ category: 'message', message: 'bye' }] });
  });

  it('keeps flash messages until they are consumed, by category', async () => {
    const { client: c } = client();
    await c.get('/flash?m=saved');
    await c.get('/flash?m=oops&c=error');
    expect((await c.get('/flashes?c=error')).json()).toEqual({ flashes: [{ category: 'error', message: 'oops' }] });
    expect((await c.get('/flashes')).json()).toEqual({ flashes: [{ category: 'message', message: 'saved' }] });
    expect((await c.get('/flashes')).json()).toEqual({ flashes: [] });
  });
});

describe('session(): expiry', () => {
  it('expires an idle session after idleTimeoutSeconds, and rolling requests keep it alive', async () => {
    let now = 1_000_000;
    const store = new MemoryStore({ now: () => now });
    const c = new TestClient(session(site, { secret: SECRET, store, idleTimeoutSeconds: 60, now: () => now }), { cookies: true });
    await c.get('/set?a=1');
    for (let i = 0; i < 5; i++) {
      now += 50_000; // under the idle timeout each time, 250 s in total
      expect((await c.get('/')).json()).toMatchObject({ isNew: false, data: { a: '1' } });
    }
    const cookie = c.cookies.get('stackware_session')!;
    now += 61_000;
    expect((await c.get('/', { headers: { Cookie: `stackware_session=${cookie}` } })).json()).toMatchObject({ isNew: true, data: {} });
  });

  it('without rolling, only saves extend the idle expiry', async () => {
    let now = 1_000_000;
    const store = new MemoryStore({ now: () => now });
    const c = new TestClient(session(site, { secret: SECRET, store, idleTimeoutSeconds: 60, rolling: false, now: () => now }), { cookies: true });
    const first = await c.get('/set?a=1');
    expect(first.header('set-cookie')).toBeDefined();
    now += 40_000;
    const read = await c.get('/');
    expect(read.json()).toMatchObject({ isNew: false });
    expect(read.headerAll('set-cookie')).toEqual([]);
    now += 40_000; // 80 s after the only save
    expect((await c.get('/')).json()).toMatchObject({ isNew: true });
  });

  it('expires a session after absoluteTimeoutSeconds however active, and clears its cookie', async () => {
    let now = 1_000_000;
    const store = new MemoryStore({ now: () => now });
    const c = new TestClient(session(site, { secret: SECRET, store, idleTimeoutSeconds: 60, absoluteTimeoutSeconds: 120, now: () => now }), { cookies: true });
    const first = await c.get('/set?a=1');
    const { id } = first.json<{ id: string }>();
    expect(first.header('set-cookie')).toContain('Max-Age=60');
    now += 50_000;
    await c.get('/count');
    now += 50_000;
    // 100 s in: the cookie's Max-Age is capped by the 20 s left.
    expect((await c.get('/count')).header('set-cookie')).toContain('Max-Age=20');
    now += 30_000; // 130 s: past the absolute limit though active
    const res = await c.get('/');
    expect(res.json()).toMatchObject({ isNew: true, data: {} });
    expect(res.header('set-cookie')).toContain('Max-Age=0');
    expect(await store.get(id)).toBeUndefined();
  });
});

describe('session(): saving', () => {
  it('rejects values that are not JSON data at save time with a clear message (500, nothing stored)', async () => {
    const { client: c, store } = client();
    await c.get('/set?a=1');
    const id = c.cookies.get('stackware_session')!.split('.')[0]!;
    await expect(c.get('/bad')).rejects.toThrow(/session key "fn" is a function, which JSON cannot hold/);
    expect(JSON.parse((await store.get(id))!).data).toEqual({ a: '1' });
  });

  it('saves a streaming body when its iteration ends, before the response ends; the next request sees it', async () => {
    const store = new MemoryStore();
    const events: string[] = [];
    const app = session(async (environ, startResponse) => {
      const s = await loadSession(environ);
      startResponse('200 OK', [['Content-Type', 'text/plain']]);
      return (async function* () {
        s.set('step', 1);
        yield bytes('a');
        s.set('step', 2); // after headers went out: still saved, the cookie was sent with the first chunk
        events.push('body done');
        yield bytes('b');
      })();
    }, { secret: SECRET, store });
    const set = store.set.bind(store);
    store.set = async (...args) => { events.push('saved'); return set(...args); };
    const c = new TestClient(app, { cookies: true });
    const res = await c.get('/');
    expect(res.text()).toBe('ab');
    expect(events).toEqual(['body done', 'saved']);
    const id = c.cookies.get('stackware_session')!.split('.')[0]!;
    expect(JSON.parse((await store.get(id))!).data).toEqual({ step: 2 });
  });

  it('a NEW session first changed after the headers went out is not saved (no cookie can carry it) and says so in the error log', async () => {
    const store = new MemoryStore();
    const app = session(async (environ, startResponse) => {
      startResponse('200 OK', [['Content-Type', 'text/plain']]);
      return (async function* () {
        yield bytes('a');
        const s = await loadSession(environ);
        s.set('late', true);
        yield bytes('b');
      })();
    }, { secret: SECRET, store });
    const res = await new TestClient(app).get('/');
    expect(res.text()).toBe('ab');
    expect(res.headerAll('set-cookie')).toEqual([]);
    expect(store.size).toBe(0);
    expect(res.errors).toMatch(/cookie was not sent.*change is dropped/);
  });

  it('regenerate() after the headers went out throws', async () => {
    const app = session(async (environ, startResponse) => {
      const s = await loadSession(environ);
      s.set('a', 1);
      startResponse('200 OK', [['Content-Type', 'text/plain']]);
      return (async function* () {
        yield bytes('a');
        await s.regenerate();
      })();
    }, { secret: SECRET });
    await expect(new TestClient(app).get('/')).rejects.toThrow(/regenerate\(\) was called after the response headers were sent/);
  });

  it('works with the legacy write() and saves at close() when the client goes away', async () => {
    const store = new MemoryStore();
    const app = session(async (environ, startResponse) => {
      const s = await loadSession(environ);
      s.set('w', 'yes');
      const write = startResponse('200 OK', [['Content-Type', 'text/plain']]);
      await write(bytes('hello '));
      return (async function* () { yield bytes('x'); yield bytes('y'); yield bytes('z'); })();
    }, { secret: SECRET, store });
    const res = await new TestClient(app, { cookies: true }).get('/', { disconnectAfterChunks: 2 });
    expect(res.completed).toBe(false);
    const id = sessionCookie(res.headerAll('set-cookie'))!.split('=')[1]!.split('.')[0]!;
    expect(JSON.parse((await store.get(id))!).data).toEqual({ w: 'yes' });
  });

  it('discards changes when the application fails, and releases the lock', async () => {
    const store = new MemoryStore();
    let fail = false;
    const app = session(async (environ, startResponse) => {
      const s = await loadSession(environ);
      s.set('n', (s.get<number>('n') ?? 0) + 1);
      if (fail) throw new Error('boom');
      return text(String(s.get('n')))(environ, startResponse);
    }, { secret: SECRET, store, lock: true, lockWaitMs: 2000 });
    const c = new TestClient(app, { cookies: true });
    expect((await c.get('/')).text()).toBe('1');
    fail = true;
    await expect(c.get('/')).rejects.toThrow('boom');
    fail = false;
    expect((await c.get('/')).text()).toBe('2'); // not blocked: the failed request released the lock
  });

  it('a body that fails while streaming saves nothing and releases the lock', async () => {
    const store = new MemoryStore();
    let fail = true;
    const app = session(async (environ, startResponse) => {
      const s = await loadSession(environ);
      s.set('n', (s.get<number>('n') ?? 0) + 1);
      startResponse('200 OK', [['Content-Type', 'text/plain']]);
      return (async function* () {
        yield bytes(String(s.get('n')));
        if (fail) throw new Error('stream broke');
      })();
    }, { secret: SECRET, store, lock: true, lockWaitMs: 2000 });
    const c = new TestClient(app, { cookies: true, throwErrors: false });
    fail = false;
    expect((await c.get('/')).text()).toBe('1');
    fail = true;
    const broken = await c.get('/');
    expect(broken.completed).toBe(false);
    fail = false;
    expect((await c.get('/')).text()).toBe('2'); // the failed request's n=2 was not saved, and its lock is free
  });

  it('passes a non-body through, so the gateway names the mistake', async () => {
    const app = session(async (environ, startResponse) => {
      await loadSession(environ);
      startResponse('200 OK', [['Content-Type', 'text/plain']]);
      return 'hello' as never;
    }, { secret: SECRET, lock: true });
    await expect(new TestClient(app, { validate: false }).get('/')).rejects.toThrow(/returned a string/);
  });

  it('cookie.secure true/false overrides the scheme', async () => {
    const onHttp = await new TestClient(session(site, { secret: SECRET, cookie: { secure: true } })).get('/count');
    expect(onHttp.header('set-cookie')).toContain('; Secure');
    const onHttps = await new TestClient(session(site, { secret: SECRET, cookie: { secure: false, sameSite: 'strict' } })).get('/count', { scheme: 'https' });
    expect(onHttps.header('set-cookie')).not.toContain('Secure');
    expect(onHttps.header('set-cookie')).toContain('SameSite=Strict');
  });

  it('HEAD requests save too', async () => {
    const { client: c } = client();
    await c.head('/count');
    expect((await c.get('/count')).text()).toBe('count=2');
  });
});

describe('session(): concurrency', () => {
  it('two concurrent requests changing different keys both keep their change (merge on save)', async () => {
    const store = new MemoryStore();
    let releaseA!: () => void;
    const gate = new Promise<void>((r) => { releaseA = r; });
    const app = session(async (environ, startResponse) => {
      const s = await loadSession(environ);
      const key = environ.PATH_INFO.slice(1);
      if (key === 'a') await gate; // A loads first, saves last
      s.set(key, true);
      return text('ok')(environ, startResponse);
    }, { secret: SECRET, store });
    const c = new TestClient(app, { cookies: true });
    await c.get('/first');
    const a = c.get('/a');
    await new Promise((r) => setImmediate(r));
    await c.get('/b');
    releaseA();
    await a;
    const id = c.cookies.get('stackware_session')!.split('.')[0]!;
    expect(JSON.parse((await store.get(id))!).data).toEqual({ first: true, a: true, b: true });
  });

  it('without lock, 30 concurrent requests each setting its own key lose none of them (MemoryStore)', async () => {
    expect(await concurrentDistinctKeys(new MemoryStore(), 30)).toEqual(['first', ...Array.from({ length: 30 }, (_, i) => `k${i}`)].sort());
  });

  it('a counter incremented by 50 concurrent requests ends at 50 with lock: true', async () => {
    const store = new MemoryStore();
    const counter = session(async (environ, startResponse) => {
      const s = await loadSession(environ);
      const n = s.get<number>('n') ?? 0;
      await new Promise((r) => setImmediate(r)); // widen the read-modify-write window
      s.set('n', n + 1);
      return text(String(n + 1))(environ, startResponse);
    }, { secret: SECRET, store, lock: true });
    const c = new TestClient(counter, { cookies: true });
    await c.get('/'); // creates the session: n = 1
    await Promise.all(Array.from({ length: 50 }, () => c.get('/')));
    expect((await c.get('/')).text()).toBe('52');
  });

  it('answers 503 with Retry-After, without an exception catcher, when the lock is not released in time', async () => {
    const store = new MemoryStore();
    const { client: c } = client(site, store);
    await c.get('/set?a=1');
    const id = c.cookies.get('stackware_session')!.split('.')[0]!;
    const release = await store.lock(id, { waitMs: 100, ttlMs: 60_000 });
    const errors: string[] = [];
    const locked = new TestClient(session(site, { secret: SECRET, store, lock: true, lockWaitMs: 50 }), { cookies: false });
    const res = await locked.get('/', { headers: { Cookie: `stackware_session=${c.cookies.get('stackware_session')}` }, environ: { 'stackware.errors': { write: (t: string) => { errors.push(t); } } } });
    expect(res.statusCode).toBe(503);
    expect(res.header('retry-after')).toBe('1');
    expect(errors.join('')).toMatch(/not released within 50 ms/);
    expect(new SessionLockTimeoutError(50).status).toBe(503);
    await release();
  });

  it('with lock: false, never waits on a lock another request holds (saves included)', async () => {
    const store = new MemoryStore();
    const { client: c } = client(site, store);
    await c.get('/set?a=1');
    const id = c.cookies.get('stackware_session')!.split('.')[0]!;
    // A lock: true request (or a crashed process) holds the session's lock for a minute.
    const release = await store.lock(id, { waitMs: 100, ttlMs: 60_000 });
    const unlocked = new TestClient(session(site, { secret: SECRET, store, lock: false, lockWaitMs: 50 }), { cookies: false });
    const res = await unlocked.get('/set?b=2', { headers: { Cookie: `stackware_session=${c.cookies.get('stackware_session')}` } });
    expect(res.statusCode).toBe(200);
    expect(JSON.parse((await store.get(id))!).data).toEqual({ a: '1', b: '2' });
    await release();
  });
});

describe('MemoryStore and process models', () => {
  it('refuses requests flagged multithread, multiprocess or run_once, naming the stores to use', async () => {
    for (const flag of ['stackware.multithread', 'stackware.multiprocess', 'stackware.run_once']) {
      const c = new TestClient(session(site, { secret: SECRET }), { environ: { [flag]: true } });
      await expect(c.get('/count')).rejects.toThrow(new RegExp(`${flag.replace('.', '\\.')} = true.*FileStore.*RedisStore`));
    }
  });
});
