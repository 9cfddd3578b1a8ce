import { describe, it, expect, beforeAll, afterAll } from '@jest/globals';
import { join } from 'node:path';
import type { Application, Environ } from '@stackware/gateway';
import { serveFastCGI } from '../src/index.js';
import { RecordType, ProtocolStatus, decodeNameValuePairs, Role, encodeRecord, encodeNameValuePairs, encodeBeginRequest, FCGI_MAX_CONTENT } from '../src/fastcgi/records.js';
import { FcgiTestClient, cgiParams, parseCgiResponse } from './fastcgi-client.js';
import { tempDir } from '@stackware/testing';

/** Bodies closed, by path, so tests can see that close() ran. */
const closed: string[] = [];
let gate: (() => void) | undefined;
let produced = 0;

const app: Application = async (environ: Environ, startResponse) => {
  const path = environ.PATH_INFO;
  if (path === '/environ') {
    startResponse('200 OK', [['Content-Type', 'application/json']]);
    const keys = ['REQUEST_METHOD', 'SCRIPT_NAME', 'PATH_INFO', 'QUERY_STRING', 'REQUEST_URI', 'HTTP_HOST', 'HTTP_X_THING', 'CONTENT_LENGTH', 'stackware.url_scheme', 'stackware.run_once', 'stackware.multithread'];
    return [Buffer.from(JSON.stringify(Object.fromEntries(keys.map((k) => [k, environ[k]]))))];
  }
  if (path === '/echo') {
    const chunks: Buffer[] = [];
    for await (const chunk of environ['stackware.input']) chunks.push(Buffer.from(chunk));
    startResponse('200 OK', [['Content-Type', 'application/octet-stream']]);
    return [Buffer.concat(chunks)];
  }
  if (path === '/cookies') {
    startResponse('201 Created', [['Content-Type', 'text/plain'], ['Set-Cookie', 'a=1'], ['Set-Cookie', 'b=2']]);
    return [Buffer.from('made')];
  }
  if (path === '/stderr') {
    environ['stackware.errors'].write('something to log\n');
    startResponse('200 OK', [['Content-Type', 'text/plain']]);
    return [Buffer.from('ok')];
  }
  if (path === '/big') {
    const size = Number(environ.QUERY_STRING);
    startResponse('200 OK', [['Content-Type', 'application/octet-stream']]);
    return [Buffer.alloc(size, 0x61)];
  }
  if (path === '/stream') {
    // QUERY_STRING chunks, or endless (until the client goes away); records when it is closed
    const total = Number(environ.QUERY_STRING || '0');
    startResponse('200 OK', [['Content-Type', 'application/octet-stream']]);
    const chunk = Buffer.alloc(64 * 1024, 0x62);
    return {
      async *[Symbol.asyncIterator]() {
        const limit = total || 10_000; // "endless" is bounded: ~50 s at most
        for (let i = 0; i < limit; i++) {
          produced += chunk.length;
          yield chunk;
          if (total === 0) await new Promise((r) => setTimeout(r, 5));
        }
      },
      close() { closed.push(`${path}?${environ.QUERY_STRING}`); },
    };
  }
  if (path === '/slow-reader') {
    // reads one chunk of the body, then waits for the test to open the gate
    const iterator = environ['stackware.input'][Symbol.asyncIterator]();
    let total = 0;
    const first = await iterator.next();
    total += first.done ? 0 : first.value.byteLength;
    await new Promise<void>((resolve) => { gate = resolve; });
    for (;;) {
      const step = await iterator.next();
      if (step.done) break;
      total += step.value.byteLength;
    }
    startResponse('200 OK', [['Content-Type', 'text/plain']]);
    return [Buffer.from(String(total))];
  }
  startResponse('200 OK', [['Content-Type', 'text/plain; charset=utf-8']]);
  return [Buffer.from(`hello ${path}`)];
};

let server: Awaited<ReturnType<typeof serveFastCGI>>;
let port: number;
const logged: string[] = [];

beforeAll(async () => {
  server = await serveFastCGI(app, { port: 0, maxRequestsPerConnection: 4, maxParamsBytes: 4096, log: { write: (t) => void logged.push(t) } });
  port = Number(new URL(server.url.replace('fastcgi:', 'http:')).port);
});
afterAll(async () => {
  await server.close();
});

async function open() {
  return FcgiTestClient.connect({ port });
}

describe('serveFastCGI: responses', () => {
  it('answers a GET with a CGI response in STDOUT records and END_REQUEST(REQUEST_COMPLETE)', async () => {
    const client = await open();
    const result = await client.request(1, cgiParams('/hi?x=1'));
    const response = parseCgiResponse(result.stdout);
    expect(response.status).toBe('200 OK');
    expect(response.headers).toEqual([['Content-Type', 'text/plain; charset=utf-8'], ['Content-Length', '9']]);
    expect(response.body.toString()).toBe('hello /hi');
    expect([result.appStatus, result.protocolStatus]).toEqual([0, ProtocolStatus.REQUEST_COMPLETE]);
    // the STDOUT stream ends with an empty record before END_REQUEST
    const types = result.records.map((r) => [r.type, r.content.length === 0]);
    expect(types.at(-2)).toEqual([RecordType.STDOUT, true]);
    expect(types.at(-1)).toEqual([RecordType.END_REQUEST, false]);
    // without FCGI_KEEP_CONN the server closes the connection
    await client.until(() => false, 5000);
    expect(client.closed).toBe(true);
  });

  it('keeps repeated Set-Cookie headers and the status line', async () => {
    const client = await open();
    const response = parseCgiResponse((await client.request(1, cgiParams('/cookies'))).stdout);
    expect(response.status).toBe('201 Created');
    expect(response.headers.filter(([n]) => n === 'Set-Cookie').map(([, v]) => v)).toEqual(['a=1', 'b=2']);
    client.close();
  });

  it('builds the environ from PARAMS: later SCRIPT_NAME wins, HTTPS=on, HTTP_* as given', async () => {
    const client = await open();
    const params = cgiParams('/app/environ?q=%20', [['SCRIPT_NAME', '/app'], ['PATH_INFO', '/environ'], ['HTTPS', 'on'], ['HTTP_X_THING', 'v1, v2'], ['stackware.run_once', 'yes']]);
    params.unshift(['SCRIPT_NAME', '/app/environ']);
    const env = JSON.parse(parseCgiResponse((await client.request(1, params)).stdout).body.toString());
    expect(env).toEqual({
      REQUEST_METHOD: 'GET', SCRIPT_NAME: '/app', PATH_INFO: '/environ', QUERY_STRING: 'q=%20', REQUEST_URI: '/app/environ?q=%20',
      HTTP_HOST: 'localhost', HTTP_X_THING: 'v1, v2', 'stackware.url_scheme': 'https', 'stackware.run_once': false, 'stackware.multithread': false,
    });
    client.close();
  });

  it('decodes PATH_INFO as UTF-8 and answers 400 when it is not', async () => {
    const client = await open();
    const ok = await client.request(1, cgiParams('/%C3%A9t%C3%A9', [['PATH_INFO', Buffer.from('/été')]]), { keepConn: true });
    expect(parseCgiResponse(ok.stdout).body.toString()).toBe('hello /été');
    const bad = await client.request(2, cgiParams('/x', [['PATH_INFO', Buffer.from([0x2f, 0xff, 0xfe])]]), { keepConn: true });
    expect(parseCgiResponse(bad.stdout).status).toBe('400 Bad Request');
    const badUri = await client.request(3, cgiParams('/%FF'), { keepConn: true });
    expect(parseCgiResponse(badUri.stdout).status).toBe('400 Bad Request');
    expect(badUri.protocolStatus).toBe(ProtocolStatus.REQUEST_COMPLETE);
    client.close();
  });

  it('joins PARAMS split over several records (a 100 KB header, over 64 KiB)', async () => {
    // over the 16 KiB maxHeaderBytes default a request gets 431 (limits.ts): this server allows it
    const roomy = await serveFastCGI(app, { port: 0, maxHeaderBytes: 128 * 1024 });
    const client = await FcgiTestClient.connect({ port: Number(roomy.url.split(':').at(-1)) });
    const big = 'x'.repeat(100_000);
    const result = await client.request(1, cgiParams('/environ', [['HTTP_X_THING', big]]));
    expect(result.records.filter((r) => r.type === RecordType.STDOUT).length).toBeGreaterThan(0);
    expect(JSON.parse(parseCgiResponse(result.stdout).body.toString()).HTTP_X_THING).toBe(big);
    client.close();
    await roomy.close();
  });

  it('streams STDIN records into stackware.input up to CONTENT_LENGTH', async () => {
    const client = await open();
    const body = Buffer.alloc(200_000);
    for (let i = 0; i < body.length; i++) body[i] = i % 251;
    const result = await client.request(1, cgiParams('/echo', [['CONTENT_LENGTH', String(body.length)], ['CONTENT_TYPE', 'application/octet-stream']], 'POST'), { stdin: body });
    expect(parseCgiResponse(result.stdout).body.equals(body)).toBe(true);
    client.close();
  });

  it('reads STDIN to its end record when there is no CONTENT_LENGTH', async () => {
    const client = await open();
    const result = await client.request(1, cgiParams('/echo', [], 'POST'), { stdin: Buffer.from('chunked body') });
    expect(parseCgiResponse(result.stdout).body.toString()).toBe('chunked body');
    client.close();
  });

  it('splits a large response into STDOUT records of at most 65535 bytes', async () => {
    const client = await open();
    const size = 3 * 1024 * 1024 + 5;
    const result = await client.request(1, cgiParams(`/big?${size}`));
    const response = parseCgiResponse(result.stdout);
    expect(response.body.length).toBe(size);
    expect(response.body.every((b) => b === 0x61)).toBe(true);
    const stdout = result.records.filter((r) => r.type === RecordType.STDOUT);
    expect(Math.max(...stdout.map((r) => r.content.length))).toBeLessThanOrEqual(FCGI_MAX_CONTENT);
    expect(stdout.length).toBeGreaterThan(size / FCGI_MAX_CONTENT);
    client.close();
  });

  it('sends no body for HEAD but keeps Content-Length', async () => {
    const client = await open();
    const response = parseCgiResponse((await client.request(1, cgiParams('/hi', [], 'HEAD'))).stdout);
    expect(response.headers).toContainEqual(['Content-Length', '9']);
    expect(response.body.length).toBe(0);
    client.close();
  });

  it('wires stackware.errors to STDERR records', async () => {
    const client = await open();
    const result = await client.request(1, cgiParams('/stderr'));
    expect(result.stderr).toBe('something to log\n');
    expect(parseCgiResponse(result.stdout).body.toString()).toBe('ok');
    client.close();
  });
});

describe('serveFastCGI: connections and management records', () => {
  it('serves several requests on one connection with FCGI_KEEP_CONN', async () => {
    const client = await open();
    for (let id = 1; id <= 3; id++) {
      const result = await client.request(id, cgiParams(`/n${id}`), { keepConn: true });
      expect(parseCgiResponse(result.stdout).body.toString()).toBe(`hello /n${id}`);
    }
    expect(client.closed).toBe(false);
    client.close();
  });

  it('multiplexes requests: a later request finishes while an earlier one still waits for STDIN', async () => {
    const client = await open();
    client.begin(1, cgiParams('/echo', [['CONTENT_LENGTH', '5']], 'POST'), { keepConn: true, stdinOpen: true });
    client.begin(2, cgiParams('/second'), { keepConn: true });
    await client.until(() => client.ended(2));
    expect(client.ended(1)).toBe(false);
    expect(parseCgiResponse(client.result(2).stdout).body.toString()).toBe('hello /second');
    client.write([encodeRecord(RecordType.STDIN, 1, Buffer.from('later')), encodeRecord(RecordType.STDIN, 1)]);
    await client.until(() => client.ended(1));
    expect(parseCgiResponse(client.result(1).stdout).body.toString()).toBe('later');
    client.close();
  });

  it('answers roles other than RESPONDER with FCGI_UNKNOWN_ROLE', async () => {
    const client = await open();
    for (const [id, role] of [[1, Role.AUTHORIZER], [2, Role.FILTER], [3, 99]] as const) {
      client.begin(id, cgiParams('/x'), { role, keepConn: true });
      await client.until(() => client.ended(id));
      expect(client.result(id).protocolStatus).toBe(ProtocolStatus.UNKNOWN_ROLE);
      expect(client.result(id).stdout.length).toBe(0);
    }
    const ok = await client.request(4, cgiParams('/after'), { keepConn: true });
    expect(parseCgiResponse(ok.stdout).body.toString()).toBe('hello /after');
    client.close();
  });

  it('answers FCGI_OVERLOADED beyond maxRequestsPerConnection', async () => {
    const client = await open();
    for (let id = 1; id <= 4; id++) client.begin(id, cgiParams('/echo', [['CONTENT_LENGTH', '1']], 'POST'), { keepConn: true, stdinOpen: true });
    client.begin(5, cgiParams('/x'), { keepConn: true });
    await client.until(() => client.ended(5));
    expect(client.result(5).protocolStatus).toBe(ProtocolStatus.OVERLOADED);
    for (let id = 1; id <= 4; id++) client.write([encodeRecord(RecordType.STDIN, id, Buffer.from('z')), encodeRecord(RecordType.STDIN, id)]);
    await client.until(() => [1, 2, 3, 4].every((id) => client.ended(id)));
    expect([1, 2, 3, 4].map((id) => parseCgiResponse(client.result(id).stdout).body.toString())).toEqual(['z', 'z', 'z', 'z']);
    client.close();
  });

  it('answers FCGI_CANT_MPX_CONN when multiplexing is off', async () => {
    const single = await serveFastCGI(app, { port: 0, multiplex: false });
    const client = await FcgiTestClient.connect({ port: Number(single.url.split(':').at(-1)) });
    client.begin(1, cgiParams('/echo', [['CONTENT_LENGTH', '1']], 'POST'), { keepConn: true, stdinOpen: true });
    client.begin(2, cgiParams('/x'), { keepConn: true });
    await client.until(() => client.ended(2));
    expect(client.result(2).protocolStatus).toBe(ProtocolStatus.CANT_MPX_CONN);
    client.write([encodeRecord(RecordType.STDIN, 1, Buffer.from('y')), encodeRecord(RecordType.STDIN, 1)]);
    await client.until(() => client.ended(1));
    expect(parseCgiResponse(client.result(1).stdout).body.toString()).toBe('y');
    // GET_VALUES reports it too
    client.write(encodeRecord(RecordType.GET_VALUES, 0, encodeNameValuePairs([['FCGI_MPXS_CONNS', '']])));
    await client.until(() => client.records.some((r) => r.type === RecordType.GET_VALUES_RESULT));
    const values = decodeNameValuePairs(client.records.find((r) => r.type === RecordType.GET_VALUES_RESULT)!.content);
    expect(values.map(([n, v]) => [n, v.toString()])).toEqual([['FCGI_MPXS_CONNS', '0']]);
    client.close();
    await single.close();
  });

  it('answers GET_VALUES with FCGI_MAX_CONNS, FCGI_MAX_REQS and FCGI_MPXS_CONNS, ignoring unknown names', async () => {
    const client = await open();
    client.write(encodeRecord(RecordType.GET_VALUES, 0, encodeNameValuePairs([['FCGI_MAX_CONNS', ''], ['toString', ''], ['FCGI_MAX_REQS', ''], ['__proto__', ''], ['FCGI_MPXS_CONNS', ''], ['OTHER', '']])));
    await client.until(() => client.records.some((r) => r.type === RecordType.GET_VALUES_RESULT));
    const result = client.records.find((r) => r.type === RecordType.GET_VALUES_RESULT)!;
    expect(result.requestId).toBe(0);
    expect(decodeNameValuePairs(result.content).map(([n, v]) => [n, v.toString()])).toEqual([['FCGI_MAX_CONNS', '1024'], ['FCGI_MAX_REQS', String(1024 * 4)], ['FCGI_MPXS_CONNS', '1']]);
    client.close();
  });

  it('answers an unknown management record with UNKNOWN_TYPE and keeps serving', async () => {
    const client = await open();
    client.write(encodeRecord(200, 0, Buffer.from('??')));
    client.write(encodeRecord(RecordType.BEGIN_REQUEST, 0, Buffer.alloc(8)));
    await client.until(() => client.records.filter((r) => r.type === RecordType.UNKNOWN_TYPE).length === 2);
    expect(client.records.filter((r) => r.type === RecordType.UNKNOWN_TYPE).map((r) => r.content[0])).toEqual([200, RecordType.BEGIN_REQUEST]);
    // an unknown application record type is ignored
    client.write(encodeRecord(200, 1, Buffer.from('??')));
    const ok = await client.request(1, cgiParams('/still'));
    expect(parseCgiResponse(ok.stdout).body.toString()).toBe('hello /still');
  });

  it('ABORT_REQUEST stops the application, closes its body and answers END_REQUEST', async () => {
    const client = await open();
    client.begin(7, cgiParams('/stream?'), { keepConn: true });
    await client.until(() => client.result(7).stdout.length > 100_000);
    client.write(encodeRecord(RecordType.ABORT_REQUEST, 7));
    await client.until(() => client.ended(7));
    expect(client.result(7).protocolStatus).toBe(ProtocolStatus.REQUEST_COMPLETE);
    expect(closed).toContain('/stream?');
    // the connection is still usable
    const ok = await client.request(8, cgiParams('/after-abort'), { keepConn: true });
    expect(parseCgiResponse(ok.stdout).body.toString()).toBe('hello /after-abort');
    client.close();
  });

  it('closes the body when the connection goes away mid-response', async () => {
    const client = await open();
    client.begin(1, cgiParams('/stream?'));
    await client.until(() => client.result(1).stdout.length > 100_000);
    const before = closed.length;
    client.close();
    const deadline = Date.now() + 10_000;
    while (closed.length === before && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(closed.length).toBe(before + 1);
  });

  it('listens on a Unix socket', async () => {
    const { dir, cleanup } = await tempDir();
    const path = join(dir, 'fcgi.sock');
    const unixServer = await serveFastCGI(app, { socket: path });
    expect(unixServer.url).toBe(`unix:${path}`);
    const client = await FcgiTestClient.connect({ socket: path });
    const result = await client.request(1, cgiParams('/unix'));
    expect(parseCgiResponse(result.stdout).body.toString()).toBe('hello /unix');
    // a live socket is not taken over
    await expect(serveFastCGI(app, { socket: path })).rejects.toThrow(/another process accepts connections on it/);
    client.close();
    await unixServer.close();
    await cleanup();
  });

  it('replaces a stale Unix socket file left by a dead process', async () => {
    const { dir, cleanup } = await tempDir();
    const path = join(dir, 'stale.sock');
    // a process that listens on the socket and is killed (SIGKILL) leaves the file behind
    const { spawn } = await import('node:child_process');
    const { existsSync } = await import('node:fs');
    const child = spawn(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(path)}, () => console.log('up'))`], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise((resolve) => child.stdout.once('data', resolve));
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
    expect(existsSync(path)).toBe(true);
    const unixServer = await serveFastCGI(app, { socket: path });
    const client = await FcgiTestClient.connect({ socket: path });
    expect(parseCgiResponse((await client.request(1, cgiParams('/fresh'))).stdout).body.toString()).toBe('hello /fresh');
    client.close();
    await unixServer.close();
    await cleanup();
  });
});

describe('serveFastCGI: graceful close', () => {
  it('lets an in-flight request finish, refuses new requests on open connections, then resolves', async () => {
    const own = await serveFastCGI(app, { port: 0, shutdownTimeoutMs: 10_000 });
    const ownPort = Number(own.url.split(':').at(-1));
    const busy = await FcgiTestClient.connect({ port: ownPort });
    const idle = await FcgiTestClient.connect({ port: ownPort });
    busy.begin(1, cgiParams('/echo', [['CONTENT_LENGTH', '4']], 'POST'), { keepConn: true, stdinOpen: true });
    // a GET_VALUES round trip proves the server has processed the records before it
    busy.write(encodeRecord(RecordType.GET_VALUES, 0, encodeNameValuePairs([['FCGI_MPXS_CONNS', '']])));
    await busy.until(() => busy.records.some((r) => r.type === RecordType.GET_VALUES_RESULT));
    let closed = false;
    const closing = own.close().then(() => { closed = true; });
    await idle.until(() => false, 5000);
    expect(idle.closed).toBe(true); // an idle connection is ended at once
    busy.begin(2, cgiParams('/x'), { keepConn: true });
    await busy.until(() => busy.ended(2));
    expect(busy.result(2).protocolStatus).toBe(ProtocolStatus.OVERLOADED);
    expect(closed).toBe(false);
    busy.write([encodeRecord(RecordType.STDIN, 1, Buffer.from('done')), encodeRecord(RecordType.STDIN, 1)]);
    await busy.until(() => busy.ended(1));
    expect(parseCgiResponse(busy.result(1).stdout).body.toString()).toBe('done');
    await closing;
    expect(closed).toBe(true);
    await expect(FcgiTestClient.connect({ port: ownPort })).rejects.toThrow(/ECONNREFUSED/);
  });
});

describe('serveFastCGI: hostile input closes that connection, never the server', () => {
  async function expectClosedThenServing(send: (client: FcgiTestClient) => void, reason: RegExp) {
    const client = await open();
    send(client);
    await client.until(() => false, 5000);
    expect(client.closed).toBe(true);
    expect(logged.join('')).toMatch(reason);
    const next = await open();
    const ok = await next.request(1, cgiParams('/alive'));
    expect(parseCgiResponse(ok.stdout).body.toString()).toBe('hello /alive');
  }

  it('a bad record version', async () => {
    const record = encodeBeginRequest(1, 1, 0);
    record[0] = 9;
    await expectClosedThenServing((c) => c.write(record), /version 9/);
  });

  it('oversized PARAMS (over maxParamsBytes)', async () => {
    await expectClosedThenServing((c) => c.begin(1, cgiParams('/x', [['HTTP_X_HUGE', 'h'.repeat(5000)]])), /maxParamsBytes/);
  });

  it('a malformed BEGIN_REQUEST body', async () => {
    await expectClosedThenServing((c) => c.write(encodeRecord(RecordType.BEGIN_REQUEST, 1, Buffer.alloc(3))), /BEGIN_REQUEST content must be 8 bytes/);
  });

  it('a duplicate request id', async () => {
    await expectClosedThenServing((c) => c.write([encodeBeginRequest(1, 1, 1), encodeBeginRequest(1, 1, 1)]), /already active/);
  });

  it('malformed name-value pairs', async () => {
    await expectClosedThenServing((c) => c.write([encodeBeginRequest(1, 1, 0), encodeRecord(RecordType.PARAMS, 1, Buffer.from([0x80, 0, 0])), encodeRecord(RecordType.PARAMS, 1)]), /Malformed PARAMS/);
  });

  it('a GET_VALUES flood from a client that never reads: the server stops reading instead of queueing answers', async () => {
    const client = await open();
    client.socket.pause();
    const query = encodeRecord(RecordType.GET_VALUES, 0, encodeNameValuePairs([['FCGI_MAX_CONNS', ''], ['FCGI_MAX_REQS', ''], ['FCGI_MPXS_CONNS', '']]));
    const batch = Buffer.concat(Array.from({ length: 1000 }, () => query));
    for (let i = 0; i < 400; i++) client.socket.write(batch); // 400k queries, ~26 MB; each answer is larger than its query
    let last = -1;
    for (let i = 0; i < 100 && client.socket.writableLength !== last; i++) {
      last = client.socket.writableLength;
      await new Promise((r) => setTimeout(r, 100));
    }
    if (process.env.SHOW_FIGURES) process.stdout.write(`flood: client still holds ${client.socket.writableLength}\n`);
    expect(client.socket.writableLength).toBeGreaterThan(4 * 1024 * 1024);
    client.close();
    const next = await open();
    expect(parseCgiResponse((await next.request(1, cgiParams('/alive'))).stdout).body.toString()).toBe('hello /alive');
  });

  it('fuzz: 150 connections of mutated valid traffic and random bytes (seeded) never take the server down', async () => {
    let seed = 0x5eed;
    const random = () => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed / 0x7fffffff; };
    const valid = Buffer.concat([
      encodeBeginRequest(1, 1, 1),
      encodeRecord(RecordType.PARAMS, 1, encodeNameValuePairs(cgiParams('/fuzz?x=1', [['CONTENT_LENGTH', '4']], 'POST'))),
      encodeRecord(RecordType.PARAMS, 1),
      encodeRecord(RecordType.STDIN, 1, Buffer.from('body')),
      encodeRecord(RecordType.STDIN, 1),
      encodeRecord(RecordType.GET_VALUES, 0, encodeNameValuePairs([['FCGI_MAX_CONNS', '']])),
    ]);
    for (let i = 0; i < 150; i++) {
      const data = i % 3 === 0 ? Buffer.from(Array.from({ length: 1 + Math.floor(random() * 600) }, () => Math.floor(random() * 256))) : Buffer.from(valid);
      if (i % 3 !== 0) for (let m = 0; m < 1 + Math.floor(random() * 6); m++) data[Math.floor(random() * data.length)] = Math.floor(random() * 256);
      const client = await open();
      client.write(data);
      if (random() < 0.5) client.socket.end();
      await client.until(() => client.ended(1), 100).catch(() => undefined);
      client.close();
    }
    const next = await open();
    expect(parseCgiResponse((await next.request(1, cgiParams('/alive'))).stdout).body.toString()).toBe('hello /alive');
    next.close();
  }, 60_000);

  it('a truncated record followed by the client closing', async () => {
    const client = await open();
    client.write(encodeBeginRequest(1, 1, 0).subarray(0, 5));
    client.socket.end();
    await client.until(() => false, 5000);
    expect(client.closed).toBe(true);
    const next = await open();
    expect(parseCgiResponse((await next.request(1, cgiParams('/alive'))).stdout).body.toString()).toBe('hello /alive');
  });
});

describe('serveFastCGI: backpressure', () => {
  it('a slow reader bounds what the application produces (no whole-response buffering)', async () => {
    const client = await open();
    client.socket.pause();
    produced = 0;
    const chunks = 1024; // 64 MiB in 64 KiB chunks: far more than loopback kernel buffers (~10 MiB at most)
    client.begin(1, cgiParams(`/stream?${chunks}`));
    // wait until production stalls (bounded)
    let last = -1;
    for (let i = 0; i < 100 && produced !== last; i++) {
      last = produced;
      await new Promise((r) => setTimeout(r, 100));
    }
    const stalledAt = produced;
    if (process.env.SHOW_FIGURES) process.stdout.write(`stalled at ${stalledAt} bytes\n`);
    expect(stalledAt).toBeLessThan(24 * 1024 * 1024);
    client.socket.resume();
    await client.until(() => client.ended(1), 30_000);
    expect(parseCgiResponse(client.result(1).stdout).body.length).toBe(chunks * 64 * 1024);
    expect(produced).toBe(chunks * 64 * 1024);
    client.close();
  });

  it('a slow application pauses the socket instead of queueing the whole request body', async () => {
    const client = await open();
    const size = 24 * 1024 * 1024;
    client.begin(1, cgiParams('/slow-reader', [['CONTENT_LENGTH', String(size)]], 'POST'), { stdinOpen: true });
    const chunk = Buffer.alloc(60_000, 1);
    for (let sent = 0; sent < size; sent += chunk.length) client.socket.write(encodeRecord(RecordType.STDIN, 1, chunk.subarray(0, Math.min(chunk.length, size - sent))));
    client.socket.write(encodeRecord(RecordType.STDIN, 1));
    // wait until the client's unsent bytes stop shrinking (bounded)
    let last = -1;
    for (let i = 0; i < 100 && client.socket.writableLength !== last; i++) {
      last = client.socket.writableLength;
      await new Promise((r) => setTimeout(r, 100));
    }
    // the server took at most its high-water mark plus kernel buffers; the rest waits in the client
    expect(client.socket.writableLength).toBeGreaterThan(8 * 1024 * 1024);
    gate!();
    await client.until(() => client.ended(1), 30_000);
    expect(parseCgiResponse(client.result(1).stdout).body.toString()).toBe(String(size));
    client.close();
  });
});
