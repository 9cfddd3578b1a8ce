import { describe, it, expect } from '@jest/globals';
import { Agent, request } from 'node:http';
import { connect, type Socket } from 'node:net';
import type { Application, Environ } from '@stackware/gateway';
import { serve } from '../src/index.js';
import { captureLogger, rawRequest, until } from './helpers.js';

async function readAll(environ: Environ): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of environ['stackware.input']) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks);
}

const echo: Application = async (environ, startResponse) => {
  const body = await readAll(environ);
  startResponse('200 OK', [['Content-Type', 'text/plain']]);
  return [Buffer.from(`got ${body.toString()}`)];
};

describe('HTTP server: timeouts and shutdown', () => {
  it('a slow upload is the client\'s time: it does not trip the per-request timeout', async () => {
    const running = await serve(echo, { port: 0, timeoutMs: 400, logger: captureLogger().logger });
    try {
      const parts = ['POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\n', 'a', 'b', 'c', 'd', 'e'];
      const result = await rawRequest(running.port, parts, { gapMs: 300 }); // 1.5 s of dribbled body
      expect(result.text).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
      expect(result.text.endsWith('got abcde')).toBe(true);
    } finally {
      await running.close();
    }
  });

  it('a client that stops taking the response is cut off after clientTimeoutMs, and the body is closed', async () => {
    let closed = 0;
    const endless: Application = (_e, startResponse) => {
      startResponse('200 OK', [['Content-Type', 'application/octet-stream']]);
      return {
        async *[Symbol.asyncIterator]() {
          for (;;) yield Buffer.alloc(64 * 1024, 97);
        },
        close: () => void closed++,
      };
    };
    const log = captureLogger();
    const running = await serve(endless, { port: 0, clientTimeoutMs: 500, logger: log.logger });
    try {
      const socket = connect(running.port, '127.0.0.1');
      socket.pause(); // never read: the socket buffers fill, then the server waits for drain
      const gone = new Promise<void>((resolve) => socket.once('close', () => resolve()));
      socket.on('error', () => undefined);
      socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
      await until(() => closed === 1, 20_000, 'close() after the client timeout');
      socket.destroy();
      await gone;
      expect(log.records.some((r) => r.msg === 'client timed out: it neither sent nor took bytes')).toBe(true);
    } finally {
      await running.close();
    }
  });

  it('an upload that stalls gets 408 after clientTimeoutMs', async () => {
    const running = await serve(echo, { port: 0, clientTimeoutMs: 500, requestTimeoutMs: 0, logger: captureLogger().logger });
    try {
      const result = await rawRequest(running.port, 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nonly a part', { timeoutMs: 10_000 });
      expect(result.text).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/);
      expect(result.closedByServer).toBe(true);
    } finally {
      await running.close();
    }
  });

  it('close() destroys what is still open after shutdownTimeoutMs, and the body is closed', async () => {
    let closed = 0;
    let firstSent = false;
    const hang: Application = (_e, startResponse) => {
      startResponse('200 OK', [['Content-Type', 'text/plain']]);
      return {
        async *[Symbol.asyncIterator]() {
          yield Buffer.from('first ');
          firstSent = true; // the driver wrote the chunk and asks for the next one
          await new Promise(() => undefined);
        },
        close: () => void closed++,
      };
    };
    const log = captureLogger();
    const running = await serve(hang, { port: 0, timeoutMs: 0, shutdownTimeoutMs: 300, logger: log.logger });
    const client = rawRequest(running.port, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n', { timeoutMs: 10_000 });
    await until(() => firstSent, 5000, 'the first chunk');
    await running.close();
    const result = await client;
    expect(result.closedByServer).toBe(true);
    expect(result.text).toContain('first ');
    expect(result.text).not.toContain('0\r\n\r\n');
    await until(() => closed === 1, 5000, 'close() on the hung body');
    expect(log.records.some((r) => typeof r.msg === 'string' && r.msg.startsWith('shutdown timeout'))).toBe(true);
  });

  it('close() closes idle keep-alive connections after a short grace', async () => {
    const hello: Application = (_e, startResponse) => {
      startResponse('200 OK', [['Content-Type', 'text/plain']]);
      return [Buffer.from('hi')];
    };
    const running = await serve(hello, { port: 0, keepAliveTimeoutMs: 60_000, logger: captureLogger().logger });
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    let socket: Socket | undefined;
    await new Promise<void>((resolve, reject) => {
      const req = request(`${running.url}/`, { agent }, (res) => {
        res.resume();
        res.on('end', () => resolve());
      });
      req.on('socket', (s) => (socket = s));
      req.on('error', reject);
      req.end();
    });
    const socketClosed = new Promise<void>((resolve) => socket!.once('close', () => resolve()));
    await running.close(); // would wait for the 60 s keep-alive timeout if idle connections were kept
    await socketClosed;
    agent.destroy();
  });

  // A retiring worker (max-requests, reload, SIGTERM) must not reset connections it already accepted:
  // node:http's own close() destroys every connection without a request in progress, including one
  // accepted a moment ago whose request bytes are not read yet, and a keep-alive connection whose
  // next request is on the wire. Both must be answered (with Connection: close) instead.
  it('close() answers a connection accepted just before it, with Connection: close, instead of resetting it', async () => {
    const running = await serve(hiApp, { port: 0, logger: captureLogger().logger });
    const accepted = new Promise<void>((resolve) => running.server.once('connection', () => resolve()));
    const socket = connect(running.port, '127.0.0.1');
    const reply = readUntilClosed(socket);
    await accepted;
    const closing = running.close();
    socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    const text = await reply;
    expect(text).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(text).toMatch(/\r\nConnection: close\r\n/i);
    expect(text.endsWith('hi')).toBe(true);
    await closing;
  });

  it('close() answers the next request on an idle keep-alive connection sent right after it, with Connection: close', async () => {
    const running = await serve(hiApp, { port: 0, keepAliveTimeoutMs: 60_000, logger: captureLogger().logger });
    const socket = connect(running.port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', () => undefined);
    socket.write('GET /first HTTP/1.1\r\nHost: x\r\n\r\n');
    await until(() => Buffer.concat(chunks).toString().endsWith('hi'), 5000, 'the first response');
    const first = Buffer.concat(chunks.splice(0)).toString();
    expect(first).toMatch(/Connection: keep-alive/i);
    const ended = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    const closing = running.close();
    socket.write('GET /second HTTP/1.1\r\nHost: x\r\n\r\n');
    await ended;
    const second = Buffer.concat(chunks).toString();
    expect(second).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(second).toMatch(/\r\nConnection: close\r\n/i);
    expect(second.endsWith('hi')).toBe(true);
    await closing;
  });

  it('close() gives a connection whose long response started before it the same grace after that response', async () => {
    let headersSent = false;
    const streaming: Application = (environ, startResponse) => {
      startResponse('200 OK', [['Content-Type', 'text/plain']]);
      if (environ.PATH_INFO !== '/long') return [Buffer.from('hi')];
      return (async function* () {
        yield Buffer.from('start ');
        headersSent = true;
        await new Promise((r) => setTimeout(r, 1500)); // longer than the idle grace
        yield Buffer.from('end');
      })();
    };
    const running = await serve(streaming, { port: 0, keepAliveTimeoutMs: 60_000, logger: captureLogger().logger });
    const socket = connect(running.port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', () => undefined);
    const ended = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    socket.write('GET /long HTTP/1.1\r\nHost: x\r\n\r\n');
    await until(() => headersSent, 5000, 'the long response started');
    const closing = running.close();
    // chunked: the response ends with the last chunk; the next request follows soon after
    await until(() => Buffer.concat(chunks).toString().endsWith('0\r\n\r\n'), 10_000, 'the long response');
    await new Promise((r) => setTimeout(r, 400)); // idle for less than the grace, but after more than a second of stopping
    socket.write('GET /next HTTP/1.1\r\nHost: x\r\n\r\n');
    await ended;
    const text = Buffer.concat(chunks).toString();
    const second = text.slice(text.indexOf('HTTP/1.1', 10));
    expect(second).toMatch(/^HTTP\/1\.1 200 OK\r\n[\s\S]*Connection: close\r\n[\s\S]*hi$/i);
    await closing;
  });

  it('close() stops accepting at once, before in-flight requests end', async () => {
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let started = false;
    const slow: Application = async (_e, startResponse) => {
      started = true;
      await held;
      startResponse('200 OK', [['Content-Type', 'text/plain']]);
      return [Buffer.from('slow')];
    };
    const running = await serve(slow, { port: 0, logger: captureLogger().logger });
    const socket = connect(running.port, '127.0.0.1');
    const reply = readUntilClosed(socket);
    socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    await until(() => started, 5000, 'the request started');
    const closing = running.close();
    expect(running.server.listening).toBe(false);
    const refused = await new Promise<string>((resolve) => {
      const other = connect(running.port, '127.0.0.1');
      other.on('connect', () => { other.destroy(); resolve('connected'); });
      other.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? 'error'));
    });
    expect(refused).toBe('ECONNREFUSED');
    release();
    expect(await reply).toMatch(/\r\nConnection: close\r\n[\s\S]*slow$/i);
    await closing;
  });
});

const hiApp: Application = (_e, startResponse) => {
  startResponse('200 OK', [['Content-Type', 'text/plain']]);
  return [Buffer.from('hi')];
};

/** Everything the server sends on `socket` until it closes the connection. */
function readUntilClosed(socket: Socket): Promise<string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', (error: Error) => chunks.push(Buffer.from(`\n[${error.message}]`)));
    socket.on('close', () => resolve(Buffer.concat(chunks).toString()));
  });
}
