import { describe, it, expect, beforeAll, afterAll } from '@jest/globals';
import { readdirSync } from 'node:fs';
import { mkdir, rename, rm, utimes, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import { serve, type HttpServer } from '@stackware/server';
import { tempDir } from '@stackware/testing';
import { staticFiles, urlParser } from '../src/index.js';
import { CACHE_MAX_FILE_BYTES } from '../src/file-cache.js';

// The URL parser keeps stat results and small files' bytes, kept true by a directory watcher:
// these tests change files on disk between requests and expect the new bytes on the next request.
// The watcher's event reaches the server a fraction of a millisecond after the change (the kernel
// queues it, the event loop reads it); \`settle()\` lets this process's loop turn once, since the
// server and the test share it. Without the watcher the old bytes would be served for ever.
const settle = () => new Promise((resolve) => setTimeout(resolve, 20));
let dir: { dir: string; cleanup(): Promise<void> };
let server: HttpServer;
let root: string;

beforeAll(async () => {
  dir = await tempDir('stackware-file-cache-');
  root = dir.dir;
  server = await serve(staticFiles({ root }), { host: '127.0.0.1', port: 0, accessLog: false });
});
afterAll(async () => {
  await server.close();
  await dir.cleanup();
});

/** A GET through node:http (fetch adds `Cache-Control: no-cache` to conditional requests, which disables 304). */
function get(path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string; etag: string | null }> {
  return new Promise((resolve, reject) => {
    const req = request(server.url + path, { headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('end', () => resolve({ status: res.statusCode!, body: Buffer.concat(chunks).toString('latin1'), etag: (res.headers.etag as string | undefined) ?? null }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

describe('the stat and small-file cache', () => {
  it('serves a file rewritten with the same size and a new mtime fresh, at once', async () => {
    const file = join(root, 'same-size.txt');
    await writeFile(file, 'first version\n');
    await utimes(file, new Date('2024-01-01T00:00:00Z'), new Date('2024-01-01T00:00:00Z'));
    const first = await get('/same-size.txt');
    expect(first.body).toBe('first version\n');
    expect((await get('/same-size.txt')).body).toBe('first version\n'); // now from the cache
    await writeFile(file, 'other version\n');
    await utimes(file, new Date('2024-01-02T00:00:00Z'), new Date('2024-01-02T00:00:00Z'));
    await settle();
    const second = await get('/same-size.txt');
    expect(second.body).toBe('other version\n');
    expect(second.etag).not.toBe(first.etag);
    expect((await get('/same-size.txt', { 'If-None-Match': first.etag! })).status).toBe(200);
    expect((await get('/same-size.txt', { 'If-None-Match': second.etag! })).status).toBe(304);
  });

  it('sees a file replaced by rename (how editors save) and a file removed', async () => {
    const file = join(root, 'renamed.txt');
    await writeFile(file, 'old');
    expect((await get('/renamed.txt')).body).toBe('old');
    await writeFile(join(root, 'renamed.txt.new'), 'new contents');
    await rename(join(root, 'renamed.txt.new'), file);
    await settle();
    expect((await get('/renamed.txt')).body).toBe('new contents');
    await rm(file);
    await settle();
    expect((await get('/renamed.txt')).status).toBe(404);
  });

  it('forgets the files below a directory that is moved away', async () => {
    await mkdir(join(root, 'sub'));
    await writeFile(join(root, 'sub', 'a.txt'), 'in sub');
    expect((await get('/sub/a.txt')).body).toBe('in sub');
    await rename(join(root, 'sub'), join(root, 'moved'));
    await settle();
    expect((await get('/sub/a.txt')).status).toBe(404);
    expect((await get('/moved/a.txt')).body).toBe('in sub');
  });

  it('serves ranges and HEAD of a cached file like an uncached one', async () => {
    await writeFile(join(root, 'digits.txt'), '0123456789');
    await get('/digits.txt');
    expect((await get('/digits.txt', { Range: 'bytes=2-4' })).body).toBe('234');
    expect((await get('/digits.txt', { Range: 'bytes=20-' })).status).toBe(416);
    const head = await fetch(server.url + '/digits.txt', { method: 'HEAD' });
    expect(head.headers.get('content-length')).toBe('10');
    expect(await head.text()).toBe('');
  });

  it('streams a file larger than the cached size from disk, fresh after a change', async () => {
    const file = join(root, 'large.bin');
    await writeFile(file, Buffer.alloc(CACHE_MAX_FILE_BYTES + 1, 1));
    expect((await get('/large.bin')).body.length).toBe(CACHE_MAX_FILE_BYTES + 1);
    await writeFile(file, Buffer.alloc(CACHE_MAX_FILE_BYTES + 1, 2));
    await settle();
    const res = await fetch(server.url + '/large.bin');
    expect(Buffer.from(await res.arrayBuffer()).every((b) => b === 2)).toBe(true);
  });

  it('answers a urlParser module and a static file from the same cached directory', async () => {
    const site = await tempDir('stackware-file-cache-site-');
    try {
      await writeFile(join(site.dir, 'a.txt'), 'A');
      const running = await serve(urlParser({ root: site.dir }), { host: '127.0.0.1', port: 0, accessLog: false });
      try {
        expect(await (await fetch(running.url + '/a.txt')).text()).toBe('A');
        expect(await (await fetch(running.url + '/a')).text()).toBe('A');
        await writeFile(join(site.dir, 'a.txt'), 'B');
        await settle();
        expect(await (await fetch(running.url + '/a.txt')).text()).toBe('B');
      } finally {
        await running.close();
      }
    } finally {
      await site.cleanup();
    }
  });
});

describe('file descriptors', () => {
  const openFds = () => readdirSync('/proc/self/fd').length;

  /** A GET of `path` that reads `bytes` of the body and then drops the connection. */
  function abortAfter(path: string, bytes: number): Promise<void> {
    return new Promise((resolve) => {
      const req = request(server.url + path, { agent: false }, (res) => {
        let seen = 0;
        res.on('data', (d: Buffer) => {
          seen += d.length;
          if (seen >= bytes) req.destroy();
        });
        res.on('end', resolve);
      });
      req.on('close', () => resolve());
      req.on('error', () => resolve());
      req.end();
    });
  }

  it('leaves no descriptor open after many requests: whole, ranges, HEAD, 304 and aborted downloads', async () => {
    await writeFile(join(root, 'fd-small.txt'), 'x'.repeat(1024));
    await writeFile(join(root, 'fd-large.bin'), Buffer.alloc(2 * 1024 * 1024, 3));
    const warm = await get('/fd-small.txt');
    const batch = () => Promise.all([
      get('/fd-small.txt'),
      get('/fd-large.bin'),
      get('/fd-large.bin', { Range: 'bytes=100-200000' }),
      get('/fd-large.bin', { Range: 'bytes=0-0,1000-1999' }),
      fetch(server.url + '/fd-large.bin', { method: 'HEAD' }).then((r) => r.text()),
      get('/fd-small.txt', { 'If-None-Match': warm.etag! }),
    ]);
    // Warm up: watchers, the keep-alive sockets of fetch's pool (both ends are in this process), the cache.
    await batch();
    await abortAfter('/fd-large.bin', 64 * 1024);
    await new Promise((r) => setTimeout(r, 200));
    const before = openFds();
    for (let i = 0; i < 50; i++) {
      await batch();
      if (i % 10 === 0) await abortAfter('/fd-large.bin', 64 * 1024);
    }
    // Aborted responses close their file when the server sees the socket go: give it a moment.
    let after = openFds();
    for (let i = 0; i < 50 && after > before + 4; i++) {
      await new Promise((r) => setTimeout(r, 50));
      after = openFds();
    }
    // A few sockets of fetch's keep-alive pool may come and go; a leak would be hundreds.
    expect(after).toBeLessThanOrEqual(before + 4);
  }, 60_000);
});
