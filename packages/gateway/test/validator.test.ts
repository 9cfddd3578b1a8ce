import { describe, it, expect } from '@jest/globals';
import { readFileSync } from 'node:fs';
import {
  validator, createEnviron, createInput, checkBodiesClosed, ValidationError, RULES,
  type Application, type Environ, type StartResponse, type ValidationRule, type ResponseBody, fileWrapper,
} from '../src/index.js';

const ok = Buffer.from('ok');

function environ(overrides: Record<string, unknown> = {}, body?: Uint8Array): Environ {
  const env = createEnviron({
    method: 'GET', target: '/path?x=1', headers: [['Host', 'localhost']],
    input: createInput(body ? [body] : [], body ? body.length : 0),
    errors: { write() {} },
  });
  if (body) env.CONTENT_LENGTH = String(body.length);
  for (const [k, v] of Object.entries(overrides)) {
    if (v === undefined) delete (env as Record<string, unknown>)[k];
    else (env as Record<string, unknown>)[k] = v;
  }
  return env;
}

const goodApp: Application = (_env, startResponse) => {
  startResponse('200 OK', [['Content-Type', 'text/plain'], ['Content-Length', '2']]);
  return [ok];
};

/** A gateway-side startResponse that records and returns a no-op write. */
const sr: StartResponse = () => async () => {};

/** Calls the validated app like a gateway: iterate the body to the end, then close it. */
async function drive(app: Application, env: Environ = environ()): Promise<Buffer> {
  const body = await validator(app)(env, sr);
  const chunks: Buffer[] = [];
  try {
    for await (const c of body as AsyncIterable<Uint8Array>) chunks.push(Buffer.from(c));
  } finally {
    await body.close?.();
  }
  checkBodiesClosed(env);
  return Buffer.concat(chunks);
}

async function violation(run: () => Promise<unknown>): Promise<ValidationRule> {
  try {
    await run();
  } catch (error) {
    if (error instanceof ValidationError) return error.rule;
    throw error;
  }
  throw new Error('no violation raised');
}

function appWith(status: unknown, headers: unknown, body: unknown = [ok]): Application {
  return (_env, startResponse) => {
    (startResponse as (s: unknown, h: unknown) => unknown)(status, headers);
    return body as ResponseBody;
  };
}

const TEXT: Array<[string, string]> = [['Content-Type', 'text/plain']];

/** Each rule with a case that triggers it. Keys must cover RULES exactly (checked below). */
const cases: Record<ValidationRule, () => Promise<unknown>> = {
  'environ-not-object': () => validator(goodApp)(null as unknown as Environ, sr) as Promise<unknown>,
  'environ-missing-key': () => drive(goodApp, environ({ SERVER_NAME: undefined })),
  'environ-key-type': () => drive(goodApp, environ({ HTTP_X_NUMBER: 5 })),
  'environ-http-content-type': () => drive(goodApp, environ({ HTTP_CONTENT_TYPE: 'text/plain' })),
  'environ-http-content-length': () => drive(goodApp, environ({ HTTP_CONTENT_LENGTH: '3' })),
  'environ-request-method': () => drive(goodApp, environ({ REQUEST_METHOD: 'GE T' })),
  'environ-script-name': () => drive(goodApp, environ({ SCRIPT_NAME: '/mount/' })),
  'environ-path-info': () => drive(goodApp, environ({ PATH_INFO: 'relative' })),
  'environ-path-empty': () => drive(goodApp, environ({ SCRIPT_NAME: '', PATH_INFO: '' })),
  'environ-path-unsafe': () => drive(goodApp, environ({ PATH_INFO: '/a/../etc/passwd' })),
  'environ-query-string': () => drive(goodApp, environ({ QUERY_STRING: '?x=1' })),
  'environ-content-length': () => drive(goodApp, environ({ CONTENT_LENGTH: '-1' })),
  'environ-server-port': () => drive(goodApp, environ({ SERVER_PORT: 'http' })),
  'environ-protocol': () => drive(goodApp, environ({ SERVER_PROTOCOL: 'HTTP 1.1' })),
  'environ-version': () => drive(goodApp, environ({ 'stackware.version': [2, 0] })),
  'environ-url-scheme': () => drive(goodApp, environ({ 'stackware.url_scheme': 'ftp' })),
  'environ-flag-type': () => drive(goodApp, environ({ 'stackware.multithread': 'no' })),
  'environ-input': () => drive(goodApp, environ({ 'stackware.input': Buffer.from('x') })),
  'environ-errors': () => drive(goodApp, environ({ 'stackware.errors': process.stderr.fd })),
  'environ-changed-in-place': () => drive((env, startResponse) => {
    env.REMOTE_USER = 'admin'; // an auth layer must pass { ...env, REMOTE_USER } instead
    return goodApp(env, startResponse);
  }),
  'input-second-consumer': () => drive(async (env, startResponse) => {
    for await (const _ of env['stackware.input']) { /* drain */ }
    for await (const _ of env['stackware.input']) { /* again */ }
    return goodApp(env, startResponse);
  }, environ({}, Buffer.from('abc'))),
  'input-read-after-end': () => drive(async (env, startResponse) => {
    const it = env['stackware.input'][Symbol.asyncIterator]();
    while (!(await it.next()).done) { /* drain */ }
    await it.next();
    return goodApp(env, startResponse);
  }, environ({}, Buffer.from('abc'))),
  'input-read-after-response': async () => {
    let input: AsyncIterator<Uint8Array> | undefined;
    await drive((env, startResponse) => {
      input = env['stackware.input'][Symbol.asyncIterator]();
      return goodApp(env, startResponse);
    }, environ({}, Buffer.from('abc')));
    await input!.next();
  },
  'errors-write-type': () => drive((env, startResponse) => {
    (env['stackware.errors'].write as (x: unknown) => void)(Buffer.from('bytes'));
    return goodApp(env, startResponse);
  }),
  'status-type': () => drive(appWith(200, TEXT)),
  'status-format': () => drive(appWith('200', TEXT)),
  'status-code': () => drive(appWith('999 Nope', TEXT)),
  'headers-type': () => drive(appWith('200 OK', { 'Content-Type': 'text/plain' })),
  'header-pair': () => drive(appWith('200 OK', [['Content-Type', 'text/plain'], ['X-Num', 5]])),
  'header-name': () => drive(appWith('200 OK', [['Content-Type', 'text/plain'], ['Bad Name', 'x']])),
  'header-value': () => drive(appWith('200 OK', [['Content-Type', 'text/plain'], ['X-Injected', 'a\r\nSet-Cookie: evil=1']])),
  'header-hop-by-hop': () => drive(appWith('200 OK', [['Content-Type', 'text/plain'], ['Connection', 'close']])),
  'header-status': () => drive(appWith('200 OK', [['Content-Type', 'text/plain'], ['Status', '200']])),
  'header-content-length': () => drive(appWith('200 OK', [['Content-Type', 'text/plain'], ['Content-Length', 'two']])),
  'content-type-missing': () => drive(appWith('200 OK', [['Content-Length', '2']])),
  'content-type-forbidden': () => drive(appWith('204 No Content', TEXT, [])),
  'start-response-twice': () => drive((_env, startResponse) => {
    startResponse('200 OK', TEXT);
    startResponse('500 Internal Server Error', TEXT);
    return [ok];
  }),
  'start-response-after-end': async () => {
    let late: StartResponse | undefined;
    await drive((_env, startResponse) => {
      late = startResponse;
      startResponse('200 OK', TEXT);
      return [ok];
    });
    late!('500 Internal Server Error', TEXT, new Error('late'));
  },
  'write-not-bytes': () => drive(async (_env, startResponse) => {
    const write = startResponse('200 OK', TEXT);
    await (write as (x: unknown) => Promise<void>)('text');
    return [];
  }),
  'write-after-close': async () => {
    let write: ((c: Uint8Array) => Promise<void>) | undefined;
    await drive((_env, startResponse) => {
      write = startResponse('200 OK', TEXT);
      return [];
    });
    await write!(ok);
  },
  'body-is-string': () => drive(appWith('200 OK', TEXT, 'hello')),
  'body-not-iterable': () => drive(appWith('200 OK', TEXT, { length: 1 })),
  'body-before-start-response': () => drive((_env, startResponse) => (async function* () {
    yield ok;
    startResponse('200 OK', TEXT);
  })()),
  'chunk-not-bytes': () => drive(appWith('200 OK', TEXT, (function* () { yield 'text'; })())),
  'content-length-mismatch': () => drive(appWith('200 OK', [['Content-Type', 'text/plain'], ['Content-Length', '10']], (function* () { yield ok; })())),
  'body-iterated-twice': async () => {
    const body = await validator(appWith('200 OK', TEXT, (function* () { yield ok; })()))(environ(), sr);
    for await (const _ of body as AsyncIterable<Uint8Array>) { /* once */ }
    for await (const _ of body as AsyncIterable<Uint8Array>) { /* twice */ }
  },
  'body-iterated-after-close': async () => {
    const body = await validator(appWith('200 OK', TEXT, (function* () { yield ok; })()))(environ(), sr);
    await body.close?.();
    for await (const _ of body as AsyncIterable<Uint8Array>) { /* after close */ }
  },
  'body-not-closed': async () => {
    // A middleware that drains the inner body but never closes it.
    const inner = validator(appWith('200 OK', TEXT, (function* () { yield ok; })()));
    const leaky: Application = async (env, startResponse) => {
      const body = await inner(env, startResponse);
      const chunks: Uint8Array[] = [];
      for await (const c of body as AsyncIterable<Uint8Array>) chunks.push(c);
      return chunks;
    };
    await drive(leaky);
  },
};

describe('validator rules', () => {
  it('has a test case for every rule, and at least 25 rules', () => {
    expect(Object.keys(cases).sort()).toEqual(Object.keys(RULES).sort());
    expect(Object.keys(RULES).length).toBeGreaterThanOrEqual(25);
  });

  for (const rule of Object.keys(cases) as ValidationRule[]) {
    it(`raises ${rule}`, async () => {
      expect(await violation(cases[rule])).toBe(rule);
    });
  }

  it('lists every rule in SPEC.md §11', () => {
    const spec = readFileSync(new URL('../SPEC.md', import.meta.url), 'utf8');
    const listed = [...spec.matchAll(/^\| `([a-z0-9-]+)` \|/gm)].map((m) => m[1]).sort();
    expect(listed).toEqual(Object.keys(RULES).sort());
  });

  it('names the rule and its explanation in the message', async () => {
    const error = await cases['header-hop-by-hop']().catch((e: unknown) => e) as ValidationError;
    expect(error).toBeInstanceOf(ValidationError);
    expect(error.message).toContain('header-hop-by-hop');
    expect(error.message).toContain('Connection');
  });
});

describe('validator passes correct applications', () => {
  it('array body with Content-Length', async () => {
    expect((await drive(goodApp)).toString()).toBe('ok');
  });

  it('header values: latin-1 and HTAB pass; characters above U+00FF fail header-value (no server can send them)', async () => {
    await expect(drive(appWith('200 OK', [['Content-Type', 'text/plain'], ['X-Latin', 'caf\u00e9\tx']]))).resolves.toBeDefined();
    await expect(drive(appWith('200 OK', [['Content-Type', 'text/plain'], ['Location', '/日本']]))).rejects.toMatchObject({ rule: 'header-value' });
  });

  it('async generator body, startResponse called inside the generator', async () => {
    const app: Application = (_env, startResponse) => (async function* () {
      startResponse('200 OK', TEXT);
      yield Buffer.from('a');
      yield new Uint8Array(0);
      yield Buffer.from('b');
    })();
    expect((await drive(app)).toString()).toBe('ab');
  });

  it('legacy write, then an empty body', async () => {
    const app: Application = async (_env, startResponse) => {
      const write = startResponse('200 OK', TEXT);
      await write(Buffer.from('written'));
      return [];
    };
    await expect(drive(app)).resolves.toBeDefined();
  });

  it('second startResponse with an error replaces the first', async () => {
    const app: Application = (_env, startResponse) => {
      startResponse('200 OK', TEXT);
      startResponse('500 Internal Server Error', TEXT, new Error('boom'));
      return [ok];
    };
    await expect(drive(app)).resolves.toBeDefined();
  });

  it('204 and 304 without Content-Type, 1xx-free', async () => {
    await expect(drive(appWith('204 No Content', [], []))).resolves.toBeDefined();
    await expect(drive(appWith('304 Not Modified', [['ETag', '"x"']], []))).resolves.toBeDefined();
  });

  it('reads the body once, and the input ends at CONTENT_LENGTH', async () => {
    const app: Application = async (env, startResponse) => {
      const parts: Buffer[] = [];
      for await (const c of env['stackware.input']) parts.push(Buffer.from(c));
      const body = Buffer.concat(parts);
      startResponse('200 OK', [['Content-Type', 'text/plain'], ['Content-Length', String(body.length)]]);
      return [body];
    };
    expect((await drive(app, environ({}, Buffer.from('hello')))).toString()).toBe('hello');
  });

  it('keeps array bodies as arrays so gateways know their length', async () => {
    const body = await validator(goodApp)(environ(), sr);
    expect(Array.isArray(body)).toBe(true);
    await body.close?.();
  });

  it('keeps file wrappers recognisable', async () => {
    const app: Application = (env, startResponse) => {
      startResponse('200 OK', TEXT);
      return env['stackware.file_wrapper']!(new URL(import.meta.url).pathname);
    };
    const body = await validator(app)(environ({ 'stackware.file_wrapper': fileWrapper }), sr);
    expect((body as { fileWrapper?: boolean }).fileWrapper).toBe(true);
    await body.close?.();
    checkBodiesClosed(environ());
  });

  it('nested validators around a well-behaved middleware', async () => {
    const mw = (app: Application): Application => (env, startResponse) =>
      app(env, (s, h, e) => startResponse(s, [...h, ['X-Mw', '1']], e));
    expect((await drive(mw(validator(goodApp)))).toString()).toBe('ok');
  });
});
