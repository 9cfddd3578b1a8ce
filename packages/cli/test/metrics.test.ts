/**
 * `stackware serve --metrics HOST:PORT` (issue 23): the metrics listener on the real command, with
 * real sockets on loopback. Counters equal the requests sent through two prefork workers and
 * through two threads; /healthz, /readyz; the status page lists an in-flight request and is
 * protected like the debug viewer; a non-loopback address is refused; with metrics off,
 * prom-client is never loaded (a loader probe, not timing).
 */
import { describe, it, expect, afterEach } from '@jest/globals';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { freePort, startProcess, tempDir, waitForPort, type Peer } from '@stackware/testing';
import { bin, fixture, get, root, runStackware } from './cli-helpers.js';
import { fetchText, parseExposition, total, waitFor } from './metrics-helpers.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

const APP = fixture('metrics-app.mjs');

interface Served { peer: Peer; app: string; metrics: string }

/** Starts `stackware serve <target> --metrics 127.0.0.1:<free> ...` and waits until /readyz answers 200. */
async function serveWithMetrics(args: string[], options: { env?: Record<string, string>; nodeArgs?: string[]; target?: string; cwd?: string } = {}): Promise<Served> {
  const port = await freePort();
  const metricsPort = await freePort();
  const peer = startProcess(process.execPath, [...(options.nodeArgs ?? []), bin, 'serve', options.target ?? APP, '--port', String(port), '--metrics', `127.0.0.1:${metricsPort}`, '--no-access-log', '--log-level', 'warn', ...args], {
    cwd: options.cwd ?? root, env: { ...process.env, NODE_OPTIONS: '', STACKWARE_DEBUG_PIN: 'off', ...options.env },
  });
  cleanups.push(() => peer.stop());
  const served = { peer, app: `http://127.0.0.1:${port}`, metrics: `http://127.0.0.1:${metricsPort}` };
  try {
    await waitForPort(metricsPort, 30_000);
    await waitFor(async () => ((await fetchText(`${served.metrics}/readyz`)).status === 200 ? true : undefined), 30_000, '/readyz 200');
  } catch (error) {
    throw new Error(`${(error as Error).message}\n--- output ---\n${peer.output().slice(-3000)}`, { cause: error });
  }
  return served;
}

async function scrape(served: Served) {
  const res = await fetchText(`${served.metrics}/metrics`);
  expect(res.status).toBe(200);
  expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
  return parseExposition(res.body);
}

async function statusJson(served: Served, headers: Record<string, string> = {}) {
  const res = await fetchText(`${served.metrics}/status?format=json`, { headers });
  expect(res.status).toBe(200);
  return JSON.parse(res.body) as { ready: boolean; notReady: string[]; processes: Array<{ pid: number; role: string; group: string; served: number; restarts: Record<string, number>; inFlight: Array<{ method: string; path: string; ageMs: number; thread?: string }>; pools: Array<{ name: string; threads: number; queueLength: number }> }> };
}

describe('stackware serve --metrics', () => {
  it('adds up the requests of two prefork workers: stackware_requests_total equals the requests sent', async () => {
    const served = await serveWithMetrics(['--workers', '2']);
    const sent = 24;
    for (let i = 0; i < sent - 4; i++) expect(await get(`${served.app}/`)).toMatchObject({ status: 200 });
    for (let i = 0; i < 4; i++) expect(await get(`${served.app}/fail`)).toMatchObject({ status: 500 });
    const samples = await scrape(served);
    expect(total(samples, 'stackware_requests_total')).toBe(sent);
    expect(total(samples, 'stackware_requests_total', { status_class: '2xx', group: 'main' })).toBe(sent - 4);
    expect(total(samples, 'stackware_requests_total', { status_class: '5xx' })).toBe(4);
    expect(total(samples, 'stackware_request_duration_seconds_count', { group: 'main' })).toBe(sent);
    expect(total(samples, 'stackware_requests_in_flight')).toBe(0);
    expect(samples.some((s) => s.name === 'stackware_boot_failures_total')).toBe(true);
    // The scrape itself is not counted (its own listener), and a second scrape sees the same.
    expect(total(await scrape(served), 'stackware_requests_total')).toBe(sent);
    // The status page lists the primary and both workers, whose served counts add up.
    const status = await statusJson(served);
    expect(status.processes.map((p) => p.role).sort()).toEqual(['primary', 'worker', 'worker']);
    expect(status.processes.reduce((n, p) => n + p.served, 0)).toBe(sent);
    expect((await fetchText(`${served.metrics}/healthz`)).body).toBe('ok\n');
  }, 90_000);

  it('counts the requests served by two threads once, and shows the pool', async () => {
    const served = await serveWithMetrics(['--threads', '2']);
    const sent = 12;
    await Promise.all(Array.from({ length: sent }, async () => expect(await get(`${served.app}/`)).toMatchObject({ status: 200 })));
    const samples = await scrape(served);
    expect(total(samples, 'stackware_requests_total')).toBe(sent);
    expect(samples.some((s) => s.name === 'stackware_pool_queue_length')).toBe(true);
    const status = await statusJson(served);
    expect(status.processes).toHaveLength(1);
    expect(status.processes[0]!.pools).toEqual([expect.objectContaining({ threads: 2, queueLength: 0 })]);
  }, 90_000);

  it('with --threads, /status names the pool thread serving the in-flight request', async () => {
    const served = await serveWithMetrics(['--threads', '1']);
    // The one thread runs one request at a time: /slow ends by itself (ms=4000), no /release.
    const slow = get(`${served.app}/slow?ms=4000`, 30_000);
    const request = await waitFor(async () => (await statusJson(served)).processes[0]!.inFlight.find((r) => r.path === '/slow?ms=4000' && 'thread' in r), 15_000, '/slow with its thread in /status');
    expect(request).toEqual({ method: 'GET', path: '/slow?ms=4000', ageMs: expect.any(Number), thread: expect.stringMatching(/^\S+ #\d+$/) });
    expect((await fetchText(`${served.metrics}/status`)).body).toContain(`<td>${request.thread}</td><td>GET</td><td>/slow?ms=4000</td>`);
    expect(await slow).toEqual({ status: 200, body: 'slow done\n' });
  }, 60_000);

  it('lists the in-flight request of a slow route in /status (JSON and HTML)', async () => {
    const served = await serveWithMetrics([]);
    const slow = get(`${served.app}/slow?x=1`, 30_000);
    const request = await waitFor(async () => (await statusJson(served)).processes[0]!.inFlight.find((r) => r.path === '/slow?x=1'), 15_000, '/slow in /status');
    expect(request).toEqual({ method: 'GET', path: '/slow?x=1', ageMs: expect.any(Number) });
    expect(request.ageMs).toBeGreaterThanOrEqual(0);
    expect(total(await scrape(served), 'stackware_requests_in_flight')).toBe(1);
    const html = await fetchText(`${served.metrics}/status`);
    expect(html.status).toBe(200);
    expect(html.headers['content-type']).toMatch(/^text\/html/);
    expect(html.body).toContain('<td>/slow?x=1</td>');
    // Accept: application/json picks JSON too.
    expect(JSON.parse((await fetchText(`${served.metrics}/status`, { headers: { Accept: 'application/json' } })).body).processes[0].inFlight).toHaveLength(1);
    expect(await get(`${served.app}/release`)).toMatchObject({ status: 200 });
    expect(await slow).toEqual({ status: 200, body: 'slow done\n' });
    expect((await statusJson(served)).processes[0]!.inFlight).toEqual([]);
  }, 60_000);

  it('protects /status like the debug viewer: loopback Host only, and the debugger PIN', async () => {
    const served = await serveWithMetrics([], { env: { STACKWARE_DEBUG_PIN: '246-810-121' } });
    expect((await fetchText(`${served.metrics}/status`)).status).toBe(401);
    // DNS rebinding: a loopback connection naming another host is refused.
    expect((await fetchText(`${served.metrics}/status`, { headers: { Host: 'evil.example' } })).status).toBe(403);
    const wrong = await fetchText(`${served.metrics}/status/pin`, { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: 'pin=111111111&next=/status' });
    expect(wrong.status).toBe(403);
    const right = await fetchText(`${served.metrics}/status/pin`, { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: 'pin=246810121&next=/status' });
    expect(right.status).toBe(303);
    const cookie = String(right.headers['set-cookie']).split(';')[0]!;
    const status = await fetchText(`${served.metrics}/status?format=json`, { headers: { Cookie: cookie } });
    expect(status.status).toBe(200);
    expect(JSON.parse(status.body).ready).toBe(true);
    // /metrics, /healthz, /readyz need no PIN; other paths are 404.
    expect((await fetchText(`${served.metrics}/metrics`)).status).toBe(200);
    expect((await fetchText(`${served.metrics}/nope`)).status).toBe(404);
  }, 60_000);

  it('refuses a non-loopback address without --metrics-public, and a malformed one (exit code 2)', async () => {
    const open = await runStackware(['serve', APP, '--port', '0', '--metrics', '0.0.0.0:9100']);
    expect(open.code).toBe(2);
    expect(open.stderr).toContain('--metrics-public');
    const bad = await runStackware(['serve', APP, '--port', '0', '--metrics', 'localhost']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--metrics must be HOST:PORT');
  }, 60_000);

  it('counts max-requests restarts by cause, and keeps the recycled workers\' requests in the total', async () => {
    const served = await serveWithMetrics(['--workers', '1', '--max-requests', '3', '--max-requests-jitter', '0']);
    const sent = 10;
    for (let i = 0; i < sent; i++) expect(await get(`${served.app}/`)).toMatchObject({ status: 200 });
    // A budget of 3: the worker was recycled (gracefully: the old one serves until its replacement
    // listens, then hands its final counts to the primary and exits).
    const restarts = await waitFor(async () => total(await scrape(served), 'stackware_restarts_total', { cause: 'max-requests', group: 'main' }) || undefined, 30_000, 'a max-requests restart');
    expect(restarts).toBeGreaterThanOrEqual(1);
    await waitFor(async () => ((await statusJson(served)).processes.filter((p) => p.role === 'worker').length === 1 ? true : undefined), 30_000, 'one worker left');
    const status = await statusJson(served);
    // The worker serving now did not serve them all: the recycled ones' requests come from their final reports.
    expect(status.processes.find((p) => p.role === 'worker')!.served).toBeLessThan(sent);
    // The status page shows the primary's replacements by cause.
    const samples = await scrape(served);
    expect(status.processes.find((p) => p.role === 'primary')!.restarts['max-requests']).toBe(total(samples, 'stackware_restarts_total', { cause: 'max-requests' }));
    expect(total(samples, 'stackware_requests_total')).toBe(sent);
  }, 90_000);

  it('serves [metrics] listen from a deploy file with workers', async () => {
    const { dir, cleanup } = await tempDir('stackware-metrics-');
    cleanups.push(cleanup);
    const port = await freePort();
    const metricsPort = await freePort();
    await writeFile(join(dir, 'site.toml'), `main = "hello"\n\n[app.hello]\nuse = "${APP}#factory"\n\n[server.web]\nhost = "127.0.0.1"\nport = ${port}\nworkers = 2\n\n[metrics]\nlisten = "127.0.0.1:${metricsPort}"\n`);
    const peer = startProcess(process.execPath, [bin, 'serve', 'site.toml', '--log-level', 'warn'], { cwd: dir, env: { ...process.env, NODE_OPTIONS: '', STACKWARE_DEBUG_PIN: 'off' } });
    cleanups.push(() => peer.stop());
    const metrics = `http://127.0.0.1:${metricsPort}`;
    await waitForPort(metricsPort, 30_000);
    await waitFor(async () => ((await fetchText(`${metrics}/readyz`)).status === 200 ? true : undefined), 30_000, '/readyz 200');
    for (let i = 0; i < 6; i++) expect(await get(`http://127.0.0.1:${port}/`)).toMatchObject({ status: 200 });
    expect(total(parseExposition((await fetchText(`${metrics}/metrics`)).body), 'stackware_requests_total')).toBe(6);
  }, 90_000);
});

describe('metrics off costs nothing', () => {
  /** Serves with a loader probe that records every module the processes resolve; returns them after `requests`. */
  async function modulesLoaded(extra: string[]): Promise<string> {
    const { dir, cleanup } = await tempDir('stackware-probe-');
    cleanups.push(cleanup);
    const file = join(dir, 'modules.txt');
    await writeFile(file, '');
    const port = await freePort();
    const peer = startProcess(process.execPath, ['--import', fixture('module-probe.mjs'), bin, 'serve', APP, '--port', String(port), '--workers', '1', '--log-level', 'warn', ...extra], {
      cwd: root, env: { ...process.env, NODE_OPTIONS: '', MODULE_PROBE_FILE: file, STACKWARE_DEBUG_PIN: 'off' },
    });
    cleanups.push(() => peer.stop());
    await waitForPort(port, 30_000);
    for (let i = 0; i < 3; i++) expect(await get(`http://127.0.0.1:${port}/`)).toMatchObject({ status: 200 });
    return readFile(file, 'utf8');
  }

  it('never loads prom-client (nor the metrics entry point) without --metrics; the probe sees it with --metrics', async () => {
    const off = await modulesLoaded([]);
    expect(off).toContain('/packages/server/'); // the probe works: it saw the server
    expect(off).not.toMatch(/prom-client/);
    expect(off).not.toMatch(/server\/dist\/metrics\/index\.js/);
    const on = await modulesLoaded(['--metrics', `127.0.0.1:${await freePort()}`]);
    expect(on).toMatch(/prom-client/);
  }, 90_000);
});
