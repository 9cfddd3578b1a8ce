import { describe, it, expect } from '@jest/globals';
import {
  CONFIG_LOCATION_KEY, CONFIG_SETTINGS_KEY, FORWARDED_ORIGINAL_KEY, HOP_BY_HOP_HEADERS, REQUEST_ID_KEY, RESOURCE_PATH_KEY, SESSION_KEY,
  TestClient, checkResponseStart, getOriginalRemote, getRequestId, getResourcePath, hasSession, isHopByHop, requestId, text,
  type Application, type Environ,
} from '../src/index.js';

const environ = (extra: Record<string, unknown> = {}): Environ => ({ REQUEST_METHOD: 'GET', SCRIPT_NAME: '', PATH_INFO: '/', ...extra }) as unknown as Environ;

describe('the shared environ keys (src/keys.ts)', () => {
  it('have one name each, under a stackware. prefix', () => {
    const keys = [REQUEST_ID_KEY, FORWARDED_ORIGINAL_KEY, RESOURCE_PATH_KEY, SESSION_KEY, CONFIG_SETTINGS_KEY, CONFIG_LOCATION_KEY];
    expect(new Set(keys).size).toBe(keys.length);
    for (const key of keys) expect(key).toMatch(/^stackware\.[a-z]+\.[a-z_]+$/);
  });

  it('read what their owner sets, and undefined otherwise', () => {
    expect(getRequestId(environ())).toBeUndefined();
    expect(getRequestId(environ({ [REQUEST_ID_KEY]: 'r-1' }))).toBe('r-1');
    expect(getRequestId(environ({ [REQUEST_ID_KEY]: 42 }))).toBeUndefined();
    expect(getOriginalRemote(environ())).toBeUndefined();
    expect(getOriginalRemote(environ({ [FORWARDED_ORIGINAL_KEY]: { REMOTE_ADDR: '127.0.0.1' } }))).toEqual({ REMOTE_ADDR: '127.0.0.1' });
    expect(getResourcePath(environ({ [RESOURCE_PATH_KEY]: '/srv/site/index.ts' }))).toBe('/srv/site/index.ts');
    expect(getResourcePath(environ())).toBeUndefined();
    expect(hasSession(environ())).toBe(false);
    expect(hasSession(environ({ [SESSION_KEY]: {} }))).toBe(true);
  });

  it('requestId keeps a sane X-Request-Id and makes a new, unique one otherwise', () => {
    expect(requestId('abc-123')).toBe('abc-123');
    const a = requestId('bad id with spaces');
    const b = requestId(undefined);
    expect(a).not.toBe('bad id with spaces');
    expect(a).not.toBe(b);
    expect(a).toMatch(/^[\w.:@/+=-]{1,128}$/);
  });

  it('the TestClient passes them through to the application', async () => {
    let seen: string | undefined;
    const app: Application = (env, startResponse) => {
      seen = getRequestId(env);
      return text('ok')(env, startResponse);
    };
    await new TestClient(app).get('/', { environ: { [REQUEST_ID_KEY]: 'from-test' } });
    expect(seen).toBe('from-test');
  });
});

describe('the hop-by-hop headers (src/headers.ts)', () => {
  it('are one list, matched in any case, and the validator rejects each', () => {
    expect([...HOP_BY_HOP_HEADERS].sort()).toEqual(
      ['connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade'],
    );
    expect(isHopByHop('Transfer-Encoding')).toBe(true);
    expect(isHopByHop('Content-Length')).toBe(false);
    for (const name of HOP_BY_HOP_HEADERS) {
      expect(() => checkResponseStart('200 OK', [['Content-Type', 'text/plain'], [name, 'x']])).toThrow(/header-hop-by-hop/);
    }
  });
});
