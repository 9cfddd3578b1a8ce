import { describe, it, expect, beforeAll, afterAll } from '@jest/globals';
import { writeFile } from 'node:fs/promises';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { request as httpRequest, Agent } from 'node:http';
import { createHash, randomBytes } from 'node:crypto';
import type { Application, Environ } from '@stackware/gateway';
import { tempDir } from '@stackware/testing';
import { serve, getRequestId, type HttpServer } from '../src/index.js';
import { captureLogger, curl, rawRequest, until } from './helpers.js';

const text = (startResponse: Parameters<Application>[1], status: string, body: string, extra: Array<[string, string]> = []) => {
  startResponse(status, [['Content-Type', 'text/plain; charset=utf-8'], ...extra]);
  return [Buffer.from(body)];
};

async function readAll(environ: Environ): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of environ['stackware.input']) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks);
}

const closed: Record<string, number> = {};
const bodyClosed = (name: string) => () => {
  closed[name] = (closed[name] ?? 0) + 1;
};
let filePath = '';
let fileBytes: Buffer;
let lastEnviron: Environ | undefined;

const app: Application = async (environ, startResponse) => {
  lastEnviron = environ;
  switch (environ.PATH_INFO) {
    case '/hello':
      return text(startResponse, '200 OK', 'Hello, world!\n');
    case '/stream': {
      startResponse('200 OK', [['Content-Type', 'text/plain']]);
      return (async function* () {
        yield Buffer.from('one ');
        yield Buffer.from('two ');
        yield Buffer.from('three\n');
      })();
    }
    case '/echo': {
      const body = await readAll(environ);
      return text(startResponse, '200 OK', `${environ.CONTENT_LENGTH ?? '-'} ${body.length} ${createHash('sha256').update(body).digest('hex')}`);
    }
    case '/ignore-body':
      return text(startResponse, '200 OK', 'not read');
    case '/no-content':
      startResponse('204 No Content', []);
      return [];
    case '/not-modified':
      startResponse('304 Not Modified', [['ETag', '"x"']]);
      return [];
    case '/throw':
      throw new Error('boom (expected by the test)');
    case '/reject':
      await new Promise((r) => setTimeout(r, 10));
      throw new Error('async boom (expected by the test)');
    case '/fail-after-headers': {
      startResponse('200 OK', [['Content-Type', 'text/plain']]);
      const body = (async function* () {
        yield Buffer.from('partial ');
        await new Promise((r) => setTimeout(r, 20));
        throw new Error('body boom (expected by the test)');
      })();
      return Object.assign(body, { close: bodyClosed('fail-after-headers') });
    }
    case '/forever': {
      startResponse('200 OK', [['Content-Type', 'application/octet-stream']]);
      const chunk = Buffer.alloc(64 * 1024, 120);
      return {
        async *[Symbol.asyncIterator]() {
          for (;;) yield chunk;
        },
        close: bodyClosed('forever'),
      };
    }
    case '/hang':
      startResponse('200 OK', [['Content-Type', 'text/plain']]);
      return { async *[Symbol.asyncIterator]() { await new Promise(() => undefined); yield Buffer.alloc(0); }, close: bodyClosed('hang') };
    case '/file':
      startResponse('200 OK', [['Content-Type', 'application/octet-stream']]);
      return environ['stackware.file_wrapper']!(filePath);
    case '/file-range':
      startResponse('200 OK', [['Content-Type', 'application/octet-stream']]);
      return environ['stackware.file_wrapper']!(filePath, { offset: 1000, length: 5000 });
    case '/slow':
      await new Promise((r) => setTimeout(r, 200));
      return text(startResponse, '200 OK', 'slow done');
    case '/errors':
      environ['stackware.errors'].write('written to stackware.errors\n');
      return text(startResponse, '200 OK', 'logged');
    case '/environ':
      return text(startResponse, '200 OK', JSON.stringify({
        PATH_INFO: environ.PATH_INFO, QUERY_STRING: environ.QUERY_STRING, SERVER_PORT: environ.SERVER_PORT, SERVER_PROTOCOL: environ.SERVER_PROTOCOL,
        REMOTE_ADDR: environ.REMOTE_ADDR, multiprocess: environ['stackware.multiprocess'], multithread: environ['stackware.multithread'],
        run_once: environ['stackware.run_once'], id: getRequestId(environ), X: environ.HTTP_X_THING,
      }));
    default:
      return text(startResponse, '404 Not Found', 'not found');
  }
};

let running: HttpServer;
let base = '';
let port = 0;
const log = captureLogger();
let cleanup: () => Promise<void>;

beforeAll(async () => {
  const dir = await tempDir();
  cleanup = dir.cleanup;
  fileBytes = randomBytes(300_000);
  filePath = join(dir.dir, 'data.bin');
  await writeFile(filePath, fileBytes);
  running = await serve(app, {
    port: 0, maxBodyBytes: 1024 * 1024, maxHeaderBytes: 4096, headersTimeoutMs: 1000, requestTimeoutMs: 5000, timeoutMs: 1500, logger: log.logger,
  });
  base = running.url;
  port = running.port;
});

afterAll(async () => {
  await running.close();
  await cleanup();
});

describe('HTTP server: responses (curl)', () => {
  it('answers with the application\'s status, headers, Date and Server, and Content-Length for a known length', async () => {
    const r = await curl(['-i', `${base}/hello`]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(r.stdout).toMatch(/\r\nContent-Length: 14\r\n/i);
    expect(r.stdout).toMatch(/\r\nDate: \w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT\r\n/);
    expect(r.stdout).toMatch(/\r\nServer: Stackware\r\n/);
    expect(r.stdout.endsWith('\r\n\r\nHello, world!\n')).toBe(true);
  });

  it('HEAD sends the same headers (and Content-Length) but no body', async () => {
    const r = await curl(['-I', `${base}/hello`]);
    expect(r.stdout).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(r.stdout).toMatch(/Content-Length: 14\r\n/i);
    // raw socket: no body bytes after the header block
    const raw = await rawRequest(port, 'HEAD /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    expect(raw.text.endsWith('\r\n\r\n')).toBe(true);
    expect(raw.text).not.toContain('Hello');
    // a streamed body: headers only, and the connection stays usable (no stray chunk bytes)
    const stream = await rawRequest(port, 'HEAD /stream HTTP/1.1\r\nHost: x\r\n\r\nGET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    const [first, second] = stream.text.split(/(?=HTTP\/1\.1 )/);
    expect(first).toMatch(/^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\n$/);
    expect(second).toMatch(/^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\nHello, world!\n$/);
  });

  it('streams a body of unknown length with chunked coding on HTTP/1.1, and closes the connection on HTTP/1.0', async () => {
    const raw = await rawRequest(port, 'GET /stream HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    expect(raw.text).toMatch(/Transfer-Encoding: chunked/i);
    expect(raw.text).toContain('4\r\none \r\n4\r\ntwo \r\n6\r\nthree\n\r\n0\r\n\r\n');
    const old = await rawRequest(port, 'GET /stream HTTP/1.0\r\n\r\n');
    expect(old.text).not.toMatch(/Transfer-Encoding/i);
    expect(old.text.endsWith('\r\n\r\none two three\n')).toBe(true);
    expect(old.closedByServer).toBe(true);
  });

  it('sends no body for 204 and 304', async () => {
    const r204 = await rawRequest(port, 'GET /no-content HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    expect(r204.text).toMatch(/^HTTP\/1\.1 204 No Content\r\n/);
    expect(r204.text).not.toMatch(/Content-Length|Transfer-Encoding/i);
    expect(r204.text.endsWith('\r\n\r\n')).toBe(true);
    const r304 = await rawRequest(port, 'GET /not-modified HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    expect(r304.text).toMatch(/^HTTP\/1\.1 304 Not Modified\r\n/);
    expect(r304.text.endsWith('\r\n\r\n')).toBe(true);
  });

  it('serves a file_wrapper from the file, whole and as a range', async () => {
    const whole = await curl(['-i', `${base}/file`]);
    expect(whole.stdout).toMatch(/Content-Length: 300000\r\n/i);
    expect(Buffer.from(whole.stdout.split('\r\n\r\n').slice(1).join('\r\n\r\n'), 'latin1').equals(fileBytes)).toBe(true);
    const part = await curl([`${base}/file-range`]);
    expect(Buffer.from(part.stdout, 'latin1').equals(fileBytes.subarray(1000, 6000))).toBe(true);
  });

  it('reuses a keep-alive connection for several requests', async () => {
    let connections = 0;
    const count = () => connections++;
    running.server.on('connection', count);
    const r = await curl(['-v', `${base}/hello`, `${base}/stream`, `${base}/hello`]);
    running.server.off('connection', count);
    expect(r.stdout).toBe('Hello, world!\none two three\nHello, world!\n');
    expect(r.stderr).toMatch(/Re-using existing connection/);
    expect(connections).toBe(1);
  });

  it('builds the environ: decoded PATH_INFO, raw query, port, flags, request id from X-Request-Id', async () => {
    const r = await curl(['-H', 'X-Request-Id: abc-123', '-H', 'X-Thing: yes', `${base}/environ?a=%20b`]);
    expect(JSON.parse(r.stdout)).toEqual({
      PATH_INFO: '/environ', QUERY_STRING: 'a=%20b', SERVER_PORT: String(port), SERVER_PROTOCOL: 'HTTP/1.1', REMOTE_ADDR: '127.0.0.1',
      multiprocess: false, multithread: false, run_once: false, id: 'abc-123', X: 'yes',
    });
    const generated = JSON.parse((await curl([`${base}/environ`])).stdout) as { id: string };
    expect(generated.id).toMatch(/^[a-z0-9]+-[a-z0-9]+-[a-z0-9]+$/);
  });
});

describe('HTTP server: request bodies', () => {
  it('hands a Content-Length body to the application, ending at Content-Length', async () => {
    const r = await curl(['--data-binary', 'hello body', '-H', 'Content-Type: text/plain', `${base}/echo`]);
    expect(r.stdout).toBe(`10 10 ${createHash('sha256').update('hello body').digest('hex')}`);
  });

  it('accepts a chunked upload (curl, Transfer-Encoding: chunked)', async () => {
    const dir = await tempDir();
    const data = randomBytes(200_000);
    await writeFile(join(dir.dir, 'up.bin'), data);
    const r = await curl(['-H', 'Transfer-Encoding: chunked', '--data-binary', `@${join(dir.dir, 'up.bin')}`, `${base}/echo`]);
    await dir.cleanup();
    expect(r.stdout).toBe(`- 200000 ${createHash('sha256').update(data).digest('hex')}`);
  });

  it('Expect: 100-continue: sends 100 Continue when the application reads the body', async () => {
    const r = await curl(['-v', '-H', 'Expect: 100-continue', '--data-binary', 'x'.repeat(5000), `${base}/echo`]);
    expect(r.stderr).toMatch(/< HTTP\/1\.1 100 Continue/);
    expect(r.stdout.startsWith('5000 5000 ')).toBe(true);
  });

  it('Expect: 100-continue: no 100 Continue when the application answers without reading', async () => {
    const raw = await rawRequest(port, 'POST /ignore-body HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n', { timeoutMs: 5000 });
    expect(raw.text).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(raw.text).not.toContain('100 Continue');
  });

  it('answers 413 for a declared Content-Length over maxBodyBytes, before the application runs', async () => {
    const raw = await rawRequest(port, `POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: ${2 * 1024 * 1024}\r\n\r\n`);
    expect(raw.text).toMatch(/^HTTP\/1\.1 413 /);
    expect(raw.closedByServer).toBe(true);
    const expectRaw = await rawRequest(port, `POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: ${2 * 1024 * 1024}\r\nExpect: 100-continue\r\n\r\n`);
    expect(expectRaw.text).toMatch(/^HTTP\/1\.1 413 /);
    expect(expectRaw.text).not.toContain('100 Continue');
  });

  it('answers 413 when a chunked body grows past maxBodyBytes', async () => {
    const chunk = Buffer.alloc(256 * 1024, 97);
    const parts: Array<string | Buffer> = ['POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n'];
    for (let i = 0; i < 6; i++) parts.push(`${chunk.length.toString(16)}\r\n`, chunk, '\r\n');
    parts.push('0\r\n\r\n');
    const raw = await rawRequest(port, parts);
    expect(raw.text).toMatch(/^HTTP\/1\.1 413 /);
    expect(raw.closedByServer).toBe(true);
  });
});

describe('HTTP server: bad requests and slow clients (raw socket)', () => {
  it('answers 400 to a malformed request line and closes', async () => {
    const raw = await rawRequest(port, 'THIS IS NOT HTTP\r\n\r\n');
    expect(raw.text).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
    expect(raw.closedByServer).toBe(true);
  });

  it('answers 400 to a path that is not valid UTF-8', async () => {
    const raw = await rawRequest(port, 'GET /caf%E9 HTTP/1.1\r\nHost: x\r\n\r\n');
    expect(raw.text).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
    expect(raw.text).toContain('not valid percent-encoded UTF-8');
  });

  it('answers 431 to headers larger than maxHeaderBytes', async () => {
    const raw = await rawRequest(port, `GET /hello HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(8000)}\r\n\r\n`);
    expect(raw.text).toMatch(/^HTTP\/1\.1 431 /);
    expect(raw.closedByServer).toBe(true);
  });

  it('holds off slowloris: a client dribbling headers is cut off after headersTimeoutMs, and others are served meanwhile', async () => {
    const parts = ['GET /hello HTTP/1.1\r\nHost: x\r\n', ...Array.from({ length: 50 }, (_, i) => `X-Drip-${i}: y\r\n`)];
    const slow = rawRequest(port, parts, { gapMs: 200, timeoutMs: 15_000 });
    const meanwhile = await curl([`${base}/hello`]);
    expect(meanwhile.stdout).toBe('Hello, world!\n');
    const result = await slow;
    // the dribble would last 10 s; the server must have closed it long before (headersTimeoutMs = 1 s)
    expect(result.closedByServer).toBe(true);
    expect(result.elapsedMs).toBeLessThan(8000);
    expect(result.text).toMatch(/^HTTP\/1\.1 408 /);
  });
});

describe('HTTP server: failing applications', () => {
  it('answers a plain 500 when the application throws or rejects before sending, and keeps serving', async () => {
    for (const path of ['/throw', '/reject']) {
      const r = await curl(['-i', `${base}${path}`]);
      expect(r.stdout).toMatch(/^HTTP\/1\.1 500 Internal Server Error\r\n/);
      expect(r.stdout.endsWith('Internal Server Error\n')).toBe(true);
    }
    expect((await curl([`${base}/hello`])).stdout).toBe('Hello, world!\n');
    expect(log.records.some((r) => r.level === 50 && (r.err as { message?: string } | undefined)?.message === 'boom (expected by the test)')).toBe(true);
  });

  it('closes the connection when the body fails after headers: the client sees a truncated response, and close() ran', async () => {
    const before = closed['fail-after-headers'] ?? 0;
    const raw = await rawRequest(port, 'GET /fail-after-headers HTTP/1.1\r\nHost: x\r\n\r\n');
    expect(raw.closedByServer).toBe(true);
    expect(raw.text).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(raw.text).toContain('partial ');
    expect(raw.text).not.toContain('0\r\n\r\n'); // no final chunk: visibly truncated
    await until(() => (closed['fail-after-headers'] ?? 0) === before + 1, 5000, 'close()');
    const r = await curl([`${base}/fail-after-headers`]);
    expect(r.code).toBe(18); // curl: transfer closed with outstanding read data remaining
  });

  it('calls close() on the body when the client disconnects mid-stream', async () => {
    const before = closed.forever ?? 0;
    await new Promise<void>((resolve, reject) => {
      const req = httpRequest(`${base}/forever`, (res) => {
        let received = 0;
        res.on('data', (d: Buffer) => {
          received += d.length;
          if (received > 1024 * 1024) req.destroy();
        });
        res.on('error', () => undefined);
        req.on('close', () => resolve());
      });
      req.on('error', (error: NodeJS.ErrnoException) => (error.code === 'ECONNRESET' ? resolve() : reject(error)));
      req.end();
    });
    await until(() => (closed.forever ?? 0) === before + 1, 5000, 'close() after disconnect');
  });

  it('answers 504 when the application makes no progress within timeoutMs, and closes the body', async () => {
    const before = closed.hang ?? 0;
    const r = await curl(['-i', `${base}/hang`]);
    expect(r.stdout).toMatch(/^HTTP\/1\.1 504 Gateway Timeout\r\n/);
    await until(() => (closed.hang ?? 0) === before + 1, 5000, 'close() after timeout');
  });
});

describe('HTTP server: logging', () => {
  it('writes one access-log record per request with the combined-log fields, and stackware.errors to the logger', async () => {
    await curl(['-H', 'X-Request-Id: log-1', '-H', 'Referer: http://example.test/', '-A', 'tester/1', `${base}/errors?q=1`]);
    await until(() => log.records.some((r) => r.msg === 'request' && r.req_id === 'log-1'), 5000, 'access log');
    const access = log.records.find((r) => r.msg === 'request' && r.req_id === 'log-1')!;
    expect(access).toMatchObject({ level: 30, method: 'GET', path: '/errors?q=1', status: 200, bytes: 6, protocol: 'HTTP/1.1', remote_addr: '127.0.0.1', remote_user: '-', referer: 'http://example.test/', user_agent: 'tester/1' });
    expect(typeof access.duration_ms).toBe('number');
    expect(log.records.find((r) => r.msg === 'written to stackware.errors')).toMatchObject({ level: 50, req_id: 'log-1' });
  });
});

describe('HTTP server: wrk keep-alive load', () => {
  it('answers a bounded wrk run (keep-alive, 16 connections, 2 s) with no errors', async () => {
    // execFile, not execFileSync: the server runs in this process
    const r = await new Promise<{ stdout: string }>((resolve) => {
      execFile('wrk', ['-t1', '-c16', '-d2s', '--timeout', '5s', `${base}/hello`], { timeout: 20_000 }, (_e, stdout) => resolve({ stdout }));
    });
    const requests = Number(/(\d+) requests in/.exec(r.stdout)?.[1] ?? 0);
    expect(requests).toBeGreaterThan(100);
    expect(r.stdout).not.toMatch(/Socket errors|Non-2xx/);
  });
});

describe('HTTP server: graceful close', () => {
  it('close() lets an in-flight request finish, refuses new connections, and resolves', async () => {
    const own = await serve(app, { port: 0, logger: captureLogger().logger });
    const agent = new Agent({ keepAlive: true });
    const inflight = new Promise<string>((resolve, reject) => {
      httpRequest(`${own.url}/slow`, { agent }, (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d));
        res.on('end', () => resolve(`${res.headers.connection} ${body}`));
      }).on('error', reject).end();
    });
    await until(() => lastEnviron?.PATH_INFO === '/slow', 5000, 'request started');
    const closing = own.close();
    expect(await inflight).toBe('close slow done');
    await closing;
    const refused = await curl([`${own.url}/hello`]);
    expect(refused.code).toBe(7); // couldn't connect
    agent.destroy();
  });
});
