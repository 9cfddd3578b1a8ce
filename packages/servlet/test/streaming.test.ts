import { describe, it, expect, afterAll } from '@jest/globals';
import { get, type IncomingMessage } from 'node:http';
import { serve, type HttpServer } from '@stackware/server';
import { HTTPServlet, servletApp, type Transaction } from '../src/index.js';

const CHUNK = 64 * 1024;
const TOTAL_CHUNKS = 1024; // 64 MiB if it were all produced at once
let written = 0;

class Firehose extends HTTPServlet {
  async respondToGet(t: Transaction) {
    t.response.setHeader('Content-Type', 'application/octet-stream');
    const chunk = Buffer.alloc(CHUNK, 'x');
    for (let i = 0; i < TOTAL_CHUNKS; i++) {
      await t.response.write(chunk);
      written++;
    }
  }
}

describe('streaming over the real HTTP server', () => {
  let server: HttpServer | undefined;
  afterAll(async () => {
    await server?.close();
  });

  it('holds the servlet at the client\'s pace (backpressure), then delivers everything', async () => {
    server = await serve(servletApp(Firehose), { port: 0, accessLog: false, timeoutMs: 0 });
    const res = await new Promise<IncomingMessage>((resolve, reject) => get(`${server!.url}/`, resolve).on('error', reject));
    expect(res.statusCode).toBe(200);
    expect(res.headers['transfer-encoding']).toBe('chunked');
    res.pause();
    // Wait until the servlet stops making progress while nobody reads (bounded wait).
    let last = -1;
    for (let i = 0; i < 200 && written !== last; i++) {
      last = written;
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(written).toBe(last); // stalled
    process.stdout.write(`servlet stalled after ${written} chunks of 64 KiB while the client was paused\n`);
    expect(written).toBeLessThan(TOTAL_CHUNKS / 4); // far less than the 64 MiB body: held by backpressure
    let received = 0;
    res.on('data', (c: Buffer) => {
      received += c.length;
    });
    res.resume();
    await new Promise((r) => res.on('end', r));
    expect(received).toBe(CHUNK * TOTAL_CHUNKS);
    expect(written).toBe(TOTAL_CHUNKS);
  }, 120_000);
});
