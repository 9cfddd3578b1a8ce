import { describe, it, expect } from '@jest/globals';
import { html, escapeHtml, notFound } from '@stackware/gateway';
import { launchChromium } from '@stackware/testing';
import { session, loadSession, MemoryStore } from '../src/index.js';
import { SECRET } from './helpers.js';
import { serve } from '@stackware/server';

describe('Chromium and the session cookie', () => {
  it('a counter page visited several times counts up; the cookie is HttpOnly, SameSite=Lax, Path=/, persistent, not Secure on http', async () => {
    const app = session(async (environ, startResponse) => {
      if (environ.PATH_INFO !== '/counter') return notFound()(environ, startResponse); // /favicon.ico must not count
      const s = await loadSession(environ);
      const n = (s.get<number>('visits') ?? 0) + 1;
      s.set('visits', n);
      return html(`<!doctype html><title>counter</title><p id="count">${escapeHtml(String(n))}</p><p id="js"></p>` +
        '<script>document.getElementById("js").textContent = "cookies seen by JS: [" + document.cookie + "]";</script>')(environ, startResponse);
    }, { secret: SECRET, store: new MemoryStore() });
    const node = await serve(app, { host: '127.0.0.1', port: 0, accessLog: false });
    const browser = await launchChromium();
    try {
      const context = await browser.newContext();
      const page = await context.newPage();
      const counts: string[] = [];
      for (let i = 0; i < 4; i++) {
        await page.goto(`${node.url}/counter`);
        counts.push((await page.textContent('#count')) ?? '');
      }
      expect(counts).toEqual(['1', '2', '3', '4']);
      expect(await page.textContent('#js')).toBe('cookies seen by JS: []');
      const cookies = await context.cookies(node.url);
      expect(cookies).toHaveLength(1);
      const [cookie] = cookies;
      expect(cookie).toMatchObject({ name: 'stackware_session', path: '/', httpOnly: true, secure: false, sameSite: 'Lax', domain: '127.0.0.1' });
      expect(cookie!.value).toMatch(/^[A-Za-z0-9_-]{32}\.[A-Za-z0-9_-]{43}$/);
      const lifetime = cookie!.expires - Date.now() / 1000;
      expect(lifetime).toBeGreaterThan(86_400 - 120);
      expect(lifetime).toBeLessThanOrEqual(86_400 + 1);
      // A fresh browser context (no cookie) starts again at 1.
      const other = await (await browser.newContext()).newPage();
      await other.goto(`${node.url}/counter`);
      expect(await other.textContent('#count')).toBe('1');
    } finally {
      await browser.close();
      await node.close();
    }
  }, 60_000);
});
