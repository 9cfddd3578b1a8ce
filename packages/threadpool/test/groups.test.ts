import { describe, it, expect, beforeAll, afterAll } from '@jest/globals';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TestClient, type Application, type FactoryContext } from '@stackware/gateway';
import { threadPoolGroups, factories, ThreadPoolOptionError, type ThreadPoolGroupsApplication, type ThreadPoolApplication } from '../src/index.js';
import { fixture } from './helpers.js';

const here = dirname(fileURLToPath(import.meta.url));

describe('threadPoolGroups: named pools routed by URL prefix', () => {
  let app: ThreadPoolGroupsApplication;
  let client: TestClient;
  beforeAll(async () => {
    app = threadPoolGroups({
      groups: {
        default: { module: fixture('hello.ts'), threads: 1 },
        admin: { module: fixture('factory.ts'), export: 'createApp', factory: true, factoryOptions: { greeting: 'admin' }, threads: 1 },
      },
      routes: { '/admin': 'admin' },
    });
    client = new TestClient(app);
    await app.ready();
  });
  afterAll(() => app.close());

  it('sends a prefix and the paths below it to its group, everything else to the default group', async () => {
    expect((await client.get('/admin')).text()).toMatch(/^admin from/);
    expect((await client.get('/admin/users?x=1')).text()).toMatch(/^admin from/);
    expect((await client.get('/administrator')).json()).toMatchObject({ path: '/administrator' });
    expect((await client.get('/')).json()).toMatchObject({ path: '/' });
  });

  it('matches the full path (SCRIPT_NAME + PATH_INFO) and leaves the environ as it is', async () => {
    const mounted = new TestClient(app, { scriptName: '/admin' });
    expect((await mounted.get('/admin/x')).text()).toMatch(/^admin from/);
    const viaDefault = await new TestClient(app, { scriptName: '/site' }).get('/site/admin');
    expect(viaDefault.json()).toMatchObject({ path: '/admin' });
  });

  it('exposes each pool by name', () => {
    expect(Object.keys(app.groups).sort()).toEqual(['admin', 'default']);
    expect(app.groups.admin!.options.threads).toBe(1);
  });

  it('rejects a route to an unknown group, a malformed prefix and a missing default group', () => {
    const groups = { default: { module: fixture('hello.ts'), threads: 1 } };
    expect(() => threadPoolGroups({ groups, routes: { '/admin': 'nope' } })).toThrow(/names group "nope"/);
    expect(() => threadPoolGroups({ groups, routes: { 'admin/': 'default' } })).toThrow(ThreadPoolOptionError);
    expect(() => threadPoolGroups({ groups: { admin: groups.default } })).toThrow(/no group "default"/);
  });
});

describe('factories (deploy file)', () => {
  const context = (name: string): FactoryContext => ({ name, here, defaults: {}, loadApp: async () => (() => []) as Application });

  it('builds a pool with module paths relative to the deploy file', async () => {
    const app = (await factories.apps!.default!({ module: 'fixtures/hello.ts', threads: 1 }, context('main'))) as ThreadPoolApplication;
    try {
      expect(app.options.name).toBe('main');
      expect((await new TestClient(app).get('/x')).json()).toMatchObject({ multithread: true, path: '/x' });
    } finally {
      await app.close();
    }
  });

  it('builds groups', async () => {
    const app = (await factories.apps!.groups!({
      groups: { default: { module: 'fixtures/hello.ts', threads: 1 }, admin: { module: 'fixtures/factory.ts', export: 'createApp', factory: true, factoryOptions: { greeting: 'hey' }, threads: 1 } },
      routes: { '/admin': 'admin' },
    }, context('main'))) as ThreadPoolGroupsApplication;
    try {
      expect((await new TestClient(app).get('/admin/1')).text()).toMatch(/^hey from/);
    } finally {
      await app.close();
    }
  });

  it('declares its option types', () => {
    expect(factories.apps!.default!.optionTypes).toMatchObject({ module: 'string', threads: 'number', timeoutMs: 'number' });
  });
});
