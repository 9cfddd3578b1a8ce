/**
 * The dependency direction (ARCHITECTURE.md, scripts/architecture.cjs) is enforced: the real
 * repository passes `pnpm depcheck`'s two checks, and small throw-away workspaces with one
 * deliberate wrong-way import, type-only import, test import or dev-dependency cycle fail them.
 */
import { describe, it, expect, beforeAll, afterAll } from '@jest/globals';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { tempDir } from '@stackware/testing';

const run = promisify(execFile);
const repo = fileURLToPath(new URL('../../..', import.meta.url));
const depcruise = join(repo, 'node_modules', '.bin', 'depcruise');
const config = join(repo, '.dependency-cruiser.cjs');
const checkWorkspace = join(repo, 'scripts', 'check-workspace.mjs');

/** Runs a command; resolves to its exit code and output (never rejects on a non-zero exit). */
async function exec(file: string, args: string[], cwd: string): Promise<{ code: number; output: string }> {
  try {
    const { stdout, stderr } = await run(file, args, { cwd, timeout: 120_000 });
    return { code: 0, output: stdout + stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, output: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

/** Writes `files` (path → text) under `dir`. */
async function writeTree(dir: string, files: Record<string, string>): Promise<void> {
  for (const [path, text] of Object.entries(files)) {
    await mkdir(dirname(join(dir, path)), { recursive: true });
    await writeFile(join(dir, path), text);
  }
}

const cruise = (cwd: string) => exec(depcruise, ['packages', '--config', config, '--no-cache'], cwd);

describe('the dependency direction', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  beforeAll(async () => {
    ({ dir, cleanup } = await tempDir('stackware-architecture-'));
  });
  afterAll(async () => {
    await cleanup?.();
  });

  it('holds in this repository (imports and package.json files)', async () => {
    const imports = await exec(depcruise, ['packages', 'apps', 'bench', '--config', config], repo);
    expect(imports.output).toContain('no dependency violations found');
    expect(imports.code).toBe(0);
    const manifests = await exec(process.execPath, [checkWorkspace], repo);
    expect(manifests.output).toContain('no cycle');
    expect(manifests.code).toBe(0);
  });

  it('fails on a wrong-way import, a type-only one, a test of a package above and a cycle', async () => {
    const cwd = join(dir, 'imports');
    await writeTree(cwd, {
      'packages/gateway/src/index.ts': "export const gateway = 1;\n",
      // gateway sits at the bottom: importing the server is the wrong way.
      'packages/gateway/src/bad.ts': "import { server } from '../../server/src/index';\nexport const bad = server;\n",
      'packages/server/src/index.ts': "import { gateway } from '../../gateway/src/index';\nexport const server = gateway;\n",
      // A type-only import counts too.
      'packages/errors/src/index.ts': "import type { Page } from '../../servlet/src/index';\nexport type Report = Page;\n",
      // servlet ⇄ session: both wrong for session and a cycle.
      'packages/servlet/src/index.ts': "import { session } from '../../session/src/index';\nexport type Page = string;\nexport const servlet = session;\n",
      'packages/session/src/index.ts': "import { servlet } from '../../servlet/src/index';\nexport const session = () => servlet;\n",
      // urlparser's tests need servlet (rank above): that test belongs in packages/integration.
      'packages/urlparser/test/servlet.test.ts': "import { servlet } from '../../servlet/src/index';\nexport const t = servlet;\n",
    });
    const { code, output } = await cruise(cwd);
    expect(code).not.toBe(0);
    expect(output).toContain('gateway-src-direction');
    expect(output).toContain('errors-src-direction');
    expect(output).toContain('session-src-direction');
    expect(output).toContain('urlparser-test-direction');
    expect(output).toContain('no-circular-between-packages');
  });

  it("fails when shipped code imports a dev dependency or one its package.json does not declare", async () => {
    const cwd = join(dir, 'declared');
    await writeTree(cwd, {
      'packages/server/package.json': JSON.stringify({ name: '@stackware/server', dependencies: { 'pkg-dep': '1' }, devDependencies: { 'dev-only': '1' } }),
      'packages/server/src/index.ts': "import 'pkg-dep';\nimport 'dev-only';\nimport 'not-declared';\nexport const server = 1;\n",
      'packages/server/test/x.test.ts': "import 'dev-only';\n", // tests may use dev dependencies
      ...Object.fromEntries(['pkg-dep', 'dev-only', 'not-declared'].flatMap((name) => [
        [`node_modules/${name}/package.json`, JSON.stringify({ name, version: '1.0.0', main: 'index.js' })],
        [`node_modules/${name}/index.js`, 'module.exports = 1;\n'],
      ])),
    });
    const { code, output } = await cruise(cwd);
    expect(code).not.toBe(0);
    const lines = output.split('\n').filter((line) => line.includes('src-imports-declared-dependencies'));
    expect(lines.some((line) => line.includes('node_modules/dev-only'))).toBe(true);
    expect(lines.some((line) => line.includes('node_modules/not-declared'))).toBe(true);
    expect(lines.some((line) => line.includes('pkg-dep') || line.includes('test/x.test.ts'))).toBe(false);
  });

  it('fails on a devDependency cycle and a wrong-way dependency in package.json', async () => {
    const cwd = join(dir, 'manifests');
    const pkg = (name: string, deps: Record<string, string>, devDeps: Record<string, string> = {}) =>
      JSON.stringify({ name: `@stackware/${name}`, dependencies: deps, devDependencies: devDeps });
    await writeTree(cwd, {
      'packages/gateway/package.json': pkg('gateway', {}),
      'packages/config/package.json': pkg('config', { '@stackware/gateway': '*', '@stackware/middleware': '*' }),
      // middleware → server in src (wrong way), and middleware's tests → servlet → config → middleware (a cycle).
      'packages/middleware/package.json': pkg('middleware', { '@stackware/gateway': '*', '@stackware/server': '*' }, { '@stackware/servlet': '*' }),
      'packages/servlet/package.json': pkg('servlet', { '@stackware/gateway': '*' }, { '@stackware/config': '*' }),
      'packages/server/package.json': pkg('server', { '@stackware/gateway': '*' }),
    });
    const { code, output } = await exec(process.execPath, [checkWorkspace, cwd], cwd);
    expect(code).toBe(1);
    expect(output).toContain('packages/middleware/package.json: dependency @stackware/server is not allowed');
    expect(output).toContain("packages/servlet/package.json: devDependency @stackware/config is not allowed for servlet's tests");
    const cycle = output.split('\n').find((line) => line.includes('cyclic workspace dependencies'));
    // The cycle is reported once, from whichever of its members the walk reached first.
    expect(cycle).toMatch(/(@stackware\/(config|middleware|servlet) -> ){3}@stackware\/(config|middleware|servlet) /);
  });

  it('ARCHITECTURE.md lists the edges between the packages as they are (pnpm depgraph)', async () => {
    const { code, output } = await exec(depcruise, [
      'packages', '--config', config, '--include-only', '^packages/', '--exclude', '/test/', '--collapse', '^packages/[^/]+', '--output-type', 'text',
    ], repo);
    expect(code).toBe(0);
    const actual = [...new Set(output.split('\n').filter((line) => line.includes(' → ')))].sort();
    const doc = await readFile(join(repo, 'ARCHITECTURE.md'), 'utf8');
    const block = /<!-- depgraph:start -->\n```text\n([\s\S]*?)```\n<!-- depgraph:end -->/.exec(doc);
    expect(block).not.toBeNull();
    const documented = block![1].split('\n').filter(Boolean).sort();
    expect(documented).toEqual(actual);
  });

  it("ARCHITECTURE.md's request path and owner table name files that exist", async () => {
    const doc = await readFile(join(repo, 'ARCHITECTURE.md'), 'utf8');
    const section = doc.slice(doc.indexOf('## One owner for each shared concern'), doc.indexOf('## How we got here'));
    // `server/src/http-sink.ts`, `packages/gateway/src/run.ts`, `fastcgi/listener.ts` (under server/src)
    const named = [...new Set([...section.matchAll(/`((?:packages\/)?[a-z-]+\/(?:src\/)?[a-z/-]+\.ts)`/g)].map((m) => m[1]!))]
      .filter((path) => !/^(root\/)?shop\//.test(path)); // the example's own page, root/shop/item.ts
    expect(named.length).toBeGreaterThan(30);
    const missing = named.filter((path) => {
      const candidates = path.startsWith('packages/') ? [path] : [`packages/${path}`, `packages/server/src/${path}`, `packages/threadpool/src/${path}`];
      return !candidates.some((candidate) => existsSync(join(repo, candidate)));
    });
    expect(missing).toEqual([]);
  });
});
