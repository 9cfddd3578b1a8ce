/**
 * One builder for access-log records (gateway's accessLogRecord): a request the server answers
 * before the application runs (413 by Content-Length, 400 for a bad path) is logged with the same
 * fields, built the same way, as one the application answered.
 */
import { describe, it, expect, beforeAll, afterAll } from '@jest/globals';
import { text } from '@stackware/gateway';
import { serve, type HttpServer } from '../src/index.js';
import { captureLogger, rawRequest, until } from './helpers.js';

describe('HTTP server access log: early answers and application answers share one record shape', () => {
  const log = captureLogger();
  let server: HttpServer;
  beforeAll(async () => {
    server = await serve(text('ok'), { host: '127.0.0.1', port: 0, maxBodyBytes: 16, logger: log.logger });
  });
  afterAll(async () => {
    await server?.close();
  });

  const record = async (id: string) => {
    await until(() => log.records.some((r) => r.msg === 'request' && r.req_id === id), 5000, `access log ${id}`);
    return log.records.find((r) => r.msg === 'request' && r.req_id === id)!;
  };

  it('logs the 413 and the 400 with every field of a normal record', async () => {
    const port = Number(new URL(server.url).port);
    const head = (id: string, line: string, extra = '') =>
      `${line}\r\nHost: x\r\nX-Request-Id: ${id}\r\nReferer: http://r.test/\r\nUser-Agent: ua/1\r\n${extra}Connection: close\r\n\r\n`;
    await rawRequest(port, head('normal-1', 'GET /a?q=1 HTTP/1.1'));
    await rawRequest(port, head('early-413', 'POST /upload HTTP/1.1', 'Content-Length: 1000\r\n'));
    await rawRequest(port, head('early-400', 'GET /%FF HTTP/1.1'));
    const normal = await record('normal-1');
    const tooLarge = await record('early-413');
    const bad = await record('early-400');
    for (const early of [tooLarge, bad]) expect(Object.keys(early).sort()).toEqual(Object.keys(normal).sort());
    expect(tooLarge).toMatchObject({ status: 413, method: 'POST', path: '/upload', protocol: 'HTTP/1.1', remote_addr: '127.0.0.1', remote_user: '-', bytes: 0, referer: 'http://r.test/', user_agent: 'ua/1' });
    expect(bad).toMatchObject({ status: 400, method: 'GET', path: '/%FF' });
    expect(normal).toMatchObject({ status: 200, path: '/a?q=1' });
  });
});
