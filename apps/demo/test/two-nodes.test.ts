/**
 * Scale-out: the demo's two-node recipe (apps/demo/deploy/nginx-two-nodes.conf, as shipped, ports
 * replaced) with real nginx, real Redis and two demo nodes (FastCGI), under load:
 * - SIGKILL one node: 0 failed GETs, and the session (a counter in Redis) keeps counting;
 * - SIGTERM a node: 0 failed requests of any method (GET and POST): the node's lame-duck phase
 *   (LAME_DUCK_MS) answers GETs on new connections 503, nginx resends them and stops sending to it,
 *   and its listener closes with nothing in its backlog.
 * Bounded: a few hundred requests per phase, loopback only; prints the figures ("two nodes:").
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { readFile } from 'node:fs/promises';
import { request } from 'node:http';
import { fileURLToPath } from 'node:url';
import { freePort, startNginx, startProcess, startRedis, tempDir, waitForPort, type NginxPeer, type Peer, type RedisPeer } from '@stackware/testing';

const REPO = fileURLToPath(new URL('../../..', import.meta.url));
const CLI = `${REPO}packages/cli/bin/stackware.js`;
const RECIPE = fileURLToPath(new URL('../deploy/nginx-two-nodes.conf', import.meta.url));

interface Reply { status: number; body: string; cookie?: string }

function send(port: number, method: string, path: string, cookie?: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, agent: false, timeout: 30_000, headers: { ...(cookie ? { Cookie: cookie } : {}), ...(method === 'POST' ? { 'Content-Length': '0' } : {}) } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, cookie: res.headers['set-cookie']?.[0]?.split(';')[0] }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

describe('two demo nodes behind nginx (the shipped recipe), sessions in Redis', () => {
  let redis: RedisPeer;
  let nginx: NginxPeer;
  let data: { dir: string; cleanup(): Promise<void> };
  const nodes = new Map<number, Peer>();
  let ports: number[] = [];

  const startNode = async (port: number) => {
    const env: NodeJS.ProcessEnv = {
      ...process.env, NODE_OPTIONS: '', HOST: '127.0.0.1', PORT: String(port), PROTOCOL: 'fastcgi', STACKWARE_DATA_DIR: data.dir,
      SESSION_STORE: 'redis', REDIS_URL: redis.url, LAME_DUCK_MS: '3000', DEBUG: 'false', ADMIN_USER: 'operator', ADMIN_PASSWORD: 'correct horse battery staple',
    };
    const peer = startProcess(process.execPath, [CLI, 'serve', 'apps/demo/site.toml', '--no-access-log'], { cwd: REPO, env });
    nodes.set(port, peer);
    await waitForPort(port, 120_000).catch((error: unknown) => { throw new Error(`node ${port} did not listen:\n${peer.output()}`, { cause: error }); });
  };

  beforeAll(async () => {
    data = await tempDir('stackware-two-nodes-');
    redis = await startRedis();
    ports = [await freePort(), await freePort()];
    await Promise.all(ports.map(startNode));
    const recipe = (await readFile(RECIPE, 'utf8'))
      .replace('127.0.0.1:9001', `127.0.0.1:${ports[0]}`).replace('127.0.0.1:9002', `127.0.0.1:${ports[1]}`)
      .replace('listen 127.0.0.1:8080;', 'listen 127.0.0.1:{{PORT}};');
    nginx = await startNginx(recipe);
  }, 300_000);

  afterAll(async () => {
    await nginx?.stop();
    await Promise.allSettled([...nodes.values()].map((n) => n.stop()));
    await redis?.stop();
    await data?.cleanup();
  }, 60_000);

  /** Runs a session counter loop (sequential GETs), plain GET loops and, optionally, POST loops, while `during()` runs. */
  async function underLoad(during: () => Promise<void>, withPosts: boolean) {
    const first = await send(nginx.port, 'GET', '/counter');
    expect(first.status).toBe(200);
    const cookie = first.cookie!;
    const counts: number[] = [];
    const failures: string[] = [];
    const state = { stop: false, requests: 0 };
    const loop = async (method: string, path: string, withCookie: boolean, ok: number[]) => {
      while (!state.stop) {
        try {
          const reply = await send(nginx.port, method, path, withCookie ? cookie : undefined);
          state.requests++;
          if (!ok.includes(reply.status)) failures.push(`${method} ${path}: ${reply.status} ${reply.body.slice(0, 120)}`);
          else if (path === '/counter' && method === 'GET' && withCookie) counts.push(Number(/id="count">(\d+)</.exec(reply.body)?.[1]));
        } catch (error) {
          failures.push(`${method} ${path}: ${String(error)}`);
        }
      }
    };
    const loops = [
      loop('GET', '/counter', true, [200]),
      loop('GET', '/', false, [200]),
      loop('GET', '/', false, [200]),
      ...(withPosts ? [loop('POST', '/counter', false, [303])] : []),
    ];
    try {
      await during();
    } finally {
      state.stop = true;
      await Promise.all(loops);
    }
    return { counts, failures, requests: state.requests };
  }

  it('SIGKILL one node under load: 0 failed GETs, the session keeps counting', async () => {
    const victim = nodes.get(ports[1]!)!;
    const result = await underLoad(async () => {
      await new Promise((r) => setTimeout(r, 3000));
      victim.process.kill('SIGKILL');
      await new Promise((r) => setTimeout(r, 5000));
    }, false);
    process.stderr.write(`two nodes: SIGKILL: ${result.requests} requests, ${result.failures.length} failed, session counter ${result.counts[0]} → ${result.counts.at(-1)} over ${result.counts.length} GETs\n`);
    expect(result.failures).toEqual([]);
    expect(result.counts.length).toBeGreaterThan(2);
    // the session survived: the counter only ever rose (a retried GET may count twice)
    expect(result.counts.every((c, i) => i === 0 || c > result.counts[i - 1]!)).toBe(true);
  }, 180_000);

  it('SIGTERM a node under load: 0 failed requests of any method', async () => {
    await startNode(ports[1]!); // the node killed above, back
    const stopping = nodes.get(ports[0]!)!;
    const result = await underLoad(async () => {
      await new Promise((r) => setTimeout(r, 3000));
      stopping.process.kill('SIGTERM');
      await new Promise<void>((resolve) => (stopping.process.exitCode !== null ? resolve() : stopping.process.once('exit', () => resolve())));
      await new Promise((r) => setTimeout(r, 3000));
    }, true);
    const lameDuck = /lame duck over[^\n"]*/.exec(stopping.output())?.[0];
    process.stderr.write(`two nodes: SIGTERM: ${result.requests} requests (GET and POST), ${result.failures.length} failed; the stopped node: ${lameDuck ?? 'no lame-duck line'}\n`);
    if (result.failures.length > 0) process.stderr.write(`two nodes: nginx error log:\n${(await nginx.errorLog()).split('\n').filter((l) => /upstream|\[error\]/.test(l)).slice(-20).join('\n')}\n${stopping.output().slice(-3000)}\n`);
    expect(result.failures).toEqual([]);
    expect(result.requests).toBeGreaterThan(10);
    expect(lameDuck).toMatch(/answered 503/); // the phase ran (LAME_DUCK_MS) before the listener closed
  }, 240_000);
});
