/**
 * Every code block of every README is checked, so that a snippet never drifts from the code:
 * - ```toml blocks are parsed by the deploy-file loader (parseDeployment: TOML syntax, section
 *   names and shapes); a block that shows only a [server.*] or [filter.*] section is checked
 *   with a stand-in application added, since a deploy file needs one;
 * - ```ts blocks are whole modules and are type-checked with the repository's compiler options,
 *   each beside the README's package so its imports resolve as they would for a user;
 * - ```ts fragment blocks (a signature, an excerpt that uses names from the text around it) are
 *   parsed as TypeScript, not type-checked: the marker says so to the reader too; ```js blocks
 *   are parsed as JavaScript modules.
 * Blocks in other languages (sh, text, nginx, apache) are not checked here.
 */
import { describe, it, expect, beforeAll, afterAll } from '@jest/globals';
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parseSync } from '@swc/core';
import { parseDeployment } from '@stackware/config';
import { tempDir } from '@stackware/testing';

const run = promisify(execFile);
const repo = resolve(fileURLToPath(new URL('../../..', import.meta.url)));

interface Block { readme: string; line: number; lang: string; code: string }

/** The README files of the repository: the root's, each package's and each app's. */
function readmes(): string[] {
  const found = [join(repo, 'README.md')];
  for (const parent of ['packages', 'apps']) {
    for (const name of readdirSync(join(repo, parent)).sort()) {
      const file = join(repo, parent, name, 'README.md');
      if (existsSync(file)) found.push(file);
    }
  }
  return found;
}

/** The fenced code blocks of one Markdown file, with the line of their opening fence. */
function blocks(readme: string): Block[] {
  const lines = readFileSync(readme, 'utf8').split('\n');
  const out: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\S.*)?$/.exec(lines[i]!);
    if (!open) continue;
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && lines[i] !== '```'; i++) body.push(lines[i]!);
    out.push({ readme, line: start + 1, lang: (open[1] ?? '').trim(), code: body.join('\n') + '\n' });
  }
  return out;
}

const all = readmes().flatMap(blocks);
const where = (b: Block) => `${relative(repo, b.readme)}:${b.line}`;

describe('README code blocks', () => {
  it('are found (the check is not vacuous)', () => {
    expect(all.filter((b) => b.lang === 'toml').length).toBeGreaterThanOrEqual(7);
    expect(all.filter((b) => b.lang === 'ts').length).toBeGreaterThanOrEqual(10);
    // Only the languages this file knows how to check, or ones it deliberately leaves alone.
    const known = new Set(['ts', 'ts fragment', 'js', 'toml', 'sh', 'bash', 'text', 'nginx', 'apache', 'json', '']);
    expect(all.filter((b) => !known.has(b.lang)).map((b) => `${where(b)} ${b.lang}`)).toEqual([]);
  });

  describe('toml blocks parse as deploy files', () => {
    let dir: string;
    let cleanup: () => Promise<void>;
    beforeAll(async () => {
      ({ dir, cleanup } = await tempDir('stackware-readme-toml-'));
    });
    afterAll(async () => {
      await cleanup?.();
    });
    // ${VAR} without a default must be set; every variable gets a harmless value.
    const env = new Proxy({}, { get: () => 'readme-value' }) as Record<string, string>;
    for (const block of all.filter((b) => b.lang === 'toml')) {
      it(where(block), () => {
        const text = /^\[app\./m.test(block.code) ? block.code : `${block.code}\n[app.readme]\napplication = "./app.ts#app"\n`;
        expect(() => parseDeployment(text, join(dir, 'site.toml'), { env })).not.toThrow();
      });
    }
    it('and a PasteDeploy-style section header would fail (the check can fail)', () => {
      expect(() => parseDeployment('[filter:errors]\nuse = "@stackware/errors"\n', join(dir, 'site.toml'), { env })).toThrow(/TOML syntax error/);
    });
  });

  describe('ts fragment and js blocks parse', () => {
    for (const block of all.filter((b) => b.lang === 'ts fragment' || b.lang === 'js')) {
      it(where(block), () => {
        const syntax = block.lang === 'js' ? { syntax: 'ecmascript' as const } : { syntax: 'typescript' as const };
        expect(() => parseSync(block.code, { ...syntax, target: 'es2022' })).not.toThrow();
      });
    }
  });

  describe('ts blocks type-check', () => {
    const written: string[] = [];
    /** Where a README's blocks are written: beside its package, so its imports resolve as for a user. */
    const home = (readme: string) => {
      const dir = join(readme, '..');
      return existsSync(join(dir, 'package.json')) && dir !== repo ? dir : join(repo, 'packages', 'integration');
    };
    const files = new Map<string, Block>();

    beforeAll(async () => {
      let n = 0;
      for (const block of all.filter((b) => b.lang === 'ts')) {
        const dir = join(home(block.readme), '.readme-blocks');
        await mkdir(dir, { recursive: true });
        if (!written.includes(dir)) written.push(dir);
        const file = join(dir, `block-${++n}.ts`);
        await writeFile(file, `// ${where(block)}\n${block.code}`);
        files.set(file, block);
      }
    });
    afterAll(async () => {
      for (const dir of written) await rm(dir, { recursive: true, force: true });
    });

    it('with the repository compiler options (tsc --noEmit)', async () => {
      const { dir, cleanup } = await tempDir('stackware-readme-ts-');
      try {
        const tsconfig = join(dir, 'tsconfig.json');
        await writeFile(tsconfig, JSON.stringify({
          extends: join(repo, 'tsconfig.base.json'),
          compilerOptions: { noEmit: true, typeRoots: [join(repo, 'node_modules', '@types')] },
          files: [...files.keys()],
        }));
        let output = '';
        try {
          await run(join(repo, 'node_modules', '.bin', 'tsc'), ['-p', tsconfig], { cwd: repo, timeout: 240_000 });
        } catch (error) {
          const e = error as { stdout?: string; stderr?: string; message: string };
          output = `${e.stdout ?? ''}${e.stderr ?? ''}` || e.message;
        }
        // Name each error by its README and line, not by the scratch file.
        const named = output.split('\n').filter(Boolean).map((line) => {
          const match = /^(.*?block-\d+\.ts)\((\d+),\d+\): (.*)$/.exec(line);
          if (!match) return line;
          const block = files.get(resolve(repo, match[1]!));
          return block ? `${relative(repo, block.readme)}:${block.line + Number(match[2]) - 1}: ${match[3]}` : line;
        });
        expect(named).toEqual([]);
      } finally {
        await cleanup();
      }
    });
  });
});
