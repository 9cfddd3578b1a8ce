/**
 * Every public package as a user gets it: `pnpm pack` of each (workspace:* becomes a real
 * version; dist/ is the one Jest's globalSetup keeps current), then plain `npm install` of the tarballs into a fresh directory
 * outside the workspace. There:
 * - a plain .mjs app (errors + session + urlMap) answers over HTTP under `npx stackware serve`
 *   with `--workers 2` and with `--threads 2`;
 * - a TypeScript target without tsx installed stops with "install tsx or build your app";
 * - a TypeScript consumer of gateway, server, session and the Express adapter type-checks with
 *   `skipLibCheck: false` (the workspace's tsc);
 * - the production tree (`npm ls --omit=dev`) holds neither tsx nor esbuild.
 * Needs the npm registry (or npm's cache) for the packages' own dependencies. Bounded: every
 * child process has a timeout, the servers are stopped by process group.
 */
import { describe, it, expect, beforeAll, afterAll } from '@jest/globals';
import { spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { freePort, tempDir } from '@stackware/testing';
import { get, root } from './cli-helpers.js';

const PACK_TIMEOUT_MS = 120_000;
const INSTALL_TIMEOUT_MS = 240_000;

/** The public packages: every packages/* without "private". */
const publicPackages = readdirSync(join(root, 'packages'))
  .map((name) => ({ dir: join(root, 'packages', name), file: join(root, 'packages', name, 'package.json') }))
  .filter((p) => existsSync(p.file))
  .map((p) => ({ ...p, pkg: JSON.parse(readFileSync(p.file, 'utf8')) as { name: string; private?: boolean } }))
  .filter((p) => !p.pkg.private);

/** How to run pnpm: the one running this test (`pnpm test`), else pnpm on PATH, else npx pnpm@10. */
function pnpmCommand(): [string, string[]] {
  const execPath = process.env.npm_execpath;
  if (execPath && /pnpm/.test(execPath)) return [process.execPath, [execPath]];
  if (spawnSync('pnpm', ['--version'], { encoding: 'utf8' }).status === 0) return ['pnpm', []];
  return ['npx', ['-y', 'pnpm@10']];
}

function run(command: string, args: string[], cwd: string, timeoutMs: number, env: NodeJS.ProcessEnv = {}): SpawnSyncReturns<string> {
  const result = spawnSync(command, args, { cwd, encoding: 'utf8', timeout: timeoutMs, env: { ...process.env, NODE_OPTIONS: '', ...env }, maxBuffer: 64 * 1024 * 1024 });
  if (result.error) throw new Error(`${command} ${args.join(' ')} (in ${cwd}): ${result.error.message}\n${result.stdout}${result.stderr}`);
  return result;
}

function mustRun(command: string, args: string[], cwd: string, timeoutMs: number, env: NodeJS.ProcessEnv = {}): string {
  const result = run(command, args, cwd, timeoutMs, env);
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} (in ${cwd}) exited ${result.status}:\n${result.stdout}${result.stderr}`);
  return result.stdout;
}

// A plain ES module: the exception catcher around sessions (file store: safe under processes and
// threads) around a URL map.
const APP = `import { errorCatcher } from '@stackware/errors';
import { session, loadSession, FileStore } from '@stackware/session';
import { urlMap } from '@stackware/middleware';
import { text } from '@stackware/gateway';

const counter = async (environ, startResponse) => {
  const s = await loadSession(environ);
  const n = (s.get('n') ?? 0) + 1;
  s.set('n', n);
  return text(\`visit \${n} at \${environ.SCRIPT_NAME}\${environ.PATH_INFO}\\n\`)(environ, startResponse);
};
const boom = () => { throw new Error('boom'); };

export default errorCatcher(
  session(urlMap({ '/count': counter, '/boom': boom }), {
    secret: 'a-test-secret-that-is-at-least-32-characters',
    store: new FileStore({ dir: new URL('./sessions', import.meta.url).pathname }),
  }),
  { debug: false },
);
`;

// A TypeScript consumer that uses only gateway, server, session and the Express adapter.
const CONSUMER = `import express from 'express';
import { text, type Application, type Environ } from '@stackware/gateway';
import { serve, type HttpServerOptions } from '@stackware/server';
import { session, getSession } from '@stackware/session';
import { toConnectMiddleware, fromNodeHandler } from '@stackware/adapters/express';

const app = express();
app.use(toConnectMiddleware((inner) => session(inner, { secret: 'a-test-secret-that-is-at-least-32-characters' })));
app.get('/', (req, res) => {
  const environ: Environ = req.environ;
  const s = getSession(environ);
  res.send(String(s.id));
});
const hello: Application = text('hello\\n');
const options: HttpServerOptions = { host: '127.0.0.1', port: 0 };
export const start = () => serve(fromNodeHandler(app, { fallback: hello }), options);
`;

const TSCONFIG = {
  compilerOptions: {
    target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true,
    skipLibCheck: false, noEmit: true, types: ['node'], lib: ['ES2023'],
  },
  include: ['consumer.ts'],
};

let work: { dir: string; cleanup(): Promise<void> };
let site: string;

beforeAll(async () => {
  work = await tempDir('stackware-pack-install-');
  const tarballs = join(work.dir, 'tarballs');
  site = join(work.dir, 'site');
  await mkdir(tarballs);
  await mkdir(site);
  const [pnpm, pnpmArgs] = pnpmCommand();
  // Jest's globalSetup has just built every stale dist/, so pack skips prepack (its build):
  // rebuilding here would rewrite dist/ under tests that are running the command in parallel.
  for (const p of publicPackages) mustRun(pnpm, [...pnpmArgs, 'pack', '--config.ignore-scripts=true', '--pack-destination', tarballs], p.dir, PACK_TIMEOUT_MS);
  const files = readdirSync(tarballs).filter((f) => f.endsWith('.tgz')).map((f) => join(tarballs, f));
  expect(files).toHaveLength(publicPackages.length);
  await writeFile(join(site, 'package.json'), JSON.stringify({ name: 'pack-install-site', private: true, type: 'module' }, null, 2));
  mustRun('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error', ...files, 'express@^5', '@types/express@^5', '@types/node@^20'], site, INSTALL_TIMEOUT_MS);
  await writeFile(join(site, 'app.mjs'), APP);
  await writeFile(join(site, 'app.ts'), 'export default (() => []) as unknown;\n');
  await writeFile(join(site, 'ts-site.toml'), 'main = "main"\n\n[app.main]\nuse = "./app.ts#default"\n');
  await writeFile(join(site, 'consumer.ts'), CONSUMER);
  await writeFile(join(site, 'tsconfig.json'), JSON.stringify(TSCONFIG, null, 2));
}, PACK_TIMEOUT_MS * 2 + INSTALL_TIMEOUT_MS);

afterAll(async () => {
  await work?.cleanup();
});

describe('the packed packages, installed with npm outside the workspace', () => {
  it('each tarball has dist/ with .d.ts and source maps, real version ranges, engines, no exports into src/', () => {
    for (const p of publicPackages) {
      const installed = join(site, 'node_modules', p.pkg.name);
      const pkg = JSON.parse(readFileSync(join(installed, 'package.json'), 'utf8')) as Record<string, unknown>;
      const text = JSON.stringify(pkg);
      expect({ name: p.pkg.name, workspace: text.includes('workspace:') }).toEqual({ name: p.pkg.name, workspace: false });
      expect(pkg.engines).toEqual({ node: '>=20' });
      if (p.pkg.name === '@stackware/loader') continue; // plain JavaScript, no build
      // Packing an unbuilt checkout builds first (pnpm pack and pnpm publish run prepack).
      expect((p.pkg as { scripts?: Record<string, string> }).scripts?.prepack).toBe('pnpm run build');
      expect({ name: p.pkg.name, source: JSON.stringify(pkg.exports).includes('./src/') }).toEqual({ name: p.pkg.name, source: false });
      for (const file of ['index.js', 'index.d.ts', 'index.js.map']) expect(existsSync(join(installed, 'dist', file))).toBe(true);
    }
  });

  for (const mode of [['--workers', '2'], ['--threads', '2']]) {
    it(`npx stackware serve app.mjs ${mode.join(' ')}: the app answers over HTTP`, async () => {
      const port = await freePort();
      const child = spawn('npx', ['--no-install', 'stackware', 'serve', 'app.mjs', '--port', String(port), '--log-level', 'warn', ...mode], {
        cwd: site, detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NODE_OPTIONS: '' },
      });
      let output = '';
      child.stdout.on('data', (d: Buffer) => (output += d));
      child.stderr.on('data', (d: Buffer) => (output += d));
      try {
        const deadline = Date.now() + 60_000;
        let answer = await get(`http://127.0.0.1:${port}/count/a`);
        while ('error' in answer && Date.now() < deadline && child.exitCode === null) {
          await new Promise((r) => setTimeout(r, 200));
          answer = await get(`http://127.0.0.1:${port}/count/a`);
        }
        expect({ answer, output: 'error' in answer ? output : '' }).toEqual({ answer: { status: 200, body: 'visit 1 at /count/a\n' }, output: '' });
        const boom = await get(`http://127.0.0.1:${port}/boom`);
        expect('status' in boom && boom.status).toBe(500);
      } finally {
        if (child.exitCode === null) {
          const exited = new Promise((r) => child.once('exit', r));
          process.kill(-child.pid!, 'SIGTERM');
          const timer = setTimeout(() => { try { process.kill(-child.pid!, 'SIGKILL'); } catch { /* gone */ } }, 10_000);
          await exited;
          clearTimeout(timer);
        }
      }
    }, 120_000);
  }

  it('a TypeScript target without tsx installed: exit 2, "install tsx or build your app to JavaScript"', () => {
    const result = run('npx', ['--no-install', 'stackware', 'serve', 'app.ts', '--port', '0'], site, 60_000);
    expect({ status: result.status, stderr: result.stderr }).toEqual({ status: 2, stderr: expect.stringMatching(/app\.ts is TypeScript, and tsx .* is not installed: install tsx \(npm install tsx\) or build your app to JavaScript\n$/) });
  });

  it('a deploy file naming a TypeScript module without tsx installed: the same advice, with file and line', () => {
    const result = run('npx', ['--no-install', 'stackware', 'check', 'ts-site.toml'], site, 60_000);
    expect({ status: result.status, stderr: result.stderr }).toEqual({ status: 2, stderr: expect.stringMatching(/ts-site\.toml:\d+:\d+: \[app\.main\] key "use": .*app\.ts is TypeScript, and tsx .* is not installed — install tsx \(npm install tsx\) or build your app to JavaScript\n$/) });
  });

  it('a TypeScript consumer of gateway, server, session and adapters/express type-checks with skipLibCheck: false', () => {
    const tsc = join(root, 'node_modules', '.bin', 'tsc');
    const result = run(tsc, ['-p', join(site, 'tsconfig.json')], site, 120_000);
    expect({ status: result.status, output: `${result.stdout}${result.stderr}` }).toEqual({ status: 0, output: '' });
  });

  it('npm ls --omit=dev: neither tsx nor esbuild is in the production tree', () => {
    const tree = mustRun('npm', ['ls', '--omit=dev', '--all', '--parseable'], site, 60_000);
    expect(tree).toContain('/node_modules/@stackware/cli');
    const names = tree.split('\n').map((line) => line.replace(/^.*\/node_modules\//, ''));
    expect(names.filter((name) => /^(tsx|esbuild|@esbuild\/.*)$/.test(name))).toEqual([]);
  });
});
