/**
 * The demo's error pages, favicon and upload flow, in real Chromium: a missing page (404), an
 * oversized upload through the form (413) and /admin without credentials (401, the login
 * cancelled as a person would) each show the site's layout and navigation; the upload answers
 * 303 and its result survives a reload without sending the file again.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn, type ChildProcess } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { artifactPath, freePort, launchChromium, tempDir, waitForPort } from '@stackware/testing';

const REPO = fileURLToPath(new URL('../../..', import.meta.url));
const NAV = ['Home', 'Session counter', 'Guestbook', 'Upload', 'Error page', 'Admin'];
const TIMEOUT_MS = 60_000;

let demo: ChildProcess;
let output = '';
let data: { dir: string; cleanup(): Promise<void> };
let base: string;
let browser: Browser;
let context: BrowserContext;
let page: Page;

beforeAll(async () => {
  data = await tempDir('stackware-demo-errors-');
  const port = await freePort();
  const env: NodeJS.ProcessEnv = { ...process.env, PORT: String(port), HOST: '127.0.0.1', PROTOCOL: 'http', STACKWARE_DATA_DIR: data.dir, SESSION_STORE: 'file', DEBUG: 'false', ADMIN_USER: 'admin', ADMIN_PASSWORD: 'secret' };
  delete env.NODE_OPTIONS;
  demo = spawn(process.execPath, [join(REPO, 'packages/cli/bin/stackware.js'), 'serve', 'apps/demo/site.toml'], { cwd: REPO, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  demo.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  demo.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  await waitForPort(port, 90_000).catch((error: unknown) => { throw new Error(`the demo did not start:\n${output}`, { cause: error }); });
  base = `http://127.0.0.1:${port}`;
  browser = await launchChromium();
  context = await browser.newContext();
  page = await context.newPage();
  page.setDefaultTimeout(TIMEOUT_MS);
}, 120_000);

afterAll(async () => {
  await browser?.close();
  if (demo?.exitCode === null) {
    const exited = new Promise((resolve) => demo.once('exit', resolve));
    try { process.kill(-demo.pid!, 'SIGTERM'); } catch { /* gone */ }
    await exited;
  }
  await data?.cleanup();
}, 30_000);

/** The page carries the site's layout: its title suffix, header navigation, style sheet and footer. */
async function expectSiteLayout(p: Page, heading: string): Promise<void> {
  await expect(p.locator('h1').innerText()).resolves.toBe(heading);
  await expect(p.title()).resolves.toBe(`${heading} · Stackware demo`);
  await expect(p.locator('header.top nav a').allInnerTexts()).resolves.toEqual(NAV);
  await expect(p.evaluate('getComputedStyle(document.querySelector("header.top")).backgroundColor')).resolves.toBe('rgb(30, 58, 95)');
  await expect(p.locator('footer').innerText()).resolves.toMatch(/Served by Stackware/);
}

describe('error pages in the site layout (Chromium)', () => {
  it('a missing page: 404 with the navigation', async () => {
    const response = await page.goto(`${base}/no/such/page`);
    expect(response!.status()).toBe(404);
    await expectSiteLayout(page, 'Page not found');
    await expect(page.locator('main').innerText()).resolves.toContain('/no/such/page');
    await page.screenshot({ path: await artifactPath('demo-error-404.png'), fullPage: true });
  });

  it('an upload over the limit, sent with the form: 413 with the navigation, the limit in MiB', async () => {
    await page.goto(`${base}/upload`);
    await page.setInputFiles('#file', { name: 'big.bin', mimeType: 'application/octet-stream', buffer: Buffer.alloc(6 * 1024 * 1024, 7) });
    const [response] = await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);
    expect(response!.status()).toBe(413);
    await expectSiteLayout(page, 'File too large');
    const text = await page.locator('main').innerText();
    expect(text).toContain('5 MiB');
    expect(text).not.toMatch(/\d{6,} bytes/);
    await page.screenshot({ path: await artifactPath('demo-error-413.png'), fullPage: true });
  });

  it('/admin without credentials, the login cancelled: 401 with the navigation', async () => {
    const anonymous = await browser.newContext();
    try {
      const p = await anonymous.newPage();
      // What a person's "Cancel" on the login prompt does: Chromium then shows the 401 page.
      const cdp = await anonymous.newCDPSession(p);
      await cdp.send('Fetch.enable', { handleAuthRequests: true, patterns: [{ urlPattern: '*' }] });
      cdp.on('Fetch.requestPaused', (event: { requestId: string }) => void cdp.send('Fetch.continueRequest', { requestId: event.requestId }).catch(() => {}));
      cdp.on('Fetch.authRequired', (event: { requestId: string }) => void cdp.send('Fetch.continueWithAuth', { requestId: event.requestId, authChallengeResponse: { response: 'CancelAuth' } }).catch(() => {}));
      const response = await p.goto(`${base}/admin/`, { timeout: TIMEOUT_MS });
      expect(response!.status()).toBe(401);
      expect(await response!.headerValue('www-authenticate')).toMatch(/^Basic realm="Stackware demo admin"/);
      await expectSiteLayout(p, 'Sign-in required');
      await expect(p.locator('main').innerText()).resolves.not.toContain('Signed in as');
      await p.screenshot({ path: await artifactPath('demo-error-401.png'), fullPage: true });
    } finally {
      await anonymous.close();
    }
  });
});

describe('favicon and upload flow', () => {
  it('/favicon.ico is an icon', async () => {
    const response = await context.request.get(`${base}/favicon.ico`);
    expect(response.status()).toBe(200);
    expect(response.headers()['content-type']).toBe('image/vnd.microsoft.icon');
    expect([...(await response.body()).subarray(0, 4)]).toEqual([0, 0, 1, 0]); // ICONDIR: reserved 0, type 1 (icon)
  });

  it('an upload answers 303 back to /upload; reloading the result does not send the file again', async () => {
    await page.goto(`${base}/upload`);
    await page.setInputFiles('#file', { name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('hello, upload\n') });
    const [response] = await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);
    expect(response!.status()).toBe(200);
    expect(response!.request().method()).toBe('GET');
    expect((await response!.request().redirectedFrom()?.response())?.status()).toBe(303);
    expect(new URL(page.url()).pathname).toBe('/upload');
    await expect(page.locator('.flash').innerText()).resolves.toBe('Uploaded and stored.');
    await expect(page.locator('#file-name').innerText()).resolves.toBe('notes.txt');
    const stored = async () => (await readdir(join(data.dir, 'uploads'))).filter((n) => n.endsWith('.bin')).length;
    const before = await stored();
    const methods: string[] = [];
    page.on('request', (request) => methods.push(request.method()));
    const reloaded = await page.reload();
    expect(reloaded!.status()).toBe(200);
    expect(methods[0]).toBe('GET');
    await expect(page.locator('#file-name').innerText()).resolves.toBe('notes.txt');
    await expect(page.locator('.flash').count()).resolves.toBe(0);
    expect(await stored()).toBe(before);
  });
});
