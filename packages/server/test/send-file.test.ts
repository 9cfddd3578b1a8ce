import { describe, it, expect, beforeAll, afterAll } from '@jest/globals';
import { fstatSync, openSync, closeSync } from 'node:fs';
import { truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { request } from 'node:http';
import { createHash, randomBytes } from 'node:crypto';
import type { Application } from '@stackware/gateway';
import { tempDir } from '@stackware/testing';
import { serve, type HttpServer } from '../src/index.js';

// The HTTP server sends a file_wrapper by reading into two reused buffers per response (taken from
// a pool shared by all responses) and handing each to the socket: these tests prove that reuse
// never mixes one response's bytes into another's, that a caller's descriptor stays open, and that
// a file that shrinks under the read cuts the response instead of sending short.
let dir: { dir: string; cleanup(): Promise<void> };
let running: HttpServer;
const files: Record<string, Buffer> = {};
let fd = -1;

const app: Application = (environ, startResponse) => {
  const path = environ.PATH_INFO;
  startResponse('200 OK', [['Content-Type', 'application/octet-stream']]);
  if (path === '/fd') return environ['stackware.file_wrapper']!(fd, { offset: 12_345, length: 1_000_000 });
  return environ['stackware.file_wrapper']!(join(dir.dir, path.slice(1)));
};

beforeAll(async () => {
  dir = await tempDir('stackware-send-file-');
  for (const [name, size] of [['a.bin', 3 * 1024 * 1024 + 17], ['b.bin', 2 * 1024 * 1024 + 5], ['shrinks.bin', 4 * 1024 * 1024]] as const) {
    files[name] = randomBytes(size);
    await writeFile(join(dir.dir, name), files[name]!);
  }
  fd = openSync(join(dir.dir, 'a.bin'), 'r');
  running = await serve(app, { host: '127.0.0.1', port: 0, accessLog: false });
});
afterAll(async () => {
  await running.close();
  closeSync(fd);
  await dir.cleanup();
});

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** GET through node:http; `slow` pauses the reader now and then (the server must wait, not buffer or mix). */
function download(path: string, slow = false): Promise<{ body: Buffer; complete: boolean }> {
  return new Promise((resolve, reject) => {
    const req = request(running.url + path, { agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => {
        chunks.push(d);
        if (slow && chunks.length % 8 === 0) {
          res.pause();
          setTimeout(() => res.resume(), 5);
        }
      });
      res.on('end', () => resolve({ body: Buffer.concat(chunks), complete: res.complete }));
      res.on('error', () => resolve({ body: Buffer.concat(chunks), complete: false }));
      res.on('aborted', () => resolve({ body: Buffer.concat(chunks), complete: false }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('sendFile: reused read buffers', () => {
  it('sends every byte of concurrent downloads of different files, fast and slow readers mixed', async () => {
    const names = ['a.bin', 'b.bin', 'a.bin', 'b.bin', 'a.bin', 'b.bin'];
    const results = await Promise.all(names.map((name, i) => download(`/${name}`, i % 2 === 0)));
    for (const [i, r] of results.entries()) {
      expect(r.body.length).toBe(files[names[i]!]!.length);
      expect(sha(r.body)).toBe(sha(files[names[i]!]!));
    }
  }, 60_000);

  it('sends a region of a caller-owned descriptor and leaves it open', async () => {
    const r = await download('/fd');
    expect(r.body.equals(files['a.bin']!.subarray(12_345, 12_345 + 1_000_000))).toBe(true);
    expect(fstatSync(fd).size).toBe(files['a.bin']!.length); // still open
  });

  it('cuts the response when the file shrinks while it is sent (never a short body on a kept-alive connection)', async () => {
    const pending = download('/shrinks.bin', true);
    await new Promise((r) => setTimeout(r, 20));
    await truncate(join(dir.dir, 'shrinks.bin'), 1024);
    const r = await pending;
    if (r.body.length < files['shrinks.bin']!.length) expect(r.complete).toBe(false);
    else expect(sha(r.body)).toBe(sha(files['shrinks.bin']!)); // the server won the race: whole file, fine
  }, 30_000);
});
