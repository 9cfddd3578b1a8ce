/**
 * @stackware/loader in-process: which modules count as TypeScript, and importModule. Registering
 * tsx for real (and its error when tsx is missing) is covered where processes start: the CLI
 * tests (a .mjs target loads no tsx) and the pack-and-install test (no tsx installed).
 */
import { describe, it, expect } from '@jest/globals';
import { pathToFileURL } from 'node:url';
import { importModule, isTypeScript } from '@stackware/loader';

describe('isTypeScript', () => {
  it.each([
    ['/srv/site/app.ts', true], ['app.mts', true], ['app.cts', true], ['Page.tsx', true], ['APP.TS', true],
    ['file:///srv/site/app.ts?stackware-reload=2', true], ['/srv/site/app.ts#named', true],
    ['/srv/site/app.js', false], ['app.mjs', false], ['app.cjs', false], ['types.d.ts.map', false], ['/srv/ts/app.js', false],
  ])('%s → %s', (path, expected) => {
    expect(isTypeScript(path)).toBe(expected);
  });

  it('accepts a URL', () => {
    expect(isTypeScript(new URL('file:///srv/site/app.mts'))).toBe(true);
  });
});

describe('importModule', () => {
  it('imports a module by file: URL (a string or a URL)', async () => {
    const url = pathToFileURL(new URL('../index.js', import.meta.url).pathname);
    expect(typeof (await importModule(url)).isTypeScript).toBe('function');
    expect(typeof (await importModule(url.href)).importModule).toBe('function');
  });
});
