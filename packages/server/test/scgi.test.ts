import { describe, it, expect, beforeAll, afterAll } from '@jest/globals';
import { connect } from 'node:net';
import { join } from 'node:path';
import { tempDir } from '@stackware/testing';
import type { Application } from '@stackware/gateway';
import { serveSCGI, parseSCGIHeaders } from '../src/index.js';
import { parseCgiResponse } from './fastcgi-client.js';

const closed: string[] = [];
let produced = 0;
let onEchoStart: () => void = () => {};
const app: Application = async (environ, startResponse) => {
  if (environ.PATH_INFO === '/echo') {
    onEchoStart();
    const chunks: Buffer[] = [];
    for await (const c of environ['stackware.input']) chunks.push(Buffer.from(c));
    startResponse('200 OK', [['Content-Type', 'application/octet-stream'], ['Set-Cookie', 'a=1'], ['Set-Cookie', 'b=2']]);
    return [Buffer.concat(chunks)];
  }
  if (environ.PATH_INFO === '/stream') {
    startResponse('200 OK', [['Content-Type', 'application/octet-stream']]);
    const chunk = Buffer.alloc(64 * 1024, 0x61);
    const count = Number(environ.QUERY_STRING);
    return {
      async *[Symbol.asyncIterator]() { for (let i = 0; i < count; i++) { produced += chunk.length; yield chunk; } },
      close() { closed.push('stream'); },
    };
  }
  startResponse('200 OK', [['Content-Type', 'text/plain']]);
  return [Buffer.from(`${environ.REQUEST_METHOD} ${environ.SCRIPT_NAME}|${environ.PATH_INFO}|${environ.QUERY_STRING}|${environ['stackware.url_scheme']}`)];
};

function netstring(pairs: Array<[string, string]>): Buffer {
  const headers = Buffer.from(pairs.map(([n, v]) => `${n}\0${v}\0`).join(''), 'latin1');
  return Buffer.concat([Buffer.from(`${headers.length}:`), headers, Buffer.from(',')]);
}

function exchange(port: number, data: Buffer, options: { pause?: boolean } = {}): Promise<{ reply: Buffer; socket: import('node:net').Socket }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.on('data', (d: Buffer) => chunks.push(d));
    socket.on('close', () => resolve({ reply: Buffer.concat(chunks), socket }));
    socket.on('error', reject);
    if (options.pause) socket.pause();
    socket.write(data);
  });
}

let server: Awaited<ReturnType<typeof serveSCGI>>;
let port: number;
const logged: string[] = [];
beforeAll(async () => {
  server = await serveSCGI(app, { port: 0, maxHeaderBytes: 2048, log: { write: (t) => void logged.push(t) } });
  port = Number(server.url.split(':').at(-1));
});
afterAll(async () => { await server.close(); });

describe('serveSCGI', () => {
  it('parses the header netstring (CONTENT_LENGTH first) and answers a CGI response', async () => {
    const { reply } = await exchange(port, netstring([['CONTENT_LENGTH', '0'], ['SCGI', '1'], ['REQUEST_METHOD', 'GET'], ['REQUEST_URI', '/m/x?q=1'], ['SCRIPT_NAME', '/m'], ['PATH_INFO', '/x'], ['QUERY_STRING', 'q=1'], ['HTTPS', 'on']]));
    const response = parseCgiResponse(reply);
    expect(response.status).toBe('200 OK');
    expect(response.body.toString()).toBe('GET /m|/x|q=1|https');
  });

  it('streams the body (sent in pieces) into stackware.input and keeps repeated headers', async () => {
    const body = Buffer.alloc(300_000, 0x42);
    const head = netstring([['CONTENT_LENGTH', String(body.length)], ['SCGI', '1'], ['REQUEST_METHOD', 'POST'], ['REQUEST_URI', '/echo'], ['PATH_INFO', '/echo']]);
    const { reply } = await exchange(port, Buffer.concat([head, body]));
    const response = parseCgiResponse(reply);
    expect(response.body.equals(body)).toBe(true);
    expect(response.headers.filter(([n]) => n === 'Set-Cookie')).toEqual([['Set-Cookie', 'a=1'], ['Set-Cookie', 'b=2']]);
  });

  it('answers 400 for a path that is not UTF-8', async () => {
    const { reply } = await exchange(port, netstring([['CONTENT_LENGTH', '0'], ['SCGI', '1'], ['REQUEST_METHOD', 'GET'], ['REQUEST_URI', '/%C3%28']]));
    expect(parseCgiResponse(reply).status).toBe('400 Bad Request');
  });

  it('a slow reader bounds what the application produces', async () => {
    produced = 0;
    const socket = connect(port, '127.0.0.1');
    socket.pause();
    socket.write(netstring([['CONTENT_LENGTH', '0'], ['SCGI', '1'], ['REQUEST_METHOD', 'GET'], ['REQUEST_URI', '/stream?512'], ['PATH_INFO', '/stream'], ['QUERY_STRING', '512']]));
    let last = -1;
    for (let i = 0; i < 100 && produced !== last; i++) { last = produced; await new Promise((r) => setTimeout(r, 100)); }
    expect(produced).toBeLessThan(16 * 1024 * 1024);
    let received = 0;
    await new Promise<void>((resolve) => { socket.on('data', (d: Buffer) => { received += d.length; }); socket.on('end', resolve); socket.resume(); });
    expect(received).toBeGreaterThan(512 * 64 * 1024);
    expect(closed).toContain('stream');
  });

  it.each([
    ['no netstring length', Buffer.from('hello there, this is not scgi at all'), /netstring length/],
    ['a header block over maxHeaderBytes', Buffer.from('99999:'), /maxHeaderBytes/],
    ['a netstring without its comma', Buffer.concat([netstring([['CONTENT_LENGTH', '0']]).subarray(0, -1), Buffer.from(';')]), /does not end with ","/],
    ['CONTENT_LENGTH not first', netstring([['SCGI', '1'], ['CONTENT_LENGTH', '0']]), /must be CONTENT_LENGTH/],
    ['a non-numeric CONTENT_LENGTH', netstring([['CONTENT_LENGTH', 'ten']]), /not a decimal number/],
  ])('closes the connection on %s, and keeps serving', async (_name, data, reason) => {
    const { reply } = await exchange(port, data);
    expect(reply.length).toBe(0);
    expect(logged.join('')).toMatch(reason);
    const ok = await exchange(port, netstring([['CONTENT_LENGTH', '0'], ['SCGI', '1'], ['REQUEST_URI', '/alive'], ['PATH_INFO', '/alive']]));
    expect(parseCgiResponse(ok.reply).body.toString()).toContain('|/alive|');
  });

  it('listens on a Unix socket; close() lets an in-flight request finish', async () => {
    const { dir, cleanup } = await tempDir();
    const path = join(dir, 'scgi.sock');
    const own = await serveSCGI(app, { socket: path });
    expect(own.url).toBe(`unix:${path}`);
    const socket = connect(path);
    const chunks: Buffer[] = [];
    socket.on('data', (d: Buffer) => chunks.push(d));
    const ended = new Promise((resolve) => socket.on('close', resolve));
    // headers now, the body (5 bytes) only after close() was called
    socket.write(netstring([['CONTENT_LENGTH', '5'], ['SCGI', '1'], ['REQUEST_METHOD', 'POST'], ['REQUEST_URI', '/echo'], ['PATH_INFO', '/echo']]));
    await new Promise<void>((resolve) => { onEchoStart = resolve; });
    onEchoStart = () => {};
    let closed = false;
    const closing = own.close().then(() => { closed = true; });
    socket.write('later');
    await ended;
    expect(parseCgiResponse(Buffer.concat(chunks)).body.toString()).toBe('later');
    await closing;
    expect(closed).toBe(true);
    await cleanup();
  });

  it('fuzz: 100 connections of mutated requests (seeded) never take the server down', async () => {
    let seed = 0xc61;
    const random = () => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed / 0x7fffffff; };
    const valid = Buffer.concat([netstring([['CONTENT_LENGTH', '4'], ['SCGI', '1'], ['REQUEST_METHOD', 'POST'], ['REQUEST_URI', '/echo'], ['PATH_INFO', '/echo']]), Buffer.from('body')]);
    for (let i = 0; i < 100; i++) {
      const data = Buffer.from(valid);
      for (let m = 0; m < 1 + Math.floor(random() * 4); m++) data[Math.floor(random() * data.length)] = Math.floor(random() * 256);
      await new Promise<void>((resolve) => {
        const socket = connect(port, '127.0.0.1');
        const timer = setTimeout(() => socket.destroy(), 200);
        socket.on('data', () => undefined);
        socket.on('close', () => { clearTimeout(timer); resolve(); });
        socket.on('error', () => undefined);
        socket.end(data);
      });
    }
    const ok = await exchange(port, netstring([['CONTENT_LENGTH', '0'], ['SCGI', '1'], ['REQUEST_URI', '/alive'], ['PATH_INFO', '/alive']]));
    expect(parseCgiResponse(ok.reply).body.toString()).toContain('|/alive|');
  }, 60_000);

  it('parseSCGIHeaders rejects unterminated names and values', () => {
    expect(() => parseSCGIHeaders(Buffer.from('CONTENT_LENGTH\x000'))).toThrow(/value is not NUL-terminated/);
    expect(() => parseSCGIHeaders(Buffer.from('CONTENT_LENGTH'))).toThrow(/name is not NUL-terminated/);
    expect(parseSCGIHeaders(Buffer.from('CONTENT_LENGTH\x005\x00A\x00\x00')).map(([n, v]) => [n, v.toString()])).toEqual([['CONTENT_LENGTH', '5'], ['A', '']]);
  });
});
