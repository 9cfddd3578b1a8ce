import { describe, it, expect, beforeAll, afterAll } from '@jest/globals';
import { TestClient, text, type Environ } from '@stackware/gateway';
import { staticFiles } from '../src/index.js';
import { makeSite, type Site } from './fixture.js';

let site: Site;
beforeAll(async () => {
  site = await makeSite();
});
afterAll(() => site.cleanup());

describe('staticFiles (SharedDataMiddleware-like)', () => {
  it('serves exact names only: no extension-less lookup, no modules, no hooks', async () => {
    const c = new TestClient(staticFiles({ root: site.root }));
    expect((await c.get('/hello.txt')).text()).toBe('hello world\n');
    expect((await c.get('/about')).statusCode).toBe(404);
    expect((await c.get('/app.ts')).statusCode).toBe(404);
  });

  it('redirects directories and serves index.html', async () => {
    const c = new TestClient(staticFiles({ root: site.root }));
    expect((await c.get('/docs')).header('Location')).toBe('/docs/');
    expect((await c.get('/docs/')).text()).toBe('<p>docs index</p>\n');
    expect((await c.get('/main-dir/')).statusCode).toBe(404);
  });

  it('calls the fallback with the untouched environ when no file answers', async () => {
    let seen: Environ | undefined;
    const fallback = (environ: Environ, startResponse: Parameters<ReturnType<typeof text>>[1]) => {
      seen = environ;
      return text(`fallback for ${environ.SCRIPT_NAME}|${environ.PATH_INFO}`)(environ, startResponse);
    };
    const c = new TestClient(staticFiles({ root: site.root, fallback }), { scriptName: '/static' });
    const res = await c.get('/static/docs/missing.txt');
    expect(res.text()).toBe('fallback for /static|/docs/missing.txt');
    expect(seen!['stackware.urlparser.path']).toBeUndefined();
    expect((await c.get('/static/hello.txt')).text()).toBe('hello world\n');
  });

  it('passes static options through', async () => {
    const c = new TestClient(staticFiles({ root: site.root, cacheControl: 'public, max-age=31536000, immutable' }));
    expect((await c.get('/style.css')).header('Cache-Control')).toBe('public, max-age=31536000, immutable');
  });

  it('lists directories only when asked', async () => {
    expect((await new TestClient(staticFiles({ root: site.root })).get('/noindex/')).statusCode).toBe(404);
    expect((await new TestClient(staticFiles({ root: site.root, listing: true })).get('/noindex/')).text()).toContain('href="file.txt"');
  });
});
