import { describe, it, expect, beforeAll, afterAll } from '@jest/globals';
import { request } from 'node:http';
import { PassThrough } from 'node:stream';
import type { Application } from '@stackware/gateway';
import { serve, createLogger } from '@stackware/server';
import { errorCatcher } from '../src/index.js';
import { captureLogger } from './helpers.js';

/** GET over a real socket; resolves with what the client saw: status, bytes, and whether the body ended cleanly. */
function get(url: string): Promise<{ status?: number; body: string; complete: boolean; error?: string }> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => { req.destroy(new Error('no answer in 20 s')); }, 20_000);
    const req = request(url, { headers: { Accept: 'text/html' } }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => { body += d.toString(); });
      res.on('end', () => { clearTimeout(timer); resolve({ status: res.statusCode, body, complete: res.complete }); });
      res.on('error', (e) => { clearTimeout(timer); resolve({ status: res.statusCode, body, complete: false, error: e.message }); });
    });
    req.on('error', (e) => { clearTimeout(timer); resolve({ body: '', complete: false, error: e.message }); });
    req.end();
  });
}

const app: Application = (environ, start) => {
  if (environ.PATH_INFO === '/before') throw new Error('before the response');
  start('200 OK', [['Content-Type', 'text/plain']]);
  return (async function* () {
    yield Buffer.from('first part\n');
    if (environ.PATH_INFO === '/later') await new Promise((r) => setTimeout(r, 50));
    throw new Error('in the middle');
  })();
};

const { logger, records } = captureLogger();
let server: Awaited<ReturnType<typeof serve>>;
beforeAll(async () => {
  const quiet = createLogger({ destination: new PassThrough(), pretty: false });
  server = await serve(errorCatcher(app, { logger }), { host: '127.0.0.1', port: 0, accessLog: false, logger: quiet });
});
afterAll(async () => server.close());

describe('with @stackware/server (serve)', () => {
  it('answers the production page for an error before the response starts', async () => {
    const res = await get(`${server.url}/before`);
    expect(res).toMatchObject({ status: 500, complete: true });
    expect(res.body).toContain(`Error id: <code>${records.at(-1)!.error_id}</code>`);
  });

  it('a body error after the first chunk: the client never sees a complete response', async () => {
    for (const path of ['/now', '/later']) {
      const res = await get(`${server.url}${path}`);
      expect(res.complete).toBe(false);
      expect(res.error).toBeDefined();
      expect(records.at(-1)).toMatchObject({ catch_point: 'body', headers_sent: true });
    }
    // With a pause after the first chunk the client has the status and the bytes before the cut.
    const later = await get(`${server.url}/later`);
    expect(later).toMatchObject({ status: 200, body: 'first part\n', complete: false });
  });
});
