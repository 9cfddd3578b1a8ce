import { describe, it, expect } from '@jest/globals';
import type { Application, FactoryContext } from '@stackware/gateway';
import { factories } from '../src/index.js';
import { curl } from './helpers.js';

const context: FactoryContext = { name: 'main', here: process.cwd(), defaults: {}, loadApp: async () => { throw new Error('unused'); } };
const hello: Application = (_e, startResponse) => {
  startResponse('200 OK', [['Content-Type', 'text/plain']]);
  return [Buffer.from('from the factory')];
};

describe('factories', () => {
  it('servers.default and servers.http are the HTTP server, built from deploy-file options', async () => {
    expect(factories.servers!.default).toBe(factories.servers!.http);
    expect(factories.servers!.http!.optionTypes).toMatchObject({ port: 'number', host: 'string', timeoutMs: 'number', accessLog: 'boolean' });
    const start = await factories.servers!.default!({ host: '127.0.0.1', port: 0, accessLog: false, logLevel: 'silent' }, context);
    const running = await start(hello);
    try {
      expect(running.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect((await curl([`${running.url}/`])).stdout).toBe('from the factory');
    } finally {
      await running.close();
    }
  });
});
