import { describe, it, expect } from '@jest/globals';
import { addInterfaceKeys, createEnviron, createInput, fileWrapper, stderrErrors, type Environ, type InterfaceOptions } from '@stackware/gateway';
import { environFromCgi } from '../src/index.js';

/** The `stackware.*` keys of an environ. */
const interfaceKeys = (environ: Environ) => Object.fromEntries(Object.entries(environ).filter(([key]) => key.startsWith('stackware.')));

describe('the stackware.* interface keys: one builder (gateway addInterfaceKeys) for every gateway', () => {
  it('gives the defaults: version [1, 0], empty input, stderr errors, flags false, the file wrapper', async () => {
    const keys = addInterfaceKeys({}, 'http');
    expect(Object.keys(keys)).toEqual(['stackware.version', 'stackware.url_scheme', 'stackware.input', 'stackware.errors', 'stackware.multithread', 'stackware.multiprocess', 'stackware.run_once', 'stackware.file_wrapper']);
    expect(keys['stackware.version']).toEqual([1, 0]);
    expect(keys['stackware.errors']).toBe(stderrErrors);
    expect(keys['stackware.file_wrapper']).toBe(fileWrapper);
    expect([keys['stackware.multithread'], keys['stackware.multiprocess'], keys['stackware.run_once']]).toEqual([false, false, false]);
    const chunks: Uint8Array[] = [];
    for await (const chunk of keys['stackware.input']) chunks.push(chunk);
    expect(chunks).toEqual([]);
  });

  it('the HTTP server (createEnviron) and the CGI family (environFromCgi) build the same keys from the same options', () => {
    const errors = { write() {} };
    const options: InterfaceOptions = { input: createInput([], 0), errors, multithread: true, multiprocess: true, runOnce: true };
    const http = createEnviron({ method: 'GET', target: '/a', headers: [['Host', 'example.com']], scheme: 'https', ...options });
    const cgi = environFromCgi([['REQUEST_METHOD', 'GET'], ['REQUEST_URI', '/a'], ['HTTPS', 'on']], options);
    expect(interfaceKeys(cgi)).toEqual(interfaceKeys(http));
    expect(interfaceKeys(http)).toEqual({
      'stackware.version': [1, 0], 'stackware.url_scheme': 'https', 'stackware.input': options.input, 'stackware.errors': errors,
      'stackware.multithread': true, 'stackware.multiprocess': true, 'stackware.run_once': true, 'stackware.file_wrapper': fileWrapper,
    });
  });
});
