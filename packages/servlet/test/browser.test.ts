import { describe, it, expect } from '@jest/globals';
import { createHash } from 'node:crypto';
import { serve } from '@stackware/server';
import { launchChromium } from '@stackware/testing';
import { Page, html, servletApp } from '../src/index.js';

const PAYLOAD = `<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>"'&`;

class Profile extends Page {
  static saved: { name: string; file?: string } = { name: '(nobody)' };

  override title() {
    return `Profile of ${Profile.saved.name}`;
  }
  override actions() {
    return ['save'];
  }
  async save() {
    const file = this.request.file('avatar');
    const digest = file ? createHash('sha256').update(await file.bytes()).digest('hex').slice(0, 16) : '';
    Profile.saved = { name: String(this.request.field('name', '')), file: file ? `${file.filename} ${file.mimeType} ${file.size} ${digest}` : undefined };
    this.response.setCookie('saved', 'yes');
    this.sendRedirectAndEnd('/', 303);
  }
  override async writeContent() {
    const { name, file } = Profile.saved;
    await this.writeln(html`<p id="name" title="${name}">${name}</p><p id="file">${file ?? ''}</p>
<form method="post" enctype="multipart/form-data">
  <input id="in-name" name="name"> <input id="in-file" type="file" name="avatar">
  <button id="save" name="_action_save" value="Save">Save</button>
</form>`);
  }
}

describe('Chromium: a real browser posts a multipart form to a Page', () => {
  it('uploads the file, follows the 303, and shows an XSS payload as text (no script runs)', async () => {
    const node = await serve(servletApp(Profile), { host: '127.0.0.1', port: 0, accessLog: false });
    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      await page.goto(`${node.url}/`);
      const content = Buffer.from('hello world, from the browser\n');
      await page.fill('#in-name', PAYLOAD);
      await page.setInputFiles('#in-file', { name: 'notes é.txt', mimeType: 'text/plain', buffer: content });
      await Promise.all([page.waitForURL(`${node.url}/`), page.click('#save')]);
      expect(await page.textContent('#name')).toBe(PAYLOAD);
      expect(await page.getAttribute('#name', 'title')).toBe(PAYLOAD);
      expect(await page.$$eval('#name *', (nodes) => nodes.length)).toBe(0);
      expect(await page.evaluate(() => (globalThis as { __xss?: number }).__xss)).toBeUndefined();
      expect(await page.title()).toBe(`Profile of ${PAYLOAD}`);
      const digest = createHash('sha256').update(content).digest('hex').slice(0, 16);
      expect(await page.textContent('#file')).toBe(`notes é.txt text/plain ${content.length} ${digest}`);
      expect((await page.context().cookies(node.url)).map((c) => [c.name, c.value, c.httpOnly, c.sameSite])).toEqual([['saved', 'yes', true, 'Lax']]);
    } finally {
      await browser.close();
      await node.close();
    }
  }, 90_000);
});
