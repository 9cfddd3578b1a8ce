import { describe, it, expect } from '@jest/globals';
import { fileURLToPath } from 'node:url';
import { TestClient, type FactoryContext } from '@stackware/gateway';
import { factories } from '../src/index.js';

const here = fileURLToPath(new URL('.', import.meta.url));
const context: FactoryContext = { name: 'page', here, defaults: {}, loadApp: () => Promise.reject(new Error('unused')) };

describe('deploy-file factory', () => {
  const factory = factories.apps!.default!;

  it('builds an application from a module path relative to the deploy file, and records the file', async () => {
    const app = await factory({ module: 'site/about.ts', maxFileBytes: 1024 }, context);
    const text = (await new TestClient(app).get('/')).text();
    expect(text).toContain('<p>about, reached as </p>');
    expect(text).toContain(`<p id="file">${here}site/about.ts</p>`);
  });

  it('takes the export named after the file when there is no default export', async () => {
    const app = await factory({ module: `${here}site/shop/banner.ts` }, context);
    expect((await new TestClient(app).get('/')).text()).toBe('<aside>banner</aside>');
  });

  it('names the module and the fix when there is no servlet export', async () => {
    await expect(factory({ module: 'site/shop/item.ts', export: 'Nope' }, context)).rejects.toThrow(/does not export a Servlet subclass as "Nope"/);
    expect(() => factory({}, context)).toThrow(/\[app\.page\] option "module" is required: .* — write module = "pages\/home\.ts"/);
    expect(factory.optionTypes).toMatchObject({ module: 'string', maxFileBytes: 'number' });
  });
});
