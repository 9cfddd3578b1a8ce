import { describe, it, expect, beforeAll, afterAll } from '@jest/globals';
import { connect } from 'node:net';
import { spawn } from 'node:child_process';
import type { Application } from '@stackware/gateway';
import { errorCatcher } from '../src/index.js';
import { captureLogger, startHttp } from './helpers.js';

/** Sends a raw HTTP/1.1 request and returns everything received until the server closes or ends the response. */
function rawRequest(port: number, path: string): Promise<{ raw: string; closedByServer: boolean }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let raw = '';
    const timer = setTimeout(() => { socket.destroy(); reject(new Error(`no answer for ${path} in 20 s`)); }, 20_000);
    socket.on('data', (d: Buffer) => {
      raw += d.toString('latin1');
      // A complete chunked response ends with the last-chunk; a complete fixed-length one with its length.
      const complete = raw.endsWith('\r\n0\r\n\r\n') || isCompleteFixed(raw);
      if (complete) { clearTimeout(timer); socket.destroy(); resolve({ raw, closedByServer: false }); }
    });
    socket.on('close', () => { clearTimeout(timer); resolve({ raw, closedByServer: true }); });
    socket.on('error', () => {});
    socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAccept: text/html\r\n\r\n`);
  });
}

function isCompleteFixed(raw: string): boolean {
  const end = raw.indexOf('\r\n\r\n');
  const m = /\r\ncontent-length: *(\d+)/i.exec(raw.slice(0, end));
  return end !== -1 && m !== null && Buffer.byteLength(raw.slice(end + 4), 'latin1') >= Number(m[1]);
}

function curl(args: string[]): Promise<{ code: number | null; stdout: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('curl', ['--silent', '--max-time', '20', ...args], { stdio: ['ignore', 'pipe', 'ignore'] });
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout }));
  });
}

const app: Application = (environ, start) => {
  const path = environ.PATH_INFO;
  if (path === '/before') throw new Error('failed before the response');
  if (path === '/chunked') {
    start('200 OK', [['Content-Type', 'text/plain']]);
    return (async function* () { yield Buffer.from('first part\n'); throw new Error('failed in the middle'); })();
  }
  if (path === '/fixed') {
    start('200 OK', [['Content-Type', 'text/plain'], ['Content-Length', '100']]);
    return (async function* () { yield Buffer.from('ten bytes\n'); throw new Error('failed in the middle'); })();
  }
  if (path === '/close') {
    start('200 OK', [['Content-Type', 'text/plain']]);
    return { *[Symbol.iterator]() { yield Buffer.from('every byte\n'); }, close() { throw new Error('close failed'); } };
  }
  start('200 OK', [['Content-Type', 'text/plain'], ['Content-Length', '3']]);
  return [Buffer.from('ok\n')];
};

const { logger, records } = captureLogger();
let server: Awaited<ReturnType<typeof startHttp>>;
beforeAll(async () => { server = await startHttp(errorCatcher(app, { logger, debug: true, pin: false })); });
afterAll(async () => server.close());

describe('over a real socket', () => {
  it('answers a complete 500 page for an error before the response starts', async () => {
    const { raw } = await rawRequest(server.port, '/before');
    expect(raw.startsWith('HTTP/1.1 500 Internal Server Error\r\n')).toBe(true);
    expect(isCompleteFixed(raw)).toBe(true);
    expect(raw).toContain('failed before the response');
  });

  it('breaks off a chunked response after a body error: no last-chunk, connection closed', async () => {
    const before = records.length;
    const { raw, closedByServer } = await rawRequest(server.port, '/chunked');
    expect(raw.startsWith('HTTP/1.1 200 OK\r\n')).toBe(true);
    expect(raw).toMatch(/transfer-encoding: chunked/i);
    expect(raw).toContain('first part');
    expect(raw.endsWith('\r\n0\r\n\r\n')).toBe(false);
    expect(closedByServer).toBe(true);
    expect(records.slice(before)).toEqual([expect.objectContaining({ catch_point: 'body', headers_sent: true, status: 200 })]);
  });

  it('breaks off a fixed-length response: fewer bytes than Content-Length, connection closed', async () => {
    const { raw, closedByServer } = await rawRequest(server.port, '/fixed');
    expect(raw).toMatch(/content-length: 100/i);
    expect(isCompleteFixed(raw)).toBe(false);
    expect(closedByServer).toBe(true);
  });

  it('breaks off a streamed response whose close() fails', async () => {
    const { raw, closedByServer } = await rawRequest(server.port, '/close');
    expect(raw).toContain('every byte');
    expect(raw.endsWith('\r\n0\r\n\r\n')).toBe(false);
    expect(closedByServer).toBe(true);
  });

  it('curl sees a failed transfer for a broken response, and a text report for an error', async () => {
    const broken = await curl([`${server.url}/chunked`]);
    expect(broken.code).not.toBe(0); // 18 (partial file) or 56 (receive failure)
    const fixed = await curl([`${server.url}/fixed`]);
    expect(fixed.code).toBe(18);
    const report = await curl([`${server.url}/before`]);
    expect(report.code).toBe(0);
    expect(report.stdout).toMatch(/^Error: failed before the response\n {4}at /);
    expect(report.stdout).toContain('socket.test.ts:');
    const healthy = await curl([`${server.url}/ok`]);
    expect(healthy).toEqual({ code: 0, stdout: 'ok\n' });
  });
});
