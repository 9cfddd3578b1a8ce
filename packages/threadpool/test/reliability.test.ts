/**
 * The pool's reliability promises, on a real HTTP server under concurrent load: a hung request,
 * a memory blow-up, a failing initialisation, recycling, a full queue, reload and drain.
 */
import { describe, it, expect, afterEach } from '@jest/globals';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '@stackware/testing';
import { threadPool, type ThreadPoolApplication, type ThreadPoolOptions } from '../src/index.js';
import { fixture, load, tally, until } from './helpers.js';
import { serveForTest, type TestServer } from './http.js';

let cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.toReversed()) await c();
  cleanups = [];
});

async function start(options: Partial<ThreadPoolOptions> & { module?: string }): Promise<{ pool: ThreadPoolApplication; server: TestServer; logs: string[] }> {
  const logs: string[] = [];
  const pool = threadPool({ module: fixture('app.ts'), threads: 2, log: (t) => logs.push(t), ...options });
  const server = await serveForTest(pool);
  cleanups.push(() => pool.close(), () => server.close());
  return { pool, server, logs };
}

const get = async (url: string) => {
  const res = await fetch(url);
  return { status: res.status, text: await res.text(), headers: res.headers };
};

describe('threadPool reliability (real HTTP server, concurrent load)', () => {
  it('answers 504 to a request stuck in an infinite loop, replaces its thread, and serves the others', async () => {
    const { pool, server } = await start({ timeoutMs: 1500 });
    await pool.ready();
    const [stuck, others] = await Promise.all([get(`${server.url}/loop`), load(`${server.url}/sleep?ms=5`, 60, 4)]);
    expect(stuck.status).toBe(504);
    expect(tally(others)).toEqual({ 200: 60 });
    expect(server.errors()).toContain('did not answer within 1500 ms');
    expect(pool.stats.replaced.timeout).toBe(1);
    expect(tally(await load(`${server.url}/thread`, 20, 4))).toEqual({ 200: 20 });
  });

  it('answers 503 to a request that blows its thread\'s memory limit, replaces the thread, and serves the others', async () => {
    const { pool, server } = await start({ maxOldGenerationSizeMb: 48, timeoutMs: 60_000 });
    await pool.ready();
    const [blown, others] = await Promise.all([get(`${server.url}/oom`), load(`${server.url}/sleep?ms=5`, 60, 4)]);
    expect(blown.status).toBe(503);
    expect(tally(others)).toEqual({ 200: 60 });
    expect(server.errors()).toContain('memory limit');
    expect(pool.stats.replaced.memory).toBe(1);
    expect(tally(await load(`${server.url}/thread`, 20, 4))).toEqual({ 200: 20 });
  });

  it('answers 503 to a request whose Buffers (external memory, not the heap) pass the thread\'s memory limit, replaces the thread, and serves the others', async () => {
    const { pool, server } = await start({ maxOldGenerationSizeMb: 64, timeoutMs: 60_000 });
    await pool.ready();
    const [blown, others] = await Promise.all([get(`${server.url}/buffers`), load(`${server.url}/sleep?ms=5`, 60, 4)]);
    expect(blown.status).toBe(503);
    expect(tally(others)).toEqual({ 200: 60 });
    expect(server.errors()).toContain('memory limit');
    expect(pool.stats.replaced.memory).toBe(1);
    expect(tally(await load(`${server.url}/thread`, 20, 4))).toEqual({ 200: 20 });
  });

  it('answers 503 when the thread dies under a request, replaces it, and serves the others', async () => {
    const { pool, server } = await start({});
    await pool.ready();
    const [died, others] = await Promise.all([get(`${server.url}/exit`), load(`${server.url}/sleep?ms=5`, 30, 4)]);
    expect(died.status).toBe(503);
    expect(tally(others)).toEqual({ 200: 30 });
    expect(pool.stats.replaced.crash).toBe(1);
    expect(tally(await load(`${server.url}/thread`, 10, 4))).toEqual({ 200: 10 });
  });

  it('answers 503 while the module fails to initialise, logs why, and serves once the file is fixed, without a restart', async () => {
    const dir = await tempDir('threadpool-init-');
    cleanups.push(dir.cleanup);
    const file = join(dir.dir, 'site.ts');
    writeFileSync(join(dir.dir, 'package.json'), '{ "type": "module" }');
    writeFileSync(file, "throw new Error('DATABASE_URL is not set');\nexport default null;\n");
    const { pool, server, logs } = await start({ module: file, threads: 2 });
    await expect(pool.ready()).rejects.toThrow(/DATABASE_URL is not set/);
    expect(logs.join('')).toContain('DATABASE_URL is not set');
    const failing = await load(server.url, 8, 4);
    expect(tally(failing)).toEqual({ 503: 8 });
    expect(server.errors()).toContain('DATABASE_URL is not set');

    writeFileSync(file, [
      'const body = new TextEncoder().encode("fixed");',
      'export default (_environ: unknown, startResponse: (s: string, h: Array<[string, string]>) => unknown) => {',
      '  startResponse("200 OK", [["Content-Type", "text/plain"]]);',
      '  return [body];',
      '};',
    ].join('\n'));
    const next = await get(server.url);
    expect(next).toMatchObject({ status: 200, text: 'fixed' });
    expect(tally(await load(server.url, 20, 4))).toEqual({ 200: 20 });
  });

  it('replaces a thread whose module hangs while loading, answers 503, and serves once the file is fixed', async () => {
    const dir = await tempDir('threadpool-hang-');
    cleanups.push(dir.cleanup);
    const file = join(dir.dir, 'site.ts');
    writeFileSync(join(dir.dir, 'package.json'), '{ "type": "module" }');
    writeFileSync(file, 'for (;;) { /* stuck at load */ }\nexport default null;\n');
    const { pool, server, logs } = await start({ module: file, threads: 1, initTimeoutMs: 1500, timeoutMs: 1000 });
    await expect(pool.ready()).rejects.toThrow(/did not finish within initTimeoutMs/);
    expect((await get(server.url)).status).toBe(503);
    expect(logs.join('')).toContain('did not finish within initTimeoutMs (1500 ms)');
    writeFileSync(file, 'export default (_e: unknown, start: (s: string, h: Array<[string, string]>) => unknown) => { start("200 OK", [["Content-Type", "text/plain"]]); return [new TextEncoder().encode("loaded")]; };\n');
    let last = { status: 0, text: '' };
    await until(() => last.status === 200, 30_000, 'a request to succeed after the fix', async () => { last = await get(server.url); });
    expect(last.text).toBe('loaded');
  });

  it('starts a new set of threads when Piscina stops replacing them (a memory limit too small to start a thread)', async () => {
    const { pool, logs } = await start({ threads: 1, resourceLimits: { maxOldGenerationSizeMb: 4 } });
    await until(() => pool.stats.reloads >= 1, 20_000, 'a new set of threads');
    expect(logs.join('')).toContain('could not be replaced');
  });

  it('recycles threads after maxRequestsPerThread under load without failing a request', async () => {
    const { pool, server } = await start({ maxRequestsPerThread: 5 });
    await pool.ready();
    const statuses = await load(`${server.url}/sleep?ms=2`, 60, 6);
    expect(tally(statuses)).toEqual({ 200: 60 });
    expect(pool.stats.replaced.recycle).toBeGreaterThanOrEqual(10);
  });

  it('answers 503 with Retry-After when every thread is busy and the queue is full', async () => {
    const { pool, server } = await start({ threads: 1, maxQueue: 2, retryAfterSeconds: 3 });
    await pool.ready();
    const replies = await Promise.all(Array.from({ length: 6 }, () => get(`${server.url}/sleep?ms=700`)));
    expect(tally(replies.map((r) => r.status))).toEqual({ 200: 3, 503: 3 });
    for (const r of replies.filter((x) => x.status === 503)) expect(r.headers.get('retry-after')).toBe('3');
    expect(pool.stats.rejected).toBe(3);
  });

  it('reloads when the module file changes: new threads take new requests, old ones finish theirs', async () => {
    const dir = await tempDir('threadpool-reload-');
    cleanups.push(dir.cleanup);
    const file = join(dir.dir, 'site.ts');
    writeFileSync(join(dir.dir, 'package.json'), '{ "type": "module" }');
    const version = (v: string) => [
      'export default async (environ: { PATH_INFO: string }, startResponse: (s: string, h: Array<[string, string]>) => unknown) => {',
      '  if (environ.PATH_INFO === "/slow") await new Promise((r) => setTimeout(r, 800));',
      '  startResponse("200 OK", [["Content-Type", "text/plain"]]);',
      `  return [new TextEncoder().encode("${v}")];`,
      '};',
    ].join('\n');
    writeFileSync(file, version('v1'));
    const { pool, server } = await start({ module: file, threads: 2, watch: true });
    await pool.ready();
    expect((await get(server.url)).text).toBe('v1');
    const slow = get(`${server.url}/slow`);
    await until(() => pool.stats.inFlight === 1, 5_000, 'the slow request to start');
    const during = load(server.url, 40, 4);
    writeFileSync(file, version('v2'));
    await until(() => pool.stats.reloads > 0, 10_000, 'the reload');
    expect((await get(server.url)).text).toBe('v2');
    const slowReply = await slow;
    expect(slowReply).toMatchObject({ status: 200, text: "v1" });
    expect(tally(await during)).toEqual({ 200: 40 });
  });

  it('drains gracefully: requests in progress finish, new ones get 503', async () => {
    const { pool, server } = await start({ threads: 1 });
    await pool.ready();
    const slow = get(`${server.url}/sleep?ms=500`);
    await until(() => pool.stats.inFlight === 1, 5_000, 'the request to start');
    const closed = pool.close();
    const late = await get(`${server.url}/thread`);
    expect(late.status).toBe(503);
    expect((await slow).status).toBe(200);
    await closed;
  });
});
