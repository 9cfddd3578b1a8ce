/**
 * The process-group front (groupApplication) and its SCGI client against the real SCGI server on
 * a Unix socket in this process: bodies both ways, statuses it answers itself.
 */
import { describe, it, expect, afterEach } from '@jest/globals';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { createServer } from 'node:net';
import { TestClient, readBody, type Application, type RunningServer } from '@stackware/gateway';
import { groupApplication, serveSCGI } from '@stackware/server';
import { tempDir } from '@stackware/testing';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).toReversed()) await c();
});

/** An SCGI server for `app` on `<dir>/0.1.sock`, the socket layout the supervisor makes. */
async function group(app: Application): Promise<{ dir: string; server: RunningServer }> {
  const tmp = await tempDir('stackware-group-front-');
  cleanups.push(tmp.cleanup);
  const dir = join(tmp.dir, 'g');
  await mkdir(dir, { mode: 0o700 });
  const server = await serveSCGI(app, { socket: join(dir, '0.1.sock'), multiprocess: true });
  cleanups.push(() => server.close());
  return { dir, server };
}

const echo: Application = async (environ, startResponse) => {
  const body = await readBody(environ);
  startResponse('201 Created', [['Content-Type', 'application/octet-stream'], ['X-Path', `${environ.SCRIPT_NAME}|${environ.PATH_INFO}|${environ.QUERY_STRING}`], ['X-Scheme', String(environ['stackware.url_scheme'])], ['X-Multi', String(environ['stackware.multiprocess'])], ['Set-Cookie', 'a=1'], ['Set-Cookie', 'b=2']]);
  return (async function* () {
    yield Buffer.from(`${environ.REQUEST_METHOD} ${environ.HTTP_X_TOKEN ?? '-'} ${body.length}:`);
    yield body;
  })();
};

describe('groupApplication (the front of a process group)', () => {
  it('forwards the environ and a large body over SCGI and streams the answer back, headers in order', async () => {
    const { dir } = await group(echo);
    const client = new TestClient(groupApplication({ name: 'g', socketDir: dir }));
    const payload = Buffer.alloc(300_000, 7);
    const res = await client.request('POST', '/admin/x%20y?q=1', { body: payload, headers: { 'X-Token': 'abc', 'Content-Type': 'application/octet-stream' } });
    expect(res.statusCode).toBe(201);
    expect(res.header('x-path')).toBe('|/admin/x y|q=1');
    expect(res.header('x-multi')).toBe('true');
    expect(res.headers.filter(([n]) => n === 'Set-Cookie').map(([, v]) => v)).toEqual(['a=1', 'b=2']);
    const head = `POST abc 300000:`;
    expect(res.body.subarray(0, head.length).toString()).toBe(head);
    expect(res.body.subarray(head.length).equals(payload)).toBe(true);
  });

  it('a body without Content-Length (chunked) is sent whole', async () => {
    const { dir } = await group(echo);
    const client = new TestClient(groupApplication({ name: 'g', socketDir: dir }));
    const res = await client.request('POST', '/c', { body: (async function* () { yield Buffer.from('ab'); yield Buffer.from('cd'); })(), headers: { 'Transfer-Encoding': 'chunked' } });
    expect(res.statusCode).toBe(201);
    expect(res.text()).toBe('POST - 4:abcd');
  });

  it('503 with Retry-After when no process of the group accepts within connectTimeoutMs', async () => {
    const tmp = await tempDir('stackware-group-front-');
    cleanups.push(tmp.cleanup);
    const client = new TestClient(groupApplication({ name: 'down', socketDir: join(tmp.dir, 'none'), connectTimeoutMs: 200, wake: () => {} }));
    const res = await client.get('/');
    expect(res.statusCode).toBe(503);
    expect(res.header('retry-after')).toBe('1');
    expect(res.text()).toMatch(/no process of group "down" accepted the request within 200 ms \(connectTimeoutMs\)/);
  });

  it('504 when the process does not answer within timeoutMs; 502 when it goes away before answering', async () => {
    const { dir } = await group(() => new Promise(() => {}));
    const res = await new TestClient(groupApplication({ name: 'slow', socketDir: dir, timeoutMs: 300 })).get('/');
    expect(res.statusCode).toBe(504);
    expect(res.text()).toMatch(/did not answer within 300 ms \(timeoutMs\)/);
    // a process that dies mid-request: the connection closes before any answer
    const tmp = await tempDir('stackware-group-front-');
    cleanups.push(tmp.cleanup);
    const dying = createServer((socket) => socket.once('data', () => socket.destroy()));
    await new Promise<void>((resolve) => dying.listen(join(tmp.dir, '0.1.sock'), resolve));
    cleanups.push(() => new Promise<void>((resolve) => dying.close(() => resolve())));
    const res502 = await new TestClient(groupApplication({ name: 'dying', socketDir: tmp.dir })).get('/');
    expect(res502.statusCode).toBe(502);
    expect(res502.text()).toMatch(/went away before answering/);
  });
});
