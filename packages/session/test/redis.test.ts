import { describe, it, expect, beforeAll, afterAll } from '@jest/globals';
import { Redis } from 'ioredis';
import { spawn } from 'node:child_process';
import { hostname } from 'node:os';
import { TestClient, text } from '@stackware/gateway';
import { startRedis, type RedisPeer } from '@stackware/testing';
import { session, loadSession, RedisStore, newSessionId } from '../src/index.js';
import { SECRET, site, sessionCookie, concurrentDistinctKeys } from './helpers.js';
import { serve } from '@stackware/server';
import { listen, type WireEvent } from './http.js';

let redis: RedisPeer;
let inspect: Redis;
const stores: RedisStore[] = [];
function redisStore(keyPrefix?: string) {
  const store = new RedisStore({ url: redis.url, keyPrefix });
  stores.push(store);
  return store;
}

beforeAll(async () => {
  redis = await startRedis();
  inspect = new Redis(redis.url);
}, 30_000);
afterAll(async () => {
  for (const s of stores) await s.close();
  await inspect?.quit();
  await redis?.stop();
});

describe('RedisStore against a real redis-server', () => {
  it('stores under the key prefix with the TTL in Redis; touch resets the TTL; destroy deletes', async () => {
    const store = redisStore('test:a:');
    const id = newSessionId();
    await store.set(id, '{"x":1}', 100);
    expect(await inspect.get(`test:a:${id}`)).toBe('{"x":1}');
    expect(await store.get(id)).toBe('{"x":1}');
    const ttl = await inspect.ttl(`test:a:${id}`);
    expect(ttl).toBeGreaterThan(90);
    expect(ttl).toBeLessThanOrEqual(100);
    await store.touch(id, 5000);
    expect(await inspect.ttl(`test:a:${id}`)).toBeGreaterThan(4990);
    await store.destroy(id);
    expect(await inspect.exists(`test:a:${id}`)).toBe(0);
    expect(await store.get(id)).toBeUndefined();
  });

  it('lets Redis expire a session (TTL of 1 s)', async () => {
    const store = redisStore();
    const id = newSessionId();
    await store.set(id, '{}', 1);
    const deadline = Date.now() + 10_000;
    while ((await store.get(id)) !== undefined && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(await store.get(id)).toBeUndefined();
  });

  it('refuses ids that are not generated ids', async () => {
    const store = redisStore();
    await expect(store.get('*')).rejects.toThrow(/not a valid session id/);
    await expect(store.set('other:key', 'x', 10)).rejects.toThrow(/not a valid session id/);
  });

  it('lock(): SET NX PX with a token; release never deletes a lock another holder took over', async () => {
    const store = redisStore('test:lock:');
    const id = newSessionId();
    const release = await store.lock(id, { waitMs: 1000, ttlMs: 30_000 });
    expect(await inspect.pttl(`test:lock:lock:${id}`)).toBeGreaterThan(29_000);
    await expect(store.lock(id, { waitMs: 50, ttlMs: 30_000 })).rejects.toThrow(/not released within 50 ms/);
    // Our lock expired and someone else holds it now: our release must leave theirs alone.
    await inspect.set(`test:lock:lock:${id}`, 'someone-else', 'PX', 30_000);
    await release();
    expect(await inspect.get(`test:lock:lock:${id}`)).toBe('someone-else');
    await inspect.del(`test:lock:lock:${id}`);
    const again = await store.lock(id, { waitMs: 1000, ttlMs: 30_000 });
    await again();
    expect(await inspect.exists(`test:lock:lock:${id}`)).toBe(0);
  });

  it('a lock holds "<token> <pid> <host>"; a dead holder on this host is taken over at once, a live one is not', async () => {
    const store = redisStore('test:holder:');
    const id = newSessionId();
    const key = `test:holder:lock:${id}`;
    const release = await store.lock(id, { waitMs: 1000, ttlMs: 30_000 });
    const [token, pid, host] = (await inspect.get(key))!.split(' ');
    expect(token).toMatch(/^[0-9a-f-]{36}$/);
    expect([Number(pid), host]).toEqual([process.pid, hostname()]);
    await release();
    const child = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' });
    await new Promise((resolve) => child.once('exit', resolve));
    await inspect.set(key, `dead-holder ${child.pid} ${hostname()}`, 'PX', 30_000);
    const taken = await store.lock(id, { waitMs: 10_000, ttlMs: 30_000 }); // long before the 30 s TTL
    expect((await inspect.get(key))!.split(' ')[1]).toBe(String(process.pid));
    expect(await inspect.pttl(key)).toBeGreaterThan(29_000);
    await taken();
    expect(await inspect.exists(key)).toBe(0);
    for (const holder of [`${process.ppid} ${hostname()}`, `${child.pid} other-host.example`]) {
      await inspect.set(key, `live-holder ${holder}`, 'PX', 30_000);
      await expect(store.lock(id, { waitMs: 50, ttlMs: 30_000 })).rejects.toThrow(/not released within 50 ms/);
    }
    await inspect.del(key);
  });

  it('without lock, 30 concurrent requests each setting its own key lose none of them (RedisStore)', async () => {
    expect(await concurrentDistinctKeys(redisStore('test:distinct:'), 30)).toEqual(['first', ...Array.from({ length: 30 }, (_, i) => `k${i}`)].sort());
  });

  it('compareAndSet writes (with the TTL) only while the stored value is the one expected', async () => {
    const store = redisStore('test:cas:');
    const id = newSessionId();
    expect(await store.compareAndSet(id, 'a', 'b', 100)).toBe(false);
    expect(await inspect.exists(`test:cas:${id}`)).toBe(0);
    await store.set(id, 'a', 100);
    expect(await store.compareAndSet(id, 'x', 'b', 100)).toBe(false);
    expect(await store.get(id)).toBe('a');
    expect(await store.compareAndSet(id, 'a', 'b', 500)).toBe(true);
    expect(await store.get(id)).toBe('b');
    expect(await inspect.ttl(`test:cas:${id}`)).toBeGreaterThan(490);
    // The script is loaded again when Redis forgot it (SCRIPT FLUSH, a restart).
    await inspect.script('FLUSH');
    expect(await store.compareAndSet(id, 'b', 'c', 100)).toBe(true);
    expect(await store.get(id)).toBe('c');
    await expect(store.compareAndSet('../x', 'c', 'd', 100)).rejects.toThrow(/not a valid session id/);
  });

  it('without lock, concurrent requests through two stores (two processes) each setting its own key lose none of them', async () => {
    const stores = [redisStore('test:two:'), redisStore('test:two:')];
    const clients = stores.map((store) => new TestClient(session(site, { secret: SECRET, store }), { cookies: true }));
    await clients[0]!.get('/set?first=1');
    const cookie = clients[0]!.cookies.get('stackware_session')!;
    clients[1]!.cookies.set('stackware_session', cookie);
    await Promise.all(Array.from({ length: 40 }, (_, i) => clients[i % 2]!.get(`/set?k${i}=${i}`)));
    const id = cookie.split('.')[0]!;
    const keys = Object.keys((JSON.parse((await stores[0]!.get(id))!) as { data: object }).data).sort();
    expect(keys).toEqual(['first', ...Array.from({ length: 40 }, (_, i) => `k${i}`)].sort());
  });

  it('with lock: true, 50 concurrent requests incrementing one counter end at 50', async () => {
    const store = redisStore('test:counter:');
    const counter = session(async (environ, startResponse) => {
      const s = await loadSession(environ);
      const n = s.get<number>('n') ?? 0;
      await new Promise((r) => setImmediate(r));
      s.set('n', n + 1);
      return text(String(n + 1))(environ, startResponse);
    }, { secret: SECRET, store, lock: true });
    const c = new TestClient(counter, { cookies: true });
    await c.get('/');
    await Promise.all(Array.from({ length: 50 }, () => c.get('/')));
    expect((await c.get('/')).text()).toBe('52');
  });
});

describe('two Stackware HTTP nodes sharing one Redis', () => {
  it('a session created on one @stackware/server node is read and updated on the other', async () => {
    const nodeA = await serve(session(site, { secret: SECRET, store: redisStore('test:nodes:') }), { host: '127.0.0.1', port: 0, accessLog: false });
    const nodeB = await serve(session(site, { secret: SECRET, store: redisStore('test:nodes:') }), { host: '127.0.0.1', port: 0, accessLog: false });
    try {
      expect(nodeA.port).not.toBe(nodeB.port);
      const created = await fetch(`${nodeA.url}/set?user=ann&cart=2`);
      expect(created.status).toBe(200);
      const cookie = sessionCookie(created.headers.getSetCookie())!;
      const { id } = (await created.json()) as { id: string };
      expect(await inspect.exists(`test:nodes:${id}`)).toBe(1);

      const onB = await fetch(`${nodeB.url}/count`, { headers: { Cookie: cookie } });
      expect(await onB.text()).toBe('count=1');
      const back = await fetch(`${nodeA.url}/`, { headers: { Cookie: cookie } });
      expect(await back.json()).toEqual({ id, isNew: false, data: { user: 'ann', cart: '2', n: 1 } });
    } finally {
      await nodeA.close();
      await nodeB.close();
    }
  });

  it('an array body is saved before the headers go out, and the response ends after', async () => {
    const events: Array<WireEvent | 'saved'> = [];
    const store = redisStore('test:array:');
    const set = store.set.bind(store);
    store.set = async (...args) => { await set(...args); events.push('saved'); };
    const node = await listen(session(site, { secret: SECRET, store }), (e) => events.push(e));
    try {
      const res = await fetch(`${node.url}/set?a=1`);
      expect(res.status).toBe(200);
      await res.text();
      expect(events).toEqual(['saved', 'headers', 'end']);
    } finally {
      await node.close();
    }
  });

  it('a streaming response is saved before the gateway ends it, so the very next request sees the write', async () => {
    const events: Array<WireEvent | 'saved'> = [];
    const store = redisStore('test:stream:');
    const set = store.set.bind(store);
    store.set = async (...args) => { await set(...args); events.push('saved'); };
    // A changed existing session is saved with one compare-and-set.
    const compareAndSet = store.compareAndSet.bind(store);
    store.compareAndSet = async (...args) => { const written = await compareAndSet(...args); events.push('saved'); return written; };
    const app = session(async (environ, startResponse) => {
      const s = await loadSession(environ);
      const n = (s.get<number>('n') ?? 0) + 1;
      s.set('n', n);
      startResponse('200 OK', [['Content-Type', 'text/plain']]);
      return (async function* () {
        yield Buffer.from('n=');
        yield Buffer.from(String(n));
      })();
    }, { secret: SECRET, store });
    const node = await listen(app, (e) => events.push(e));
    try {
      const first = await fetch(`${node.url}/`);
      expect(await first.text()).toBe('n=1');
      expect(events).toEqual(['headers', 'saved', 'end']);
      const cookie = sessionCookie(first.headers.getSetCookie())!;
      for (let i = 2; i <= 5; i++) expect(await (await fetch(`${node.url}/`, { headers: { Cookie: cookie } })).text()).toBe(`n=${i}`);
      // HEAD: the gateway stops the body after its first chunk; the save still comes before the end.
      events.length = 0;
      const head = await fetch(`${node.url}/`, { method: 'HEAD', headers: { Cookie: cookie } });
      expect(head.status).toBe(200);
      expect(events).toEqual(['headers', 'saved', 'end']);
      expect(await (await fetch(`${node.url}/`, { headers: { Cookie: cookie } })).text()).toBe('n=7');
    } finally {
      await node.close();
    }
  });
});
