/**
 * `stackware serve` writes its access log asynchronously (lines gathered in memory, written in one
 * system call): on SIGTERM, under load, no line is lost — every request the clients got an answer
 * to has its access line in the log (standard output redirected to a file, as under systemd or a
 * process manager), written before the process exits.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Agent, request } from 'node:http';
import { tempDir } from '@stackware/testing';
import { bin, fixture, root, until } from './cli-helpers.js';

let dir: { dir: string; cleanup(): Promise<void> };
beforeAll(async () => {
  dir = await tempDir('stackware-cli-access-flush-');
});
afterAll(async () => dir.cleanup());

/** One GET on a keep-alive agent: the status, or 0 when the request failed (server gone). */
function get(url: string, agent: Agent): Promise<number> {
  return new Promise((resolve) => {
    request(url, { agent }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', () => resolve(0));
    }).on('error', () => resolve(0)).end();
  });
}

const records = (file: string) => readFileSync(file, 'utf8').split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);

describe('access log on SIGTERM', () => {
  it('every answered request has its access line in the log after the process exits', async () => {
    const log = join(dir.dir, 'stdout.log');
    const fd = openSync(log, 'a');
    const child = spawn(process.execPath, [bin, 'serve', fixture('hello.mjs'), '--host', '127.0.0.1', '--port', '0'], {
      cwd: root, env: { ...process.env, NODE_OPTIONS: '' }, stdio: ['ignore', fd, 'pipe'],
    });
    closeSync(fd);
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      let url = '';
      await until(() => {
        url = (records(log).find((r) => typeof r.url === 'string')?.url as string | undefined) ?? '';
        return url !== '';
      }, 60_000, 'the start-up record', () => readFileSync(log, 'utf8') + stderr);
      // 4 clients on keep-alive connections, each requesting until the server is gone; SIGTERM
      // once 150 answers are in (requests are in flight when it lands).
      const agent = new Agent({ keepAlive: true, maxSockets: 4 });
      let ok = 0;
      let failed = false;
      const client = async () => {
        for (let i = 0; i < 2000 && !failed; i++) {
          const status = await get(`${url}/`, agent);
          if (status === 200) ok++;
          else failed = true;
          if (ok === 150) child.kill('SIGTERM');
        }
      };
      await Promise.all([client(), client(), client(), client()]);
      agent.destroy();
      expect(await exited).toBe(0);
      const access = records(log).filter((r) => r.msg === 'request');
      expect(ok).toBeGreaterThanOrEqual(150);
      // Every answer the clients got was logged; at most one more per connection (answered as the
      // connection closed under the client).
      expect(access.length).toBeGreaterThanOrEqual(ok);
      expect(access.length).toBeLessThanOrEqual(ok + 4);
      expect(records(log).some((r) => r.msg === 'shutting down gracefully')).toBe(true);
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    }
  });
});
