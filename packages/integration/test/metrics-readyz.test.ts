/**
 * The metrics listener's /readyz with a real Redis session store (issue 23): 200 while Redis
 * answers PING, 503 naming the store while it is down, 200 again once it is back; the store's
 * failed operations are counted in stackware_session_store_errors_total.
 */
import { describe, it, expect, afterEach } from '@jest/globals';
import { request } from 'node:http';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { freePort, requireBinary, startProcess, waitForPort, type Peer } from '@stackware/testing';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..', '..');
const bin = join(root, 'packages', 'cli', 'bin', 'stackware.js');

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

function fetchText(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve) => {
    const req = request(url, { agent: false, headers: { Connection: 'close' }, timeout: 15_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    });
    req.on('timeout', () => req.destroy(new Error('client timeout')));
    req.on('error', (error: NodeJS.ErrnoException) => resolve({ status: 0, body: error.code ?? error.message }));
    req.end();
  });
}

async function waitForStatus(url: string, status: number, timeoutMs: number): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let last = { status: 0, body: '' };
  while (Date.now() < deadline) {
    last = await fetchText(url);
    if (last.status === status) return last.body;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${url} did not answer ${status} within ${timeoutMs} ms; last: ${last.status} ${last.body}`);
}

/** redis-server on `port` (the same port again after a stop, so the store reconnects). */
async function redisOn(port: number): Promise<Peer> {
  const peer = startProcess(requireBinary('redis-server'), ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no']);
  await waitForPort(port);
  return peer;
}

describe('/readyz with a Redis session store', () => {
  it('is 503 while Redis is down and 200 when it is back; store errors are counted', async () => {
    const redisPort = await freePort();
    let redis = await redisOn(redisPort);
    cleanups.push(() => redis.stop());
    const port = await freePort();
    const metricsPort = await freePort();
    const server = startProcess(process.execPath, [bin, 'serve', join(here, 'fixtures', 'redis-store-app.mjs'), '--port', String(port), '--metrics', `127.0.0.1:${metricsPort}`, '--no-access-log', '--log-level', 'warn'], {
      cwd: root, env: { ...process.env, NODE_OPTIONS: '', REDIS_URL: `redis://127.0.0.1:${redisPort}`, STACKWARE_DEBUG_PIN: 'off' },
    });
    cleanups.push(() => server.stop());
    const readyz = `http://127.0.0.1:${metricsPort}/readyz`;
    await waitForPort(metricsPort, 30_000);
    expect(await waitForStatus(readyz, 200, 30_000)).toBe('ready\n');
    expect(await fetchText(`http://127.0.0.1:${port}/read`)).toEqual({ status: 200, body: 'read nothing\n' });

    await redis.stop();
    const reason = await waitForStatus(readyz, 503, 15_000);
    expect(reason).toMatch(/^not ready:\nthe Redis session store does not answer/);
    expect((await fetchText(`http://127.0.0.1:${port}/read`)).status).toBe(500);
    const metrics = (await fetchText(`http://127.0.0.1:${metricsPort}/metrics`)).body;
    expect(metrics).toMatch(/^stackware_session_store_errors_total [1-9]\d*$/m);
    // /healthz: the process is alive all the same.
    expect(await fetchText(`http://127.0.0.1:${metricsPort}/healthz`)).toEqual({ status: 200, body: 'ok\n' });

    redis = await redisOn(redisPort);
    expect(await waitForStatus(readyz, 200, 30_000)).toBe('ready\n');
  }, 90_000);
});
