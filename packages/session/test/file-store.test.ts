import { describe, it, expect, beforeAll, afterAll } from '@jest/globals';
import { spawn } from 'node:child_process';
import { readdir, writeFile, utimes, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { hostname } from 'node:os';
import { fileURLToPath } from 'node:url';
import { TestClient, text } from '@stackware/gateway';
import { tempDir } from '@stackware/testing';
import { session, loadSession, FileStore, newSessionId } from '../src/index.js';
import { SECRET, site, concurrentDistinctKeys } from './helpers.js';

/** The pid of a process that has exited (started and awaited here). */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' });
  await new Promise((resolve) => child.once('exit', resolve));
  return child.pid!;
}

let dir: string;
let cleanup: () => Promise<void>;
const stores: FileStore[] = [];
function fileStore(sub: string, options: { now?: () => number } = {}) {
  const store = new FileStore({ dir: join(dir, sub), ...options });
  stores.push(store);
  return store;
}

beforeAll(async () => {
  ({ dir, cleanup } = await tempDir('stackware-session-file-'));
});
afterAll(async () => {
  for (const s of stores) await s.close();
  await cleanup();
});

describe('FileStore', () => {
  it('stores, touches, expires and destroys; expiry is the file mtime', async () => {
    let now = Date.now();
    const store = fileStore('basic', { now: () => now });
    const id = newSessionId();
    expect(await store.get(id)).toBeUndefined();
    await store.set(id, '{"x":1}', 60);
    expect(await store.get(id)).toBe('{"x":1}');
    now += 50_000;
    await store.touch(id, 60);
    now += 50_000; // 100 s after set, 50 s after touch
    expect(await store.get(id)).toBe('{"x":1}');
    now += 11_000;
    expect(await store.get(id)).toBeUndefined();
    await store.set(id, '{"x":2}', 60);
    await store.destroy(id);
    expect(await store.get(id)).toBeUndefined();
    await store.destroy(id); // absent: no error
    await store.touch(id, 60); // absent: no error
  });

  it('refuses anything but a generated id before it becomes a file name', async () => {
    const store = fileStore('ids');
    for (const bad of ['../../etc/passwd', 'a/b', '', 'x'.repeat(32) + '/', `${newSessionId()}\0`, '..', 'short']) {
      await expect(store.get(bad)).rejects.toThrow(/not a valid session id/);
      await expect(store.set(bad, '{}', 10)).rejects.toThrow(/not a valid session id/);
    }
    expect(await readdir(store.dir)).toEqual([]);
  });

  it('sweep() removes expired sessions, expired locks and old temp files, and keeps live ones', async () => {
    let now = Date.now();
    const store = fileStore('sweep', { now: () => now });
    const live = newSessionId();
    const old = newSessionId();
    await store.set(old, '{}', 10);
    await store.set(live, '{}', 1000);
    const staleTemp = join(store.dir, `.tmp-${newSessionId()}-abc`);
    await writeFile(staleTemp, 'partial');
    await utimes(staleTemp, new Date(Date.now() - 120_000), new Date(Date.now() - 120_000));
    await writeFile(join(store.dir, `${newSessionId()}.lock`), `token ${Date.now() - 1}`);
    now += 20_000;
    expect(await store.sweep()).toBe(3);
    expect(await readdir(store.dir)).toEqual([`${live}.json`]);
  });

  it('lock() is exclusive, waits for release, and takes over a lock whose holder died', async () => {
    const store = fileStore('locks');
    const id = newSessionId();
    const release = await store.lock(id, { waitMs: 1000, ttlMs: 60_000 });
    await expect(store.lock(id, { waitMs: 50, ttlMs: 60_000 })).rejects.toThrow(/not released within 50 ms/);
    const waiting = store.lock(id, { waitMs: 5000, ttlMs: 60_000 });
    await release();
    const second = await waiting;
    await second();
    // A crashed holder: its lock's time is up, so the next request takes it over.
    await writeFile(join(store.dir, `${id}.lock`), `dead-holder ${Date.now() - 1}`);
    const third = await store.lock(id, { waitMs: 1000, ttlMs: 60_000 });
    expect((await readFile(join(store.dir, `${id}.lock`), 'utf8')).startsWith('dead-holder')).toBe(false);
    await third();
    expect((await readdir(store.dir)).filter((n) => n.includes('lock'))).toEqual([]);
  });

  it('a lock records its holder (token, expiry, pid, host); a dead holder on this host is taken over at once, a live one is not', async () => {
    const store = fileStore('holders');
    const id = newSessionId();
    const release = await store.lock(id, { waitMs: 1000, ttlMs: 60_000 });
    const [token, expires, pid, host] = (await readFile(join(store.dir, `${id}.lock`), 'utf8')).split(' ');
    expect(token).toMatch(/^[0-9a-f-]{36}$/);
    expect(Number(expires)).toBeGreaterThan(Date.now());
    expect([Number(pid), host]).toEqual([process.pid, hostname()]);
    await release();
    // A holder that crashed a moment ago: its lock still has 60 s to run.
    const dead = await deadPid();
    await writeFile(join(store.dir, `${id}.lock`), `dead-holder ${Date.now() + 60_000} ${dead} ${hostname()}`);
    // Taken long before the lock's 60 s run out (the wait is generous only for a loaded machine).
    const taken = await store.lock(id, { waitMs: 10_000, ttlMs: 60_000 });
    expect((await readFile(join(store.dir, `${id}.lock`), 'utf8')).split(' ')[2]).toBe(String(process.pid));
    await taken();
    // A live holder (our parent process), or one on another host, keeps its lock until it expires.
    for (const holder of [`${process.ppid} ${hostname()}`, `${dead} other-host.example`]) {
      await writeFile(join(store.dir, `${id}.lock`), `live-holder ${Date.now() + 60_000} ${holder}`);
      await expect(store.lock(id, { waitMs: 50, ttlMs: 60_000 })).rejects.toThrow(/not released within 50 ms/);
    }
  });

  it('with lock: true, 50 concurrent requests incrementing one counter end at 50', async () => {
    const store = fileStore('counter');
    const counter = session(async (environ, startResponse) => {
      const s = await loadSession(environ);
      const n = s.get<number>('n') ?? 0;
      await new Promise((r) => setImmediate(r));
      s.set('n', n + 1);
      return text(String(n + 1))(environ, startResponse);
    }, { secret: SECRET, store, lock: true, lockWaitMs: 60_000 }); // 50 fsync'd saves in a row: slow on a loaded disk
    const c = new TestClient(counter, { cookies: true });
    await c.get('/');
    await Promise.all(Array.from({ length: 50 }, () => c.get('/')));
    expect((await c.get('/')).text()).toBe('52');
  });

  it('without lock, 30 concurrent requests each setting its own key lose none of them (FileStore)', async () => {
    expect(await concurrentDistinctKeys(fileStore('distinct'), 30)).toEqual(['first', ...Array.from({ length: 30 }, (_, i) => `k${i}`)].sort());
  });

  it('two middleware instances over one directory (two processes, in effect) see each other\'s writes', async () => {
    const a = new TestClient(session(site, { secret: SECRET, store: fileStore('shared') }), { cookies: true });
    const b = new TestClient(session(site, { secret: SECRET, store: fileStore('shared') }));
    await a.get('/set?from=a');
    const res = await b.get('/', { headers: { Cookie: `stackware_session=${a.cookies.get('stackware_session')}` } });
    expect(res.json()).toMatchObject({ isNew: false, data: { from: 'a' } });
  });
});

describe('FileStore across processes', () => {
  it('its lock serialises two processes: 2 × 25 increments end at 50', async () => {
    const fixture = fileURLToPath(new URL('./fixtures/lock-counter.ts', import.meta.url));
    const lockDir = join(dir, 'processes');
    const id = newSessionId();
    const run = () => new Promise<void>((resolve, reject) => {
      const child = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', fixture, lockDir, id, '25'], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
      child.stderr.on('data', (d: Buffer) => { out += d.toString(); });
      child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`lock-counter exited ${code}: ${out}`))));
    });
    await Promise.all([run(), run()]);
    const store = fileStore('processes');
    expect(JSON.parse((await store.get(id))!)).toEqual({ n: 50 });
  }, 60_000);
});

describe('FileStore: kill -9 during a save', () => {
  const fixture = fileURLToPath(new URL('./fixtures/crash-writer.ts', import.meta.url));

  it('always leaves the old or the new version, never a torn one (20 kills at random points)', async () => {
    const crashDir = join(dir, 'crash');
    const id = newSessionId();
    const reader = fileStore('crash');
    const versions: number[] = [];
    for (let round = 0; round < 20; round++) {
      const child = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', fixture, crashDir, id], { stdio: ['ignore', 'pipe', 'pipe'] });
      let err = '';
      child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
      const exited = new Promise<NodeJS.Signals | null>((resolve) => child.once('exit', (_code, signal) => resolve(signal)));
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`crash-writer did not start: ${err}`)), 30_000);
        child.stdout.on('data', (d: Buffer) => { if (d.toString().includes('ready')) { clearTimeout(timer); resolve(); } });
        child.once('exit', () => { clearTimeout(timer); reject(new Error(`crash-writer exited early: ${err}`)); });
      });
      await new Promise((r) => setTimeout(r, 5 + Math.random() * 60));
      child.kill('SIGKILL');
      expect(await exited).toBe('SIGKILL');
      const text = await reader.get(id);
      expect(text).toBeDefined();
      const record = JSON.parse(text!) as { data: { version: number; fill: string } };
      const { version, fill } = record.data;
      expect(fill.length).toBe(512 * 1024 + (version % 7) * 4096);
      expect(fill).toBe('ABCDEFGHIJKLMNOPQRSTUVWXYZ'[version % 26]!.repeat(fill.length));
      versions.push(version);
    }
    // The kills landed at different points of the write loop (not all before the first save).
    expect(new Set(versions).size).toBeGreaterThan(1);
    // Temp files a killed writer left behind are removed by the sweep once a minute old.
    const past = new Date(Date.now() - 120_000);
    for (const name of (await readdir(crashDir)).filter((n) => n.startsWith('.tmp-'))) await utimes(join(crashDir, name), past, past);
    await reader.sweep();
    expect(await readdir(crashDir)).toEqual([`${id}.json`]);
  }, 120_000);
});
