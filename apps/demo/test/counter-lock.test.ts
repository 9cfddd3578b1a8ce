/**
 * The demo's deploy file (site.toml) over HTTP, with its own server and thread pool: the session
 * counter locks the session per request (`lock = true`), so 51 visits of one session — one, then 50
 * at once — count 1 to 51, none lost. (Without the lock, 15–41 of 51 were counted.)
 */
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { freePort, tempDir, waitForPort } from '@stackware/testing';

const REPO = fileURLToPath(new URL('../../..', import.meta.url));
const STACKWARE = fileURLToPath(new URL('../../../node_modules/.bin/stackware', import.meta.url));
const SITE = fileURLToPath(new URL('../site.toml', import.meta.url));
jest.setTimeout(120_000);

let child: ChildProcess | undefined;
let output = '';
let data: { dir: string; cleanup(): Promise<void> } | undefined;
let url = '';

beforeAll(async () => {
  data = await tempDir('stackware-demo-counter-');
  const port = await freePort();
  const env: NodeJS.ProcessEnv = { ...process.env, HOST: '127.0.0.1', PORT: String(port), STACKWARE_DATA_DIR: data.dir, PROTOCOL: 'http', SESSION_STORE: 'file', DEBUG: 'false' };
  delete env.NODE_OPTIONS; // Jest's --experimental-vm-modules is not the demo's
  for (const name of ['SESSION_SECRET', 'THREADS', 'REDIS_URL', 'ADMIN_USER', 'ADMIN_PASSWORD', 'ERROR_EMAIL_TO']) delete env[name];
  child = spawn(STACKWARE, ['serve', SITE], { cwd: REPO, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  child.stdout!.on('data', (d: Buffer) => { output += d.toString(); });
  child.stderr!.on('data', (d: Buffer) => { output += d.toString(); });
  try {
    await waitForPort(port, 90_000);
  } catch (error) {
    throw new Error(`the demo did not listen on ${port}:\n${output}`, { cause: error });
  }
  url = `http://127.0.0.1:${port}`;
}, 100_000);

afterAll(async () => {
  if (child && child.exitCode === null && child.signalCode === null) {
    const exited = new Promise((resolve) => child!.once('exit', resolve));
    try { process.kill(-child.pid!, 'SIGTERM'); } catch { /* already gone */ }
    const timer = setTimeout(() => { try { process.kill(-child!.pid!, 'SIGKILL'); } catch { /* gone */ } }, 10_000);
    await exited;
    clearTimeout(timer);
  }
  await data?.cleanup();
}, 30_000);

/** The count a /counter page shows. */
function countOf(page: string): number {
  const m = /<strong id="count">(\d+)<\/strong>/.exec(page);
  if (!m) throw new Error(`no count in the page:\n${page.slice(0, 500)}`);
  return Number(m[1]);
}

describe('the demo counter (site.toml: lock = true), over HTTP', () => {
  it('counts 51 visits of one session, 50 of them concurrent, as 1..51', async () => {
    const first = await fetch(`${url}/counter`);
    expect(first.status).toBe(200);
    expect(countOf(await first.text())).toBe(1);
    const cookie = first.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ');
    expect(cookie).toMatch(/^demo_session=/);
    const pages = await Promise.all(Array.from({ length: 50 }, async () => {
      const res = await fetch(`${url}/counter`, { headers: { Cookie: cookie } });
      expect(res.status).toBe(200);
      return countOf(await res.text());
    }));
    expect(pages.sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => i + 2));
  });
});
