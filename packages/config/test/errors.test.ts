import { describe, it, expect, beforeAll, afterAll } from '@jest/globals';
import { mkdir, writeFile, symlink } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { text } from '@stackware/gateway';
import { tempDir } from '@stackware/testing';
import { ConfigError, defineDeployment, loadDeployment } from '@stackware/config';

const here = dirname(fileURLToPath(import.meta.url));
let tmp: { dir: string; cleanup(): Promise<void> };
let counter = 0;

beforeAll(async () => {
  tmp = await tempDir('stackware-config-errors-');
  await mkdir(join(tmp.dir, 'lib'));
  await symlink(resolve(here, 'fixtures/lib/apps.ts'), join(tmp.dir, 'lib/apps.ts'));
  const pkg = join(tmp.dir, 'node_modules/no-factories');
  await mkdir(pkg, { recursive: true });
  await writeFile(join(pkg, 'package.json'), JSON.stringify({ name: 'no-factories', type: 'module', exports: './index.js' }));
  await writeFile(join(pkg, 'index.js'), 'export const something = 1;\n');
});
afterAll(() => tmp.cleanup());

/** Loads `toml` from a fresh file and returns the ConfigError it raises (fails the test if none). */
async function errorOf(toml: string, env: Record<string, string> = {}): Promise<{ error: ConfigError; file: string }> {
  const file = join(tmp.dir, `case-${++counter}.toml`);
  await writeFile(file, toml);
  try {
    await loadDeployment(file, { env });
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return { error: error as ConfigError, file };
  }
  throw new Error(`expected a ConfigError for:\n${toml}`);
}

const ECHO = '[app.main]\nuse = "./lib/apps.ts#echo"\n';

describe('each mistake gives one message naming file, section, key and fix', () => {
  it('unknown section type', async () => {
    const { error, file } = await errorOf(`${ECHO}\n[apps.site]\nuse = "x"\n`);
    expect(error.message).toBe(`${file}:4:1: [apps] unknown section type "apps" — did you mean [app.…]? section types are: app, filter, pipeline, composite, server, pool, group, location, defaults`);
  });

  it('missing use', async () => {
    const { error, file } = await errorOf('[app.main]\ngreeting = "hi"\n');
    expect(error.message).toBe(`${file}:1:1: [app.main] key "use": missing "use": nothing says what builds this application — add use = "@scope/package", use = "./lib/module.ts#factory", or application = "./lib/module.ts#app" for a ready application`);
    const filter = await errorOf(`${ECHO}[filter.f]\ntag = "x"\n`);
    expect(filter.error.message).toContain(`[filter.f] key "use": missing "use"`);
  });

  it('a module without the named export', async () => {
    const { error, file } = await errorOf('[app.main]\nuse = "./lib/apps.ts#nope"\n');
    expect(error.message).toBe(`${file}:2:1: [app.main] key "use": module ./lib/apps.ts has no export "nope" — export it, or name one of: broken, echo, failing, loose, notAFunction, plain, tag (write "./lib/apps.ts#NAME")`);
    expect(error.section).toBe('app.main');
    expect(error.key).toBe('use');
  });

  it('a module path that does not exist, and an export that is not a factory', async () => {
    expect((await errorOf('[app.main]\nuse = "./lib/missing.ts"\n')).error.message).toMatch(/:2:1: \[app\.main\] key "use": module \.\/lib\/missing\.ts does not exist \(looked for .*lib\/missing\.ts\) — fix the path; module paths are relative to the deploy file's directory$/);
    expect((await errorOf('[app.main]\nuse = "./lib/apps.ts#notAFunction"\n')).error.message).toContain('export "notAFunction" of ./lib/apps.ts is a number, not a app factory — export a function (options, context) => Application');
    expect((await errorOf('[app.main]\napplication = "./lib/apps.ts#notAFunction"\n')).error.message).toContain('[app.main] key "application": ./lib/apps.ts#notAFunction is a number, not an Application');
  });

  it('packages: not installed, without factories, without the named factory', async () => {
    expect((await errorOf('[app.main]\nuse = "@nowhere/pkg"\n')).error.message).toContain('[app.main] key "use": package @nowhere/pkg is not installed where the deploy file can see it — install it (pnpm add @nowhere/pkg)');
    expect((await errorOf('[app.main]\nuse = "no-factories"\n')).error.message).toContain('package no-factories does not export "factories", so it cannot be used from a deploy file — use a module path');
    const named = await errorOf('[app.main]\nuse = "@stackware/middleware#urlMapp"\n');
    expect(named.error.message).toContain('[app.main] key "use": package @stackware/middleware has no app factory named "urlMapp" — use one of: @stackware/middleware#urlMap');
  });

  it('a cycle in pipelines', async () => {
    const { error, file } = await errorOf('[filter.f]\nuse = "./lib/apps.ts#tag"\ntag = "f"\n[pipeline.a]\npipeline = ["f", "b"]\n[pipeline.b]\npipeline = ["f", "a"]\n');
    expect(error.message).toBe(`${file}:7:1: [pipeline.b] key "pipeline": a cycle: a → b → a — an application cannot contain itself: point one of them at a different application`);
  });

  it('a cycle through a composite', async () => {
    const { error } = await errorOf(`${ECHO}[composite.root]\n"/" = "main"\n"/loop" = "stack"\n[filter.f]\nuse = "./lib/apps.ts#tag"\n[pipeline.stack]\npipeline = ["f", "root"]\n`);
    expect(error.message).toMatch(/\[(composite\.root|pipeline\.stack)\] key "(\/loop|pipeline)": a cycle: (root → stack → root|stack → root → stack)/);
  });

  it('a bad option type', async () => {
    const { error, file } = await errorOf(`${ECHO}times = "many"\n`);
    expect(error.message).toBe(`${file}:3:1: [app.main] key "times": option "times" must be a number, got string "many" — write times = 30`);
    expect((await errorOf(`${ECHO}loud = 1\n`)).error.message).toContain('[app.main] key "loud": option "loud" must be true or false, got number 1 — write loud = true');
    expect((await errorOf(`${ECHO}tags = ["a", 2]\n`)).error.message).toContain('option "tags" must be an array of strings, got array ["a",2] — write tags = ["a", "b"]');
  });

  it('an unknown option', async () => {
    const { error, file } = await errorOf(`${ECHO}greting = "hi"\n`);
    expect(error.message).toBe(`${file}:3:1: [app.main] key "greting": unknown option "greting" for ./lib/apps.ts#echo — did you mean "greeting"? it accepts: greeting, times, loud, tags`);
    expect((await errorOf(`${ECHO}[filter.f]\nuse = "./lib/apps.ts#tag"\ncolour = "red"\n[pipeline.p]\npipeline = ["f", "main"]\n`)).error.message).toContain('[filter.f] key "colour": unknown option "colour"');
  });

  it('a missing environment variable without a default', async () => {
    const { error, file } = await errorOf(`${ECHO}greeting = "\${STACKWARE_TEST_UNSET_VAR}"\n`);
    expect(error.message).toBe(`${file}:3:1: [app.main] key "greeting": environment variable STACKWARE_TEST_UNSET_VAR is not set and has no default — set STACKWARE_TEST_UNSET_VAR, or write \${STACKWARE_TEST_UNSET_VAR:-default} to give a default`);
    expect((await errorOf(`[defaults]\nsecret = "\${STACKWARE_TEST_UNSET_VAR}"\n${ECHO}`)).error.message).toContain(':2:1: [defaults] key "secret": environment variable STACKWARE_TEST_UNSET_VAR is not set');
  });

  it('TOML syntax, with line and column', async () => {
    const { error, file } = await errorOf('[app.main]\nuse = ./lib/apps.ts\n');
    expect(error.line).toBe(2);
    expect(error.message).toMatch(new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:2:\\d+: TOML syntax error: .+ — fix the syntax at that position`));
  });

  it('pipeline references: unknown filter, an app in the middle, a filter at the end', async () => {
    expect((await errorOf(`${ECHO}[filter.tagger]\nuse = "./lib/apps.ts#tag"\n[pipeline.p]\npipeline = ["taggr", "main"]\n`)).error.message).toContain('[pipeline.p] key "pipeline": no filter named "taggr" — did you mean "tagger"?');
    expect((await errorOf(`${ECHO}[app.other]\nuse = "./lib/apps.ts#echo"\n[pipeline.p]\npipeline = ["other", "main"]\n`)).error.message).toContain('"other" is an application, but only the last element of a pipeline may be one');
    expect((await errorOf(`${ECHO}[filter.f]\nuse = "./lib/apps.ts#tag"\n[pipeline.p]\npipeline = ["f"]\n`)).error.message).toContain('the last element "f" is a filter; a pipeline must end with an application');
    expect((await errorOf(`${ECHO}[pipeline.p]\npipeline = ["main"]\nfilters = []\n`)).error.message).toContain('[pipeline.p] key "filters": unknown key "filters" in a pipeline');
  });

  it('composites, locations, pools and servers', async () => {
    expect((await errorOf(`${ECHO}[composite.root]\n"/" = "main"\n"/admin" = "mian"\n`)).error.message).toMatch(/:5:1: \[composite\.root\] key "\/admin": no application named "mian" — did you mean "main"\?/);
    expect((await errorOf(`${ECHO}[composite.root]\nadmin = "main"\n`)).error.message).toContain('[composite.root] key "admin": "admin" is not a URL prefix — write "/admin"');
    expect((await errorOf(`${ECHO}[location."/admin"]\npool = "heavy"\n`)).error.message).toContain('[location."/admin"] key "pool": no thread-pool group named "heavy" — declare [pool.heavy] with threads = N');
    expect((await errorOf(`${ECHO}[pool.heavy]\nthreads = 0\n`)).error.message).toContain('[pool.heavy] key "threads": must be a whole number ≥ 1, got number 0 — write threads = 4');
    expect((await errorOf(`${ECHO}[server.web]\nprotocol = "gopher"\n`)).error.message).toContain('[server.web] key "protocol": unknown protocol "gopher" — use one of: http, fastcgi, scgi');
    expect((await errorOf(`${ECHO}[server.web]\nport = "eighty"\n`)).error.message).toContain('[server.web] key "port": must be a whole number ≥ 0, got string "eighty" — write port = 8080');
    expect((await errorOf(`${ECHO}[server.web]\napp = "nothing"\n`)).error.message).toContain('[server.web] key "app": no application named "nothing" — use one of: main');
  });

  it('the main application must be clear; the name space is shared', async () => {
    expect((await errorOf('[app.a]\nuse = "./lib/apps.ts#echo"\n[app.b]\nuse = "./lib/apps.ts#echo"\n[server.web]\nport = 0\n')).error.message).toContain('key "main": cannot tell which application is the main one (candidates: a, b) — name one: write main = "a" at the top of the file');
    expect((await errorOf(`${ECHO}[pipeline.main]\npipeline = ["main"]\n`)).error.message).toContain('[pipeline.main] the name "main" is already used by [app.main]');
    expect((await errorOf(`main = "nope"\n${ECHO}`)).error.message).toContain('key "main": main names "nope", which is not an application — use one of: main');
    expect((await errorOf(`colour = "red"\n${ECHO}`)).error.message).toContain('key "colour": unknown top-level key "colour" — put shared settings under [defaults]');
  });

  it('a factory that throws is reported with its section', async () => {
    const file = join(tmp.dir, 'broken.toml');
    await writeFile(file, '[app.main]\nuse = "./lib/apps.ts#broken"\n');
    const deployment = await loadDeployment(file);
    await expect(deployment.buildApplication()).rejects.toThrow(`${file}:1:1: [app.main] the factory failed: database unreachable — check the options of this section`);
  });

  it('code deployments report "<code>" and the same sections', () => {
    expect(() => defineDeployment({ apps: { main: { greeting: 'x' } } })).toThrow('<code>: [app.main] key "use": missing "use"');
    expect(() => defineDeployment({ apps: { main: { application: text('x') } }, pipelines: { p: ['main', 'main'] } })).toThrow('<code>: [pipeline.p] key "pipeline": "main" is an application, but only the last element');
  });
});
