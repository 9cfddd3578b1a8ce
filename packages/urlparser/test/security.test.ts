import { describe, it, expect, beforeAll, afterAll } from '@jest/globals';
import { request } from 'node:http';
import { TestClient, createEnviron, decodePath, unsafePathReason, BadRequestError, type Application, type Environ } from '@stackware/gateway';
import { serve, type HttpServer } from '@stackware/server';
import { urlParser, staticFiles } from '../src/index.js';
import { makeSite, type Site } from './fixture.js';

let site: Site;
let parser: TestClient;
let files: TestClient;
let unhidden: TestClient;
/** The same applications without the validator, to reach them with an environ no gateway would build. */
const direct = new Map<TestClient, TestClient>();

beforeAll(async () => {
  site = await makeSite();
  parser = new TestClient(urlParser({ root: site.root }), { throwErrors: false });
  files = new TestClient(staticFiles({ root: site.root }), { throwErrors: false });
  // No hide patterns: the traversal checks must hold on their own (".*" would also catch "..").
  unhidden = new TestClient(urlParser({ root: site.root, hide: [] }), { throwErrors: false });
  direct.set(parser, new TestClient(urlParser({ root: site.root }), { throwErrors: false, validate: false }));
  direct.set(files, new TestClient(staticFiles({ root: site.root }), { throwErrors: false, validate: false }));
  direct.set(unhidden, new TestClient(urlParser({ root: site.root, hide: [] }), { throwErrors: false, validate: false }));
});
afterAll(() => site.cleanup());

const SECRETS = /SECRET|secret-internal-lib|compilerOptions|root:x:0|\[core\]|backup|swap|autosave|"version"|module\.exports|environ\.SCRIPT_NAME/;

/**
 * Every refused request answers 404 and contains no secret from the fixture tree. A path with NUL
 * or a dot segment never reaches the parser: the gateway answers 400 (packages/gateway/SPEC.md).
 * The parser keeps its own check (defence in depth, for an environ a foreign gateway or a
 * rewriting middleware built): the same path set straight into PATH_INFO still gets 404.
 */
async function expectRefused(client: TestClient, target: string): Promise<void> {
  const res = await client.get(target);
  const decoded = decodePath(target.split('?')[0]!);
  const atGateway = decoded !== undefined && unsafePathReason(decoded) !== undefined;
  expect([target, res.statusCode]).toEqual([target, atGateway ? 400 : 404]);
  expect(res.text()).not.toMatch(SECRETS);
  if (!atGateway) return;
  const bypass = await direct.get(client)!.get('/x', { environ: { PATH_INFO: decoded } as Partial<Environ> });
  expect([decoded, bypass.statusCode]).toEqual([decoded, 404]);
  expect(bypass.text()).not.toMatch(SECRETS);
}

describe.each([
  ['urlParser', () => parser],
  ['staticFiles', () => files],
  ['urlParser with hide: []', () => unhidden],
])('%s refuses', (_name, get) => {
  it('".." segments', async () => {
    for (const t of ['/../outside-secret.txt', '/docs/../../outside-secret.txt', '/..', '/docs/..']) await expectRefused(get(), t);
  });

  it('percent-encoded dots "%2e%2e" (decoded before the walk)', async () => {
    for (const t of ['/%2e%2e/outside-secret.txt', '/%2E%2E/outside-secret.txt', '/.%2e/outside-secret.txt', '/docs/%2e%2e/%2e%2e/outside-secret.txt']) await expectRefused(get(), t);
  });

  it('encoded slashes "%2f" (decoded into separators, then the dots are refused)', async () => {
    for (const t of ['/..%2foutside-secret.txt', '/docs%2f..%2f..%2foutside-secret.txt', '/%2f%2e%2e%2foutside-secret.txt']) await expectRefused(get(), t);
  });

  it('backslashes, raw and encoded', async () => {
    for (const t of ['/..%5coutside-secret.txt', '/docs%5c..%5c..%5coutside-secret.txt', '/docs\\guide.txt']) await expectRefused(get(), t);
  });

  it('NUL bytes and other control characters', async () => {
    for (const t of ['/hello.txt%00', '/hello.txt%00.png', '/%00', '/hello%0a.txt', '/docs%01/guide.txt']) await expectRefused(get(), t);
  });

  it('overlong UTF-8 never reaches the parser (400 from createEnviron), and its Latin-1 reading is no traversal', async () => {
    expect(() => createEnviron({ method: 'GET', target: '/%c0%ae%c0%ae/outside-secret.txt', headers: [] })).toThrow(BadRequestError);
    expect(() => createEnviron({ method: 'GET', target: '/%e0%80%ae%e0%80%ae/outside-secret.txt', headers: [] })).toThrow(BadRequestError);
    const res = await get().get('/x', { environ: { PATH_INFO: '/\u00c0\u00ae\u00c0\u00ae/outside-secret.txt' } as Partial<Environ> });
    expect(res.statusCode).toBe(404);
    const replaced = await get().get('/x', { environ: { PATH_INFO: '/\ufffd\ufffd/outside-secret.txt' } as Partial<Environ> });
    expect(replaced.statusCode).toBe(404);
  });

  it('control: an existing outside file is reachable by a symlink when allowSymlinksOutside is on', async () => {
    const open = new TestClient(urlParser({ root: site.root, allowSymlinksOutside: true }));
    expect((await open.get('/link-out.txt')).text()).toBe('SECRET OUTSIDE THE ROOT\n');
    expect((await open.get('/link-out-dir/inner.txt')).statusCode).toBe(200);
  });

  it('symlinks that leave the root (files and directories), but follows links inside it', async () => {
    for (const t of ['/link-out.txt', '/link-out-dir/inner.txt', '/link-out-dir/', '/passwd']) await expectRefused(get(), t);
    expect((await get().get('/link-in.txt')).text()).toBe('hello world\n');
  });

});

describe.each([
  ['urlParser', () => parser],
  ['staticFiles', () => files],
])('%s never serves', (_name, get) => {
  it('hidden files and directories: .env, .git/, dotfiles', async () => {

    for (const t of ['/.env', '/.git/config', '/.git/', '/.git', '/.hidden/visible-name.txt', '/.notes.txt.swp', '/%2eenv']) await expectRefused(get(), t);
  });

  it('project metadata: package.json, tsconfig.json', async () => {
    for (const t of ['/package.json', '/tsconfig.json', '/package']) await expectRefused(get(), t);
  });

  it('hidden extensions: source maps, .bak, ~, .swp, #autosave#', async () => {

    for (const t of ['/app.js.map', '/notes.txt.bak', '/notes.txt~', '/notes.swp', '/%23notes%23', '/readme.bak']) await expectRefused(get(), t);
    expect((await get().get('/notes.txt')).text()).toBe('notes\n');
  });
});

describe('module source is never sent as text', () => {
  it('urlParser executes modules: the response is the application\'s, not the source', async () => {
    const res = await parser.get('/app.ts');
    expect(res.text()).toBe('app /app.ts | ');
  });

  it('a module without an application, or one that fails, answers 404/500 without source', async () => {
    await expectRefused(parser, '/noexport.ts');
    const broken = await parser.get('/broken.ts');
    expect(broken.statusCode).toBe(500);
    expect(broken.text()).not.toContain('throw new Error');
  });

  it('urlParser answers 404 for source with no factory (.cts; .ts when its factory is removed)', async () => {
    await expectRefused(parser, '/source.cts');
    const noModules = new TestClient(urlParser({ root: site.root, factories: { '.ts': null, '.js': null } }));
    await expectRefused(noModules, '/app.ts');
    await expectRefused(noModules, '/app');
    await expectRefused(noModules, '/plain.js');
  });

  it('extension-less lookup never picks a hidden file ("/readme" with only readme.bak)', async () => {
    await expectRefused(parser, '/readme');
  });

  it('staticFiles answers 404 for server-side source but serves browser JavaScript', async () => {
    await expectRefused(files, '/app.ts');
    await expectRefused(files, '/source.cts');
    const js = await files.get('/plain.js');
    expect(js.statusCode).toBe(200);
    expect(js.header('Content-Type')).toBe('text/javascript; charset=utf-8');
  });
});

describe('over a real socket (@stackware/server)', () => {
  let server: HttpServer;
  beforeAll(async () => {
    const app: Application = urlParser({ root: site.root });
    server = await serve(app, { port: 0, accessLog: false });
  });
  afterAll(() => server.close());

  function rawGet(target: string): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: server.port, path: target, method: 'GET' }, (res) => {
        let body = '';
        res.setEncoding('latin1');
        res.on('data', (d: string) => { body += d; });
        res.on('end', () => resolve({ status: res.statusCode!, body }));
      });
      req.on('error', reject);
      req.end();
    });
  }

  it.each([
    ['/../outside-secret.txt', 400], // NUL and dot segments: 400 from the server (SPEC.md)
    ['/%2e%2e/outside-secret.txt', 400],
    ['/..%2f..%2foutside-secret.txt', 400],
    ['/..%5coutside-secret.txt', 404],
    ['/hello.txt%00', 400],
    ['/%c0%ae%c0%ae/outside-secret.txt', 400],
    ['/link-out.txt', 404],
    ['/.env', 404],
    ['/hello.txt', 200],
  ])('%s → %i', async (target, status) => {
    const res = await rawGet(target);
    expect(res.status).toBe(status);
    expect(res.body).not.toContain('SECRET');
  });
});
