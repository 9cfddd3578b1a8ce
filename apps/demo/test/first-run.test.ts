/**
 * What a new user sees on the first run, from the repository root: no npm warning on every `npx`
 * call, pnpm kept at the version that runs (managePackageManagerVersions in pnpm-workspace.yaml,
 * not .npmrc, which npm reads too), and a clean Ctrl-C of `pnpm demo` (exit 0, no ELIFECYCLE).
 */
import { describe, expect, it } from '@jest/globals';
import { spawn, spawnSync } from 'node:child_process';
import { copyFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, tempDir, waitForPort } from '@stackware/testing';

const REPO = fileURLToPath(new URL('../../..', import.meta.url));
const env = (): NodeJS.ProcessEnv => {
  const e: NodeJS.ProcessEnv = { ...process.env };
  delete e.NODE_OPTIONS;
  return e;
};

describe('first run from the repository', () => {
  it('`npx -y pnpm@10` prints no "Unknown project config" warning', () => {
    const r = spawnSync('npx', ['-y', 'pnpm@10', '--version'], { cwd: REPO, env: env(), encoding: 'utf8', timeout: 120_000 });
    expect(r.stderr).not.toMatch(/Unknown project config/);
    expect(r.stdout.trim()).toMatch(/^10\./);
  }, 130_000);

  it('pnpm does not switch versions for a packageManager field (the workspace file turns it off)', async () => {
    const dir = await tempDir('stackware-pm-');
    try {
      await copyFile(join(REPO, 'pnpm-workspace.yaml'), join(dir.dir, 'pnpm-workspace.yaml'));
      await writeFile(join(dir.dir, 'package.json'), JSON.stringify({ name: 'pm-check', private: true, packageManager: 'pnpm@9.15.0' }));
      const r = spawnSync('npx', ['-y', 'pnpm@10', '--version'], { cwd: dir.dir, env: env(), encoding: 'utf8', timeout: 120_000 });
      expect(r.stdout.trim()).toMatch(/^10\./);
      expect(r.status).toBe(0);
    } finally {
      await dir.cleanup();
    }
  }, 130_000);

  it('Ctrl-C on `pnpm demo` (SIGINT to its process group): graceful stop, exit 0, no ELIFECYCLE', async () => {
    const data = await tempDir('stackware-demo-sigint-');
    const port = await freePort();
    const child = spawn('pnpm', ['demo'], { cwd: REPO, env: { ...env(), PORT: String(port), HOST: '127.0.0.1', STACKWARE_DATA_DIR: data.dir }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let output = '';
    child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    const exited = new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.once('close', (code, signal) => resolve([code, signal])));
    try {
      await waitForPort(port, 90_000);
      process.kill(-child.pid!, 'SIGINT'); // what a terminal does on Ctrl-C: the whole foreground group
      const [code, signal] = await Promise.race([exited, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`pnpm demo did not exit:\n${output}`)), 30_000))]);
      expect(output).toMatch(/shutting down gracefully/);
      expect(output).not.toMatch(/ELIFECYCLE|Command failed|second signal/);
      expect({ code, signal }).toEqual({ code: 0, signal: null });
    } finally {
      try { process.kill(-child.pid!, 'SIGKILL'); } catch { /* already gone */ }
      await data.cleanup();
    }
  }, 150_000);
});
