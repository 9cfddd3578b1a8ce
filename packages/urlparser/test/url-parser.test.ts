import { describe, it, expect, beforeAll, afterAll } from '@jest/globals';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { TestClient, html, type Application, type Environ } from '@stackware/gateway';
import { urlParser, getResourcePath, directoryListing, factories, type ResourceFactory } from '../src/index.js';
import { makeSite, moduleSource, type Site } from './fixture.js';

let site: Site;
let client: TestClient;

beforeAll(async () => {
  site = await makeSite();
  client = new TestClient(urlParser({ root: site.root }), { throwErrors: false });
});
afterAll(() => site.cleanup());

describe('urlParser: finding files', () => {
  it('serves a static file by its exact name', async () => {
    const res = await client.get('/hello.txt');
    expect(res.statusCode).toBe(200);
    expect(res.text()).toBe('hello world\n');
  });

  it('finds a file without its extension', async () => {
    const res = await client.get('/about');
    expect(res.statusCode).toBe(200);
    expect(res.text()).toBe('<p>about</p>\n');
    expect(res.header('Content-Type')).toBe('text/html; charset=utf-8');
  });

  it('answers 404 when two files match without extension, and logs why', async () => {
    const res = await client.get('/both');
    expect(res.statusCode).toBe(404);
    expect(res.errors).toMatch(/ambiguous: both\.html, both\.txt/);
    expect((await client.get('/both.txt')).text()).toBe('both as text\n');
  });

  it('sees a file added after a miss (the directory-names cache follows the directory)', async () => {
    await mkdir(join(site.root, 'fresh'), { recursive: true });
    expect((await client.get('/fresh/later')).statusCode).toBe(404);
    await writeFile(join(site.root, 'fresh', 'later.html'), '<p>later</p>');
    expect((await client.get('/fresh/later')).text()).toBe('<p>later</p>');
    await writeFile(join(site.root, 'fresh', 'later.txt'), 'now ambiguous');
    expect((await client.get('/fresh/later')).statusCode).toBe(404);
  });

  it('answers 404 for a missing name', async () => {
    expect((await client.get('/nothing-here')).statusCode).toBe(404);
    expect((await client.get('/docs/nothing')).statusCode).toBe(404);
  });

  it('redirects a directory to its trailing-slash URL, keeping the query string', async () => {
    const res = await client.get('/docs?x=1&y=2');
    expect(res.statusCode).toBe(301);
    expect(res.header('Location')).toBe('/docs/?x=1&y=2');
    const post = await client.post('/docs', { body: 'a' });
    expect(post.statusCode).toBe(308);
  });

  it('redirects under a mount point and percent-encodes the Location', async () => {
    await mkdir(join(site.root, 'with space'), { recursive: true });
    const mounted = new TestClient(urlParser({ root: site.root }), { scriptName: '/mount' });
    const res = await mounted.get('/mount/with%20space');
    expect(res.header('Location')).toBe('/mount/with%20space/');
  });

  it('serves the index of a directory (index.html, then main.*)', async () => {
    expect((await client.get('/')).text()).toBe('<p>root index</p>\n');
    expect((await client.get('/docs/')).text()).toBe('<p>docs index</p>\n');
    expect((await client.get('/main-dir/')).text()).toBe('main index');
  });

  it('honours indexNames', async () => {
    const c = new TestClient(urlParser({ root: site.root, indexNames: ['guide'] }));
    expect((await c.get('/docs/')).text()).toBe('the guide\n');
    expect((await c.get('/')).statusCode).toBe(404);
  });

  it('walks nested directories and collapses repeated slashes', async () => {
    expect((await client.get('/docs/deeper/leaf.txt')).text()).toBe('leaf\n');
    expect((await client.get('//docs//deeper/leaf.txt')).text()).toBe('leaf\n');
  });

  it('answers 404 for a request target that is not a path ("OPTIONS *")', async () => {
    // Not through the validator: createEnviron gives PATH_INFO "*" here, which the validator rejects (reported to the lead).
    const res = await new TestClient(urlParser({ root: site.root }), { validate: false }).request('OPTIONS', '*');
    expect(res.statusCode).toBe(404);
  });

  it('answers 404 for extra path info after a static file', async () => {
    expect((await client.get('/hello.txt/more')).statusCode).toBe(404);
  });

  it('does not change the caller\'s environ', async () => {
    let seen: Environ | undefined;
    const parser = urlParser({ root: site.root });
    const app: Application = (environ, startResponse) => {
      seen = environ;
      return parser(environ, startResponse);
    };
    await new TestClient(app).get('/docs/guide.txt');
    expect([seen!.SCRIPT_NAME, seen!.PATH_INFO]).toEqual(['', '/docs/guide.txt']);
  });

  it('refuses to start without a usable root', () => {
    expect(() => urlParser({ root: join(site.root, 'missing') })).toThrow(/does not exist: create it or fix the "root" option/);
    expect(() => urlParser({ root: join(site.root, 'hello.txt') })).toThrow(/is not a directory/);
  });
});

describe('urlParser: modules', () => {
  it('runs a .ts module\'s default export with SCRIPT_NAME and extra PATH_INFO', async () => {
    expect((await client.get('/app.ts')).text()).toBe('app /app.ts | ');
    expect((await client.get('/app.ts/a/b')).text()).toBe('app /app.ts | /a/b');
    expect((await client.get('/app/x')).text()).toBe('app /app | /x');
  });

  it('takes the export named after the file when there is no default', async () => {
    expect((await client.get('/named')).text()).toBe('named export');
  });

  it('runs a .js module', async () => {
    expect((await client.get('/plain.js')).text()).toBe('plain js');
  });

  it('converts a class with a static [TO_APPLICATION]() (servlets)', async () => {
    expect((await client.get('/servlet')).text()).toBe('from a class with TO_APPLICATION');
  });

  it('answers 404 for a module without an application, and logs why', async () => {
    const res = await client.get('/noexport.ts');
    expect(res.statusCode).toBe(404);
    expect(res.errors).toMatch(/noexport\.ts exports no application/);
    expect(res.text()).not.toContain('unrelated');
  });

  it('answers 500 when the module fails to load, never its source', async () => {
    const res = await client.get('/broken.ts');
    expect(res.statusCode).toBe(500);
    expect(res.errors).toContain('broken module');
    expect(res.text()).not.toContain('throw');
  });

  it('sets the resource path for the application', async () => {
    let path: string | undefined;
    const custom: ResourceFactory = (resource) => (environ, startResponse) => {
      path = getResourcePath(environ);
      return html(resource.name)(environ, startResponse);
    };
    const c = new TestClient(urlParser({ root: site.root, factories: { '.txt': custom } }));
    expect((await c.get('/hello.txt')).text()).toBe('hello.txt');
    expect(path).toBe(join(site.root, 'hello.txt'));
  });

  it('uses custom factories by extension and "*" for everything else', async () => {
    const c = new TestClient(urlParser({ root: site.root, factories: { '*': () => html('star') } }));
    expect((await c.get('/hello.txt')).text()).toBe('star');
    expect((await c.get('/app.ts')).text()).toBe('app /app.ts | ');
  });
});

describe('urlParser: directory hooks (_hook.ts)', () => {
  let hooked: TestClient;
  beforeAll(async () => {
    const area = join(site.root, 'members');
    await mkdir(join(area, 'inner'), { recursive: true });
    await writeFile(join(area, 'page.txt'), 'members only\n');
    await writeFile(join(area, 'inner', 'deep.txt'), 'deep members\n');
    await writeFile(join(area, 'inner', 'app.ts'), moduleSource("'inner app ' + environ.REMOTE_USER"));
    await writeFile(join(area, '_hook.ts'), `
const enc = (s: string) => new TextEncoder().encode(s);
type App = (environ: Record<string, unknown>, sr: (s: string, h: [string, string][]) => unknown) => unknown;
export function hook(environ: Record<string, unknown>) {
  if (environ.PATH_INFO === '/old.txt') environ.PATH_INFO = '/page.txt';
  if (environ.PATH_INFO === '/teapot') return (_e: unknown, sr: (s: string, h: [string, string][]) => unknown) => {
    sr('418 I\\'m a Teapot', [['Content-Type', 'text/plain']]);
    return [enc('short and stout')];
  };
}
let wraps = 0;
export const wrap = (app: App): App => (wraps++, (environ, sr) => {
  if (environ.HTTP_AUTHORIZATION !== 'let-me-in') {
    sr('401 Unauthorized', [['Content-Type', 'text/plain'], ['WWW-Authenticate', 'Token']]);
    return [enc('login first')];
  }
  environ.REMOTE_USER = 'member' + wraps;
  return app(environ, sr);
});
export const notFound: App = (_environ, sr) => {
  sr('404 Not Found', [['Content-Type', 'text/plain']]);
  return [enc('no such member page')];
};
`);
    hooked = new TestClient(urlParser({ root: site.root }));
  });
  const auth = { headers: { Authorization: 'let-me-in' } };

  it('wraps the directory\'s files (auth for a folder)', async () => {
    expect((await hooked.get('/members/page.txt')).statusCode).toBe(401);
    expect((await hooked.get('/members/page.txt', auth)).text()).toBe('members only\n');
  });

  it('wraps sub-directories, their modules and not-found answers too', async () => {
    expect((await hooked.get('/members/inner/deep.txt')).statusCode).toBe(401);
    expect((await hooked.get('/members/inner/app', auth)).text()).toBe('inner app member1');
    expect((await hooked.get('/members/missing')).statusCode).toBe(401);
  });

  it('builds the wrap middleware once, not per request or per file', async () => {
    for (const path of ['/members/page.txt', '/members/inner/deep.txt', '/members/missing', '/members/page.txt']) await hooked.get(path, auth);
    expect((await hooked.get('/members/inner/app', auth)).text()).toBe('inner app member1');
  });

  it('answers not-found with the hook\'s notFound, in sub-directories too', async () => {
    const res = await hooked.get('/members/missing', auth);
    expect([res.statusCode, res.text()]).toEqual([404, 'no such member page']);
    const deeper = await hooked.get('/members/inner/missing', auth);
    expect([deeper.statusCode, deeper.text()]).toEqual([404, 'no such member page']);
    expect((await hooked.get('/missing')).text()).toContain('<h1>Not Found</h1>');
  });

  it('lets the hook rewrite the environ', async () => {
    expect((await hooked.get('/members/old.txt', auth)).text()).toBe('members only\n');
  });

  it('lets the hook answer by itself', async () => {
    const res = await hooked.get('/members/teapot');
    expect([res.statusCode, res.text()]).toEqual([418, 'short and stout']);
  });

  it('never serves or runs the hook module as a resource', async () => {
    for (const path of ['/members/_hook.ts', '/members/_hook']) {
      const res = await hooked.get(path, auth);
      expect([path, res.statusCode, res.text()]).toEqual([path, 404, 'no such member page']);
    }
  });

  it('can be switched off', async () => {
    const off = new TestClient(urlParser({ root: site.root, hooks: false }));
    expect((await off.get('/members/page.txt')).statusCode).toBe(200);
  });
});

describe('urlParser: directory listing', () => {
  it('is off by default', async () => {
    expect((await client.get('/noindex/')).statusCode).toBe(404);
  });

  it('lists entries with escaped names and encoded links, hiding hidden names', async () => {
    const c = new TestClient(urlParser({ root: site.root, listing: true }));
    const odd = await c.get('/odd/');
    expect(odd.statusCode).toBe(200);
    expect(odd.text()).toContain('<a href="%3Cb%3E%26%22quote%22.txt">&lt;b&gt;&amp;&quot;quote&quot;.txt</a>');
    expect(odd.text()).not.toContain('<b>');
    const listed = await new TestClient(directoryListing(site.root, { hide: (n) => n.startsWith('.') })).get('/');
    expect(listed.text()).toContain('href="docs/"');
    expect(listed.text()).not.toContain('.env');
  });
});

describe('urlParser: config factories', () => {
  it('registers default (urlParser) and static, resolving root against the deploy file', async () => {
    const context = { name: 'site', here: site.dir, defaults: {}, loadApp: async () => html('x') };
    const parser = await factories.apps!.default!({ root: 'site' }, context);
    expect((await new TestClient(parser).get('/app')).text()).toBe('app /app | ');
    const files = await factories.apps!.static!({ root: 'site', cacheControl: 'no-cache' }, context);
    const res = await new TestClient(files).get('/hello.txt');
    expect(res.header('Cache-Control')).toBe('no-cache');
    expect(factories.apps!.default!.optionTypes!.root).toBe('string');
    await expect(Promise.resolve().then(() => factories.apps!.default!({}, context))).rejects.toThrow(/\[app\.\w+\] option "root" is required/);
  });
});
