import { describe, it, expect, beforeAll, afterAll } from '@jest/globals';
import { mkdtemp, mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TestClient } from '@stackware/gateway';
import { staticFiles, urlParser } from '../src/index.js';

// Issue #22: the directory listing named entries that then answered 404. It now uses the same
// check as serving: every name it shows answers, and nothing it hides does.

let base: string;
let root: string;
beforeAll(async () => {
  base = await mkdtemp(join(tmpdir(), 'listing-'));
  root = join(base, 'root');
  await mkdir(join(root, 'sub'), { recursive: true });
  await writeFile(join(root, 'sub', 'inner.txt'), 'inner');
  await writeFile(join(root, 'readme.txt'), 'readme');
  await writeFile(join(root, 'style.css'), 'body {}');
  await writeFile(join(root, 'tool.cts'), 'export {}');
  await writeFile(join(root, '.env'), 'SECRET=1');
  await writeFile(join(root, 'notes.txt~'), 'backup');
  await writeFile(join(base, 'outside.txt'), 'outside the root');
  await mkdir(join(base, 'outside-dir'));
  await symlink(join(base, 'outside.txt'), join(root, 'leak.txt'));
  await symlink(join(base, 'outside-dir'), join(root, 'leak-dir'));
  await symlink(join(root, 'readme.txt'), join(root, 'alias.txt'));
  await symlink(join(root, 'sub'), join(root, 'sub-alias'));
  await symlink(join(root, 'missing.txt'), join(root, 'dangling.txt'));
});
afterAll(() => rm(base, { recursive: true, force: true }));

function listed(page: string): string[] {
  return [...page.matchAll(/<a href="([^"]+)">/g)].map((m) => decodeURIComponent(m[1]!)).filter((h) => h !== '../');
}

describe('the directory listing names only what is served', () => {
  for (const [name, make] of [
    ['staticFiles', () => staticFiles({ root, listing: true })],
    ['urlParser', () => urlParser({ root, listing: true, reload: false })],
  ] as const) {
    it(`${name}: no symlink out of the root, hidden name or refused extension; every listed entry answers`, async () => {
      const client = new TestClient(make());
      const res = await client.get('/');
      expect(res.statusCode).toBe(200);
      const names = listed(res.text());
      for (const hidden of ['leak.txt', 'leak-dir/', 'tool.cts', '.env', 'notes.txt~', 'dangling.txt']) expect(names).not.toContain(hidden);
      expect(names).toEqual(expect.arrayContaining(['sub/', 'sub-alias/', 'readme.txt', 'style.css', 'alias.txt']));
      for (const entry of names) {
        const answer = await client.get(`/${encodeURIComponent(entry.replace(/\/$/, ''))}${entry.endsWith('/') ? '/' : ''}`);
        expect([entry, answer.statusCode]).toEqual([entry, 200]);
      }
    });
  }
});
