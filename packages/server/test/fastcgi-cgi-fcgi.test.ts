/**
 * `cgi-fcgi` (Debian libfcgi-bin, the FastCGI reference library's client) as a second,
 * independent FastCGI client: against serveFastCGI in-process, and against
 * `stackware serve --protocol fastcgi` (TCP and --socket).
 */
import { describe, it, expect, beforeAll, afterAll } from '@jest/globals';
import { spawn } from 'node:child_process';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect } from 'node:net';
import { existsSync } from 'node:fs';
import { freePort, requireBinary, startProcess, tempDir, waitForPort, type Peer } from '@stackware/testing';
import { serveFastCGI } from '../src/index.js';
import { conformanceApp } from './conformance-app.js';
import { parseCgiResponse } from './fastcgi-client.js';

const repo = resolve(fileURLToPath(new URL('.', import.meta.url)), '../../..');
const fixture = join(repo, 'packages/server/test/conformance-app.ts');
const cgiFcgi = requireBinary('cgi-fcgi', 'libfcgi-bin');

/** Runs cgi-fcgi once against `address` with CGI variables and an optional body; bounded. */
function runCgiFcgi(address: string, vars: Record<string, string>, body?: Buffer): Promise<{ stdout: Buffer; stderr: string; code: number | null }> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(cgiFcgi, ['-bind', '-connect', address], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...vars }, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`cgi-fcgi timed out; stderr: ${err}`)); }, 30_000);
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    child.on('error', reject);
    child.on('close', (code) => { clearTimeout(timer); resolvePromise({ stdout: Buffer.concat(out), stderr: err, code }); });
    child.stdin.on('error', () => undefined); // cgi-fcgi does not read stdin without CONTENT_LENGTH and may exit first (EPIPE)
    child.stdin.end(body ?? Buffer.alloc(0));
  });
}

function vars(uri: string, extra: Record<string, string> = {}): Record<string, string> {
  const [path, query = ''] = uri.split('?') as [string, string?];
  return {
    REQUEST_METHOD: 'GET', REQUEST_URI: uri, SCRIPT_NAME: '', PATH_INFO: decodeURIComponent(path), QUERY_STRING: query,
    SERVER_NAME: 'localhost', SERVER_PORT: '80', SERVER_PROTOCOL: 'HTTP/1.1', REMOTE_ADDR: '127.0.0.1', HTTP_X_TEST: 'from cgi-fcgi', ...extra,
  };
}

describe('cgi-fcgi against serveFastCGI', () => {
  let server: Awaited<ReturnType<typeof serveFastCGI>>;
  let address: string;
  beforeAll(async () => {
    server = await serveFastCGI(conformanceApp(() => undefined), { port: 0 });
    address = server.url.replace('fastcgi://', '');
  });
  afterAll(async () => { await server.close(); });

  it('GET with a query string and a request header', async () => {
    const result = await runCgiFcgi(address, vars('/environ/caf%C3%A9?a=1&b=%20'));
    expect(result.code).toBe(0);
    const response = parseCgiResponse(result.stdout);
    expect(response.status).toBe('200 OK');
    expect(JSON.parse(response.body.toString())).toEqual({
      REQUEST_METHOD: 'GET', SCRIPT_NAME: '', PATH_INFO: '/environ/café', QUERY_STRING: 'a=1&b=%20', HTTP_X_TEST: 'from cgi-fcgi', REMOTE_USER: null,
      url_scheme: 'http', multiprocess: false, run_once: false, pid: process.pid,
    });
  });

  it('status and repeated Set-Cookie', async () => {
    const response = parseCgiResponse((await runCgiFcgi(address, vars('/headers'))).stdout);
    expect(response.headers.filter(([n]) => n === 'Set-Cookie').map(([, v]) => v)).toEqual(['first=1; Path=/', 'second=2; Path=/; HttpOnly']);
    const missing = parseCgiResponse((await runCgiFcgi(address, vars('/status/404?reason=Not%20Found'))).stdout);
    expect(missing.status).toBe('404 Not Found');
  });

  it('POST body on stdin', async () => {
    const body = Buffer.alloc(150_000, 0x33);
    const response = parseCgiResponse((await runCgiFcgi(address, vars('/echo', { REQUEST_METHOD: 'POST', CONTENT_LENGTH: String(body.length), CONTENT_TYPE: 'text/plain' }), body)).stdout);
    expect(JSON.parse(response.body.toString())).toMatchObject({ length: body.length, CONTENT_TYPE: 'text/plain' });
  });

  it('a 4 MiB streamed response', async () => {
    const response = parseCgiResponse((await runCgiFcgi(address, vars('/large?chunks=64'))).stdout);
    expect(response.body.length).toBe(64 * 64 * 1024);
  });

  it('a path that is not UTF-8 gets 400', async () => {
    const response = parseCgiResponse((await runCgiFcgi(address, vars('/x', { REQUEST_URI: '/%FF' }))).stdout);
    expect(response.status).toBe('400 Bad Request');
  });
});

describe('stackware serve --protocol fastcgi|scgi', () => {
  const peers: Peer[] = [];
  const stackware = (args: string[]) => {
    const peer = startProcess(process.execPath, [join(repo, 'packages/cli/bin/stackware.js'), 'serve', fixture, '--log-level', 'warn', ...args], { cwd: repo });
    peers.push(peer);
    return peer;
  };
  afterAll(async () => { for (const peer of peers) await peer.stop(); });

  it('--protocol fastcgi --port: cgi-fcgi gets the answer', async () => {
    const port = await freePort();
    const peer = stackware(['--protocol', 'fastcgi', '--port', String(port)]);
    await waitForPort(port, 30_000).catch((error: Error) => { throw new Error(`${error.message}\n${peer.output()}`); });
    const response = parseCgiResponse((await runCgiFcgi(`127.0.0.1:${port}`, vars('/hello'))).stdout);
    expect(response.body.toString()).toBe('Hello, world!\n');
  }, 60_000);

  it('--protocol fastcgi --socket PATH', async () => {
    const { dir, cleanup } = await tempDir();
    const socket = join(dir, 'app.sock');
    const peer = stackware(['--protocol', 'fastcgi', '--socket', socket]);
    const deadline = Date.now() + 30_000;
    while (!existsSync(socket) && Date.now() < deadline && peer.process.exitCode === null) await new Promise((r) => setTimeout(r, 50));
    expect(existsSync(socket)).toBe(true);
    const response = parseCgiResponse((await runCgiFcgi(socket, vars('/hello'))).stdout);
    expect(response.body.toString()).toBe('Hello, world!\n');
    await peer.stop();
    await cleanup();
  }, 60_000);

  it('--protocol fastcgi --socket --workers 2: prefork workers share the socket (multiprocess true)', async () => {
    const { dir, cleanup } = await tempDir();
    const socket = join(dir, 'prefork.sock');
    const peer = stackware(['--protocol', 'fastcgi', '--socket', socket, '--workers', '2']);
    const deadline = Date.now() + 30_000;
    while (!existsSync(socket) && Date.now() < deadline && peer.process.exitCode === null) await new Promise((r) => setTimeout(r, 100));
    expect(existsSync(socket)).toBe(true);
    const pids = new Set<number>();
    for (let i = 0; i < 12; i++) {
      const env = JSON.parse(parseCgiResponse((await runCgiFcgi(socket, vars('/environ'))).stdout).body.toString());
      expect(env).toMatchObject({ multiprocess: true, run_once: false });
      pids.add(env.pid);
    }
    expect(pids.size).toBeGreaterThanOrEqual(1);
    expect(pids.has(peer.process.pid!)).toBe(false); // answered by workers, not the primary
    expect(peer.output()).not.toMatch(/Cannot listen|worker died/); // the second worker shares the socket
    await peer.stop();
    await cleanup();
  }, 60_000);

  it('--protocol scgi --port: an SCGI request gets the answer', async () => {
    const port = await freePort();
    const peer = stackware(['--protocol', 'scgi', '--port', String(port)]);
    await waitForPort(port, 30_000).catch((error: Error) => { throw new Error(`${error.message}\n${peer.output()}`); });
    const headers = Buffer.from('CONTENT_LENGTH\x000\x00SCGI\x001\x00REQUEST_METHOD\x00GET\x00REQUEST_URI\x00/hello\x00PATH_INFO\x00/hello\x00', 'latin1');
    const reply = await new Promise<Buffer>((resolvePromise, reject) => {
      const socket = connect(port, '127.0.0.1');
      const chunks: Buffer[] = [];
      socket.on('data', (d: Buffer) => chunks.push(d));
      socket.on('end', () => resolvePromise(Buffer.concat(chunks)));
      socket.on('error', reject);
      socket.write(Buffer.concat([Buffer.from(`${headers.length}:`), headers, Buffer.from(',')]));
    });
    expect(parseCgiResponse(reply).body.toString()).toBe('Hello, world!\n');
  }, 60_000);

  it('--socket with --protocol http is a usage error', async () => {
    const peer = stackware(['--socket', '/tmp/nope.sock']);
    await new Promise((r) => peer.process.once('exit', r));
    expect(peer.process.exitCode).toBe(2);
    expect(peer.output()).toMatch(/--socket works with --protocol fastcgi or scgi/);
  }, 60_000);
});
