import { describe, it, expect, beforeAll, afterAll } from '@jest/globals';
import { mkdir, writeFile, symlink } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TestClient, text, type AppFactory, type FilterFactory } from '@stackware/gateway';
import { tempDir } from '@stackware/testing';
import { defineDeployment, describeDeployment, getConfig, loadDeployment, parseDeployment } from '@stackware/config';

const here = dirname(fileURLToPath(import.meta.url));
const LIB = resolve(here, 'fixtures/lib/apps.ts');

interface Echo { app: string; greeting: string | null; times: number | null; script: string; path: string; trail: string[]; config: Record<string, unknown>; location: string | null }

let tmp: { dir: string; cleanup(): Promise<void> };

/** Writes a deploy file into the temp dir (with ./lib → the fixture modules) and returns its path. */
async function deployFile(name: string, toml: string): Promise<string> {
  const file = join(tmp.dir, name);
  await writeFile(file, toml);
  return file;
}

beforeAll(async () => {
  tmp = await tempDir('stackware-config-');
  await mkdir(join(tmp.dir, 'lib'));
  await symlink(LIB, join(tmp.dir, 'lib/apps.ts'));
  // A fixture package installed beside the deploy file, registering factories the way real packages do.
  const pkg = join(tmp.dir, 'node_modules/@fixture/widgets');
  await mkdir(pkg, { recursive: true });
  await writeFile(join(pkg, 'package.json'), JSON.stringify({ name: '@fixture/widgets', type: 'module', exports: { '.': './index.js' } }));
  await writeFile(join(pkg, 'index.js'), [
    'const hello = (options) => { const app = (environ, startResponse) => { startResponse("200 OK", [["Content-Type", "text/plain; charset=utf-8"]]); return [Buffer.from(`widget ${options.word ?? "hi"} at ${environ.SCRIPT_NAME}`)]; }; return app; };',
    'hello.optionTypes = { word: "string" };',
    'const header = (options) => (app) => (environ, startResponse) => app(environ, (s, h, e) => startResponse(s, [...h, ["X-Widget", options.value]], e));',
    'header.optionTypes = { value: "string" };',
    'export const factories = { apps: { default: hello }, filters: { header } };',
  ].join('\n'));
});
afterAll(() => tmp.cleanup());

const SITE = `
main = "root"

[defaults]
debug = false
title = "Site"
admin_email = "\${TEST_ADMIN_EMAIL:-ops@example.com}"
static_dir = "\${here}/static"

[app.site]
use = "./lib/apps.ts#echo"
greeting = "hello"
times = 3

[app.admin]
use = "./lib/apps.ts#echo"
greeting = "admin"

[app.other]
application = "./lib/apps.ts#plain"

[app.widget]
use = "@fixture/widgets"
word = "\${TEST_WORD}"

[filter.outer]
use = "./lib/apps.ts#tag"
tag = "outer"

[filter.inner]
use = "./lib/apps.ts#tag"
tag = "inner"

[filter.widget-header]
use = "@fixture/widgets#header"
value = "yes"

[pipeline.main]
pipeline = ["outer", "inner", "site"]

[pipeline.admin-stack]
pipeline = ["inner", "admin"]

[pipeline.widgets]
pipeline = ["widget-header", "widget"]

[composite.root]
"/" = "main"
"/admin" = "admin-stack"
"/widgets" = "widgets"
"http://other.example/" = "other"

[location."/admin"]
debug = true
title = "Admin"

[location."/admin/reports"]
title = "Reports"

[server.main]
host = "127.0.0.1"
port = 0
`;

describe('loadDeployment: a deploy file wires the stack', () => {
  let client: TestClient;
  beforeAll(async () => {
    const file = await deployFile('site.toml', SITE);
    const deployment = await loadDeployment(file, { env: { TEST_WORD: 'howdy' } });
    client = new TestClient(await deployment.buildApplication());
  });

  it('runs pipelines outermost filter first and passes section keys as options', async () => {
    const body = (await client.get('/page')).json<Echo>();
    expect(body).toMatchObject({ app: 'site', greeting: 'hello', times: 3, script: '', path: '/page', trail: ['outer', 'inner'] });
  });

  it('mounts composites with urlMap: longest prefix, SCRIPT_NAME/PATH_INFO adjusted, host entries', async () => {
    expect((await client.get('/admin/users')).json<Echo>()).toMatchObject({ app: 'admin', script: '/admin', path: '/users', trail: ['inner'] });
    expect((await client.get('/administrator')).json<Echo>()).toMatchObject({ app: 'site', path: '/administrator' });
    expect((await client.get('/x', { headers: { Host: 'other.example:8080' } })).json()).toEqual({ plain: true, script: '', path: '/x' });
  });

  it('loads package factories (default and #name) from node_modules beside the file, with ${VAR} expanded', async () => {
    const res = await client.get('/widgets/a');
    expect(res.text()).toBe('widget howdy at /widgets');
    expect(res.header('x-widget')).toBe('yes');
  });

  it('gives getConfig the defaults merged with the longest matching location', async () => {
    const root = (await client.get('/')).json<Echo>();
    expect(root.config).toEqual({ debug: false, title: 'Site', admin_email: 'ops@example.com', static_dir: `${tmp.dir}/static` });
    expect(root.location).toBeNull();
    const admin = (await client.get('/admin')).json<Echo>();
    expect(admin.config).toMatchObject({ debug: true, title: 'Admin', admin_email: 'ops@example.com' });
    expect(admin.location).toBe('/admin');
    const reports = (await client.get('/admin/reports/2024')).json<Echo>();
    expect(reports.config).toMatchObject({ debug: true, title: 'Reports' });
    expect(reports.location).toBe('/admin/reports');
    // segment boundaries: /administrator is not under /admin
    expect((await client.get('/administrator')).json<Echo>().config).toMatchObject({ debug: false, title: 'Site' });
  });

  it('exposes the resolved structure and describes it for `stackware check`', async () => {
    const deployment = await loadDeployment(join(tmp.dir, 'site.toml'), { env: { TEST_WORD: 'x' } });
    expect(deployment.main).toBe('root');
    expect(deployment.apps.get('main')).toEqual({ kind: 'pipeline', name: 'main', filters: ['outer', 'inner'], app: 'site' });
    expect(deployment.servers.get('main')).toMatchObject({ protocol: 'http', use: '@stackware/server', options: { host: '127.0.0.1', port: 0 } });
    const text = describeDeployment(deployment);
    expect(text).toContain('root (main): composite (4 mounts)');
    expect(text).toMatch(/mount http:\/\/other\.example\/ →[\s\S]*mount \/widgets →[\s\S]*mount \/admin →[\s\S]*mount \/ →/);
    expect(text).toMatch(/1\. filter outer: \.\/lib\/apps\.ts#tag \{ tag="outer" \}\n\s+2\. filter inner/);
    expect(text).toContain('/admin/reports: title="Reports"');
    expect(text).toContain('main: http://127.0.0.1:0 serving root via @stackware/server');
  });

  it('uses the environment for ${VAR} and converts numeric strings for number options', async () => {
    const file = await deployFile('env.toml', '[app.main]\nuse = "./lib/apps.ts#echo"\ngreeting = "${TEST_GREETING}"\ntimes = "${TEST_TIMES:-7}"\n');
    const deployment = await loadDeployment(file, { env: { TEST_GREETING: 'from env' } });
    const body = (await new TestClient(await deployment.buildApplication()).get('/')).json<Echo>();
    expect(body).toMatchObject({ greeting: 'from env', times: 7 });
  });

  it('reads $${ as a literal ${', async () => {
    const file = await deployFile('literal.toml', '[defaults]\ntemplate = "$${name}"\n[app.main]\nuse = "./lib/apps.ts#echo"\n');
    const body = (await new TestClient(await (await loadDeployment(file, { env: {} })).buildApplication()).get('/')).json<Echo>();
    expect(body.config).toEqual({ template: '${name}' });
  });

  it('accepts anything for a factory without optionTypes', async () => {
    const file = await deployFile('loose.toml', '[app.main]\nuse = "./lib/apps.ts#loose"\nanything = [1, 2]\n');
    const res = await new TestClient(await (await loadDeployment(file)).buildApplication()).get('/');
    expect(res.json()).toEqual({ options: { anything: [1, 2] } });
  });

  it('uses a real package factory: @stackware/middleware#urlMap', async () => {
    const file = await deployFile('urlmap.toml', [
      'main = "root"',
      '[app.a]', 'use = "./lib/apps.ts#echo"', 'greeting = "a"',
      '[app.b]', 'application = "./lib/apps.ts#plain"',
      '[app.root]', 'use = "@stackware/middleware#urlMap"', 'mounts = { "/a" = "a", "/b" = "b" }', 'notFound = "b"',
    ].join('\n'));
    const c = new TestClient(await (await loadDeployment(file)).buildApplication());
    expect((await c.get('/a/x')).json<Echo>()).toMatchObject({ greeting: 'a', script: '/a', path: '/x' });
    expect((await c.get('/zzz')).json()).toEqual({ plain: true, script: '', path: '/zzz' });
  });
});

describe('defineDeployment: the same objects from code', () => {
  const echo: AppFactory = (options) => text(`echo ${String(options.word)}`);
  const shout: FilterFactory = () => (app) => (environ, startResponse) => app(environ, (s, h, e) => startResponse(s, [...h, ['X-Shout', String(getConfig(environ).volume)]], e));

  it('builds pipelines, composites and locations from plain objects and functions', async () => {
    const deployment = defineDeployment({
      main: 'root',
      defaults: { volume: 1 },
      apps: { site: { use: echo, word: 'site' }, admin: { use: echo, word: 'admin' } },
      filters: { shout: { use: shout } },
      pipelines: { main: ['shout', 'site'] },
      composites: { root: { '/': 'main', '/admin': 'admin' } },
      locations: { '/loud': { volume: 11 } },
    });
    expect(deployment.file).toBe('<code>');
    expect(deployment.main).toBe('root');
    const c = new TestClient(await deployment.buildApplication());
    const res = await c.get('/hello');
    expect(res.text()).toBe('echo site');
    expect(res.header('x-shout')).toBe('1');
    expect((await c.get('/loud/x')).header('x-shout')).toBe('11');
    expect((await c.get('/admin/x')).text()).toBe('echo admin');
  });

  it('accepts a ready application and lets factories load other applications by name', async () => {
    const wrapper: AppFactory = async (options, context) => context.loadApp(String(options.target));
    const deployment = defineDeployment({
      apps: { main: { use: wrapper, target: 'inner' }, inner: { application: text('inner app') } },
    });
    expect(await new TestClient(await deployment.buildApplication()).get('/').then((r) => r.text())).toBe('inner app');
  });

  it('parses text without a file on disk (parseDeployment)', async () => {
    const deployment = parseDeployment('[app.main]\napplication = "./lib/apps.ts#plain"\n', join(tmp.dir, 'virtual.toml'));
    expect((await new TestClient(await deployment.buildApplication()).get('/p')).json()).toEqual({ plain: true, script: '', path: '/p' });
  });
});
