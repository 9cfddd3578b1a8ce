import { describe, expect, it } from '@jest/globals';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { tempDir } from '@stackware/testing';
import { persistentSecret } from '../lib/session.js';

describe('the generated session secret', () => {
  it('is created once (0600, 43 characters) and read back unchanged', async () => {
    const { dir, cleanup } = await tempDir('stackware-secret-');
    try {
      const file = join(dir, 'session-secret');
      const first = persistentSecret(file);
      expect(first).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(persistentSecret(file)).toBe(first);
      expect((await readFile(file, 'utf8')).trim()).toBe(first);
      expect((await stat(file)).mode & 0o777).toBe(0o600);
    } finally {
      await cleanup();
    }
  });
});
