import { describe, it, expect } from '@jest/globals';
import { writeFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  runApplication, createEnviron, fileWrapper, ClientDisconnectedError,
  type Application, type ResponseSink, type Headers, type FileWrapper,
} from '../src/index.js';

interface Recorded {
  events: string[];
  status?: string;
  headers?: Headers;
  length?: number;
  body: Buffer[];
  aborted?: unknown;
}

function recorder(extra: Partial<ResponseSink> = {}): { sink: ResponseSink; rec: Recorded } {
  const rec: Recorded = { events: [], body: [] };
  const sink: ResponseSink = {
    sendHeaders(status, headers, length) {
      rec.events.push('headers');
      rec.status = status;
      rec.headers = headers;
      rec.length = length;
    },
    async write(chunk) {
      rec.events.push(`write:${Buffer.from(chunk).toString()}`);
      rec.body.push(Buffer.from(chunk));
    },
    async end() { rec.events.push('end'); },
    abort(error) { rec.events.push('abort'); rec.aborted = error; },
    ...extra,
  };
  return { sink, rec };
}

const env = (method = 'GET') => createEnviron({ method, target: '/', headers: [], errors: { write() {} } });
const TEXT: Headers = [['Content-Type', 'text/plain']];

function closable<T extends object>(body: T, log: string[]): T & { close(): void } {
  return Object.assign(body, { close: () => { log.push('close'); } });
}

describe('runApplication', () => {
  it('answers 500 when the sink refuses the headers synchronously (nothing was sent yet), instead of aborting', async () => {
    let calls = 0;
    const { sink, rec } = recorder();
    const plain = sink.sendHeaders.bind(sink);
    sink.sendHeaders = (status, headers, length) => {
      if (calls++ === 0) throw new TypeError('Invalid character in header content ["Location"]');
      return plain(status, headers, length);
    };
    const app: Application = (_e, startResponse) => {
      startResponse('302 Found', [['Content-Type', 'text/plain'], ['Location', '/日本']]);
      return [Buffer.from('moved')];
    };
    const result = await runApplication(app, env(), sink);
    expect(rec.status).toBe('500 Internal Server Error');
    expect(rec.headers).not.toContainEqual(['Location', '/日本']);
    expect(rec.events).toEqual(['headers', 'write:Internal Server Error\n', 'end']);
    expect(rec.aborted).toBeUndefined();
    expect(result.status).toBe('500 Internal Server Error');
  });

  it('sends headers just before the first non-empty chunk, then streams each chunk', async () => {
    const log: string[] = [];
    const app: Application = (_e, startResponse) => closable((async function* () {
      startResponse('200 OK', TEXT);
      log.push('started');
      yield new Uint8Array(0);
      log.push('empty');
      yield Buffer.from('a');
      yield Buffer.from('b');
    })(), log);
    const { sink, rec } = recorder();
    const result = await runApplication(app, env(), sink);
    expect(log).toEqual(['started', 'empty', 'close']);
    expect(rec.events).toEqual(['headers', 'write:a', 'write:b', 'end']);
    expect(rec.length).toBeUndefined();
    expect(result).toMatchObject({ status: '200 OK', completed: true, bytesSent: 2, aborted: false });
  });

  it('passes the known length of an array body and of an empty body', async () => {
    const { sink, rec } = recorder();
    await runApplication((_e, s) => { s('200 OK', TEXT); return [Buffer.from('abc'), Buffer.from('de')]; }, env(), sink);
    expect(rec.length).toBe(5);
    const second = recorder();
    // A generator that only calls startResponse: an empty body whose length the driver learns at its end.
    // eslint-disable-next-line require-yield
    await runApplication((_e, s) => (function* () { s('200 OK', TEXT); })(), env(), second.sink);
    expect(second.rec.length).toBe(0);
    expect(second.rec.events).toEqual(['headers', 'end']);
  });

  it('legacy write sends headers and the chunk at once', async () => {
    const { sink, rec } = recorder();
    await runApplication(async (_e, s) => {
      const write = s('200 OK', TEXT);
      await write(Buffer.from('w'));
      return [Buffer.from('x')];
    }, env(), sink);
    expect(rec.events).toEqual(['headers', 'write:w', 'write:x', 'end']);
  });

  it('a second startResponse with an error replaces status and headers before anything is sent', async () => {
    const { sink, rec } = recorder();
    await runApplication((_e, s) => {
      s('200 OK', TEXT);
      s('503 Service Unavailable', [['Content-Type', 'text/html']], new Error('late failure'));
      return [Buffer.from('x')];
    }, env(), sink);
    expect(rec.status).toBe('503 Service Unavailable');
  });

  it('startResponse with an error after headers were sent rethrows the error', async () => {
    const { sink, rec } = recorder();
    const boom = new Error('boom');
    let rethrown: unknown;
    const result = await runApplication((_e, s) => (async function* () {
      s('200 OK', TEXT);
      yield Buffer.from('partial');
      try {
        s('500 Internal Server Error', TEXT, boom);
      } catch (e) {
        rethrown = e;
        throw e;
      }
    })(), env(), sink, { onError() {} });
    expect(rethrown).toBe(boom);
    expect(rec.events).toEqual(['headers', 'write:partial', 'abort']);
    expect(result.error).toBe(boom);
    expect(result.completed).toBe(false);
  });

  it('a second startResponse without an error is an error', async () => {
    const { sink, rec } = recorder();
    const result = await runApplication((_e, s) => { s('200 OK', TEXT); s('200 OK', TEXT); return []; }, env(), sink, { onError() {} });
    expect(rec.status).toBe('500 Internal Server Error');
    expect(String(result.error)).toContain('second time');
  });

  it('answers a plain 500 when the application throws before sending', async () => {
    const errors: string[] = [];
    const { sink, rec } = recorder();
    const result = await runApplication(() => { throw new Error('kaput'); }, env(), sink, { onError: (e, phase) => errors.push(`${phase}:${(e as Error).message}`) });
    expect(rec.status).toBe('500 Internal Server Error');
    expect(Buffer.concat(rec.body).toString()).toBe('Internal Server Error\n');
    expect(errors).toEqual(['application:kaput']);
    expect(result.completed).toBe(false);
  });

  it('writes errors to stackware.errors by default', async () => {
    let logged = '';
    const e = createEnviron({ method: 'GET', target: '/', headers: [], errors: { write: (t) => { logged += t; } } });
    await runApplication(() => Promise.reject(new Error('rejected')), e, recorder().sink);
    expect(logged).toContain('rejected');
  });

  it('aborts the connection when the body fails after headers were sent, and still closes the body', async () => {
    const log: string[] = [];
    const { sink, rec } = recorder();
    await runApplication((_e, s) => closable((async function* () {
      s('200 OK', TEXT);
      yield Buffer.from('a');
      throw new Error('mid-stream');
    })(), log), env(), sink, { onError() {} });
    expect(rec.events).toEqual(['headers', 'write:a', 'abort']);
    expect(log).toEqual(['close']);
  });

  it('rejects non-bytes chunks and non-iterable bodies with a 500', async () => {
    for (const body of ['a string', 42, null, [{ not: 'bytes' }]]) {
      const { sink, rec } = recorder();
      const result = await runApplication((_e, s) => { s('200 OK', TEXT); return body as never; }, env(), sink, { onError() {} });
      expect(rec.status).toBe('500 Internal Server Error');
      expect(result.error).toBeInstanceOf(TypeError);
    }
  });

  it('rejects an invalid status line', async () => {
    const { sink, rec } = recorder();
    await runApplication((_e, s) => { s('OK', TEXT); return []; }, env(), sink, { onError() {} });
    expect(rec.status).toBe('500 Internal Server Error');
  });

  it('sends no body for HEAD, stops the iterator early and closes the body', async () => {
    const log: string[] = [];
    const iterable = {
      [Symbol.asyncIterator]() {
        let n = 0;
        return {
          async next() { n++; return n < 100 ? { done: false, value: Buffer.from('x') } : { done: true, value: undefined }; },
          async return() { log.push('return'); return { done: true as const, value: undefined }; },
        };
      },
    };
    const { sink, rec } = recorder();
    const result = await runApplication((_e, s) => { s('200 OK', TEXT); return closable(iterable as AsyncIterable<Uint8Array>, log); }, env('HEAD'), sink, { head: true });
    expect(rec.events).toEqual(['headers', 'end']);
    expect(log).toEqual(['return', 'close']);
    expect(result.bytesSent).toBe(0);
  });

  it('stops when the client goes away: return() on the iterator, close() on the body, no end()', async () => {
    const log: string[] = [];
    const controller = new AbortController();
    const { sink, rec } = recorder({
      signal: controller.signal,
      async write(chunk) {
        rec.body.push(Buffer.from(chunk));
        if (rec.body.length === 2) controller.abort();
      },
    });
    const app: Application = (_e, s) => closable((async function* () {
      s('200 OK', TEXT);
      try {
        for (let i = 0; ; i++) yield Buffer.from(String(i));
      } finally {
        log.push('generator finally');
      }
    })(), log);
    const result = await runApplication(app, env(), sink);
    expect(result.aborted).toBe(true);
    expect(result.completed).toBe(false);
    expect(log).toEqual(['generator finally', 'close']);
    expect(rec.events).toEqual(['headers']);
  });

  it('stops waiting on an async body that never yields once the signal aborts: close() runs, no end()', async () => {
    const log: string[] = [];
    const controller = new AbortController();
    const { sink, rec } = recorder({ signal: controller.signal });
    const body = {
      [Symbol.asyncIterator]: () => ({ next: () => new Promise<IteratorResult<Uint8Array>>(() => undefined), return: async () => { log.push('return'); return { done: true as const, value: undefined }; } }),
    };
    const running = runApplication((_e, s) => { s('200 OK', TEXT); return closable(body, log); }, env(), sink);
    await new Promise((r) => setTimeout(r, 10));
    controller.abort();
    const result = await running;
    expect(result.aborted).toBe(true);
    expect(log).toContain('close');
    expect(rec.events).toEqual([]);
  });

  it('legacy write after the client went away raises ClientDisconnectedError', async () => {
    const controller = new AbortController();
    const { sink } = recorder({ signal: controller.signal });
    let raised: unknown;
    await runApplication(async (_e, s) => {
      const write = s('200 OK', TEXT);
      controller.abort();
      try { await write(Buffer.from('x')); } catch (e) { raised = e; }
      return [];
    }, env(), sink);
    expect(raised).toBeInstanceOf(ClientDisconnectedError);
  });

  it('reports an error from close() without changing a sent response', async () => {
    const phases: string[] = [];
    const { sink, rec } = recorder();
    const body = Object.assign([Buffer.from('ok')], { close() { throw new Error('close failed'); } });
    const result = await runApplication((_e, s) => { s('200 OK', TEXT); return body; }, env(), sink, { onError: (_e, p) => phases.push(p) });
    expect(rec.events).toEqual(['headers', 'write:ok', 'end']);
    expect(phases).toEqual(['close']);
    expect(result.completed).toBe(true);
    expect(String(result.error)).toContain('close failed');
  });

  describe('file wrappers', () => {
    const path = join(tmpdir(), `stackware-run-${process.pid}.txt`);
    const app = (opts?: { offset?: number; length?: number }): Application => (e, s) => {
      s('200 OK', TEXT);
      return e['stackware.file_wrapper']!(path, opts);
    };

    it('are sent through sink.sendFile with their length, or iterated when the sink has none', async () => {
      await writeFile(path, '0123456789');
      try {
        let sent: [FileWrapper, number] | undefined;
        const { sink, rec } = recorder({ async sendFile(file, length) { sent = [file, length]; } });
        await runApplication(app({ offset: 2 }), env(), sink);
        expect(rec.length).toBe(8);
        expect(sent![1]).toBe(8);
        expect(sent![0].path).toBe(path);

        const plain = recorder();
        await runApplication(app({ offset: 2, length: 3 }), env(), plain.sink);
        expect(plain.rec.length).toBe(3);
        expect(Buffer.concat(plain.rec.body).toString()).toBe('234');
      } finally {
        await rm(path, { force: true });
      }
    });

    it('rejects a negative offset', () => {
      expect(() => fileWrapper('/x', { offset: -1 })).toThrow(RangeError);
    });
  });
});
