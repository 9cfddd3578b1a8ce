import { describe, it, expect, beforeAll, afterAll } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { get } from 'node:http';
import { freePort, startProcess, tempDir, waitForPort, type Peer } from '@stackware/testing';

const GIB = 1024 * 1024 * 1024;
const LIMIT_BYTES = 100 * 1024 * 1024;
const here = fileURLToPath(new URL('.', import.meta.url));

function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) * 1024;
}

/**
 * Downloads `url`, discarding the bytes and pausing 50 ms every 32 MiB (a client slower than the
 * producer, so that only backpressure keeps the server's memory flat), while sampling the server's
 * RSS every 50 ms. The baseline is the RSS just before the request (after a warm-up request).
 */
function download(url: string, pid: number): Promise<{ bytes: number; headers: Record<string, unknown>; growth: number }> {
  return new Promise((resolve, reject) => {
    let bytes = 0;
    const baseline = rssBytes(pid);
    let peak = baseline;
    let nextPause = 32 * 1024 * 1024;
    const sampler = setInterval(() => {
      peak = Math.max(peak, rssBytes(pid));
    }, 50);
    get(url, (res) => {
      res.on('data', (d: Buffer) => {
        bytes += d.length;
        if (bytes >= nextPause) {
          nextPause += 32 * 1024 * 1024;
          res.pause();
          setTimeout(() => res.resume(), 50);
        }
      });
      res.on('end', () => {
        clearInterval(sampler);
        peak = Math.max(peak, rssBytes(pid));
        resolve({ bytes, headers: res.headers, growth: peak - baseline });
      });
      res.on('error', reject);
    }).on('error', reject);
  });
}

describe('HTTP server: a 1 GiB response streams in flat memory', () => {
  let server: Peer;
  let port = 0;
  let cleanup: () => Promise<void>;

  beforeAll(async () => {
    const dir = await tempDir();
    cleanup = dir.cleanup;
    const file = join(dir.dir, 'sparse-1g.bin');
    const handle = await open(file, 'w');
    await handle.truncate(GIB); // sparse: no disk space used
    await handle.close();
    port = await freePort();
    server = startProcess(process.execPath, ['--conditions=source', '--import', 'tsx', join(here, 'fixtures', 'stream-server.ts'), String(port), file], { env: { ...process.env, NODE_OPTIONS: '' } });
    await waitForPort(port, 30_000);
    // warm up: the first request loads and compiles the response path
    await new Promise<void>((resolve, reject) => get(`http://127.0.0.1:${port}/small`, (res) => res.resume().on('end', resolve)).on('error', reject));
  });

  afterAll(async () => {
    await server?.stop();
    await cleanup?.();
  });

  it('streams 1 GiB from an async generator (chunked) with RSS growth under 100 MB', async () => {
    const result = await download(`http://127.0.0.1:${port}/generated`, server.process.pid!);
    expect(result.bytes).toBe(GIB);
    expect(result.headers['transfer-encoding']).toBe('chunked');
    expect(result.growth).toBeLessThan(LIMIT_BYTES);
  }, 120_000);

  it('sends a 1 GiB file_wrapper from disk with Content-Length and RSS growth under 100 MB', async () => {
    const result = await download(`http://127.0.0.1:${port}/file`, server.process.pid!);
    expect(result.bytes).toBe(GIB);
    expect(result.headers['content-length']).toBe(String(GIB));
    expect(result.growth).toBeLessThan(LIMIT_BYTES);
  }, 120_000);
});
