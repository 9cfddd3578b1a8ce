/** The root README's commands work as written, from the repository. */
import { describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { root } from './cli-helpers.js';

const shellBlocks = (markdown: string) => [...markdown.matchAll(/```sh\n([^`]*)```/g)].map((m) => m[1]!);

describe('the root README runs the command as it is found in the repository', () => {
  it('says `pnpm exec stackware` (in the checkout) or `npx stackware` (an installed project), never a bare `stackware` (not on PATH)', async () => {
    const readme = await readFile(join(root, 'README.md'), 'utf8');
    const lines = shellBlocks(readme).flatMap((block) => block.split('\n')).filter((line) => /\bstackware (serve|check|cgi)\b/.test(line));
    expect(lines.length).toBeGreaterThan(3);
    for (const line of lines) expect(line.trim()).toMatch(/^(pnpm exec|npx) stackware /);
  });

  it('`pnpm exec stackware` runs the command from the repository root', () => {
    const env: NodeJS.ProcessEnv = { ...process.env, NODE_OPTIONS: '' };
    const r = spawnSync('npx', ['-y', 'pnpm@10', 'exec', 'stackware', 'check', '--help'], { cwd: root, env, encoding: 'utf8', timeout: 120_000 });
    expect(r.stderr).not.toMatch(/not found|ERR_PNPM/);
    expect(r.stdout).toContain('stackware check <site.toml>');
    expect(r.status).toBe(0);
  }, 130_000);
});
