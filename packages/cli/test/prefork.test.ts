import { describe, it, expect, afterEach } from '@jest/globals';
import { mkdir, writeFile } from 'node:fs/promises';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { connect, createServer, type Socket } from 'node:net';
import { once } from 'node:events';
import { freePort, tempDir, type Peer } from '@stackware/testing';
import { countMsg, exited, fixture, get, records, runStackware, stackware, until } from './cli-helpers.js';

const peers: Peer[] = [];
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  await Promise.all(peers.splice(0).map((p) => p.stop()));
  await Promise.all(cleanups.splice(0).map((c) => c()));
});

/** Starts `stackware serve <target> --port P ...args` and waits until `ready` workers reported ready. */
async function prefork(target: string, args: string[], ready: number) {
  const port = await freePort();
  const peer = stackware(['serve', target, '--port', String(port), ...args]);
  peers.push(peer);
  await until(() => countMsg(peer.output(), 'worker ready') >= ready, 45_000, `${ready} workers ready`, peer.output);
  return { peer, url: `http://127.0.0.1:${port}` };
}

const pidOf = (r: Awaited<ReturnType<typeof get>>) => ('body' in r ? Number(/(\d+)$/.exec(r.body)?.[1]) : NaN);

describe('prefork (stackware serve --workers N)', () => {
  it('a worker stuck in an infinite loop: its request gets 504 after --timeout, the worker is replaced, the other worker answers', async () => {
    const { peer, url } = await prefork(`${fixture('apps.ts')}#loop`, ['--workers', '2', '--timeout', '2'], 2);
    const sent = Date.now();
    const stuck = get(`${url}/loop`, 30_000).then((r) => ({ ...r, ms: Date.now() - sent }));
    await until(() => /^LOOP \d+$/m.test(peer.output()), 20_000, 'a worker stuck in its loop', peer.output);
    const loopingPid = Number(/^LOOP (\d+)$/m.exec(peer.output())![1]);
    const answered: number[] = [];
    for (let i = 0; i < 15; i++) {
      const r = await get(`${url}/`);
      expect(r).toMatchObject({ status: 200 });
      answered.push(pidOf(r));
    }
    // the stuck request is answered 504 by the worker's watchdog thread (its event loop is blocked), not reset
    const answer = await stuck;
    expect(answer).toMatchObject({ status: 504 });
    if (process.env.STACKWARE_TEST_REPORT) process.stderr.write(`prefork hung request: 504 after ${answer.ms} ms (--timeout 2)\n`);
    await until(() => countMsg(peer.output(), 'worker ready') >= 3, 30_000, 'the replacement worker', peer.output);
    const timeout = records(peer.output()).find((r) => typeof r.msg === 'string' && r.msg.startsWith('worker timeout'));
    expect(timeout).toMatchObject({ answered_504: 1 });
    expect(timeout).toBeDefined();
    const stuckPid = timeout!.worker_pid as number;
    expect(stuckPid).toBe(loopingPid);
    expect(answered).not.toContain(stuckPid);
    expect(() => process.kill(stuckPid, 0)).toThrow();
    // both workers serve again (the replacement included)
    const after = new Set<number>();
    for (let i = 0; i < 20 && after.size < 1; i++) after.add(pidOf(await get(`${url}/`)));
    expect([...after].every((pid) => pid !== stuckPid && Number.isInteger(pid))).toBe(true);
  }, 90_000);

  it('a request waiting on a keep-alive connection of the stuck worker gets 503 + Retry-After (never started, not reset); the replacement serves', async () => {
    const { peer, url } = await prefork(`${fixture('apps.ts')}#loop`, ['--workers', '1', '--timeout', '2', '--no-access-log'], 1);
    const port = Number(new URL(url).port);
    const idle = connect(port, '127.0.0.1');
    const idleText = collect(idle);
    idle.write('GET /first HTTP/1.1\r\nHost: x\r\n\r\n');
    await until(() => idleText().includes('pid '), 20_000, 'the first answer', peer.output);
    const hung = connect(port, '127.0.0.1');
    const hungText = collect(hung);
    hung.write('GET /loop HTTP/1.1\r\nHost: x\r\n\r\n');
    await until(() => /^LOOP \d+$/m.test(peer.output()), 20_000, 'the worker stuck in its loop', peer.output);
    idle.write('GET /second HTTP/1.1\r\nHost: x\r\n\r\n'); // waits unread: the event loop is blocked
    await until(() => idle.destroyed && hung.destroyed, 30_000, 'both connections answered and closed', peer.output);
    expect(hungText()).toMatch(/^HTTP\/1\.1 504 Gateway Timeout\r\n[\s\S]*Connection: close\r\n/);
    const second = idleText().slice(idleText().indexOf('HTTP/1.1', 10));
    expect(second).toMatch(/^HTTP\/1\.1 503 Service Unavailable\r\n[\s\S]*Retry-After: 0\r\n/);
    await until(() => countMsg(peer.output(), 'worker ready') >= 2, 30_000, 'the replacement worker', peer.output);
    expect(await get(`${url}/`)).toMatchObject({ status: 200 });
  }, 90_000);

  it('--max-memory-mb: a worker whose RSS (Buffers, not only the heap) passes the limit is replaced gracefully, no request fails', async () => {
    const { peer, url } = await prefork(`${fixture('apps.ts')}#grow`, ['--workers', '1', '--max-memory-mb', '300', '--no-access-log'], 1);
    const firstPid = pidOf(await get(`${url}/`));
    const results: Array<Awaited<ReturnType<typeof get>>> = [];
    const state = { stop: false };
    const client = async () => {
      while (!state.stop) results.push(await get(`${url}/`));
    };
    const clients = Array.from({ length: 3 }, client);
    try {
      expect(await get(`${url}/grow?mb=350`)).toMatchObject({ status: 200 });
      await until(() => countMsg(peer.output(), 'worker stopped') >= 1, 60_000, 'the worker over its memory limit replaced', peer.output);
    } finally {
      state.stop = true;
      await Promise.all(clients);
    }
    const over = records(peer.output()).find((r) => r.msg === 'memory limit reached: asking for a replacement');
    expect(over).toMatchObject({ max_memory_mb: 300 });
    expect(over!.rss_mb as number).toBeGreaterThan(300);
    expect(results.filter((r) => !('status' in r) || r.status !== 200)).toEqual([]);
    const after = pidOf(await get(`${url}/`));
    expect(after).not.toBe(firstPid);
    if (process.env.STACKWARE_TEST_REPORT) process.stderr.write(`prefork memory limit: worker at ${String(over!.rss_mb)} MiB replaced; ${results.length} requests during the replacement, 0 failed\n`);
  }, 120_000);

  it('--max-requests recycles workers under load without dropping a request', async () => {
    const { peer, url } = await prefork(fixture('apps.ts'), ['--workers', '2', '--max-requests', '10', '--max-requests-jitter', '3', '--no-access-log'], 2);
    const original = new Set(records(peer.output()).filter((r) => r.msg === 'worker ready').map((r) => r.worker_pid as number));
    const results: Array<Awaited<ReturnType<typeof get>>> = [];
    // load until replacements (forked after 10-13 requests, ready once booted) have answered too; bounded by time
    const deadline = Date.now() + 60_000;
    const replacementsServed = () => results.some((r) => !original.has(pidOf(r)));
    const client = async () => {
      while (!(replacementsServed() && countMsg(peer.output(), 'worker ready') >= 4) && Date.now() < deadline) {
        results.push(await get(`${url}/`));
        await new Promise((r) => setTimeout(r, 5));
      }
    };
    await Promise.all(Array.from({ length: 6 }, client));
    expect(results.filter((r) => !('status' in r) || r.status !== 200)).toEqual([]);
    expect(replacementsServed()).toBe(true);
    expect(countMsg(peer.output(), 'max-requests reached: asking for a replacement')).toBeGreaterThanOrEqual(2);
    // the old worker stops once its replacement is ready and its connections are answered: wait for its exit
    await until(() => countMsg(peer.output(), 'worker stopped') >= 1, 20_000, 'a retired worker to stop', peer.output);
    expect(countMsg(peer.output(), 'worker died; replacing it')).toBe(0);
  }, 90_000);

  it('replaces a worker that crashes, and keeps answering', async () => {
    const { peer, url } = await prefork(`${fixture('apps.ts')}#crash`, ['--workers', '2'], 2);
    expect(await get(`${url}/flags`)).toEqual({ status: 200, body: '{"multiprocess":true,"multithread":false,"run_once":false}' });
    const crashed = await get(`${url}/crash`);
    expect(crashed).toHaveProperty('error');
    await until(() => countMsg(peer.output(), 'worker ready') >= 3, 30_000, 'a replacement', peer.output);
    const died = records(peer.output()).find((r) => r.msg === 'worker died; replacing it');
    expect(died).toMatchObject({ code: 3 });
    for (let i = 0; i < 5; i++) expect(await get(`${url}/`)).toMatchObject({ status: 200 });
  }, 90_000);

  it('backs off when workers keep failing at start-up (delays double), and still stops on SIGTERM', async () => {
    const port = await freePort();
    const peer = stackware(['serve', fixture('broken.ts'), '--port', String(port), '--workers', '1']);
    peers.push(peer);
    await until(() => countMsg(peer.output(), 'worker died; replacing it') >= 2, 40_000, 'two start-up failures', peer.output);
    const delays = records(peer.output()).filter((r) => r.msg === 'worker died; replacing it').map((r) => r.restart_in_ms as number);
    expect(delays.slice(0, 2)).toEqual([100, 200]);
    expect(peer.output()).toContain('broken at import (expected by the test)');
    peer.process.kill('SIGTERM');
    expect(await exited(peer)).toBe(0);
  }, 90_000);
  it('stops with exit code 2 when the workers cannot load the application (usage error)', async () => {
    const port = await freePort();
    const peer = stackware(['serve', `${fixture('apps.ts')}#notApp`, '--port', String(port), '--workers', '2']);
    peers.push(peer);
    expect(await exited(peer, 40_000)).toBe(2);
    expect(peer.output()).toContain('not an Application');
  }, 90_000);

  it('SIGTERM to the primary under load: every started request is answered, then exit 0', async () => {
    const { peer, url } = await prefork(`${fixture('apps.ts')}#slow`, ['--workers', '2', '--shutdown-timeout', '20'], 2);
    const begun = () => (peer.output().match(/^BEGIN$/gm) ?? []).length;
    const first = Array.from({ length: 20 }, () => get(`${url}/?ms=600`));
    await until(() => begun() >= 20, 20_000, '20 requests started', peer.output);
    peer.process.kill('SIGTERM');
    const results = await Promise.all(first);
    expect(results.every((r) => 'status' in r && r.status === 200 && r.body.startsWith('done '))).toBe(true);
    expect(await exited(peer)).toBe(0);
  }, 90_000);

  it('--reload replaces workers when the application file changes, without dropping requests', async () => {
    const dir = await tempDir();
    cleanups.push(dir.cleanup);
    const file = join(dir.dir, 'app.ts');
    const version = (v: string) => `export default (_e: unknown, startResponse: (s: string, h: Array<[string, string]>) => void) => {\n  startResponse('200 OK', [['Content-Type', 'text/plain']]);\n  return [Buffer.from('${v}')];\n};\n`;
    await writeFile(join(dir.dir, 'package.json'), '{ "type": "module" }\n');
    await writeFile(file, version('v1'));
    const { peer, url } = await prefork(file, ['--reload', '--no-access-log'], 1);
    expect(await get(`${url}/`)).toEqual({ status: 200, body: 'v1' });
    const seen: Array<Awaited<ReturnType<typeof get>>> = [];
    const state = { stop: false };
    const load = (async () => {
      while (!state.stop) seen.push(await get(`${url}/`));
    })();
    try {
      await until(() => seen.length >= 5, 20_000, 'load on the first version', peer.output);
      await writeFile(file, version('v2'));
      await until(() => seen.some((r) => 'body' in r && r.body === 'v2'), 30_000, 'the new version', peer.output);
      const switched = seen.length;
      await until(() => seen.length >= switched + 5, 20_000, 'load on the new version', peer.output);
    } finally {
      state.stop = true;
      await load;
    }
    expect(seen.filter((r) => !('status' in r) || r.status !== 200)).toEqual([]);
    const bodies = seen.map((r) => ('body' in r ? r.body : ''));
    // v1 until the switch, then v2 only
    expect(bodies.lastIndexOf('v1')).toBeLessThan(bodies.indexOf('v2'));
    expect(countMsg(peer.output(), 'reloading workers')).toBeGreaterThanOrEqual(1);
  }, 90_000);
});

describe('--reload watcher', () => {
  it('follows rename-saves (sed -i) of a module the application imports, again and again, and ignores log and data files', async () => {
    const dir = await tempDir();
    cleanups.push(dir.cleanup);
    await writeFile(join(dir.dir, 'package.json'), '{ "type": "module" }\n');
    await mkdir(join(dir.dir, 'lib'));
    await writeFile(join(dir.dir, 'lib/layout.ts'), "export const layout = 'v1';\n");
    await writeFile(join(dir.dir, 'app.ts'), "import { layout } from './lib/layout.ts';\nexport default (_e: unknown, startResponse: (s: string, h: Array<[string, string]>) => void) => {\n  startResponse('200 OK', [['Content-Type', 'text/plain']]);\n  return [Buffer.from(layout)];\n};\n");
    const { peer, url } = await prefork(join(dir.dir, 'app.ts'), ['--reload', '--no-access-log'], 1);
    const body = async () => { const r = await get(`${url}/`); return 'body' in r ? r.body : ''; };
    expect(await body()).toBe('v1');
    for (const [from, to] of [['v1', 'v2'], ['v2', 'v3'], ['v3', 'v4']]) {
      expect(spawnSync('sed', ['-i', `s/${from}/${to}/`, join(dir.dir, 'lib/layout.ts')]).status).toBe(0);
      await until(() => countMsg(peer.output(), 'worker ready') >= Number(to.slice(1)), 60_000, `the reload to ${to}`, peer.output);
      await until(() => countMsg(peer.output(), 'worker stopped') >= Number(to.slice(1)) - 1, 30_000, 'the old worker stopped', peer.output);
      expect(await body()).toBe(to);
    }
    const reloads = countMsg(peer.output(), 'reloading workers');
    await writeFile(join(dir.dir, 'app.log'), 'written by the app\n');
    await mkdir(join(dir.dir, 'data'));
    await writeFile(join(dir.dir, 'data/store.json'), '{}');
    await mkdir(join(dir.dir, 'node_modules'));
    await writeFile(join(dir.dir, 'node_modules/x.js'), '');
    await new Promise((r) => setTimeout(r, 1500));
    expect(countMsg(peer.output(), 'reloading workers')).toBe(reloads);
  }, 180_000);
});

describe('--timeout in a single process', () => {
  it('is refused with a usage error naming --workers and --threads (a synchronous loop would block the server itself)', async () => {
    const result = await runStackware(['serve', fixture('hello.mjs'), '--port', '0', '--timeout', '2']);
    expect(result.code).toBe(2);
    expect(result.stderr.trim()).toBe('stackware: --timeout needs --workers N or --threads N: in a single process a request stuck in a synchronous loop blocks the whole server, so nothing can answer 504 (a request that is only waiting still gets 504 after the default 30 s)');
  }, 60_000);
});

// The boot-failure policy (gunicorn exits with code 3 when a worker cannot boot): workers that exit
// before becoming ready 5 times within 60 s, with no worker serving, stop the primary with exit code 3
// and one line on stderr naming the cause. Each cause is tried with the real command.
describe('prefork boot failures: exit code 3 and one line naming the cause', () => {
  const lastLine = (peer: Peer) => peer.output().split('\n').filter((l) => l.startsWith('stackware: workers failed to boot')).at(-1) ?? '';

  it('a module that throws while loading: the error and where it was thrown, after back-off (100, 200, 400, 800 ms)', async () => {
    const port = await freePort();
    const peer = stackware(['serve', fixture('broken.ts'), '--port', String(port), '--workers', '1']);
    peers.push(peer);
    expect(await exited(peer, 60_000)).toBe(3);
    const delays = records(peer.output()).filter((r) => r.msg === 'worker died; replacing it').map((r) => r.restart_in_ms as number);
    expect(delays).toEqual([100, 200, 400, 800]);
    expect(lastLine(peer)).toMatch(/^stackware: workers failed to boot 5 times in \d+ s, stopping: .*broken\.ts failed to load: broken at import \(expected by the test\) \(thrown at .*\/fixtures\/broken\.ts:2:7\)$/);
  }, 90_000);

  it('a syntax error: file:line:column of the error', async () => {
    const dir = await tempDir();
    cleanups.push(dir.cleanup);
    const file = join(dir.dir, 'app.ts');
    await writeFile(join(dir.dir, 'package.json'), '{ "type": "module" }\n');
    await writeFile(file, 'export default (_e: unknown, startResponse: (s: string, h: Array<[string, string]>) => void) => {\n  startResponse(\'200 OK\', [];\n};\n');
    const peer = stackware(['serve', file, '--port', String(await freePort()), '--workers', '2']);
    peers.push(peer);
    expect(await exited(peer, 60_000)).toBe(3);
    expect(lastLine(peer)).toContain(`stopping: ${file}:2:`);
    expect(lastLine(peer)).toContain('SyntaxError');
  }, 90_000);

  it('a deploy file with workers: the primary exits 3 too, as for a module (one orchestrator, run(plan))', async () => {
    const dir = await tempDir();
    cleanups.push(dir.cleanup);
    const port = await freePort();
    const file = join(dir.dir, 'site.toml');
    await writeFile(join(dir.dir, 'hello.mjs'), "export default (_environ, startResponse) => { startResponse('200 OK', [['Content-Type', 'text/plain']]); return [Buffer.from('hello')]; };\n");
    await writeFile(file, `[app.main]\napplication = "./hello.mjs"\n[server.web]\nhost = "127.0.0.1"\nport = ${port}\nworkers = 2\n`);
    const busy = createServer().listen(port, '127.0.0.1');
    await once(busy, 'listening');
    try {
      const peer = stackware(['serve', file]);
      peers.push(peer);
      expect(await exited(peer, 60_000)).toBe(3);
      expect(lastLine(peer)).toMatch(/^stackware: workers failed to boot 5 times in \d+ s, stopping: .*EADDRINUSE/);
    } finally {
      busy.close();
    }
  }, 90_000);

  it('the port in use: the address and what to do', async () => {
    const port = await freePort();
    const busy = createServer().listen(port, '127.0.0.1');
    await once(busy, 'listening');
    try {
      const peer = stackware(['serve', fixture('hello.mjs'), '--port', String(port), '--workers', '2']);
      peers.push(peer);
      expect(await exited(peer, 60_000)).toBe(3);
      expect(lastLine(peer)).toMatch(new RegExp(`stopping: Cannot listen on 127\\.0\\.0\\.1:${port}: .*EADDRINUSE.* \\(the port is in use: stop what listens there or choose another --port\\)$`));
    } finally {
      busy.close();
    }
  }, 90_000);
});

/** Collects what the server sends on `socket`; returns a reader of the text so far. */
function collect(socket: Socket): () => string {
  let text = '';
  socket.on('data', (d: Buffer) => (text += d.toString()));
  socket.on('error', (error: Error) => (text += `\n[${error.message}]`));
  return () => text;
}
