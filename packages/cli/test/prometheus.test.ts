/**
 * Issue 23, "done when": a real Prometheus (Debian's package) scrapes `stackware serve --workers 2
 * --metrics` every second, and its query API returns a request count equal to the requests sent.
 */
import { describe, it, expect, afterEach } from '@jest/globals';
import { freePort, startProcess, startPrometheus, waitForPort } from '@stackware/testing';
import { bin, fixture, get, root } from './cli-helpers.js';
import { fetchText, waitFor } from './metrics-helpers.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

describe('a real Prometheus scraping --metrics', () => {
  it('sum(stackware_requests_total) equals the requests sent through two workers', async () => {
    const port = await freePort();
    const metricsPort = await freePort();
    const server = startProcess(process.execPath, [bin, 'serve', fixture('metrics-app.mjs'), '--port', String(port), '--workers', '2', '--metrics', `127.0.0.1:${metricsPort}`, '--no-access-log', '--log-level', 'warn'], {
      cwd: root, env: { ...process.env, NODE_OPTIONS: '', STACKWARE_DEBUG_PIN: 'off' },
    });
    cleanups.push(() => server.stop());
    await waitForPort(metricsPort, 30_000);
    await waitFor(async () => ((await fetchText(`http://127.0.0.1:${metricsPort}/readyz`)).status === 200 ? true : undefined), 30_000, '/readyz 200');

    const prometheus = await startPrometheus([`127.0.0.1:${metricsPort}`], 1);
    cleanups.push(() => prometheus.stop());

    const sent = 30;
    for (let i = 0; i < sent; i++) {
      expect(await get(`http://127.0.0.1:${port}/`)).toMatchObject({ status: 200 });
    }
    // Wait (bounded) for a scrape taken after the last request: the query then returns exactly `sent`.
    const seen = await waitFor(async () => {
      const values = await prometheus.query('sum(stackware_requests_total)').catch(() => []);
      return values[0] === sent ? values[0] : undefined;
    }, 30_000, `Prometheus to report ${sent} requests`).catch((error: Error) => {
      throw new Error(`${error.message}\n--- prometheus ---\n${prometheus.output().slice(-2000)}`, { cause: error });
    });
    expect(seen).toBe(sent);
    expect(await prometheus.query('up{job="stackware"}')).toEqual([1]);
    expect(await prometheus.query('sum(stackware_request_duration_seconds_count)')).toEqual([sent]);
  }, 120_000);
});
