/**
 * `node --conditions=source --import tsx bench/lib/svg-to-png.ts <in.svg> <out.png>`: renders an SVG
 * (the benchmark chart) to PNG with Debian's Chromium (@stackware/testing `launchChromium`), to look
 * at the chart where no SVG viewer is at hand. Not part of `pnpm bench`.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { launchChromium } from '@stackware/testing';

const [input, output] = process.argv.slice(2);
if (!input || !output) {
  process.stderr.write('usage: svg-to-png.ts <in.svg> <out.png>\n');
  process.exit(2);
}
const svg = readFileSync(resolve(input), 'utf8');
const width = Number(/width="(\d+)"/.exec(svg)?.[1] ?? 1000);
const browser = await launchChromium();
try {
  const page = await browser.newPage({ viewport: { width: width + 20, height: 800 } });
  await page.setContent(`<html><body style="margin:0">${svg}</body></html>`);
  await page.locator('svg').screenshot({ path: resolve(output), timeout: 120_000 });
} finally {
  await browser.close();
}
