import { describe, it, expect } from '@jest/globals';
import { Writable } from 'node:stream';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tempDir } from '@stackware/testing';
import { createEnviron } from '@stackware/gateway';
import { logFormatFor } from '@stackware/gateway';
import { accessLogRecord, createHttpServer, createLogger, environFlags, prettyLine, requestId, EmptyInput, ResponseSignal } from '../src/index.js';

function sink(): { stream: Writable & { isTTY?: boolean }; lines: string[] } {
  const lines: string[] = [];
  const stream = new Writable({ write(chunk: Buffer, _e, cb) { lines.push(chunk.toString()); cb(); } });
  return { stream, lines };
}

describe('createLogger', () => {
  it('writes JSON lines by default, pretty lines on a terminal', () => {
    const json = sink();
    createLogger({ destination: json.stream }).info({ a: 1 }, 'hello');
    expect(JSON.parse(json.lines[0]!)).toMatchObject({ level: 30, msg: 'hello', a: 1, pid: process.pid });
    const tty = sink();
    tty.stream.isTTY = true;
    createLogger({ destination: tty.stream }).warn({ status: 404, path: '/x' }, 'request');
    const plain = tty.lines[0]!.replace(/\x1b\[[0-9;]*m/g, '');
    expect(plain).toMatch(/^\d\d:\d\d:\d\d\.\d{3}Z WARN  request status=404 path=\/x\n$/); // UTC, labelled Z
    expect(tty.lines[0]).toContain('\x1b[33mWARN '); // coloured level
  });

  it('on a terminal: an access record is one short line; NO_COLOR turns colour off; a pipe gets JSON', () => {
    const record = { level: 30, time: Date.UTC(2026, 0, 2, 3, 4, 5, 6), msg: 'request', req_id: 'r1', remote_addr: '127.0.0.1', remote_user: '-', method: 'GET', path: '/guestbook?x=1', protocol: 'HTTP/1.1', status: 200, bytes: 2560, duration_ms: 3.125, referer: '-', user_agent: 'curl/8' };
    expect(prettyLine(JSON.stringify(record))).toBe('03:04:05.006Z INFO  GET /guestbook?x=1 200 2.5 KiB 3.125 ms\n');
    expect(prettyLine(JSON.stringify({ ...record, aborted: true }))).toBe('03:04:05.006Z INFO  GET /guestbook?x=1 200 2.5 KiB 3.125 ms aborted=true\n');
    expect(logFormatFor({ isTTY: true }, {})).toEqual({ pretty: true, colour: true });
    expect(logFormatFor({ isTTY: true }, { NO_COLOR: '1' })).toEqual({ pretty: true, colour: false });
    expect(logFormatFor({ isTTY: false }, {})).toEqual({ pretty: false, colour: false });
    expect(logFormatFor(undefined, {})).toEqual({ pretty: false, colour: false });  });

  it('appends JSON lines to a file', async () => {
    const dir = await tempDir();
    try {
      const file = join(dir.dir, 'server.log');
      const logger = createLogger({ file, sync: true });
      logger.info({ n: 1 }, 'one');
      logger.info({ n: 2 }, 'two');
      const lines = (await readFile(file, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(lines.map((l) => [l.msg, l.n])).toEqual([['one', 1], ['two', 2]]);
    } finally {
      await dir.cleanup();
    }
  });

  it('prettyLine prints an error\'s stack and passes non-JSON through', () => {
    const line = prettyLine(JSON.stringify({ level: 50, time: 0, msg: 'failed', err: { stack: 'Error: x\n    at y' } }));
    expect(line).toBe('00:00:00.000Z ERROR failed\nError: x\n    at y\n');
    expect(prettyLine('not json')).toBe('not json');
  });
});

describe('requestId', () => {
  it('keeps a sane X-Request-Id and replaces anything else', () => {
    expect(requestId('abc-123_x.y')).toBe('abc-123_x.y');
    const generated = [requestId(undefined), requestId('has space'), requestId('x'.repeat(200)), requestId('new\nline')];
    expect(new Set(generated).size).toBe(4);
    for (const id of generated) expect(id).toMatch(/^[a-z0-9]+-[a-z0-9]+-[a-z0-9]+$/);
  });
});

describe('accessLogRecord', () => {
  it('maps an environ and a result to the combined-log fields', () => {
    const environ = createEnviron({ method: 'POST', target: '/a%20b?q=1', headers: [['User-Agent', 'ua'], ['Referer', 'r']], remoteAddr: '10.0.0.1' });
    expect(accessLogRecord(environ, 'id1', 201, 12, 1.23456, false)).toEqual({
      req_id: 'id1', remote_addr: '10.0.0.1', remote_user: '-', method: 'POST', path: '/a%20b?q=1', protocol: 'HTTP/1.1',
      status: 201, bytes: 12, duration_ms: 1.235, referer: 'r', user_agent: 'ua',
    });
    expect(accessLogRecord(environ, 'id1', 0, 0, 1, true).aborted).toBe(true);
  });
});

describe('environFlags', () => {
  it('is single-process, single-thread outside a cluster worker, with overrides', () => {
    expect(environFlags()).toEqual({ multithread: false, multiprocess: false, runOnce: false });
    expect(environFlags({ multiprocess: true, runOnce: true })).toEqual({ multithread: false, multiprocess: true, runOnce: true });
  });
});

describe('EmptyInput and ResponseSignal', () => {
  it('EmptyInput ends at once and has a single consumer', async () => {
    const input = new EmptyInput();
    const chunks: Uint8Array[] = [];
    for await (const chunk of input) chunks.push(chunk);
    expect(chunks).toEqual([]);
    expect(() => input[Symbol.asyncIterator]()).toThrow(/already consumed/);
  });

  it('ResponseSignal calls each listener once, and not a removed one', () => {
    const signal = new ResponseSignal();
    const calls: string[] = [];
    const a = () => calls.push('a');
    const b = () => calls.push('b');
    signal.addEventListener('abort', a);
    signal.addEventListener('abort', b);
    signal.removeEventListener('abort', b);
    signal.abort();
    signal.abort();
    expect(signal.aborted).toBe(true);
    expect(calls).toEqual(['a']);
  });
});

describe('HTTP server options', () => {
  it('rejects bad values with the option name', () => {
    const app = () => [];
    expect(() => createHttpServer(app, { headersTimeoutMs: 20_000, requestTimeoutMs: 1000 })).toThrow('Option headersTimeoutMs (20000) must not exceed requestTimeoutMs (1000)');
    expect(() => createHttpServer(app, { maxBodyBytes: -1 })).toThrow('Option maxBodyBytes must be an integer ≥ 0, got -1');
    expect(() => createHttpServer(app, { timeoutMs: 1.5 })).toThrow(/timeoutMs/);
  });
});
