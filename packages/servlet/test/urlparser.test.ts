import { describe, it, expect } from '@jest/globals';
import { fileURLToPath } from 'node:url';
import { TestClient } from '@stackware/gateway';
import { urlParser } from '@stackware/urlparser';
import { servletRoot } from '../src/index.js';

const root = fileURLToPath(new URL('./site', import.meta.url));

describe('servlets under the URL parser (modules converted through TO_APPLICATION)', () => {
  const client = new TestClient(servletRoot(urlParser({ root })), { scriptName: '/app' });

  it('gives the servlet its extra path info and its file on disk', async () => {
    const res = await client.get('/app/shop/item/42');
    expect(res.statusCode).toBe(200);
    const text = res.text();
    expect(text).toContain('<p id="item">item 42</p>');
    expect(text).toContain(`<p id="file">${root}/shop/item.ts</p>`);
    expect(text).toContain(`<p id="sibling">${root}/about.ts</p>`);
  });

  it('includes and forwards to other servlets of the same site (named exports work too)', async () => {
    expect((await client.get('/app/shop/item/1')).text()).toContain('<aside>banner</aside>');
    const forwarded = await client.get('/app/shop/item/1?gone');
    expect(forwarded.text()).toContain('<title>About</title>');
    expect(forwarded.text()).toContain('<p>about, reached as /app/about</p>');
  });
});
