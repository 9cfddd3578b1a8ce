import { describe, it, expect, beforeAll, afterAll } from '@jest/globals';
import { connect } from 'node:net';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, tempDir } from '@stackware/testing';
import { loadDeployment } from '@stackware/config';

const here = dirname(fileURLToPath(import.meta.url));
let tmp: { dir: string; cleanup(): Promise<void> };

beforeAll(async () => {
  tmp = await tempDir('stackware-config-protocols-');
  await mkdir(join(tmp.dir, 'lib'));
  await symlink(resolve(here, 'fixtures/lib/apps.ts'), join(tmp.dir, 'lib/apps.ts'));
});
afterAll(() => tmp.cleanup());

/** One SCGI request (netstring of NUL-separated headers, then the body); resolves with the raw response. */
function scgiRequest(port: number, path: string): Promise<string> {
  const headers = { CONTENT_LENGTH: '0', SCGI: '1', REQUEST_METHOD: 'GET', REQUEST_URI: path, PATH_INFO: path, SCRIPT_NAME: '', QUERY_STRING: '', SERVER_NAME: 'localhost', SERVER_PORT: '80', SERVER_PROTOCOL: 'HTTP/1.1', HTTP_HOST: 'localhost' };
  const block = Buffer.from(Object.entries(headers).map(([k, v]) => `${k}\0${v}\0`).join(''));
  return new Promise((resolvePromise, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.end(Buffer.concat([Buffer.from(`${block.length}:`), block, Buffer.from(',')])));
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('end', () => resolvePromise(Buffer.concat(chunks).toString()));
    socket.on('error', reject);
    socket.setTimeout(10_000, () => socket.destroy(new Error('SCGI request timed out')));
  });
}

describe('server sections pick the protocol\'s factory', () => {
  it('protocol = "scgi" starts @stackware/server\'s SCGI server for the pipeline', async () => {
    const port = await freePort();
    const file = join(tmp.dir, 'scgi.toml');
    await writeFile(file, ['[app.site]', 'use = "./lib/apps.ts#echo"', 'greeting = "over scgi"', '[filter.t]', 'use = "./lib/apps.ts#tag"', 'tag = "t"', '[pipeline.main]', 'pipeline = ["t", "site"]', '[server.gw]', 'protocol = "scgi"', 'host = "127.0.0.1"', `port = ${port}`].join('\n'));
    const deployment = await loadDeployment(file);
    const [started] = await deployment.startServers();
    try {
      const response = await scgiRequest(port, '/hello');
      expect(response).toMatch(/^Status: 200 OK\r\n/);
      expect(response).toContain('"greeting":"over scgi"');
      expect(response).toContain('"trail":["t"]');
    } finally {
      await started!.server.close();
    }
  });

  it('reports an option the protocol\'s server does not take', async () => {
    const file = join(tmp.dir, 'scgi-bad.toml');
    await writeFile(file, ['[app.main]', 'use = "./lib/apps.ts#echo"', '[server.gw]', 'protocol = "scgi"', 'port = 4000', 'maxRequestsPerConnection = 5'].join('\n')); // a FastCGI option (SCGI takes the shared limits, keepAliveTimeoutMs included)
    await expect(loadDeployment(file)).rejects.toThrow(`${file}:6:1: [server.gw] key "maxRequestsPerConnection": unknown option "maxRequestsPerConnection" for @stackware/server`);
  });
});
