/** The deploy-file factory reports a store that cannot work at start (when the stack is built), not at the first request. */
import { describe, expect, it } from '@jest/globals';
import { Worker } from 'node:worker_threads';
import { freePort } from '@stackware/testing';
import { sessionFilterFactory } from '../src/index.js';

const context = { name: 'session', here: process.cwd(), defaults: {}, loadApp: async () => () => [] };
const secret = 'x'.repeat(40);

describe('sessionFilterFactory at start', () => {
  it('refuses an unreachable Redis, naming the URL and the fix', async () => {
    const port = await freePort(); // nothing listens there
    await expect(Promise.resolve(sessionFilterFactory({ secret, store: 'redis', url: `redis://127.0.0.1:${port}` }, context)))
      .rejects.toThrow(new RegExp(`^\\[filter\\.session\\] store = "redis": cannot reach Redis at redis://127\\.0\\.0\\.1:${port} \\(.*\\) — start Redis there, or fix url$`));
  }, 30_000);

  it('accepts a memory store on the main thread', async () => {
    await expect(Promise.resolve(sessionFilterFactory({ secret, store: 'memory' }, context))).resolves.toBeInstanceOf(Function);
  });

  it('refuses a memory store built inside a worker thread (a thread pool), with the fix', async () => {
    // The factory as a pool thread runs it (fixtures/memory-in-thread.mjs registers the same loaders).
    const worker = new Worker(new URL('./fixtures/memory-in-thread.mjs', import.meta.url), { execArgv: [] });
    const message = await new Promise<string>((resolve, reject) => { worker.once('message', resolve); worker.once('error', reject); });
    await worker.terminate();
    expect(message).toMatch(/^\[filter\.session\] store = "memory": MemoryStore keeps sessions inside one process and one thread, but this server runs with stackware\.multithread = true.*store = "file" or "redis"/);
  }, 60_000);
});
