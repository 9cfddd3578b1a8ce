/**
 * The access log is written asynchronously (lines gathered in memory, written in one system call):
 * no line may be lost when the server stops. A graceful `close()` resolves only once every access
 * line of the requests it served is in the log file, even with a flush interval far longer than the
 * test. (SIGTERM on `stackware serve`: packages/cli/test/access-log-flush.test.ts.)
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { request, Agent } from 'node:http';
import { tempDir } from '@stackware/testing';
import type { Application } from '@stackware/gateway';
import { createLogger, serve } from '../src/index.js';

const hello: Application = (_environ, startResponse) => {
  startResponse('200 OK', [['Content-Type', 'text/plain'], ['Content-Length', '3']]);
  return [Buffer.from('hi\n')];
};

let dir: { dir: string; cleanup(): Promise<void> };
beforeAll(async () => {
  dir = await tempDir('stackware-access-flush-');
});
afterAll(async () => dir.cleanup());

/** GETs `path` on keep-alive connections; resolves with the status. */
function get(url: string, path: string, agent: Agent): Promise<number> {
  return new Promise((resolve, reject) => {
    request(url + path, { agent }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    }).on('error', reject).end();
  });
}

const accessLines = (file: string) => readFileSync(file, 'utf8').split('\n').filter((l) => l.includes('"msg":"request"'));

describe('access log on graceful close', () => {
  it('every request served has its line in the file when close() resolves', async () => {
    const file = join(dir.dir, 'access.log');
    // A flush interval longer than the test: only close() can write what the buffer holds.
    const logger = createLogger({ file, pretty: false, flushIntervalMs: 600_000 });
    const running = await serve(hello, { host: '127.0.0.1', port: 0, logger });
    const agent = new Agent({ keepAlive: true, maxSockets: 8 });
    const count = 203; // not a multiple of anything the buffer could line up with
    const statuses = await Promise.all(Array.from({ length: count }, (_, i) => get(running.url, `/r/${i}`, agent)));
    expect(statuses.every((s) => s === 200)).toBe(true);
    agent.destroy();
    await running.close();
    const lines = accessLines(file);
    expect(lines).toHaveLength(count);
    expect(new Set(lines.map((l) => (JSON.parse(l) as { path: string }).path)).size).toBe(count);
  });

  it('a quiet server\'s line is written within the flush interval, without a close', async () => {
    const file = join(dir.dir, 'quiet.log');
    const logger = createLogger({ file, pretty: false, flushIntervalMs: 50 });
    const running = await serve(hello, { host: '127.0.0.1', port: 0, logger });
    const agent = new Agent({ keepAlive: false });
    expect(await get(running.url, '/one', agent)).toBe(200);
    const deadline = Date.now() + 10_000;
    while (accessLines(file).length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(accessLines(file)).toHaveLength(1);
    await running.close();
  });
});
