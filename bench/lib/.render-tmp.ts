import { readFileSync } from 'node:fs';
import { launchChromium } from '@stackware/testing';
const [svg, png] = process.argv.slice(2);
const browser = await launchChromium();
const page = await browser.newPage({ viewport: { width: 1000, height: 1600 } });
await page.setContent(`<html><body style="margin:0">${readFileSync(svg!, 'utf8')}</body></html>`);
await page.locator('svg').screenshot({ path: png!, timeout: 120_000, animations: 'disabled' });
await browser.close();
