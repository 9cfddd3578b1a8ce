import { describe, it, expect } from '@jest/globals';
import { connect } from 'node:net';
import type { Application } from '@stackware/gateway';
import pino from 'pino';
import { serve } from '../src/index.js';

// A body that fails right after its first chunk: the client must receive the status line, the
// headers and that chunk, and then a connection closed without the final chunk (a broken
// response it can recognise), never a bare reset with nothing.
describe('a response broken off after its first chunk', () => {
  it('delivers the bytes already sent, then closes without completing the chunked body', async () => {
    const app: Application = (_environ, startResponse) => (async function* () {
      startResponse('200 OK', [['Content-Type', 'text/plain']]);
      yield Buffer.from('first chunk;');
      throw new Error('failed mid-stream');
    })();
    const server = await serve(app, { host: '127.0.0.1', port: 0, accessLog: false, logger: pino({ level: 'silent' }) });
    try {
      const port = Number(new URL(server.url).port);
      const raw = await new Promise<string>((resolve, reject) => {
        let data = '';
        const socket = connect(port, '127.0.0.1', () => socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
        socket.on('data', (d) => { data += d.toString('latin1'); });
        socket.on('close', () => resolve(data));
        socket.on('error', reject);
      });
      expect(raw).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
      expect(raw).toContain('first chunk;');
      expect(raw).not.toMatch(/\r\n0\r\n\r\n$/);
    } finally {
      await server.close();
    }
  });
});
