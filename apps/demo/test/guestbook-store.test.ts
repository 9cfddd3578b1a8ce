import { describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { tempDir } from '@stackware/testing';
import { addEntry, readEntries } from '../lib/guestbook-store.js';

const REPO = fileURLToPath(new URL('../../..', import.meta.url));
const SIGN_MANY = fileURLToPath(new URL('./fixtures/sign-many.ts', import.meta.url));

function signInChild(dir: string, prefix: string, count: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', SIGN_MANY, dir, prefix, String(count)], { cwd: REPO, env: { ...process.env, NODE_OPTIONS: '' }, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else reject(new Error(`sign-many exited with ${String(code)}: ${err}`));
    });
  });
}

describe('the guestbook store', () => {
  it('reads no entries before the first one', async () => {
    const { dir, cleanup } = await tempDir('stackware-guestbook-');
    try {
      await expect(readEntries(dir)).resolves.toEqual([]);
    } finally {
      await cleanup();
    }
  });

  it('keeps every entry when this process and two others write at the same time', async () => {
    const { dir, cleanup } = await tempDir('stackware-guestbook-');
    try {
      await Promise.all([
        signInChild(dir, 'a', 15),
        signInChild(dir, 'b', 15),
        ...Array.from({ length: 15 }, (_, i) => addEntry(dir, { name: `c-${i}`, message: 'hi', at: new Date().toISOString() })),
      ]);
      const names = (await readEntries(dir)).map((e) => e.name).sort();
      const expected = ['a', 'b', 'c'].flatMap((p) => Array.from({ length: 15 }, (_, i) => `${p}-${i}`)).sort();
      expect(names).toEqual(expected);
      // No lock directory or temporary file is left behind.
      await expect(readdir(dir)).resolves.toEqual(['guestbook.json']);
    } finally {
      await cleanup();
    }
  }, 90_000);
});
