import { describe, it, expect } from '@jest/globals';
import { TestClient, type FactoryContext } from '@stackware/gateway';
import { assertJsonData, SessionDataError, newSessionId, isValidSessionId, signSessionId, unsignSessionId, SessionIdSigner, factories, FileStore, RedisStore } from '../src/index.js';
import { tempDir } from '@stackware/testing';
import { SECRET, OLD_SECRET, site } from './helpers.js';

describe('assertJsonData (what a session may hold)', () => {
  it('accepts JSON data', () => {
    for (const ok of [null, 'x', 0, -1.5, true, [], {}, { a: [1, { b: null }] }, Object.assign(Object.create(null), { a: 1 })]) {
      expect(() => assertJsonData(ok, 'v')).not.toThrow();
    }
  });

  it('rejects what would not come back from JSON as it went in, naming the path', () => {
    class Cart { items = [] }
    const cycle: Record<string, unknown> = { a: 1 };
    cycle.self = cycle;
    const cases: Array<[unknown, RegExp]> = [
      [() => 1, /v is a function/],
      [10n, /v is a bigint/],
      [Symbol('s'), /v is a symbol/],
      [undefined, /v is undefined \(delete the key instead\)/],
      [NaN, /v is NaN/],
      [Infinity, /v is Infinity/],
      [{ when: new Date() }, /v\.when is an instance of Date.*toISOString/],
      [{ m: new Map() }, /v\.m is an instance of Map/],
      [[1, new Set()], /v\[1\] is an instance of Set/],
      [{ c: new Cart() }, /v\.c is an instance of Cart/],
      [cycle, /v\.self refers back to itself/],
      [{ a: { toJSON: () => 1 } }, /v\.a has a toJSON method/],
      [{ a: [1, undefined] }, /v\.a\[1\] is undefined/],
    ];
    for (const [value, message] of cases) {
      let error: unknown;
      try { assertJsonData(value, 'v'); } catch (e) { error = e; }
      expect(error).toBeInstanceOf(SessionDataError);
      expect((error as Error).message).toMatch(message);
    }
  });

  it('accepts a shared (non-cyclic) object referenced twice', () => {
    const shared = { x: 1 };
    expect(() => assertJsonData({ a: shared, b: shared }, 'v')).not.toThrow();
  });
});

describe('ids and signatures', () => {
  it('ids are 192 random bits in base64url, and distinct', () => {
    const ids = new Set(Array.from({ length: 1000 }, newSessionId));
    expect(ids.size).toBe(1000);
    for (const id of ids) expect(isValidSessionId(id)).toBe(true);
    expect(Buffer.from([...ids][0]!, 'base64url')).toHaveLength(24);
  });

  it('unsign accepts only the exact value signed by one of the secrets', () => {
    const id = newSessionId();
    const signed = signSessionId(id, OLD_SECRET);
    expect(unsignSessionId(signed, [SECRET, OLD_SECRET])).toBe(id);
    expect(unsignSessionId(signed, [SECRET])).toBeUndefined();
    expect(unsignSessionId(`${signed}=`, [OLD_SECRET])).toBeUndefined();
    expect(unsignSessionId(signed.replace('.', '..'), [OLD_SECRET])).toBeUndefined();
    expect(unsignSessionId(undefined, [OLD_SECRET])).toBeUndefined();
  });
});

const context = (here: string): FactoryContext => ({ name: 'session', here, defaults: {}, loadApp: async () => { throw new Error('unused'); } });

describe('factories.filters.default (the deploy file)', () => {
  const factory = factories.filters!.default!;

  it('builds the middleware with a file store relative to the deploy file', async () => {
    const { dir, cleanup } = await tempDir('stackware-session-factory-');
    try {
      const middleware = await factory({ secret: [SECRET, OLD_SECRET], store: 'file', dir: 'sessions', cookieName: 'sid', lock: true }, context(dir));
      const c = new TestClient(middleware(site), { cookies: true });
      const res = await c.get('/set?a=1');
      expect(res.header('set-cookie')).toMatch(/^sid=/);
      expect((await c.get('/')).json()).toMatchObject({ isNew: false, data: { a: '1' } });
      const store = new FileStore({ dir: `${dir}/sessions`, sweepIntervalMs: 0 });
      expect(await store.get(c.cookies.get('sid')!.split('.')[0]!)).toContain('"a":"1"');
    } finally {
      await cleanup();
    }
  });

  it('declares its option types and reports bad options at load time, naming the section', async () => {
    expect(factory.optionTypes).toMatchObject({ secret: 'string[]', store: 'string', lock: 'boolean', idleTimeoutSeconds: 'number' });
    await expect(async () => factory({ store: 'memory' }, context('/tmp'))).rejects.toThrow(/\[filter\.session\] option "secret" is required/);
    await expect(async () => factory({ secret: SECRET, store: 'disk' }, context('/tmp'))).rejects.toThrow(/\[filter\.session\] option "store" must be "memory", "file" or "redis", got string "disk"/);
    await expect(async () => factory({ secret: SECRET, store: 'file' }, context('/tmp'))).rejects.toThrow(/needs dir/);
    await expect(async () => factory({ secret: SECRET, store: 'redis' }, context('/tmp'))).rejects.toThrow(/needs url/);
    await expect(async () => factory({ secret: SECRET, cookieSameSite: 'loose' }, context('/tmp'))).rejects.toThrow(/cookieSameSite/);
    await expect(async () => factory({ secret: SECRET, idleTimeoutSeconds: -1 }, context('/tmp'))).rejects.toThrow(/option "idleTimeoutSeconds" must be > 0, got -1 — write idleTimeoutSeconds = 86400/);
  });

  it('stores need their required options', () => {
    expect(() => new FileStore({} as never)).toThrow(/needs a "dir"/);
    expect(() => new RedisStore({})).toThrow(/"client".*or a "url"/);
  });
});

describe('SessionIdSigner (signing with a bounded memory of results)', () => {
  it('signs and verifies like signSessionId/unsignSessionId, remembered or not, and never remembers a forgery', () => {
    const signer = new SessionIdSigner([SECRET, OLD_SECRET], 2);
    const id = newSessionId();
    const value = signer.sign(id);
    expect(value).toBe(signSessionId(id, SECRET));
    expect(signer.sign(id)).toBe(value);
    for (let i = 0; i < 3; i++) expect(signer.unsign(value)).toBe(id);
    const tampered = `${id}.${'A'.repeat(43)}`;
    expect(signer.unsign(tampered)).toBeUndefined();
    expect(signer.unsign(tampered)).toBeUndefined();
    expect(signer.unsign(`${newSessionId()}${value.slice(32)}`)).toBeUndefined();
    expect(signer.unsign(signSessionId(id, OLD_SECRET))).toBe(id);
    expect(signer.unsign(signSessionId(id, 'another-secret-0123456789-abcdefghijkl'))).toBeUndefined();
    expect(signer.unsign(undefined)).toBeUndefined();
    // Past its bound the oldest result is forgotten and computed again.
    const others = [newSessionId(), newSessionId(), newSessionId()];
    for (const other of others) expect(signer.unsign(signSessionId(other, SECRET))).toBe(other);
    expect(signer.unsign(value)).toBe(id);
  });
});
