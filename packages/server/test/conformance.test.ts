/**
 * One conformance suite, run against every gateway that serves the same application:
 * the in-process TestClient, the HTTP server, FastCGI behind nginx (fastcgi_pass), SCGI behind
 * nginx (scgi_pass), CGI under Apache httpd (mod_cgid) and FastCGI behind Apache httpd
 * (mod_proxy_fcgi). Same answers everywhere; where a
 * front server changes something, the target says so in `differences` and the case checks that.
 */
import { describe, it, expect, beforeAll, afterAll } from '@jest/globals';
import { createHash } from 'node:crypto';
import { chmod, readdir, writeFile } from 'node:fs/promises';
import { spawnSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BadRequestError, TestClient, validator, type Application } from '@stackware/gateway';
import { startApache, startNginx, tempDir, type ApachePeer, type NginxPeer } from '@stackware/testing';
import { serve, serveFastCGI, serveSCGI } from '../src/index.js';
import { conformanceApp, largeChunk, mounted } from './conformance-app.js';
import { send, sendAndAbort, type WireRequest, type WireResponse } from './conformance-http.js';

const here = fileURLToPath(new URL('.', import.meta.url));
const repo = resolve(here, '../../..');

interface Target {
  name: string;
  /** Prefix of every request path; the SCRIPT_NAME ordinary requests see. */
  prefix: string;
  /** A mount point the front server maps: requests under it see SCRIPT_NAME = mount. */
  mount: string;
  request(path: string, options?: WireRequest): Promise<WireResponse>;
  /** Requests `path`, reads some of the body, goes away. */
  abort(path: string): Promise<void>;
  /** Tokens of /abort bodies whose close() ran. */
  closedTokens(): Promise<string[]>;
  /**
   * The limits (limits.ts) this target's gateway enforces, set to {@link LIMITS}: the HTTP server,
   * FastCGI and SCGI enforce all of them; CGI only the body size (the web server owns the rest);
   * the in-process TestClient none.
   */
  limits: Array<'body' | 'headers' | 'timeout'>;
  /** Documented front-server differences. */
  differences: {
    /** The front server drops the Content-Length the gateway sent (and uses chunked coding for GET, nothing for HEAD). */
    dropsContentLength?: boolean;
    /** The front server answers a `%00` in the path with its own 404 (Apache's ap_unescape_url); the request never reaches the gateway. */
    refusesNul404?: boolean;
  };
  stop(): Promise<void>;
}

/** The limits every gateway under test is given (the same numbers everywhere). */
const LIMITS = { maxBodyBytes: 400_000, timeoutMs: 3_000 };
const ALL_LIMITS: Target['limits'] = ['body', 'headers', 'timeout'];

const closedInProcess: string[] = [];
/** Every gateway runs the app inside the validator, so the environ each one builds is checked too. */
const app: Application = validator(conformanceApp((token) => void closedInProcess.push(token)));

function testClientTarget(): Target {
  const root = new TestClient(app, { throwErrors: false, validate: false });
  const mountedClient = new TestClient(app, { throwErrors: false, validate: false, scriptName: '/mount' });
  return {
    name: 'TestClient', prefix: '', mount: '/mount', limits: [], differences: {},
    async request(path, options = {}) {
      const client = path.startsWith('/mount/') ? mountedClient : root;
      const body = Array.isArray(options.body)
        ? { async *[Symbol.asyncIterator]() { for (const c of options.body as Buffer[]) yield c; } }
        : options.body;
      try {
        const res = await client.request(options.method ?? 'GET', path, { headers: options.headers, body });
        return { status: res.statusCode, reason: res.status.slice(4), headers: res.headers.map(([n, v]) => [n.toLowerCase(), v]), body: res.body };
      } catch (error) {
        if (error instanceof BadRequestError) return { status: 400, reason: 'Bad Request', headers: [], body: Buffer.from(error.message) };
        throw error;
      }
    },
    async abort(path) {
      await root.request('GET', path, { disconnectAfterChunks: 2 });
    },
    closedTokens: async () => closedInProcess,
    stop: async () => {},
  };
}

async function httpTarget(): Promise<Target> {
  const server = await serve(mounted('/mount', app), { port: 0, accessLog: false, ...LIMITS });
  return {
    name: 'HTTP server', prefix: '', mount: '/mount', limits: ALL_LIMITS, differences: {},
    request: (path, options) => send(server.url, path, options),
    abort: async (path) => { await sendAndAbort(server.url, path, 32 * 1024); },
    closedTokens: async () => closedInProcess,
    stop: () => server.close(),
  };
}

async function nginxTarget(protocol: 'fastcgi' | 'scgi'): Promise<Target> {
  const log = { write: () => undefined }; // limit answers are logged; the cases check them
  const gateway = protocol === 'fastcgi' ? await serveFastCGI(app, { port: 0, log, ...LIMITS }) : await serveSCGI(app, { port: 0, log, ...LIMITS });
  const upstream = gateway.url.replace(/^\w+:\/\//, '');
  const p = protocol;
  const block = `server { listen 127.0.0.1:{{PORT}};
    location ~ ^(?<mount>/mount)(?<rest>/.*)$ { include /etc/nginx/${p}_params; ${p}_param SCRIPT_NAME $mount; ${p}_param PATH_INFO $rest; ${p}_pass ${upstream}; }
    location / { include /etc/nginx/${p}_params; ${p}_param SCRIPT_NAME ''; ${p}_param PATH_INFO $uri; ${p}_pass ${upstream}; }
  }`;
  let nginx: NginxPeer;
  try {
    nginx = await startNginx(block);
  } catch (error) {
    await gateway.close();
    throw error;
  }
  return {
    name: `nginx → ${protocol === 'fastcgi' ? 'FastCGI' : 'SCGI'}`, prefix: '', mount: '/mount', limits: ALL_LIMITS, differences: {},
    request: (path, options) => send(nginx.url, path, options),
    abort: async (path) => { await sendAndAbort(nginx.url, path, 32 * 1024); },
    closedTokens: async () => closedInProcess,
    stop: async () => { await nginx.stop(); await gateway.close(); },
  };
}

/** Apache httpd with mod_proxy_fcgi in front of serveFastCGI, mounted at /mount. */
async function apacheFcgiTarget(): Promise<Target> {
  const gateway = await serveFastCGI(app, { port: 0, log: { write: () => undefined }, ...LIMITS });
  const upstream = gateway.url.replace(/^\w+:\/\//, '');
  let apache: ApachePeer;
  try {
    // mod_proxy_fcgi sends the whole path as SCRIPT_NAME and no PATH_INFO; set both for the mount.
    apache = await startApache(`LoadModule proxy_module /usr/lib/apache2/modules/mod_proxy.so
LoadModule proxy_fcgi_module /usr/lib/apache2/modules/mod_proxy_fcgi.so
ProxyFCGIBackendType GENERIC
ProxyPass "/mount/" "fcgi://${upstream}/"
ProxyFCGISetEnvIf "%{REQUEST_URI} =~ m#^/mount(/.*)$#" PATH_INFO "$1"
ProxyFCGISetEnvIf "true" SCRIPT_NAME "/mount"
`);
  } catch (error) {
    await gateway.close();
    throw error;
  }
  return {
    // Like mod_cgid, Apache 2.4 drops the backend's Content-Length (fastcgi.test.ts shows the gateway sends it).
    name: 'Apache httpd → FastCGI', prefix: '/mount', mount: '/mount', limits: ALL_LIMITS, differences: { dropsContentLength: true, refusesNul404: true },
    request: (path, options) => send(apache.url, path, options),
    abort: async (path) => { await sendAndAbort(apache.url, path, 32 * 1024); },
    closedTokens: async () => closedInProcess,
    stop: async () => { await apache.stop(); await gateway.close(); },
  };
}

/** The CGI program Apache runs: node on the conformance app bundled with `runCgi` (see apacheTarget). */
function cgiScript(closeDir: string, bundle: string): string {
  return `#!/bin/sh
STACKWARE_TEST_CLOSE_DIR='${closeDir}'
export STACKWARE_TEST_CLOSE_DIR
exec '${process.execPath}' '${bundle}'
`;
}

/**
 * Apache runs CGI programs as www-data, which may not read the checkout (a private home directory,
 * or a CI clone in a 0700 temp directory). So the program Apache runs is self-contained: the
 * conformance app and `runCgi` (the same code `stackware cgi` calls; the command itself is tested
 * in cgi.test.ts) bundled by esbuild into Apache's world-readable temp directory.
 */
async function bundleCgiProgram(outfile: string): Promise<void> {
  const { build } = await import('esbuild');
  await build({
    stdin: {
      contents: `import { runCgi } from './src/cgi.ts';\nimport app from './test/conformance-app.ts';\nawait runCgi(app, { maxBodyBytes: ${LIMITS.maxBodyBytes} });\n`,
      resolveDir: join(repo, 'packages/server'),
      loader: 'ts',
      sourcefile: 'cgi-entry.ts',
    },
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    conditions: ['source'],
    outfile,
    logLevel: 'error',
  });
  await chmod(outfile, 0o644);
}

async function apacheTarget(): Promise<Target> {
  const node = spawnSync('su', ['-s', '/bin/sh', 'www-data', '-c', `test -x '${process.execPath}'`]);
  if (node.status !== 0) throw new Error(`Apache runs CGI scripts as www-data, which cannot execute ${process.execPath}: install Node.js where every user can run it (e.g. /usr/bin/node)`);
  const closes = await tempDir('stackware-cgi-closes-');
  await chmod(closes.dir, 0o777);
  let apache: ApachePeer;
  try {
    apache = await startApache();
  } catch (error) {
    await closes.cleanup();
    throw error;
  }
  const bundle = join(apache.dir, 'cgi-app.mjs');
  try {
    await bundleCgiProgram(bundle);
  } catch (error) {
    await apache.stop();
    await closes.cleanup();
    throw error;
  }
  const script = join(apache.cgiBin, 'app.cgi');
  await writeFile(script, cgiScript(closes.dir, bundle));
  await chmod(script, 0o755);
  return {
    // Apache 2.4 mod_cgid ignores a CGI script's Content-Length (cgi.test.ts shows runCgi sends it).
    name: 'Apache httpd → CGI', prefix: '/cgi/app.cgi', mount: '/cgi/app.cgi', limits: ['body'], differences: { dropsContentLength: true, refusesNul404: true },
    request: (path, options) => send(apache.url, path, options),
    abort: async (path) => { await sendAndAbort(apache.url, path, 32 * 1024); },
    closedTokens: async () => (await readdir(closes.dir)).map((f) => f.replace(/^closed-/, '')),
    stop: async () => { await apache.stop(); await closes.cleanup(); },
  };
}

const header = (res: WireResponse, name: string) => res.headers.filter(([n]) => n === name).map(([, v]) => v);
const sha256 = (data: Buffer | Buffer[]) => createHash('sha256').update(Array.isArray(data) ? Buffer.concat(data) : data).digest('hex');

const targets: Array<[string, () => Promise<Target>]> = [
  ['TestClient', async () => testClientTarget()],
  ['HTTP server', httpTarget],
  ['nginx → FastCGI', () => nginxTarget('fastcgi')],
  ['nginx → SCGI', () => nginxTarget('scgi')],
  ['Apache httpd → CGI', apacheTarget],
  ['Apache httpd → FastCGI (mod_proxy_fcgi)', apacheFcgiTarget],
];

describe.each(targets)('conformance: %s', (_name, start) => {
  let t: Target;
  beforeAll(async () => { t = await start(); }, 60_000);
  afterAll(async () => { await t?.stop(); }, 30_000);

  it('status codes and reason phrases', async () => {
    const created = await t.request(`${t.prefix}/status/201?reason=Created`);
    expect([created.status, created.reason]).toEqual([201, 'Created']);
    expect(created.body.toString()).toBe('status 201\n');
    const missing = await t.request(`${t.prefix}/status/404?reason=Not%20Found`);
    expect([missing.status, missing.reason]).toEqual([404, 'Not Found']);
    const custom = await t.request(`${t.prefix}/status/299?reason=Custom%20Thing`);
    expect(custom.status).toBe(299);
    expect(custom.reason).toBe('Custom Thing');
  });

  it('headers, including repeated Set-Cookie in order', async () => {
    const res = await t.request(`${t.prefix}/headers`);
    expect(res.status).toBe(200);
    expect(header(res, 'set-cookie')).toEqual(['first=1; Path=/', 'second=2; Path=/; HttpOnly']);
    expect(header(res, 'x-custom')).toEqual(['custom value']);
    expect(header(res, 'content-type')).toEqual(['text/plain; charset=utf-8']);
  });

  it('query strings arrive raw; request headers become HTTP_*', async () => {
    const res = await t.request(`${t.prefix}/environ?a=1&b=%20x&c&d=%E2%9C%93&e=a+b`, { headers: [['X-Test', 'yes']] });
    const env = JSON.parse(res.body.toString());
    expect(env).toMatchObject({ REQUEST_METHOD: 'GET', SCRIPT_NAME: t.prefix, PATH_INFO: '/environ', QUERY_STRING: 'a=1&b=%20x&c&d=%E2%9C%93&e=a+b', HTTP_X_TEST: 'yes', REMOTE_USER: null, url_scheme: 'http' });
  });

  it('a non-ASCII request header byte arrives as its Latin-1 character', async () => {
    const res = await t.request(`${t.prefix}/environ`, { headers: [['X-Test', 'caf\u00e9']] });
    expect(JSON.parse(res.body.toString()).HTTP_X_TEST).toBe('caf\u00e9');
  });

  it('UTF-8 paths are decoded; a path that is not UTF-8 gets 400', async () => {
    const res = await t.request(`${t.prefix}/environ/caf%C3%A9/%E2%9C%93`);
    expect(JSON.parse(res.body.toString()).PATH_INFO).toBe('/environ/café/✓');
    const bad = await t.request(`${t.prefix}/environ/%FF%FE`);
    expect(bad.status).toBe(400);
  });

  it('SCRIPT_NAME and PATH_INFO under a mount prefix', async () => {
    const res = await t.request(`${t.mount}/environ/a/b?x=1`);
    expect(JSON.parse(res.body.toString())).toMatchObject({ SCRIPT_NAME: t.mount, PATH_INFO: '/environ/a/b', QUERY_STRING: 'x=1' });
  });

  it('POST bodies with Content-Length', async () => {
    const body = Buffer.alloc(300_000);
    for (let i = 0; i < body.length; i++) body[i] = (i * 7) % 256;
    const res = await t.request(`${t.prefix}/echo`, { method: 'POST', body, headers: [['Content-Type', 'application/octet-stream']] });
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body.toString())).toEqual({ length: body.length, sha256: sha256(body), CONTENT_TYPE: 'application/octet-stream' });
  });

  it('chunked POST bodies', async () => {
    const chunks = [Buffer.from('first chunk, '), Buffer.alloc(100_000, 0x41), Buffer.from(', last')];
    const res = await t.request(`${t.prefix}/echo`, { method: 'POST', body: chunks, headers: [['Content-Type', 'text/plain']] });
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body.toString())).toEqual({ length: 100_019, sha256: sha256(chunks), CONTENT_TYPE: 'text/plain' });
  });

  it('large streamed responses (8 MiB)', async () => {
    const res = await t.request(`${t.prefix}/large?chunks=128`);
    expect(res.status).toBe(200);
    expect(res.body.length).toBe(128 * 64 * 1024);
    expect(sha256(res.body)).toBe(sha256(Array.from({ length: 128 }, (_, i) => largeChunk(i))));
  });

  it('HEAD: headers only', async () => {
    const res = await t.request(`${t.prefix}/hello`, { method: 'HEAD' });
    expect(res.status).toBe(200);
    expect(header(res, 'content-length')).toEqual(t.differences.dropsContentLength ? [] : ['14']);
    expect(header(res, 'content-type')).toEqual(['text/plain; charset=utf-8']);
    expect(res.body.length).toBe(0);
  });

  it('NUL and dot segments in the path get 400, before the application', async () => {
    for (const path of ['/environ/a%00b', '/environ/a/../b', '/environ/a/%2e%2E/b', '/environ/%2E/b']) {
      const res = await t.request(`${t.prefix}${path}`);
      expect([path, res.status]).toEqual([path, path.includes('%00') && t.differences.refusesNul404 ? 404 : 400]);
      expect(res.body.toString()).not.toContain('"PATH_INFO"');
    }
  });

  it('limit: a body over maxBodyBytes gets 413 (Content-Length), one under it is served', async () => {
    if (!t.limits.includes('body')) return;
    const over = await t.request(`${t.prefix}/echo`, { method: 'POST', body: Buffer.alloc(LIMITS.maxBodyBytes + 100_000, 0x61) });
    expect([over.status, over.reason]).toEqual([413, 'Content Too Large']);
    expect(over.body.toString()).toBe(`Request body is larger than ${LIMITS.maxBodyBytes} bytes\n`);
    const under = await t.request(`${t.prefix}/echo`, { method: 'POST', body: Buffer.alloc(LIMITS.maxBodyBytes, 0x61) });
    expect(JSON.parse(under.body.toString()).length).toBe(LIMITS.maxBodyBytes);
  });

  it('limit: a chunked body that grows over maxBodyBytes gets 413', async () => {
    if (!t.limits.includes('body')) return;
    const chunks = Array.from({ length: 10 }, () => Buffer.alloc(50_000, 0x62));
    const over = await t.request(`${t.prefix}/echo`, { method: 'POST', body: chunks });
    expect(over.status).toBe(413);
  });

  it('limit: request headers over maxHeaderBytes (16 KiB) get 431', async () => {
    if (!t.limits.includes('headers')) return;
    const big: Array<[string, string]> = [['X-A', 'a'.repeat(6000)], ['X-B', 'b'.repeat(6000)], ['X-C', 'c'.repeat(6000)]];
    const res = await t.request(`${t.prefix}/hello`, { headers: big });
    expect(res.status).toBe(431);
  });

  it('limit: an application that does not answer within timeoutMs gets 504', async () => {
    if (!t.limits.includes('timeout')) return;
    const res = await t.request(`${t.prefix}/hang`);
    expect([res.status, res.reason]).toEqual([504, 'Gateway Timeout']);
    expect(res.body.toString()).toBe(`The application did not respond within ${LIMITS.timeoutMs} ms\n`);
  }, 30_000);

  it('a client that goes away: the body is closed', async () => {
    const token = `t${Date.now()}`;
    await t.abort(`${t.prefix}/abort?token=${token}`);
    const deadline = Date.now() + 30_000;
    while (!(await t.closedTokens()).includes(token) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(await t.closedTokens()).toContain(token);
  }, 45_000);
});
