import { describe, it, expect } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { tempDir } from '@stackware/testing';

const child = fileURLToPath(new URL('./reload-child.ts', import.meta.url));

describe('module reload under the tsx loader (a real Node process, not Jest\'s module registry)', () => {
  it('re-imports a changed module, recovers a module that failed, reloads hooks; reload: false keeps the first', async () => {
    const { dir, cleanup } = await tempDir('stackware-urlparser-reload-');
    try {
      const run = spawnSync(process.execPath, ['--conditions=source', '--import', 'tsx', child, dir], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, NODE_OPTIONS: '' } });
      expect(run.stderr).toBe('');
      expect(JSON.parse(run.stdout.trim().split('\n').pop()!)).toEqual({
        first: 'one',
        fixedFirst: 'one',
        second: 'two',
        fixedSecond: 'one',
        flakyFirst: 500,
        flakySecond: 'recovered',
        hookFirst: 'hook v1',
        hookSecond: 'hook v2',
      });
    } finally {
      await cleanup();
    }
  });
});
