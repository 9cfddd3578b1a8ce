import { describe, it, expect, afterEach } from '@jest/globals';
import { PassThrough, Readable, Writable } from 'node:stream';
import { spawn } from 'node:child_process';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BadRequestError, type Application } from '@stackware/gateway';
import { runCgi, environFromCgi } from '../src/index.js';
import { parseCgiResponse } from './fastcgi-client.js';

function collector() {
  const chunks: Buffer[] = [];
  const stream = new Writable({ write(chunk: Buffer, _enc, cb) { chunks.push(chunk); cb(); } });
  return { stream, data: () => Buffer.concat(chunks) };
}

const base = { REQUEST_METHOD: 'GET', SCRIPT_NAME: '/cgi-bin/app.cgi', PATH_INFO: '/p', QUERY_STRING: 'a=1', REQUEST_URI: '/cgi-bin/app.cgi/p?a=1', SERVER_NAME: 'example.org', SERVER_PORT: '8080', SERVER_PROTOCOL: 'HTTP/1.1', GATEWAY_INTERFACE: 'CGI/1.1' };

async function cgi(app: Application, env: Record<string, string>, stdin: Readable = Readable.from([])) {
  const out = collector();
  const err = collector();
  await runCgi(app, { env, stdin, stdout: out.stream, stderr: err.stream, handleSignals: false });
  return { ...parseCgiResponse(out.data()), raw: out.data(), stderr: err.data().toString() };
}

afterEach(() => { process.exitCode = 0; });

describe('runCgi', () => {
  it('writes Status:, the headers, Content-Length when known, then the body (RFC 3875 §6)', async () => {
    const res = await cgi((_env, start) => { start('201 Created', [['Content-Type', 'text/plain'], ['Set-Cookie', 'a=1'], ['Set-Cookie', 'b=2']]); return [Buffer.from('made')]; }, base);
    expect(res.raw.toString()).toBe('Status: 201 Created\r\nContent-Type: text/plain\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nContent-Length: 4\r\n\r\nmade');
  });

  it('builds the environ from the environment: run_once, multiprocess, every variable kept', async () => {
    let seen: Record<string, unknown> = {};
    await cgi((env, start) => { seen = { ...env }; start('200 OK', [['Content-Type', 'text/plain']]); return []; }, { ...base, HTTP_X_A: 'b', CUSTOM_VAR: 'kept' });
    expect(seen).toMatchObject({ SCRIPT_NAME: '/cgi-bin/app.cgi', PATH_INFO: '/p', QUERY_STRING: 'a=1', SERVER_NAME: 'example.org', SERVER_PORT: '8080', HTTP_X_A: 'b', CUSTOM_VAR: 'kept', 'stackware.run_once': true, 'stackware.multiprocess': true, 'stackware.multithread': false, 'stackware.url_scheme': 'http' });
  });

  it('reads stdin up to CONTENT_LENGTH', async () => {
    const echo: Application = async (env, start) => {
      const chunks: Buffer[] = [];
      for await (const c of env['stackware.input']) chunks.push(Buffer.from(c));
      start('200 OK', [['Content-Type', 'text/plain']]);
      return [Buffer.concat(chunks)];
    };
    expect((await cgi(echo, { ...base, REQUEST_METHOD: 'POST', CONTENT_LENGTH: '5' }, Readable.from([Buffer.from('hel'), Buffer.from('lo, and more')]))).body.toString()).toBe('hello');
    // no CONTENT_LENGTH (Apache with a chunked request body): to the end of stdin
    expect((await cgi(echo, { ...base, REQUEST_METHOD: 'POST' }, Readable.from([Buffer.from('all'), Buffer.from(' of it')]))).body.toString()).toBe('all of it');
  });

  it('answers 400 when REQUEST_URI is not valid UTF-8, without calling the application', async () => {
    let called = false;
    const res = await cgi(() => { called = true; return []; }, { ...base, REQUEST_URI: '/cgi-bin/app.cgi/%FF' });
    expect(res.status).toBe('400 Bad Request');
    expect(called).toBe(false);
  });

  it('sends headers only for HEAD', async () => {
    const res = await cgi((_e, start) => { start('200 OK', [['Content-Type', 'text/plain']]); return [Buffer.from('body')]; }, { ...base, REQUEST_METHOD: 'HEAD' });
    expect(res.headers).toContainEqual(['Content-Length', '4']);
    expect(res.body.length).toBe(0);
  });

  it('writes stackware.errors and application errors to stderr, and answers 500 before headers', async () => {
    const res = await cgi((env) => { env['stackware.errors'].write('note\n'); throw new Error('boom'); }, base);
    expect(res.status).toBe('500 Internal Server Error');
    expect(res.stderr).toMatch(/^note\nError in application: Error: boom/);
  });

  it('stops and closes the body when stdout fails (the web server went away), exit code 1', async () => {
    let closed = false;
    let written = 0;
    const stdout = new Writable({
      write(chunk: Buffer, _enc, cb) {
        written += chunk.length;
        if (written > 50_000) cb(Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }));
        else cb();
      },
    });
    stdout.on('error', () => undefined);
    const app: Application = (_e, start) => {
      start('200 OK', [['Content-Type', 'application/octet-stream']]);
      return {
        async *[Symbol.asyncIterator]() { for (let i = 0; i < 10_000; i++) { yield Buffer.alloc(16 * 1024); await new Promise((r) => setImmediate(r)); } },
        close() { closed = true; },
      };
    };
    await runCgi(app, { env: base, stdin: new PassThrough(), stdout, stderr: collector().stream, handleSignals: false });
    expect(closed).toBe(true);
    expect(written).toBeLessThan(10_000 * 16 * 1024);
    expect(process.exitCode).toBe(1);
  });
});

describe('environFromCgi', () => {
  it('the later of repeated variables wins (nginx sends SCRIPT_NAME twice)', () => {
    const env = environFromCgi([['SCRIPT_NAME', '/whole/path'], ['SCRIPT_NAME', ''], ['PATH_INFO', '/whole/path']]);
    expect([env.SCRIPT_NAME, env.PATH_INFO]).toEqual(['', '/whole/path']);
  });

  it('moves a trailing slash of SCRIPT_NAME onto PATH_INFO', () => {
    expect(environFromCgi([['SCRIPT_NAME', '/'], ['PATH_INFO', '']])).toMatchObject({ SCRIPT_NAME: '', PATH_INFO: '/' });
    expect(environFromCgi([['SCRIPT_NAME', '/app/'], ['PATH_INFO', 'x']])).toMatchObject({ SCRIPT_NAME: '/app', PATH_INFO: '/x' });
    expect(environFromCgi([['SCRIPT_NAME', 'app'], ['PATH_INFO', '/x']])).toMatchObject({ SCRIPT_NAME: '/app', PATH_INFO: '/x' });
  });

  it('derives PATH_INFO from REQUEST_URI when absent (Debian fastcgi_params sends none)', () => {
    expect(environFromCgi([['SCRIPT_NAME', '/app'], ['REQUEST_URI', '/app/a%20b?x']])).toMatchObject({ SCRIPT_NAME: '/app', PATH_INFO: '/a b' });
    expect(environFromCgi([['SCRIPT_NAME', '/a/b'], ['REQUEST_URI', '/a/b']])).toMatchObject({ SCRIPT_NAME: '/a/b', PATH_INFO: '' });
  });

  it('treats empty values as unset (nginx sends REMOTE_USER "" without authentication), except HTTP_* and QUERY_STRING', () => {
    const env = environFromCgi([['REMOTE_USER', ''], ['AUTH_TYPE', ''], ['CONTENT_LENGTH', ''], ['HTTP_X_EMPTY', ''], ['QUERY_STRING', ''], ['REMOTE_ADDR', '10.0.0.1']]);
    expect(['REMOTE_USER' in env, 'AUTH_TYPE' in env, 'CONTENT_LENGTH' in env]).toEqual([false, false, false]);
    expect([env.HTTP_X_EMPTY, env.QUERY_STRING, env.REMOTE_ADDR]).toEqual(['', '', '10.0.0.1']);
  });

  it('picks the scheme from HTTPS or REQUEST_SCHEME', () => {
    expect(environFromCgi([['HTTPS', 'on']])['stackware.url_scheme']).toBe('https');
    expect(environFromCgi([['HTTPS', '1']])['stackware.url_scheme']).toBe('https');
    expect(environFromCgi([['REQUEST_SCHEME', 'https']])['stackware.url_scheme']).toBe('https');
    expect(environFromCgi([['HTTPS', 'off']])['stackware.url_scheme']).toBe('http');
  });

  it('drops names that are not CGI names (no stackware.* override) and HTTP_CONTENT_*', () => {
    const env = environFromCgi([['stackware.run_once', 'x'], ['HTTP_CONTENT_LENGTH', '5'], ['HTTP_CONTENT_TYPE', 'a/b'], ['BAD-NAME', '1'], ['CONTENT_TYPE', ''], ['__proto__', 'x']]);
    expect(Object.getPrototypeOf(env)).toBe(Object.prototype);
    expect(Object.hasOwn(env, '__proto__')).toBe(false);
    expect(env['stackware.run_once']).toBe(false);
    expect('HTTP_CONTENT_LENGTH' in env || 'HTTP_CONTENT_TYPE' in env || 'BAD-NAME' in env || 'CONTENT_TYPE' in env).toBe(false);
  });

  it('decodes PATH_INFO and other variables as UTF-8, HTTP_* and REQUEST_URI bytes as Latin-1', () => {
    const env = environFromCgi([['PATH_INFO', Buffer.from('/été')], ['HTTP_X_L', Buffer.from([0xe9])], ['DOCUMENT_ROOT', Buffer.from('/srv/café')], ['REQUEST_URI', Buffer.from([0x2f, 0xe9])]]);
    expect([env.PATH_INFO, env.HTTP_X_L, env.DOCUMENT_ROOT, env.REQUEST_URI]).toEqual(['/été', 'é', '/srv/café', '/é']);
  });

  it.each([
    ['PATH_INFO that is not UTF-8', [['PATH_INFO', Buffer.from([0x2f, 0xc3])]]],
    ['SCRIPT_NAME that is not UTF-8', [['SCRIPT_NAME', Buffer.from([0xff])]]],
    ['a REQUEST_URI path that is not UTF-8', [['REQUEST_URI', '/%E2%82']]],
    ['a bad CONTENT_LENGTH', [['CONTENT_LENGTH', '12abc']]],
    ['a bad REQUEST_METHOD', [['REQUEST_METHOD', 'GET /']]],
  ] as Array<[string, Array<[string, string | Buffer]>]>)('throws BadRequestError (400) for %s', (_name, vars) => {
    expect(() => environFromCgi(vars)).toThrow(BadRequestError);
  });
});

describe('stackware cgi <module>', () => {
  const repo = resolve(fileURLToPath(new URL('.', import.meta.url)), '../../..');
  const run = (target: string, env: Record<string, string>, body = '') => new Promise<{ stdout: Buffer; stderr: string; code: number | null }>((done, reject) => {
    const child = spawn(process.execPath, [join(repo, 'packages/cli/bin/stackware.js'), 'cgi', target], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env }, cwd: repo });
    const out: Buffer[] = [];
    let err = '';
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`stackware cgi timed out: ${err}`)); }, 30_000);
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    child.on('close', (code) => { clearTimeout(timer); done({ stdout: Buffer.concat(out), stderr: err, code }); });
    child.stdin.end(body);
  });

  it('answers the request in its environment and stdin, exit code 0', async () => {
    const result = await run('packages/server/test/conformance-app.ts', { ...base, SCRIPT_NAME: '/cgi/app.cgi', PATH_INFO: '/echo', REQUEST_URI: '/cgi/app.cgi/echo', REQUEST_METHOD: 'POST', CONTENT_LENGTH: '3', CONTENT_TYPE: 'text/plain' }, 'abc');
    expect(result.code).toBe(0);
    const response = parseCgiResponse(result.stdout);
    expect(response.status).toBe('200 OK');
    expect(JSON.parse(response.body.toString())).toMatchObject({ length: 3, CONTENT_TYPE: 'text/plain' });
  }, 40_000);

  it('answers 500 (a valid CGI response) when the module cannot be loaded, the reason on stderr, exit code 1', async () => {
    const result = await run('packages/server/test/no-such-app.ts', base);
    expect(result.code).toBe(1);
    expect(parseCgiResponse(result.stdout).status).toBe('500 Internal Server Error');
    expect(result.stderr).toMatch(/no-such-app\.ts: no such file/);
  }, 40_000);
});
