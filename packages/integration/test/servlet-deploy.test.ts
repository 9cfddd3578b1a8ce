import { describe, it, expect, beforeAll, afterAll } from '@jest/globals';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TestClient } from '@stackware/gateway';
import { loadDeployment } from '@stackware/config';
import { tempDir } from '@stackware/testing';

const servletPackage = fileURLToPath(new URL('../../servlet', import.meta.url));
// The servlet package's own test site (its pages import @stackware/servlet, found from there).
const site = fileURLToPath(new URL('../../servlet/test/site', import.meta.url));

describe('servlets from a deploy file (@stackware/config)', () => {
  let dir: string;
  let cleanup: () => Promise<void>;

  beforeAll(async () => {
    ({ dir, cleanup } = await tempDir('stackware-servlet-deploy-'));
    // The project that holds the deploy file has @stackware/servlet installed.
    await mkdir(join(dir, 'node_modules', '@stackware'), { recursive: true });
    await symlink(servletPackage, join(dir, 'node_modules', '@stackware', 'servlet'));
  });
  afterAll(async () => {
    await cleanup?.();
  });

  it('builds `use = "@stackware/servlet"` with a module path and limits, and `application = Class`', async () => {
    const file = join(dir, 'site.toml');
    await writeFile(file, `
[app.about]
use = "@stackware/servlet"
module = "${site}/about.ts"
maxFileBytes = 1024

[app.banner]
application = "${site}/shop/banner.ts#banner"
`);
    const deployment = await loadDeployment(file);
    const about = new TestClient(await deployment.buildApplication('about'));
    const text = (await about.get('/')).text();
    expect(text).toContain('<title>About</title>');
    expect(text).toContain(`<p id="file">${site}/about.ts</p>`);
    const banner = new TestClient(await deployment.buildApplication('banner'));
    expect((await banner.get('/')).text()).toBe('<aside>banner</aside>');
  });

  it('reports a wrongly typed option by name', async () => {
    const file = join(dir, 'bad.toml');
    await writeFile(file, `
[app.about]
use = "@stackware/servlet"
module = "${site}/about.ts"
maxFileBytes = "lots"
`);
    await expect(loadDeployment(file)).rejects.toThrow(/maxFileBytes/);
  });
});
