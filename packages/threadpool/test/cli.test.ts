/**
 * `stackware serve module --threads N --timeout S`: the pool under the real command (the main
 * thread runs the CLI with its own loaders; each worker thread registers them again).
 */
import { describe, it, expect, afterAll } from '@jest/globals';
import { fileURLToPath } from 'node:url';
import { freePort, startProcess, waitForPort, type Peer } from '@stackware/testing';
import { load, tally } from './helpers.js';

const bin = fileURLToPath(new URL('../../cli/bin/stackware.js', import.meta.url));
const app = fileURLToPath(new URL('./fixtures/app.ts', import.meta.url));

describe('stackware serve --threads', () => {
  let peer: Peer | undefined;
  afterAll(async () => { await peer?.stop(); });

  it('serves a plain Application export from worker threads; --timeout (seconds) answers 504 and the others are served', async () => {
    const port = await freePort();
    peer = startProcess(process.execPath, [bin, 'serve', app, '--threads', '2', '--timeout', '2', '--port', String(port), '--no-access-log'], { env: { ...process.env, NODE_OPTIONS: '' } });
    await waitForPort(port, 30_000);
    const url = `http://127.0.0.1:${port}`;
    const first = await fetch(`${url}/env`).then((r) => r.json() as Promise<Record<string, unknown>>);
    expect(first['stackware.multithread']).toBe(true);
    const [stuck, others] = await Promise.all([
      fetch(`${url}/loop`).then((r) => r.status),
      load(`${url}/sleep?ms=5`, 30, 3),
    ]);
    expect(stuck).toBe(504);
    expect(tally(others)).toEqual({ 200: 30 });
    // The log line travels through the child's stderr pipe, which may deliver it after the 504.
    for (let i = 0; i < 50 && !peer.output().includes('its thread was replaced'); i++) await new Promise((resolve) => setTimeout(resolve, 100));
    expect(peer.output()).toContain('its thread was replaced');
  });
});
