import { describe, expect, it } from '@jest/globals';
import { readFile } from 'node:fs/promises';

const read = (path: string) => readFile(new URL(path, import.meta.url), 'utf8');

describe('the demo documentation stays true', () => {
  it('documents every environment variable site.toml reads, in apps/demo/README.md', async () => {
    const toml = await read('../site.toml');
    const readme = await read('../README.md');
    const variables = [...new Set([...toml.matchAll(/\$\{([A-Z_][A-Z0-9_]*)(?::-[^}]*)?\}/g)].map((m) => m[1]!))].filter((v) => v !== 'VAR');
    expect(variables.length).toBeGreaterThan(5);
    for (const name of variables) expect(readme).toContain(`| \`${name}\` |`);
  });

  it('gives, as the root README\'s first command, the command the end-to-end test runs', async () => {
    const readme = await read('../../../README.md');
    const firstBlock = /```sh\n([^`]*)```/.exec(readme)?.[1]?.trim();
    expect(firstBlock).toBe('npx -y pnpm@10 install && npx -y pnpm@10 demo');
    const pkg = JSON.parse(await read('../../../package.json')) as { scripts: Record<string, string> };
    expect(pkg.scripts.demo).toBe('stackware serve apps/demo/site.toml');
  });
});
