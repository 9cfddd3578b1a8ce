/**
 * The deploy file with the real Stackware packages as a user's project has them installed
 * (node_modules/@stackware/* beside the file): errors, session, urlparser, middleware.
 */
import { describe, it, expect, beforeAll, afterAll, jest } from '@jest/globals';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TestClient } from '@stackware/gateway';
import { tempDir } from '@stackware/testing';
import { ConfigError, loadDeployment } from '@stackware/config';

const here = dirname(fileURLToPath(import.meta.url));
const PACKAGES = resolve(here, '../..');
let tmp: { dir: string; cleanup(): Promise<void> };

beforeAll(async () => {
  tmp = await tempDir('stackware-config-real-');
  await mkdir(join(tmp.dir, 'node_modules/@stackware'), { recursive: true });
  for (const name of ['errors', 'session', 'urlparser', 'middleware']) await symlink(join(PACKAGES, name), join(tmp.dir, 'node_modules/@stackware', name));
  await mkdir(join(tmp.dir, 'lib'));
  await symlink(resolve(here, 'fixtures/lib/apps.ts'), join(tmp.dir, 'lib/apps.ts'));
  await mkdir(join(tmp.dir, 'public'));
  await writeFile(join(tmp.dir, 'public/hello.txt'), 'hello from disk\n');
});
afterAll(() => tmp.cleanup());

describe('real packages from the deploy file', () => {
  it('builds errors + session + static files, and the error catcher guards a failing app', async () => {
    const file = join(tmp.dir, 'site.toml');
    await writeFile(file, `
main = "root"

[app.files]
use = "@stackware/urlparser#static"
root = "\${here}/public"

[app.broken]
use = "./lib/apps.ts#failing"

[filter.errors]
use = "@stackware/errors"
debug = false

[filter.session]
use = "@stackware/session"
secret = "a-test-secret-that-is-long-enough-0123456789"

[pipeline.site]
pipeline = ["errors", "session", "files"]

[pipeline.guarded]
pipeline = ["errors", "broken"]

[composite.root]
"/" = "site"
"/boom" = "guarded"
`);
    const deployment = await loadDeployment(file);
    const client = new TestClient(await deployment.buildApplication());
    const res = await client.get('/hello.txt');
    expect(res.statusCode).toBe(200);
    expect(res.text()).toBe('hello from disk\n');
    expect((await client.get('/missing.txt')).statusCode).toBe(404);
    const failed = await client.get('/boom/x');
    expect(failed.statusCode).toBe(500);
    expect(failed.text()).not.toContain('request failed on purpose');
  });

  it('reports an unknown option of a real package with its accepted options', async () => {
    const file = join(tmp.dir, 'typo.toml');
    await writeFile(file, '[app.main]\nuse = "@stackware/urlparser#static"\nroot = "."\nlisting = "yes"\n');
    const error = await loadDeployment(file).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).message).toBe(`${file}:4:1: [app.main] key "listing": option "listing" must be true or false, got string "yes" — write listing = true`);
    await writeFile(file, '[filter.s]\nuse = "@stackware/session"\nsecrett = "x"\n[app.main]\nuse = "./lib/apps.ts#echo"\n[pipeline.p]\npipeline = ["s", "main"]\n');
    const typo = await loadDeployment(file).catch((e: unknown) => e);
    expect((typo as ConfigError).message).toContain(`${file}:3:1: [filter.s] key "secrett": unknown option "secrett" for @stackware/session — did you mean "secret"?`);
  });

  it('reports a value out of range or outside an enum from the factory\'s options schema, with file, line, key and fix', async () => {
    const file = join(tmp.dir, 'range.toml');
    const app = '[app.main]\nuse = "./lib/apps.ts#echo"\n[pipeline.p]\npipeline = ["f", "main"]\n';
    await writeFile(file, `${app}[filter.f]\nuse = "@stackware/middleware#compression"\ngzipLevel = 12\n`);
    expect(((await loadDeployment(file).catch((e: unknown) => e)) as ConfigError).message).toBe(`${file}:7:1: [filter.f] key "gzipLevel": option "gzipLevel" must be ≤ 9, got 12 — write gzipLevel = 6`);
    await writeFile(file, `${app}[filter.f]\nuse = "@stackware/middleware#compression"\nencodings = ["br", "zip"]\n`);
    expect(((await loadDeployment(file).catch((e: unknown) => e)) as ConfigError).message).toBe(`${file}:7:1: [filter.f] key "encodings": option "encodings" must hold only "br", "gzip", "deflate", got "zip" — write encodings = ["br"]`);
    await writeFile(file, `${app}[filter.f]\nuse = "@stackware/session"\nsecret = "\${STACKWARE_TEST_SECRET:-a-secret-of-at-least-32-characters..}"\ncookieSameSite = "loose"\n`);
    expect(((await loadDeployment(file).catch((e: unknown) => e)) as ConfigError).message).toBe(`${file}:8:1: [filter.f] key "cookieSameSite": option "cookieSameSite" must be "lax", "strict" or "none", got string "loose" — write cookieSameSite = "lax"`);
    await writeFile(file, `${app}[filter.f]\nuse = "@stackware/session"\nidleTimeoutSeconds = "\${STACKWARE_TEST_IDLE:-0}"\nsecret = "a-secret-of-at-least-32-characters.."\n`);
    expect(((await loadDeployment(file).catch((e: unknown) => e)) as ConfigError).message).toBe(`${file}:7:1: [filter.f] key "idleTimeoutSeconds": option "idleTimeoutSeconds" must be > 0, got 0 — write idleTimeoutSeconds = 86400`);
  });

  it('reads a renamed key (compression threshold → thresholdBytes) with a DeprecationWarning naming file, line and key', async () => {
    const file = join(tmp.dir, 'renamed.toml');
    await writeFile(file, '[app.main]\nuse = "./lib/apps.ts#echo"\ngreeting = "' + 'x'.repeat(600) + '"\n[filter.gz]\nuse = "@stackware/middleware#compression"\nthreshold = 512\n[pipeline.p]\npipeline = ["gz", "main"]\n');
    const warn = jest.spyOn(process, 'emitWarning').mockImplementation(() => {});
    try {
      const deployment = await loadDeployment(file);
      const client = new TestClient(await deployment.buildApplication('p'));
      const res = await client.get('/', { headers: { 'Accept-Encoding': 'gzip' } });
      expect(res.header('content-encoding')).toBe('gzip'); // 600+ bytes ≥ 512: the old key took effect (the default is 1024)
      expect(warn).toHaveBeenCalledWith(`${file}:6:1: [filter.gz] key "threshold": option "threshold" is deprecated: write thresholdBytes (same value and unit)`, { type: 'DeprecationWarning', code: 'STACKWARE_DEPRECATED_OPTION' });
    } finally {
      warn.mockRestore();
    }
  });
});
