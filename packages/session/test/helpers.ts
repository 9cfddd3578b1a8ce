import { json, text, type Application, type Environ } from '@stackware/gateway';
import { loadSession, getSession } from '../src/index.js';

export const SECRET = 'test-secret-0123456789-abcdefghijklmnop';
export const OLD_SECRET = 'old-secret-0123456789-abcdefghijklmnopq';

/** A small site over the session API, used by several tests. */
export const site: Application = async (environ: Environ, startResponse) => {
  const path = environ.PATH_INFO;
  const query = new URLSearchParams(environ.QUERY_STRING);
  if (path === '/untouched') return text('no session here')(environ, startResponse);
  const s = await loadSession(environ);
  switch (path) {
    case '/count': {
      const n = (s.get<number>('n') ?? 0) + 1;
      s.set('n', n);
      return text(`count=${n}`)(environ, startResponse);
    }
    case '/set':
      for (const [k, v] of query) s.set(k, v);
      break;
    case '/del':
      for (const k of query.keys()) s.delete(k);
      break;
    case '/login':
      s.set('user', query.get('user'));
      await s.regenerate();
      break;
    case '/logout':
      await s.destroy();
      if (query.has('m')) s.flash(query.get('m')!);
      break;
    case '/flash':
      s.flash(query.get('m') ?? 'hi', query.get('c') ?? undefined);
      break;
    case '/flashes':
      return json({ flashes: s.consumeFlashes(query.getAll('c').length ? query.getAll('c') : undefined) })(environ, startResponse);
    case '/bad':
      s.set('fn', () => 1);
      break;
  }
  return json({ id: getSession(environ).id, isNew: s.isNew, data: Object.fromEntries(s.keys().map((k) => [k, s.get(k)])) })(environ, startResponse);
};

/** The session cookie's `name=value` from a Set-Cookie list, or undefined. */
export function sessionCookie(setCookies: string[], name = 'stackware_session'): string | undefined {
  const found = setCookies.find((c) => c.startsWith(`${name}=`));
  return found?.split(';')[0];
}

/**
 * Sends `count` concurrent requests of one session (no `lock` option), each setting its own key,
 * and returns the keys the stored session ends with (all `count` of them plus "first" when no
 * update was lost).
 */
export async function concurrentDistinctKeys(store: import('../src/index.js').SessionStore, count: number): Promise<string[]> {
  const { TestClient } = await import('@stackware/gateway');
  const { session } = await import('../src/index.js');
  const c = new TestClient(session(site, { secret: SECRET, store }), { cookies: true });
  await c.get('/set?first=1');
  await Promise.all(Array.from({ length: count }, (_, i) => c.get(`/set?k${i}=${i}`)));
  const id = c.cookies.get('stackware_session')!.split('.')[0]!;
  return Object.keys((JSON.parse((await store.get(id))!) as { data: object }).data).sort();
}
