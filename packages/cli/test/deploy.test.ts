/**
 * The root README's "Deploy to production" stays true: the shipped systemd unit passes
 * `systemd-analyze verify` (Debian package systemd), and `stackware serve site.toml --workers 2`
 * answers behind nginx configured with the README's own nginx block.
 */
import { describe, it, expect, afterEach } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { freePort, requireBinary, startNginx, startProcess, tempDir, waitForPort, type Peer } from '@stackware/testing';
import { bin, exited, get, root } from './cli-helpers.js';

const UNIT = join(root, 'deploy', 'stackware.service');
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

/** `systemd-analyze verify FILE`: its exit code and what it printed (warnings go to stderr with exit code 0). */
function verify(file: string): { status: number | null; output: string } {
  const result = spawnSync(requireBinary('systemd-analyze', 'systemd'), ['verify', file], { encoding: 'utf8', timeout: 60_000 });
  return { status: result.status, output: `${result.stdout}${result.stderr}`.trim() };
}

describe('deploy/stackware.service', () => {
  it('passes systemd-analyze verify without a warning', () => {
    expect(verify(UNIT)).toEqual({ status: 0, output: '' });
  });

  it('runs `stackware serve site.toml --workers N` from the installed @stackware/cli', () => {
    const unit = readFileSync(UNIT, 'utf8');
    expect(unit).toMatch(/^ExecStart=\/usr\/bin\/node \/srv\/site\/node_modules\/@stackware\/cli\/bin\/stackware\.js serve site\.toml --workers \d+/m);
    expect(unit).toMatch(/^KillSignal=SIGTERM$/m);
  });

  it('the check can fail: a missing executable or a bad value is reported', async () => {
    const { dir, cleanup } = await tempDir('stackware-unit-');
    cleanups.push(cleanup);
    const unit = readFileSync(UNIT, 'utf8');
    await writeFile(join(dir, 'missing.service'), unit.replace('ExecStart=/usr/bin/node ', 'ExecStart=/usr/bin/no-such-node '));
    await writeFile(join(dir, 'typo.service'), unit.replace('Type=simple', 'Type=simpel'));
    expect(verify(join(dir, 'missing.service')).status).not.toBe(0);
    expect(verify(join(dir, 'typo.service')).output).toContain('simpel');
  });
});

describe('stackware serve site.toml --workers 2 behind the README\'s nginx block', () => {
  it('answers through nginx from a prefork worker, and stops on SIGTERM with exit code 0', async () => {
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    const deploy = readme.slice(readme.indexOf('## Deploy to production'));
    const block = /```nginx\n([^`]*)```/.exec(deploy)?.[1];
    expect(block).toContain('listen 80;');
    expect(block).toContain('server 127.0.0.1:8080;');

    const { dir, cleanup } = await tempDir('stackware-deploy-');
    cleanups.push(cleanup);
    const port = await freePort();
    await writeFile(join(dir, 'app.mjs'), `export const hello = () => (environ, startResponse) => {
  startResponse('200 OK', [['Content-Type', 'text/plain']]);
  return [Buffer.from(\`multiprocess=\${environ['stackware.multiprocess']} forwarded-for=\${environ.HTTP_X_FORWARDED_FOR}\\n\`)];
};
`);
    await writeFile(join(dir, 'site.toml'), `main = "hello"\n\n[app.hello]\nuse = "./app.mjs#hello"\n\n[server.web]\nhost = "127.0.0.1"\nport = ${port}\n`);
    const server: Peer = startProcess(process.execPath, [bin, 'serve', 'site.toml', '--workers', '2', '--log-level', 'warn'], { cwd: dir, env: { ...process.env, NODE_OPTIONS: '' } });
    cleanups.push(() => server.stop());
    await waitForPort(port, 30_000);

    // The README's block, listening on a free loopback port and proxying to this server.
    const nginx = await startNginx(block!.replace('listen 80;', 'listen 127.0.0.1:{{PORT}};').replace('127.0.0.1:8080', `127.0.0.1:${port}`));
    cleanups.push(() => nginx.stop());
    for (let i = 0; i < 4; i++) {
      expect(await get(`${nginx.url}/any/path`)).toEqual({ status: 200, body: 'multiprocess=true forwarded-for=127.0.0.1\n' });
    }

    server.process.kill('SIGTERM');
    expect(await exited(server, 30_000)).toBe(0);
  }, 90_000);
});
