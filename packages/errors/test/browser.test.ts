import { describe, it, expect, beforeAll, afterAll } from '@jest/globals';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { readBody, type Application } from '@stackware/gateway';
import { launchChromium, artifactPath, tempDir } from '@stackware/testing';
import { errorCatcher } from '../src/index.js';
import { placeOrder } from './fixtures/failing.js';
import { captureLogger, lineOf, startHttp } from './helpers.js';

const shop: Application = async (environ) => {
  if (environ.REQUEST_METHOD === 'POST') await readBody(environ);
  placeOrder({ id: Number(new URLSearchParams(environ.QUERY_STRING).get('id') ?? 0), items: [] });
  return [];
};

let browser: Awaited<ReturnType<typeof launchChromium>>;
let debugServer: Awaited<ReturnType<typeof startHttp>>;
let prodServer: Awaited<ReturnType<typeof startHttp>>;
const prodLog = captureLogger();
let outerLine: number;
let reports: Awaited<ReturnType<typeof tempDir>>;
let debugCatcher: ReturnType<typeof errorCatcher>;

beforeAll(async () => {
  outerLine = lineOf(await readFile(fileURLToPath(new URL('./fixtures/failing.ts', import.meta.url)), 'utf8'), 'MARK:outer');
  reports = await tempDir('stackware-errors-browser-');
  debugCatcher = errorCatcher(shop, { logger: captureLogger().logger, debug: true, pin: false, errorDir: reports.dir });
  debugServer = await startHttp(debugCatcher);
  prodServer = await startHttp(errorCatcher(shop, { logger: prodLog.logger }));
  browser = await launchChromium();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await debugServer?.close();
  await prodServer?.close();
  await debugCatcher?.close();
  await reports?.cleanup();
});

describe('what a person sees in Chromium', () => {
  it('the debug page: title, cause chain, frame list with the failing TypeScript line', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    try {
      const response = await page.goto(`${debugServer.url}/order?id=42`);
      expect(response!.status()).toBe(500);
      expect(await page.title()).toBe('InventoryError: cannot place order 42');
      expect(await page.locator('header h1').innerText()).toBe('InventoryError: cannot place order 42');
      expect(await page.locator('section.cause h3').innerText()).toBe('Caused by RangeError: order 42 has no items');
      const where = await page.locator('ol.frames > li.frame:not(.internal) .where').allInnerTexts();
      expect(where[0]).toContain(`fixtures/failing.ts:${outerLine}:`);
      const hit = page.locator('li.frame').first().locator('span.hit');
      expect(await hit.innerText()).toContain('MARK:outer');
      expect(await hit.innerText()).toMatch(new RegExp(`^\\s*${outerLine}\\s`));
      // internal frames are folded away; the plain-text copy is there to select
      expect(await page.locator('details summary').first().isVisible()).toBe(true);
      expect(await page.locator('textarea').inputValue()).toContain('Caused by: RangeError: order 42 has no items');
      await page.screenshot({ path: await artifactPath('errors-debug-page.png'), fullPage: false });
      await page.locator('section.cause').scrollIntoViewIfNeeded();
      await page.screenshot({ path: await artifactPath('errors-debug-page-full.png'), fullPage: true });
    } finally {
      await page.close();
    }
  }, 60_000);

  it('the post-mortem viewer lists the saved report and opens it', async () => {
    await debugCatcher.idle();
    const page = await browser.newPage({ viewport: { width: 1280, height: 400 } });
    try {
      await page.goto(`${debugServer.url}/_debug/errors`);
      expect(await page.title()).toBe('Saved errors');
      const link = page.locator('table a', { hasText: 'InventoryError: cannot place order 42' }).first();
      expect(await link.isVisible()).toBe(true);
      await page.screenshot({ path: await artifactPath('errors-viewer-list.png') });
      await link.click();
      await page.waitForURL(/\/_debug\/errors\/[0-9a-f]{16}$/);
      expect(await page.title()).toBe('InventoryError: cannot place order 42');
      expect(await page.locator('li.frame').first().locator('span.hit').innerText()).toContain('MARK:outer');
    } finally {
      await page.close();
    }
  }, 60_000);

  it('the production page: status, apology and error id; no stack, no paths', async () => {
    const page = await browser.newPage({ viewport: { width: 1024, height: 600 } });
    try {
      const response = await page.goto(`${prodServer.url}/order?id=42`);
      expect(response!.status()).toBe(500);
      expect(await page.title()).toBe('500 Internal Server Error');
      const text = await page.locator('body').innerText();
      expect(text).toContain('Internal Server Error');
      expect(text).toContain(`Error id: ${prodLog.records.at(-1)!.error_id}`);
      for (const leak of ['InventoryError', 'failing.ts', 'placeOrder', '/work/']) expect(text).not.toContain(leak);
      await page.screenshot({ path: await artifactPath('errors-production-page.png') });
    } finally {
      await page.close();
    }
  }, 60_000);
});
