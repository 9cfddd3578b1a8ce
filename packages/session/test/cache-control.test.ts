import { describe, it, expect } from '@jest/globals';
import { TestClient, text, type Application } from '@stackware/gateway';
import { session, loadSession } from '../src/index.js';
import { SECRET } from './helpers.js';

// Issue #22: a page that read or wrote the session must not be stored by a shared cache
// (PHP's session.cache_limiter "nocache"/"private", Rails' private default for session pages).

describe('session pages and caches', () => {
  const counter: Application = async (environ, startResponse) => {
    const s = await loadSession(environ);
    s.set('n', (s.get<number>('n') ?? 0) + 1);
    return text(`n=${s.get<number>('n')}`)(environ, startResponse);
  };
  const reader: Application = async (environ, startResponse) => {
    const s = await loadSession(environ);
    return text(`user=${s.get<string>('user') ?? '-'}`)(environ, startResponse);
  };

  it('adds Cache-Control: private when the session was loaded (new, changed or only read)', async () => {
    const client = new TestClient(session(counter, { secret: SECRET }), { cookies: true });
    const first = await client.get('/counter');
    expect(first.header('set-cookie')).toBeDefined();
    expect(first.header('cache-control')).toBe('private');
    expect((await client.get('/counter')).header('cache-control')).toBe('private');
    expect((await new TestClient(session(reader, { secret: SECRET })).get('/')).header('cache-control')).toBe('private');
  });

  it('keeps the Cache-Control the application set, and adds none when the session was not loaded', async () => {
    const own: Application = async (environ, startResponse) => {
      await loadSession(environ);
      return text('mine', { headers: [['Cache-Control', 'no-store']] })(environ, startResponse);
    };
    const res = await new TestClient(session(own, { secret: SECRET })).get('/');
    expect(res.headers.filter(([n]) => n.toLowerCase() === 'cache-control')).toEqual([['Cache-Control', 'no-store']]);
    expect((await new TestClient(session(text('public page'), { secret: SECRET })).get('/')).header('cache-control')).toBeUndefined();
  });

  it('adds it to a streamed response too', async () => {
    const streamed: Application = (environ, startResponse) => (async function* () {
      await loadSession(environ);
      startResponse('200 OK', [['Content-Type', 'text/plain']]);
      yield Buffer.from('streamed');
    })();
    expect((await new TestClient(session(streamed, { secret: SECRET })).get('/')).header('cache-control')).toBe('private');
  });
});
