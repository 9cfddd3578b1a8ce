/**
 * ioredis (about 17 MiB resident) loads only when a RedisStore makes a client of its own: a site
 * on the memory or file store does not carry it. A fresh process per case, the built package as
 * an application imports it.
 */
import { describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const PACKAGE = fileURLToPath(new URL('..', import.meta.url));

function run(code: string): string {
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], { cwd: PACKAGE, encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' }, timeout: 30_000 });
  if (r.status !== 0) throw new Error(`the probe failed (${r.status}): ${r.stderr}`);
  return r.stdout.trim();
}

const LOADED = `Object.keys((await import('node:module')).createRequire(import.meta.url).cache).some((k) => k.includes('/ioredis/'))`;

describe('ioredis is loaded on demand', () => {
  it('importing @stackware/session and using the memory store does not load it', () => {
    expect(run(`const s = await import('@stackware/session'); new s.MemoryStore(); console.log(${LOADED});`)).toBe('false');
  });

  it('a RedisStore with a url loads it (and a given client needs nothing more)', () => {
    // Port 1 refuses at once; the store is closed before any command.
    expect(run(`const s = await import('@stackware/session'); const store = new s.RedisStore({ url: 'redis://127.0.0.1:1' }); console.log(${LOADED}); await store.close();`)).toBe('true');
  });
});
