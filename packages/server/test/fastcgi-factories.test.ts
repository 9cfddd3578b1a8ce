import { describe, it, expect } from '@jest/globals';
import { join } from 'node:path';
import { connect } from 'node:net';
import type { Application, FactoryContext } from '@stackware/gateway';
import { tempDir } from '@stackware/testing';
import { factories } from '../src/index.js';
import { FcgiTestClient, cgiParams, parseCgiResponse } from './fastcgi-client.js';

const context: FactoryContext = { name: 'main', here: process.cwd(), defaults: {}, loadApp: async () => { throw new Error('unused'); } };
const app: Application = (environ, startResponse) => {
  startResponse('200 OK', [['Content-Type', 'text/plain']]);
  return [Buffer.from(`via ${environ.PATH_INFO}`)];
};

describe('factories.servers.fastcgi / scgi (deploy file)', () => {
  it('fastcgi builds a FastCGI server from deploy-file options (a Unix socket here)', async () => {
    const factory = factories.servers!.fastcgi!;
    expect(factory.optionTypes).toMatchObject({ port: 'number', socket: 'string', multiplex: 'boolean', maxParamsBytes: 'number' });
    const { dir, cleanup } = await tempDir();
    const socket = join(dir, 'app.sock');
    const running = await (await factory({ socket, maxRequestsPerConnection: 2 }, context))(app);
    expect(running.url).toBe(`unix:${socket}`);
    const client = await FcgiTestClient.connect({ socket });
    expect(parseCgiResponse((await client.request(1, cgiParams('/f'))).stdout).body.toString()).toBe('via /f');
    client.close();
    await running.close();
    await cleanup();
  });

  it('scgi builds an SCGI server from deploy-file options', async () => {
    const factory = factories.servers!.scgi!;
    expect(factory.optionTypes).toMatchObject({ port: 'number', socket: 'string', maxHeaderBytes: 'number' });
    const running = await (await factory({ host: '127.0.0.1', port: 0 }, context))(app);
    expect(running.url).toMatch(/^scgi:\/\/127\.0\.0\.1:\d+$/);
    const headers = Buffer.from('CONTENT_LENGTH\x000\x00SCGI\x001\x00PATH_INFO\x00/s\x00', 'latin1');
    const reply = await new Promise<Buffer>((resolve, reject) => {
      const socket = connect(Number(running.url.split(':').at(-1)), '127.0.0.1');
      const chunks: Buffer[] = [];
      socket.on('data', (d: Buffer) => chunks.push(d));
      socket.on('end', () => resolve(Buffer.concat(chunks)));
      socket.on('error', reject);
      socket.write(Buffer.concat([Buffer.from(`${headers.length}:`), headers, Buffer.from(',')]));
    });
    expect(parseCgiResponse(reply).body.toString()).toBe('via /s');
    await running.close();
  });
});
