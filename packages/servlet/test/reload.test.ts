import { describe, it, expect } from '@jest/globals';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { tempDir } from '@stackware/testing';

const child = fileURLToPath(new URL('./fixtures/reload-child.ts', import.meta.url));

describe('servlet class reload (a real Node process under tsx, as `stackware serve` runs sites)', () => {
  it('serves the new class after its file changes, with a fresh instance pool', async () => {
    const { dir, cleanup } = await tempDir('stackware-servlet-reload-');
    try {
      const run = await promisify(execFile)(process.execPath, ['--conditions=source', '--import', 'tsx', child, dir], {
        encoding: 'utf8', timeout: 90_000, env: { ...process.env, NODE_OPTIONS: '' },
      });
      expect(run.stderr).toBe('');
      expect(JSON.parse(run.stdout.trim().split('\n').pop()!)).toEqual({
        first: 'v1 instance 1',
        second: 'v1 instance 1', // the instance is reused
        afterReload: 'v2 instance 1', // a new class, a new pool
        again: 'v2 instance 1',
      });
    } finally {
      await cleanup();
    }
  }, 120_000);
});
