import { describe, it, expect } from '@jest/globals';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { promisify } from 'node:util';
import { TestClient, json, type Application } from '@stackware/gateway';
import { serve } from '@stackware/server';
import { session } from '@stackware/session';
import { basicAuth, digestAuth, digestRealmHash, parseDigestParams, safeEqual, formLogin } from '../src/index.js';

const run = promisify(execFile);
const whoami: Application = (environ, startResponse) => json({ user: environ.REMOTE_USER ?? null, type: environ.AUTH_TYPE ?? null })(environ, startResponse);
const check = (user: string, password: string) => user === 'alice' && safeEqual(password, 'wonderland');
const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

describe('safeEqual', () => {
  it('compares strings of any length', () => {
    expect(safeEqual('a', 'a')).toBe(true);
    expect(safeEqual('a', 'ab')).toBe(false);
    expect(safeEqual('', '')).toBe(true);
  });
});

describe('basicAuth (RFC 7617)', () => {
  const client = new TestClient(basicAuth(whoami, { realm: 'Admin "area"', checkPassword: check }));

  it('challenges without credentials, with an escaped realm and UTF-8', async () => {
    const res = await client.get('/');
    expect(res.statusCode).toBe(401);
    expect(res.header('www-authenticate')).toBe('Basic realm="Admin \\"area\\"", charset="UTF-8"');
  });

  it('admits a valid user and sets REMOTE_USER', async () => {
    const res = await client.get('/', { headers: { Authorization: basic('alice', 'wonderland') } });
    expect(res.json()).toEqual({ user: 'alice', type: 'Basic' });
  });

  it('refuses wrong passwords, garbage and other schemes', async () => {
    for (const authorization of [basic('alice', 'nope'), basic('bob', 'wonderland'), 'Basic !!!', 'Basic ' + Buffer.from('nocolon').toString('base64'), 'Bearer x']) {
      expect((await client.get('/', { headers: { Authorization: authorization } })).statusCode).toBe(401);
    }
  });

  it('decodes UTF-8 user names and passwords with colons', async () => {
    const c = new TestClient(basicAuth(whoami, { realm: 'r', checkPassword: (u, p) => u === 'zoë' && p === 'a:b:c' }));
    expect((await c.get('/', { headers: { Authorization: basic('zoë', 'a:b:c') } })).json()).toEqual({ user: 'zoë', type: 'Basic' });
  });
});

describe('digestAuth (RFC 7616)', () => {
  const realm = 'stackware';
  const hashes = {
    'SHA-256': digestRealmHash('alice', realm, 'wonderland', 'SHA-256'),
    MD5: digestRealmHash('alice', realm, 'wonderland', 'MD5'),
  };
  const getRealmHash = (user: string, _realm: string, algorithm: 'SHA-256' | 'MD5') => (user === 'alice' ? hashes[algorithm] : undefined);

  function answer(challenge: string, method: string, uri: string, password = 'wonderland', nc = '00000001') {
    const p = parseDigestParams(challenge.replace(/^Digest\s+/, ''));
    const algo = p.algorithm === 'MD5' ? 'md5' : 'sha256';
    const H = (s: string) => createHash(algo).update(s).digest('hex');
    const ha1 = H(`alice:${realm}:${password}`);
    const cnonce = 'abcdef0123';
    const response = H(`${ha1}:${p.nonce}:${nc}:${cnonce}:auth:${H(`${method}:${uri}`)}`);
    return `Digest username="alice", realm="${realm}", nonce="${p.nonce}", uri="${uri}", algorithm=${p.algorithm}, qop=auth, nc=${nc}, cnonce="${cnonce}", response="${response}", opaque="${p.opaque}"`;
  }

  /** The RFC 2069 answer: no qop, nc or cnonce. */
  function answerNoQop(challenge: string, method: string, uri: string) {
    const p = parseDigestParams(challenge.replace(/^Digest\s+/, ''));
    const H = (s: string) => createHash('sha256').update(s).digest('hex');
    const response = H(`${H(`alice:${realm}:wonderland`)}:${p.nonce}:${H(`${method}:${uri}`)}`);
    return `Digest username="alice", realm="${realm}", nonce="${p.nonce}", uri="${uri}", algorithm=SHA-256, response="${response}", opaque="${p.opaque}"`;
  }

  it('offers SHA-256 only by default, and refuses MD5 and the no-qop form unless allowed', async () => {
    const client = new TestClient(digestAuth(whoami, { realm, getRealmHash }));
    const first = await client.get('/private?x=1');
    expect(first.statusCode).toBe(401);
    const challenges = first.headerAll('www-authenticate');
    expect(challenges).toHaveLength(1);
    expect(challenges[0]).toMatch(/^Digest realm="stackware", qop="auth", algorithm=SHA-256, nonce="[^"]+", opaque="[^"]+", charset=UTF-8$/);
    const md5 = answer(challenges[0]!.replace('algorithm=SHA-256', 'algorithm=MD5'), 'GET', '/private?x=1');
    expect((await client.get('/private?x=1', { headers: { Authorization: md5 } })).statusCode).toBe(401);
    const noQop = answerNoQop(challenges[0]!, 'GET', '/private?x=1');
    expect((await client.get('/private?x=1', { headers: { Authorization: noQop } })).statusCode).toBe(401);
  });

  it('with MD5 allowed, challenges with SHA-256 first and admits correct responses to either', async () => {
    const client = new TestClient(digestAuth(whoami, { realm, getRealmHash, algorithms: ['MD5', 'SHA-256'] }));
    const challenges = (await client.get('/private?x=1')).headerAll('www-authenticate');
    expect(challenges).toHaveLength(2);
    expect(challenges[0]).toContain('algorithm=SHA-256');
    expect(challenges[1]).toContain('algorithm=MD5');
    for (const index of [0, 1]) {
      // Both challenges carry one nonce: answer each with a fresh one (nc=00000001 again would be a replay).
      const challenge = (await client.get('/private?x=1')).headerAll('www-authenticate')[index]!;
      const ok = await client.get('/private?x=1', { headers: { Authorization: answer(challenge, 'GET', '/private?x=1') } });
      expect(ok.json()).toEqual({ user: 'alice', type: 'Digest' });
    }
  });

  it('with allowNoQop, admits the RFC 2069 form once per nonce', async () => {
    const client = new TestClient(digestAuth(whoami, { realm, getRealmHash, allowNoQop: true }));
    const challenge = (await client.get('/')).headerAll('www-authenticate')[0]!;
    const authorization = answerNoQop(challenge, 'GET', '/');
    expect((await client.get('/', { headers: { Authorization: authorization } })).statusCode).toBe(200);
    expect((await client.get('/', { headers: { Authorization: authorization } })).statusCode).toBe(401);
  });

  it('refuses a replayed header (same or lower nonce count) with 401, and admits a higher count', async () => {
    const client = new TestClient(digestAuth(whoami, { realm, getRealmHash }));
    const challenge = (await client.get('/a')).headerAll('www-authenticate')[0]!;
    const captured = answer(challenge, 'GET', '/a', 'wonderland', '00000002');
    expect((await client.get('/a', { headers: { Authorization: captured } })).statusCode).toBe(200);
    for (let i = 0; i < 10; i++) {
      const replay = await client.get('/a', { headers: { Authorization: captured } });
      expect(replay.statusCode).toBe(401);
      expect(replay.text()).toContain('replay');
    }
    expect((await client.get('/a', { headers: { Authorization: answer(challenge, 'GET', '/a', 'wonderland', '00000001') } })).statusCode).toBe(401);
    expect((await client.get('/a', { headers: { Authorization: answer(challenge, 'GET', '/a', 'wonderland', '00000003') } })).statusCode).toBe(200);
  });

  it('keeps at most maxTrackedNonces counts: a forgotten nonce is answered stale=true, never replayable', async () => {
    let clock = 1_000_000;
    const client = new TestClient(digestAuth(whoami, { realm, getRealmHash, maxTrackedNonces: 2, now: () => clock }));
    const nonces: string[] = [];
    for (let i = 0; i < 3; i++) {
      clock += 10;
      nonces.push((await client.get('/')).headerAll('www-authenticate')[0]!);
    }
    for (const challenge of nonces) expect((await client.get('/', { headers: { Authorization: answer(challenge, 'GET', '/') } })).statusCode).toBe(200);
    // The first nonce was dropped to keep two: its replay is not admitted, but answered with a fresh nonce.
    const replay = await client.get('/', { headers: { Authorization: answer(nonces[0]!, 'GET', '/', 'wonderland', '00000009') } });
    expect(replay.statusCode).toBe(401);
    expect(replay.headerAll('www-authenticate')[0]).toContain('stale=true');
    expect((await client.get('/', { headers: { Authorization: answer(nonces[2]!, 'GET', '/', 'wonderland', '00000002') } })).statusCode).toBe(200);
  });

  it('answers an unknown user exactly as a wrong password', async () => {
    const client = new TestClient(digestAuth(whoami, { realm, getRealmHash }));
    const challenge = (await client.get('/a')).headerAll('www-authenticate')[0]!;
    const unknown = answer(challenge, 'GET', '/a').replace('username="alice"', 'username="mallory"');
    const wrong = answer(challenge, 'GET', '/a', 'nope');
    const [u, w] = [await client.get('/a', { headers: { Authorization: unknown } }), await client.get('/a', { headers: { Authorization: wrong } })];
    expect([u.statusCode, u.text()]).toEqual([w.statusCode, w.text()]);
  });

  it('refuses a wrong password, a forged nonce, another URI and a wrong method', async () => {
    const client = new TestClient(digestAuth(whoami, { realm, getRealmHash }));
    const challenge = (await client.get('/a')).headerAll('www-authenticate')[0]!;
    expect((await client.get('/a', { headers: { Authorization: answer(challenge, 'GET', '/a', 'wrong') } })).statusCode).toBe(401);
    const forged = challenge.replace(/nonce="([^".]+)\.[^"]+"/, 'nonce="$1.forged"');
    expect((await client.get('/a', { headers: { Authorization: answer(forged, 'GET', '/a') } })).statusCode).toBe(401);
    expect((await client.get('/b', { headers: { Authorization: answer(challenge, 'GET', '/a') } })).statusCode).toBe(400);
    expect((await client.post('/a', { headers: { Authorization: answer(challenge, 'GET', '/a') } })).statusCode).toBe(401);
  });

  it('answers stale=true for an expired nonce, and the retry succeeds', async () => {
    let clock = 1_000_000;
    const client = new TestClient(digestAuth(whoami, { realm, getRealmHash, nonceTtlMs: 1000, now: () => clock }));
    const challenge = (await client.get('/')).headerAll('www-authenticate')[0]!;
    clock += 5000;
    const stale = await client.get('/', { headers: { Authorization: answer(challenge, 'GET', '/') } });
    expect(stale.statusCode).toBe(401);
    const fresh = stale.headerAll('www-authenticate')[0]!;
    expect(fresh).toContain('stale=true');
    expect((await client.get('/', { headers: { Authorization: answer(fresh, 'GET', '/') } })).statusCode).toBe(200);
  });

  it('works with curl --digest as an independent client', async () => {
    const server = await serve(digestAuth(whoami, { realm, getRealmHash }), { host: '127.0.0.1', port: 0, accessLog: false });
    try {
      const ok = await run('curl', ['-s', '--digest', '-u', 'alice:wonderland', `${server.url}/secret/page?q=1`]);
      expect(JSON.parse(ok.stdout)).toEqual({ user: 'alice', type: 'Digest' });
      const bad = await run('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', '--digest', '-u', 'alice:nope', `${server.url}/secret`]);
      expect(bad.stdout).toBe('401');
      // Two requests on one connection: curl reuses the nonce with nc=00000002, which is admitted.
      const twice = await run('curl', ['-s', '-o', '/dev/null', '-o', '/dev/null', '-w', '%{http_code} ', '--digest', '-u', 'alice:wonderland', `${server.url}/one`, `${server.url}/two`]);
      expect(twice.stdout.trim()).toBe('200 200');
    } finally {
      await server.close();
    }
  });
});

describe('formLogin', () => {
  const secret = 'form login test secret, long enough to sign';
  const site = session(formLogin(whoami, { checkPassword: check, protect: ['/admin'] }), { secret });

  it('redirects a protected page to the form, logs in, regenerates the session id, and logs out', async () => {
    const client = new TestClient(site, { cookies: true });
    expect((await client.get('/public')).json()).toEqual({ user: null, type: null });
    const redirected = await client.get('/admin/panel?tab=1');
    expect(redirected.statusCode).toBe(303);
    expect(redirected.header('location')).toBe('/login?next=%2Fadmin%2Fpanel%3Ftab%3D1');
    const form = await client.get('/login?next=%2Fadmin%2Fpanel%3Ftab%3D1');
    expect(form.text()).toContain('value="/admin/panel?tab=1"');
    const before = client.cookies.get('stackware_session');

    const wrong = await client.post('/login', { form: { username: 'alice', password: 'nope', next: '/admin/panel' } });
    expect(wrong.statusCode).toBe(401);
    expect(wrong.text()).toContain('wrong password');

    const ok = await client.post('/login', { form: { username: 'alice', password: 'wonderland', next: '/admin/panel?tab=1' } });
    expect(ok.statusCode).toBe(303);
    expect(ok.header('location')).toBe('/admin/panel?tab=1');
    expect(client.cookies.get('stackware_session')).not.toBe(before);
    expect((await client.get('/admin/panel')).json()).toEqual({ user: 'alice', type: 'Form' });

    await client.post('/logout');
    expect((await client.get('/admin/panel')).statusCode).toBe(303);
  });

  it('never redirects off-site after login, and escapes what it echoes', async () => {
    const client = new TestClient(site, { cookies: true });
    for (const next of ['https://evil.example/', '//evil.example/', '/\\evil.example']) {
      const res = await client.post('/login', { form: { username: 'alice', password: 'wonderland', next } });
      expect(res.header('location')).toBe('/');
    }
    const xss = await client.get('/login?next=/%22%3E%3Cscript%3Ealert(1)%3C/script%3E');
    expect(xss.text()).not.toContain('<script>alert(1)');
  });

  it('refuses next values a browser would read as another site (tab, newline, space, backslash)', async () => {
    // Browsers drop tabs/newlines from URLs and read "\\" as "/": "/\t/evil.example" is "//evil.example".
    const client = new TestClient(site, { cookies: true });
    for (const next of ['/\t/evil.example', '/\n/evil.example', '/ /evil.example', '\\/evil.example', '/\u000b/evil.example', '/\u007f/x']) {
      const res = await client.post('/login', { form: { username: 'alice', password: 'wonderland', next } });
      expect(res.statusCode).toBe(303);
      expect(res.header('location')).toBe('/');
      const form = await client.get(`/login?next=${encodeURIComponent(next)}`);
      expect(form.text()).toContain('name="next" value="/"');
    }
  });

  it('round-trips a protected path with non-ASCII, "?" and "%" in it through the login (Location stays ASCII)', async () => {
    const client = new TestClient(site, { cookies: true });
    const redirected = await client.get('/admin/caf%C3%A9/%E6%97%A5%3F/100%25?x=1');
    expect(redirected.statusCode).toBe(303);
    const next = new URLSearchParams(redirected.header('location')!.split('?')[1]).get('next');
    expect(next).toBe('/admin/caf%C3%A9/%E6%97%A5%3F/100%25?x=1');
    const ok = await client.post('/login', { form: { username: 'alice', password: 'wonderland', next: next! } });
    expect(ok.header('location')).toBe(next);
    // A raw non-ASCII next is percent-encoded rather than sent as latin-1.
    const raw = await client.post('/login', { form: { username: 'alice', password: 'wonderland', next: '/日本' } });
    expect(raw.header('location')).toBe('/%E6%97%A5%E6%9C%AC');
  });

  it('answers 401 to protected non-GET requests without a login', async () => {
    expect((await new TestClient(site).post('/admin/x', { body: 'a' })).statusCode).toBe(401);
  });
});
