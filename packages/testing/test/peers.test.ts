import { describe, it, expect } from '@jest/globals';
import { writeFile, chmod } from 'node:fs/promises';
import { join } from 'node:path';
import { startNginx, startRedis, startApache, launchChromium, freePort } from '../src/index.js';

// Smoke tests of the peer helpers: each peer starts on loopback, answers, and stops.
describe('real peers', () => {
  it('nginx serves a fixed response', async () => {
    const nginx = await startNginx('server { listen 127.0.0.1:{{PORT}}; location / { return 200 "nginx ok"; } }');
    try {
      const res = await fetch(nginx.url);
      expect(await res.text()).toBe('nginx ok');
    } finally {
      await nginx.stop();
    }
  });

  it('redis answers PING', async () => {
    const redis = await startRedis();
    try {
      const { connect } = await import('node:net');
      const reply = await new Promise<string>((resolve, reject) => {
        const s = connect(redis.port, '127.0.0.1', () => s.write('PING\r\n'));
        s.once('data', (d) => { resolve(d.toString()); s.destroy(); });
        s.once('error', reject);
      });
      expect(reply).toBe('+PONG\r\n');
    } finally {
      await redis.stop();
    }
  });

  it('Apache httpd runs a CGI script with SCRIPT_NAME and PATH_INFO', async () => {
    const apache = await startApache();
    try {
      const script = join(apache.cgiBin, 'env.cgi');
      await writeFile(script, '#!/bin/sh\nprintf "Content-Type: text/plain\\r\\n\\r\\n%s|%s|%s" "$SCRIPT_NAME" "$PATH_INFO" "$QUERY_STRING"\n');
      await chmod(script, 0o755);
      const res = await fetch(`${apache.url}/cgi/env.cgi/a/b?x=1`);
      expect(await res.text()).toBe('/cgi/env.cgi|/a/b|x=1');
    } finally {
      await apache.stop();
    }
  });

  it('Chromium renders a page', async () => {
    const { createServer } = await import('node:http');
    const port = await freePort();
    const server = createServer((_req, res) => res.end('<title>peer check</title><h1>ok</h1>')).listen(port, '127.0.0.1');
    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      await page.goto(`http://127.0.0.1:${port}/`);
      expect(await page.title()).toBe('peer check');
    } finally {
      await browser.close();
      server.close();
    }
  });
});
