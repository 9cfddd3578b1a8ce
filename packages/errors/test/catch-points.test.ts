import { describe, it, expect } from '@jest/globals';
import { TestClient, HTTPError, createEnviron, validator, type Application, type ResponseBody } from '@stackware/gateway';
import { errorCatcher } from '../src/index.js';
import { captureLogger } from './helpers.js';

const ok = (chunks: string[], close?: () => void | Promise<void>): ResponseBody => {
  const body: ResponseBody = chunks.map((c) => Buffer.from(c));
  if (close) body.close = close;
  return body;
};

function client(app: Application, options: Parameters<typeof errorCatcher>[1] = {}) {
  const { logger, records } = captureLogger();
  const catcher = errorCatcher(app, { logger, ...options });
  return { http: new TestClient(catcher, { throwErrors: false }), records, catcher };
}

describe('errorCatcher: catch points before the response starts', () => {
  it('catches a synchronous throw and answers 500 with an error id that is also logged', async () => {
    const { http, records } = client(() => { throw new Error('sync failure'); });
    const res = await http.get('/x', { headers: { Accept: 'text/html' } });
    expect(res.statusCode).toBe(500);
    expect(res.header('content-type')).toBe('text/html; charset=utf-8');
    expect(records).toHaveLength(1);
    const id = records[0]!.error_id as string;
    expect(id).toMatch(/^[0-9a-f]{16}$/);
    expect(res.text()).toContain(id);
    expect(res.text()).not.toContain('sync failure');
    expect(records[0]).toMatchObject({ level: 50, method: 'GET', status: 500, catch_point: 'application', headers_sent: false, url: 'http://localhost/x' });
    expect(records[0]!.err).toMatchObject({ type: 'Error', message: 'sync failure' });
  });

  it('catches a rejected promise', async () => {
    const { http, records } = client(async () => { await Promise.resolve(); throw new TypeError('async failure'); });
    const res = await http.get('/');
    expect(res.statusCode).toBe(500);
    expect(records[0]!.err.type).toBe('TypeError');
  });

  it('catches a body that fails before its first byte, and closes it exactly once', async () => {
    let closes = 0;
    const app: Application = (_e, start) => {
      start('200 OK', [['Content-Type', 'text/plain']]);
      return {
        async *[Symbol.asyncIterator]() {
          yield new Uint8Array(0);
          throw new Error('iteration failed');
        },
        close() { closes++; },
      };
    };
    const { http, records } = client(app);
    const res = await http.get('/');
    expect(res.statusCode).toBe(500);
    expect(res.completed).toBe(true);
    expect(records[0]).toMatchObject({ catch_point: 'body', headers_sent: false });
    expect(closes).toBe(1);
  });

  it('catches an error from close() of an empty body and answers 500', async () => {
    const app: Application = (_e, start) => {
      start('204 No Content', []);
      return ok([], () => { throw new Error('commit failed'); });
    };
    // an array body keeps its known length; close errors of arrays happen after the end
    const asIterator: Application = (_e, start) => {
      start('200 OK', [['Content-Type', 'text/plain']]);
      return { *[Symbol.iterator]() { /* empty */ }, close() { throw new Error('commit failed'); } };
    };
    const a = client(asIterator);
    const res = await a.http.get('/');
    expect(res.statusCode).toBe(500);
    expect(a.records[0]).toMatchObject({ catch_point: 'close', headers_sent: false });
    const b = client(app);
    const res2 = await b.http.get('/');
    expect(res2.statusCode).toBe(204);
    expect(b.records[0]).toMatchObject({ catch_point: 'close', headers_sent: true, status: 500 });
  });

  it('catches a thrown non-Error value', async () => {
    const { http, records } = client(() => { throw 'a plain string'; });
    const res = await http.get('/', { headers: { Accept: 'application/json' } });
    expect(res.statusCode).toBe(500);
    expect(records[0]!.err).toMatchObject({ type: 'string', message: 'a plain string' });
  });

  it('catches a body that is not iterable, and a string chunk', async () => {
    const a = client(((_e: unknown, start: (s: string, h: Array<[string, string]>) => void) => { start('200 OK', [['Content-Type', 'text/plain']]); return 'hello'; }) as unknown as Application);
    expect((await a.http.get('/')).statusCode).toBe(500);
    expect(a.records[0]!.err.message).toMatch(/a string \(encode it/);
    const b = client((_e, start) => { start('200 OK', [['Content-Type', 'text/plain']]); return (function* () { yield 'text' as unknown as Uint8Array; })(); });
    expect((await b.http.get('/')).statusCode).toBe(500);
    expect(b.records[0]!.err.message).toMatch(/chunks must be Uint8Array/);
  });
});

describe('errorCatcher: after the response started', () => {
  it('rethrows a body error so the gateway breaks the response, and logs it once', async () => {
    let closes = 0;
    const app: Application = (_e, start) => {
      start('200 OK', [['Content-Type', 'text/plain']]);
      return {
        async *[Symbol.asyncIterator]() {
          yield Buffer.from('part one\n');
          throw new Error('half way');
        },
        close() { closes++; },
      };
    };
    const { http, records } = client(app);
    const res = await http.get('/');
    expect(res.status).toBe('200 OK');
    expect(res.completed).toBe(false);
    expect(res.text()).toBe('part one\n');
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({ catch_point: 'body', headers_sent: true, status: 200 });
    expect(closes).toBe(1);
  });

  it('breaks the response when close() fails at the end of a streamed body', async () => {
    let closes = 0;
    const app: Application = (_e, start) => {
      start('200 OK', [['Content-Type', 'text/plain']]);
      return { *[Symbol.iterator]() { yield Buffer.from('all the bytes'); }, close() { closes++; throw new Error('flush failed'); } };
    };
    const { http, records } = client(app);
    const res = await http.get('/');
    expect(res.completed).toBe(false);
    expect(records[0]).toMatchObject({ catch_point: 'close', headers_sent: true });
    expect(closes).toBe(1);
  });

  it('catches an error after the legacy write() sent headers', async () => {
    const app: Application = async (_e, start) => {
      const write = start('200 OK', [['Content-Type', 'text/plain']]);
      await write(Buffer.from('written'));
      throw new Error('after write');
    };
    const { http, records } = client(app);
    const res = await http.get('/');
    expect(res.completed).toBe(false);
    expect(res.text()).toBe('written');
    expect(records[0]).toMatchObject({ catch_point: 'application', headers_sent: true });
  });

  it('does not report a client that went away, and still closes the body once', async () => {
    let closes = 0;
    const app: Application = (_e, start) => {
      start('200 OK', [['Content-Type', 'text/plain']]);
      return {
        async *[Symbol.asyncIterator]() { for (let i = 0; i < 10; i++) yield Buffer.from(`chunk ${i}\n`); },
        close() { closes++; },
      };
    };
    const { http, records } = client(app);
    const res = await http.get('/', { disconnectAfterChunks: 2 });
    expect(res.completed).toBe(false);
    expect(records).toHaveLength(0);
    expect(closes).toBe(1);
  });
});

describe('errorCatcher: streaming', () => {
  it('passes chunks through one at a time, without buffering', async () => {
    const events: string[] = [];
    const app: Application = (_e, start) => {
      start('200 OK', [['Content-Type', 'text/plain']]);
      return (async function* () {
        for (let i = 0; i < 3; i++) { events.push(`produce ${i}`); yield Buffer.from(String(i)); }
      })();
    };
    const catcher = errorCatcher(app, { logger: captureLogger().logger });
    const chunks: string[] = [];
    const environ = createEnviron({ method: 'GET', target: '/', headers: [['Host', 'localhost']] });
    const body = await catcher(environ, () => async () => {}) as AsyncIterable<Uint8Array> & { close(): Promise<void> };
    for await (const chunk of body) { events.push(`got ${Buffer.from(chunk).toString()}`); chunks.push(Buffer.from(chunk).toString()); }
    await body.close();
    expect(events).toEqual(['produce 0', 'got 0', 'produce 1', 'got 1', 'produce 2', 'got 2']);
  });

  it('keeps an array body an array (known length) and wraps its close()', async () => {
    let closes = 0;
    const { http, records } = client((_e, start) => { start('200 OK', [['Content-Type', 'text/plain']]); return ok(['ab', 'cd'], () => { closes++; throw new Error('late'); }); });
    const res = await http.get('/');
    expect(res.contentLength).toBe(4);
    expect(res.text()).toBe('abcd');
    expect(closes).toBe(1);
    expect(records[0]).toMatchObject({ catch_point: 'close', headers_sent: true });
  });
});

describe('errorCatcher: expected errors', () => {
  it('answers an HTTPError with its own status, headers and page, without a report', async () => {
    const { http, records } = client(() => { throw new HTTPError(405, 'Only GET here', { headers: [['Allow', 'GET']] }); });
    const res = await http.post('/', { headers: { Accept: 'text/html' } });
    expect(res.status).toBe('405 Method Not Allowed');
    expect(res.header('allow')).toBe('GET');
    expect(res.text()).toContain('Only GET here');
    expect(records).toHaveLength(0);
  });

  it('answers a 404 HTTPError thrown from the body before the first byte', async () => {
    const app: Application = (_e, start) => {
      start('200 OK', [['Content-Type', 'text/plain']]);
      return { [Symbol.asyncIterator]: () => ({ next: () => Promise.reject(new HTTPError(404)) }) };
    };
    const { http } = client(app);
    expect((await http.get('/', { headers: { Accept: 'application/json' } })).json()).toEqual({ error: 'Not Found', status: 404, message: 'Not Found' });
  });

  it('shows the message of an error marked expose, escaped, in production mode', async () => {
    const { http } = client(() => { throw Object.assign(new Error('Quota <script>alert(1)</script> exceeded'), { expose: true }); });
    const res = await http.get('/', { headers: { Accept: 'text/html' } });
    expect(res.statusCode).toBe(500);
    expect(res.text()).toContain('Quota &lt;script&gt;alert(1)&lt;/script&gt; exceeded');
    expect(res.text()).not.toContain('<script>');
  });

  it('hides a 5xx HTTPError message unless exposed', async () => {
    const { http, records } = client(() => { throw new HTTPError(503, 'db host 10.0.0.7 down'); });
    const res = await http.get('/', { headers: { Accept: 'text/html' } });
    expect(res.statusCode).toBe(503);
    expect(res.text()).not.toContain('10.0.0.7');
    expect(records[0]).toMatchObject({ level: 40, status: 503 });
  });
});

describe('errorCatcher around the validator', () => {
  it('keeps the inner contract in every case: bodies closed once, startResponse rules', async () => {
    const body = (fail?: 'mid' | 'close' | 'first'): Application => (_e, start) => {
      start('200 OK', [['Content-Type', 'text/plain']]);
      return {
        async *[Symbol.asyncIterator]() {
          if (fail === 'first') throw new Error('first');
          yield Buffer.from('a');
          if (fail === 'mid') throw new Error('mid');
          yield Buffer.from('b');
        },
        close() { if (fail === 'close') throw new Error('close'); },
      };
    };
    const cases: Array<[string, Application, Parameters<TestClient['request']>[2]?]> = [
      ['ok', body()], ['first', body('first')], ['mid', body('mid')], ['close', body('close')],
      ['disconnect', body(), { disconnectAfterChunks: 1 }],
    ];
    for (const [name, app, options] of cases) {
      const catcher = errorCatcher(validator(app), { logger: captureLogger().logger });
      for (const method of ['GET', 'HEAD']) {
        // TestClient checks every validator's open bodies after the request: a leak throws here.
        const res = await new TestClient(catcher, { throwErrors: false }).request(method, '/', options);
        expect([name, res.statusCode]).toEqual([name, name === 'first' ? 500 : 200]);
      }
    }
  });
});
