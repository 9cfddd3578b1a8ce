import { describe, it, expect } from '@jest/globals';
import { TestClient, json, text, type Application, type FactoryContext } from '@stackware/gateway';
import { urlMap, urlMapFactory, factories } from '@stackware/middleware';

/** An application that answers with its name and the SCRIPT_NAME / PATH_INFO it was given. */
function named(name: string): Application {
  return (environ, startResponse) => json({ name, script: environ.SCRIPT_NAME, path: environ.PATH_INFO })(environ, startResponse);
}

interface Seen { name: string; script: string; path: string }

describe('urlMap', () => {
  const app = urlMap({ '/': named('site'), '/admin': named('admin'), '/admin/reports/': named('reports'), 'http://other.example/': named('other'), 'http://other.example:8080/api': named('other-api') });
  const client = new TestClient(app);

  it('sends each path to the longest matching prefix and adjusts SCRIPT_NAME/PATH_INFO', async () => {
    expect((await client.get('/')).json<Seen>()).toEqual({ name: 'site', script: '', path: '/' });
    expect((await client.get('/about/team')).json<Seen>()).toEqual({ name: 'site', script: '', path: '/about/team' });
    expect((await client.get('/admin')).json<Seen>()).toEqual({ name: 'admin', script: '/admin', path: '' });
    expect((await client.get('/admin/')).json<Seen>()).toEqual({ name: 'admin', script: '/admin', path: '/' });
    expect((await client.get('/admin/users?x=1')).json<Seen>()).toEqual({ name: 'admin', script: '/admin', path: '/users' });
    expect((await client.get('/admin/reports/2024')).json<Seen>()).toEqual({ name: 'reports', script: '/admin/reports', path: '/2024' });
  });

  it('matches whole segments only: /administrator is not under /admin', async () => {
    expect((await client.get('/administrator')).json<Seen>()).toEqual({ name: 'site', script: '', path: '/administrator' });
    expect((await client.get('/admin/reportsx')).json<Seen>().name).toBe('admin');
  });

  const req = (host: string, path = '/x') => client.get(path, { headers: { Host: host } }).then((r) => r.json<Seen>());

  it('matches hosts with and without a port, case-insensitively', async () => {
    expect(await req('other.example')).toEqual({ name: 'other', script: '', path: '/x' });
    expect(await req('OTHER.example:9000')).toEqual({ name: 'other', script: '', path: '/x' });
    expect(await req('other.example:8080', '/api/v1')).toEqual({ name: 'other-api', script: '/api', path: '/v1' });
    // the port-specific entry does not catch other ports
    expect((await req('other.example:9000', '/api/v1')).name).toBe('other');
    // a host entry wins over a longer host-less prefix, and other hosts fall through to host-less entries
    expect((await req('other.example', '/admin')).name).toBe('other');
    expect((await req('www.example', '/admin')).name).toBe('admin');
  });

  it('uses the default port of the scheme when Host has none', async () => {
    const byPort = urlMap({ 'http://h.example:80/': named('p80'), 'https://h.example:443/': named('p443') });
    const c = new TestClient(byPort);
    expect((await c.get('/', { headers: { Host: 'h.example' } })).json<Seen>().name).toBe('p80');
    expect((await c.get('/', { headers: { Host: 'h.example' }, scheme: 'https' })).json<Seen>().name).toBe('p443');
  });

  it('answers 404 by default, or with the configured not-found application', async () => {
    const only = urlMap({ '/a': named('a') });
    const res = await new TestClient(only).get('/b');
    expect(res.statusCode).toBe(404);
    expect(res.header('content-type')).toMatch(/text\/html/);
    const custom = urlMap({ '/a': named('a') }, { notFound: text('nothing here', { status: 404 }) });
    const res2 = await new TestClient(custom).get('/b');
    expect(res2.statusCode).toBe(404);
    expect(res2.text()).toBe('nothing here');
  });

  it('works under an existing mount point and leaves the caller environ unchanged', async () => {
    let outer: { script: string; path: string } | undefined;
    const mapped = urlMap({ '/admin': named('admin') });
    const spy: Application = (environ, startResponse) => {
      const body = mapped(environ, startResponse);
      outer = { script: environ.SCRIPT_NAME, path: environ.PATH_INFO };
      return body;
    };
    const c = new TestClient(spy, { scriptName: '/site' });
    expect((await c.get('/site/admin/x')).json<Seen>()).toEqual({ name: 'admin', script: '/site/admin', path: '/x' });
    expect(outer).toEqual({ script: '/site', path: '/admin/x' });
  });

  it('accepts [prefix, app] pairs and lists its entries in match order', () => {
    const m = urlMap([['/', named('a')], ['/b/c', named('c')], ['http://h/', named('h')]]);
    expect(m.entries.map((e) => e.key)).toEqual(['http://h/', '/b/c', '/']);
  });

  it('rejects keys that are not paths or http URLs, naming the fix', () => {
    expect(() => urlMap({ admin: named('x') })).toThrow('must start with "/" (write "/admin")');
    expect(() => urlMap({ 'ftp://h/': named('x') })).toThrow('is not a path or an http(s):// URL');
    expect(() => urlMap({ '/x': 'nope' as unknown as Application })).toThrow('is not an Application');
  });

  it('is registered as the apps.urlMap config factory and loads mounted apps by name', async () => {
    expect(factories.apps?.urlMap).toBe(urlMapFactory);
    expect(urlMapFactory.optionTypes).toEqual({ mounts: 'table', notFound: 'string' });
    const apps: Record<string, Application> = { site: named('site'), admin: named('admin'), missing: text('missing', { status: 404 }) };
    const context: FactoryContext = { name: 'root', here: '/', defaults: {}, loadApp: async (name) => apps[name]! };
    const built = await urlMapFactory({ mounts: { '/': 'site', '/admin': 'admin' }, notFound: 'missing' }, context);
    const c = new TestClient(built);
    expect((await c.get('/admin/x')).json<Seen>()).toEqual({ name: 'admin', script: '/admin', path: '/x' });
    const onlyAdmin = await urlMapFactory({ mounts: { '/admin': 'admin' }, notFound: 'missing' }, context);
    expect((await new TestClient(onlyAdmin).get('/x')).text()).toBe('missing');
  });
});
