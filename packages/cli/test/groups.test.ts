/**
 * Process groups (issue 23, mod_wsgi's daemon mode) on the real server: `stackware serve site.toml`
 * with four `[group.NAME]` sections, each a set of real processes forked by the primary.
 */
import { describe, it, expect, beforeAll, afterAll } from '@jest/globals';
import { chmod, mkdir, readFile, stat, utimes, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { request } from 'node:http';
import { freePort, startProcess, startRedis, tempDir, waitForPort, type Peer, type RedisPeer } from '@stackware/testing';
import { bin, get, records, root as checkout, stackware, until } from './cli-helpers.js';

const root = process.getuid?.() === 0;
// The group processes import the site's modules as `nobody` (when root): a 0755 directory.
const APP = `
const pending = [];
export const app = (environ, startResponse) => {
  const path = environ.PATH_INFO;
  const group = process.env.STACKWARE_GROUP ?? 'main';
  if (path === '/hang') return new Promise(() => {});
  if (path === '/greet') {
    // "greeting" is no package: only a group whose modulePaths has lib/ resolves it
    return import('greeting').then(
      (m) => { startResponse('200 OK', [['Content-Type', 'text/plain']]); return [Buffer.from(m.greeting)]; },
      (e) => { startResponse('500 Internal Server Error', [['Content-Type', 'text/plain']]); return [Buffer.from(String(e.code))]; },
    );
  }
  if (path === '/crash') setTimeout(() => process.exit(7), 20);
  if (path === '/grow') {
    // Allocate 10 MiB at a time, the event loop free between steps, until the supervisor replaces us.
    return new Promise((resolve) => {
      const step = () => {
        for (let i = 0; i < 4; i++) pending.push(Buffer.alloc(10 * 1024 * 1024, 1));
        if (pending.length < 30) setTimeout(step, 20);
        else { startResponse('200 OK', [['Content-Type', 'text/plain']]); resolve([Buffer.from('grown ' + process.pid)]); }
      };
      step();
    });
  }
  startResponse('200 OK', [['Content-Type', 'text/plain']]);
  return [Buffer.from(group + ' ' + process.pid + ' ' + process.getuid() + ' ' + environ.SCRIPT_NAME + environ.PATH_INFO)];
};
`;

const SITE = (port: number) => `
[composite.main]
"/a" = "a"
"/b" = "b"
"/m" = "m"
"/i" = "i"
"/" = "b"

[app.a]
application = "./a.mjs#app"
[app.b]
application = "./b.mjs#app"
[app.m]
application = "./b.mjs#app"
[app.i]
application = "./b.mjs#app"

[location."/a"]
group = "ga"
[location."/b"]
group = "gb"
[location."/m"]
group = "gm"
[location."/i"]
group = "gi"

[group.ga]
${root ? 'user = "nobody"' : ''}
timeoutMs = 3000
watch = ["a.mjs"]
modulePaths = ["lib"]

[group.gb]
processes = 2
hosts = ["b.example.test"]

[group.gm]
memoryLimitMb = 150
timeoutMs = 60000

[group.gi]
inactivityTimeoutMs = 2000

[server.web]
host = "127.0.0.1"
port = ${port}
`;

type Answer = { status: number; body: string } | { error: string };
const body = (r: Answer) => ('body' in r ? r.body : `(${r.error})`);
const pidOf = (r: Answer) => Number(body(r).split(' ')[1]);
const alive = (pid: number) => { try { process.kill(pid, 0); return true; } catch { return false; } };

/** One request (GET by default) with extra headers; errors become `{ error }`. */
function send(url: string, headers: Record<string, string> = {}, method = 'GET'): Promise<Answer> {
  return new Promise((resolve) => {
    const req = request(url, { method, agent: false, headers: { Connection: 'close', ...headers }, timeout: 15_000 }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode!, body: text }));
    });
    req.on('error', (error: NodeJS.ErrnoException) => resolve({ error: error.code ?? error.message }));
    req.end();
  });
}

/**
 * A group running as `nobody` starts the server's own entry point (the bin in this checkout), so
 * `nobody` must be able to reach it, as in any deployment (/srv, /opt). A fresh CI clone may sit in
 * a 0700 temporary directory: for the tests' duration the directories above the checkout get
 * traverse permission for others (o+x: enter, not list), and get their mode back afterwards.
 */
const opened: Array<{ dir: string; mode: number }> = [];
async function letOthersReachCheckout(): Promise<void> {
  for (let dir = checkout; ; dir = dirname(dir)) {
    const mode = (await stat(dir)).mode & 0o7777;
    if (!(mode & 0o001)) {
      await chmod(dir, mode | 0o001);
      opened.push({ dir, mode });
    }
    if (dirname(dir) === dir) break;
  }
}
afterAll(async () => {
  // Restore in the reverse order of opening.
  for (let i = opened.length - 1; i >= 0; i--) await chmod(opened[i]!.dir, opened[i]!.mode);
  opened.length = 0;
});

let peer: Peer;
let url: string;
let site: { dir: string; cleanup(): Promise<void> };
const restarts = (group: string, cause: string) => records(peer.output()).filter((r) => r.group === group && r.cause === cause);
const readyPids = (group: string) => records(peer.output()).filter((r) => r.group === group && typeof r.msg === 'string' && r.msg.endsWith('process ready')).map((r) => r.worker_pid as number);

beforeAll(async () => {
  if (root) await letOthersReachCheckout();
  site = await tempDir('stackware-groups-');
  await chmod(site.dir, 0o755);
  await writeFile(join(site.dir, 'a.mjs'), APP);
  await writeFile(join(site.dir, 'b.mjs'), APP);
  await mkdir(join(site.dir, 'lib'));
  await chmod(join(site.dir, 'lib'), 0o755);
  await writeFile(join(site.dir, 'lib', 'greeting.mjs'), 'export const greeting = "hello from lib/";\n');
  const port = await freePort();
  await writeFile(join(site.dir, 'site.toml'), SITE(port));
  peer = stackware(['serve', join(site.dir, 'site.toml'), '--log-level', 'info']);
  url = `http://127.0.0.1:${port}`;
  await until(() => /serving site\.toml/.test(peer.output()) && ['ga', 'gb', 'gm', 'gi'].every((g) => readyPids(g).length >= (g === 'gb' ? 2 : 1)), 90_000, 'the server and 5 group processes', peer.output);
}, 120_000);

afterAll(async () => {
  await peer?.stop();
  await site?.cleanup();
});

describe('process groups ([group.NAME], mod_wsgi daemon mode) on the real server', () => {
  it('routes by location prefix and by host to the group processes; the front serves the rest', async () => {
    const a = await get(`${url}/a/x`);
    expect(a).toMatchObject({ status: 200 });
    expect(body(a)).toMatch(/^ga \d+ \d+ \/a\/x$/);
    const b = await get(`${url}/b/y`);
    expect(body(b)).toMatch(/^gb \d+ \d+ \/b\/y$/);
    // the host route wins over the location ("/a" is ga's by path, but b.example.test is gb's)
    const byHost = await send(`${url}/a/z`, { Host: 'b.example.test' });
    expect(body(byHost)).toMatch(/^gb /);
    expect(pidOf(a)).not.toBe(pidOf(b));
    expect(readyPids('ga')).toContain(pidOf(a));
  }, 60_000);

  it('modulePaths: a bare import resolves under the group\'s roots in that group only', async () => {
    expect(await get(`${url}/a/greet`)).toMatchObject({ status: 200, body: 'hello from lib/' });
    expect(await get(`${url}/b/greet`)).toMatchObject({ status: 500, body: 'ERR_MODULE_NOT_FOUND' });
  }, 30_000);

  (root ? it : it.skip)('a group runs as another user: process.getuid() inside group ga is nobody (65534) (root only: user = is ignored otherwise)', async () => {
    const a = await get(`${url}/a/uid`);
    expect(body(a).split(' ')[2]).toBe('65534');
    const b = await get(`${url}/b/uid`);
    expect(body(b).split(' ')[2]).toBe('0');
  }, 30_000);

  it('a hung request in group ga gets 504 and its process is replaced; a crash is replaced; group gb answers throughout with the same processes', async () => {
    const gbBefore = new Set(readyPids('gb'));
    const hungPid = pidOf(await get(`${url}/a/pid`));
    const hung = get(`${url}/a/hang`, 30_000);
    const during: Answer[] = [];
    for (let i = 0; i < 10; i++) during.push(await get(`${url}/b/during`));
    expect(await hung).toMatchObject({ status: 504 });
    for (const r of during) expect(r).toMatchObject({ status: 200 });
    await until(() => restarts('ga', 'timeout').some((r) => r.worker_pid === hungPid), 20_000, 'the timeout restart of ga', peer.output);
    await until(() => !alive(hungPid), 10_000, 'the hung process killed', peer.output);
    // the next request reaches a new process (the front waits for it while it boots)
    const next = await get(`${url}/a/pid`, 30_000);
    expect(next).toMatchObject({ status: 200 });
    expect(pidOf(next)).not.toBe(hungPid);
    // crash: the process exits after answering; the supervisor replaces it
    const crashed = pidOf(await get(`${url}/a/crash`));
    await until(() => restarts('ga', 'crash').some((r) => r.worker_pid === crashed), 20_000, 'the crash restart of ga', peer.output);
    const after = await get(`${url}/a/pid`, 30_000);
    expect(after).toMatchObject({ status: 200 });
    expect(pidOf(after)).not.toBe(crashed);
    expect(restarts('gb', 'crash')).toHaveLength(0);
    for (const pid of gbBefore) expect(alive(pid)).toBe(true);
  }, 120_000);

  it('touching group ga\'s module reloads ga alone (new ga processes; gb, gm keep theirs)', async () => {
    const before = pidOf(await get(`${url}/a/pid`, 30_000));
    const others = [...readyPids('gb'), ...readyPids('gm')].filter(alive);
    const now = new Date();
    await utimes(join(site.dir, 'a.mjs'), now, now);
    await until(() => restarts('ga', 'reload').some((r) => r.worker_pid === before), 20_000, 'the reload of ga', peer.output);
    await until(() => !alive(before), 30_000, 'the old ga process gone', peer.output);
    const after = await get(`${url}/a/pid`, 30_000);
    expect(pidOf(after)).not.toBe(before);
    for (const pid of others) expect(alive(pid)).toBe(true);
    expect(restarts('gb', 'reload')).toHaveLength(0);
    expect(restarts('gm', 'reload')).toHaveLength(0);
  }, 90_000);

  it('a memory blow-up in group gm is replaced (memoryLimitMb) while gb answers every request (latency printed)', async () => {
    const latencies = async (n: number) => {
      const out: number[] = [];
      for (let i = 0; i < n; i++) {
        const t = performance.now();
        const r = await get(`${url}/b/latency`);
        out.push(performance.now() - t);
        expect(r).toMatchObject({ status: 200 });
      }
      return out;
    };
    const baseline = await latencies(20);
    const grower = pidOf(await get(`${url}/m/pid`));
    const grow = get(`${url}/m/grow`, 60_000);
    const during: number[] = [];
    while (!restarts('gm', 'memory').some((r) => r.worker_pid === grower)) {
      during.push(...(await latencies(5)));
      if (during.length > 2000) throw new Error(`no memory restart\n${peer.output().slice(-3000)}`);
    }
    await grow;
    await until(() => !alive(grower), 30_000, 'the grown process gone', peer.output);
    during.push(...(await latencies(5)));
    const record = restarts('gm', 'memory').find((r) => r.worker_pid === grower)!;
    expect(record.rss_mb as number).toBeGreaterThanOrEqual(150); // replaced over 150 MiB; the log rounds to whole MiB
    const stats = (xs: number[]) => {
      const s = [...xs].sort((x, y) => x - y);
      return `median ${s[Math.floor(s.length / 2)]!.toFixed(1)} ms, max ${s.at(-1)!.toFixed(1)} ms (${s.length} requests)`;
    };
    process.stderr.write(`group gb latency before the blow-up: ${stats(baseline)}; during gm's blow-up and replacement: ${stats(during)}; gm replaced at ${String(record.rss_mb)} MiB\n`);
    const next = await get(`${url}/m/pid`, 30_000);
    expect(pidOf(next)).not.toBe(grower);
  }, 120_000);

  it('inactivityTimeoutMs stops an idle group\'s processes (their pids gone); the next request starts them again', async () => {
    const first = pidOf(await get(`${url}/i/pid`, 30_000));
    await until(() => restarts('gi', 'inactivity').some((r) => r.worker_pid === first), 30_000, 'gi stopped for inactivity', peer.output);
    await until(() => !alive(first), 20_000, 'the idle process gone', peer.output);
    const again = await get(`${url}/i/pid`, 30_000);
    expect(again).toMatchObject({ status: 200 });
    expect(pidOf(again)).not.toBe(first);
    expect(alive(pidOf(again))).toBe(true);
  }, 90_000);

  it('editing one group\'s section in the deploy file reloads that group alone; SIGHUP reloads every group', async () => {
    const gm = pidOf(await get(`${url}/m/pid`, 30_000));
    const gb = readyPids('gb').filter(alive);
    const file = join(site.dir, 'site.toml');
    await writeFile(file, (await readFile(file, 'utf8')).replace('memoryLimitMb = 150', 'memoryLimitMb = 160'));
    await until(() => restarts('gm', 'reload').some((r) => r.worker_pid === gm), 30_000, 'the reload of gm', peer.output);
    for (const pid of gb) expect(alive(pid)).toBe(true);
    expect(restarts('gb', 'reload')).toHaveLength(0);
    peer.process.kill('SIGHUP');
    await until(() => gb.every((pid) => restarts('gb', 'reload').some((r) => r.worker_pid === pid)), 30_000, 'SIGHUP reloading gb', peer.output);
    expect((await get(`${url}/b/after`, 30_000))).toMatchObject({ status: 200 });
  }, 90_000);
});

describe('process groups behind prefork fronts (workers = 2)', () => {
  it('each front worker routes to the group; an idle group is woken by a front worker\'s request (IPC to the primary)', async () => {
    const dir = await tempDir('stackware-groups-prefork-');
    await chmod(dir.dir, 0o755);
    const port = await freePort();
    await writeFile(join(dir.dir, 'a.mjs'), APP);
    await writeFile(join(dir.dir, 'site.toml'), `
[app.main]
application = "./a.mjs#app"
[location."/g"]
group = "g"
[group.g]
inactivityTimeoutMs = 1500
[server.web]
host = "127.0.0.1"
port = ${port}
workers = 2
`);
    const front = stackware(['serve', join(dir.dir, 'site.toml'), '--log-level', 'info']);
    const base = `http://127.0.0.1:${port}`;
    try {
      const logs = () => records(front.output());
      await until(() => logs().filter((r) => r.msg === 'worker ready').length >= 2 && logs().some((r) => r.group === 'g' && String(r.msg).endsWith('process ready')), 90_000, 'two front workers and group g', front.output);
      const first = await get(`${base}/g/x`, 30_000);
      expect(body(first)).toMatch(/^g \d+ /);
      const frontAnswer = await get(`${base}/x`);
      expect(body(frontAnswer)).toMatch(/^main \d+ /);
      await until(() => logs().some((r) => r.group === 'g' && r.cause === 'inactivity'), 30_000, 'group g stopped for inactivity', front.output);
      await until(() => !alive(pidOf(first)), 20_000, 'the idle process gone', front.output);
      const woken = await get(`${base}/g/y`, 30_000);
      expect(woken).toMatchObject({ status: 200 });
      expect(pidOf(woken)).not.toBe(pidOf(first));
      expect(logs().some((r) => typeof r.msg === 'string' && r.msg.includes('woken by a request'))).toBe(true);
    } finally {
      await front.stop();
      await dir.cleanup();
    }
  }, 150_000);
});

describe('reloading one process group through the metrics listener (POST /status/reload/NAME)', () => {
  it('replaces that group\'s processes alone; unknown group 404, GET 405, a cross-site request 403', async () => {
    const dir = await tempDir('stackware-groups-admin-');
    await chmod(dir.dir, 0o755);
    const [port, metricsPort] = [await freePort(), await freePort()];
    await writeFile(join(dir.dir, 'a.mjs'), APP);
    await writeFile(join(dir.dir, 'site.toml'), `
[app.main]
application = "./a.mjs#app"
[location."/one"]
group = "one"
[location."/two"]
group = "two"
[group.one]
[group.two]
[metrics]
listen = "127.0.0.1:${metricsPort}"
[server.web]
host = "127.0.0.1"
port = ${port}
`);
    // The status paths need the debugger PIN unless it is off; the test turns it off (still loopback-only).
    const before = process.env.STACKWARE_DEBUG_PIN;
    process.env.STACKWARE_DEBUG_PIN = 'off';
    const server = stackware(['serve', join(dir.dir, 'site.toml'), '--log-level', 'info']);
    if (before === undefined) delete process.env.STACKWARE_DEBUG_PIN;
    else process.env.STACKWARE_DEBUG_PIN = before;
    const base = `http://127.0.0.1:${port}`;
    const admin = `http://127.0.0.1:${metricsPort}`;
    const logs = () => records(server.output());
    const groupRestarts = (group: string) => logs().filter((r) => r.group === group && r.cause === 'reload');
    try {
      await until(() => /serving site\.toml/.test(server.output()) && ['one', 'two'].every((g) => logs().some((r) => r.group === g && String(r.msg).endsWith('process ready'))), 90_000, 'the server and both groups', server.output);
      const one = pidOf(await get(`${base}/one/pid`, 30_000));
      const two = pidOf(await get(`${base}/two/pid`, 30_000));
      expect(await send(`${admin}/status/reload/one`, { Origin: 'http://evil.example' }, 'POST')).toMatchObject({ status: 403 });
      expect(await send(`${admin}/status/reload/one`)).toMatchObject({ status: 405 });
      expect(await send(`${admin}/status/reload/nope`, {}, 'POST')).toMatchObject({ status: 404 });
      expect(groupRestarts('one')).toHaveLength(0);
      const accepted = await send(`${admin}/status/reload/one`, {}, 'POST');
      expect(accepted).toMatchObject({ status: 202 });
      await until(() => groupRestarts('one').some((r) => r.worker_pid === one), 30_000, 'the reload of group one', server.output);
      await until(() => !alive(one), 30_000, 'the old process of group one gone', server.output);
      const after = await get(`${base}/one/pid`, 30_000);
      expect(pidOf(after)).not.toBe(one);
      expect(alive(two)).toBe(true);
      expect(groupRestarts('two')).toHaveLength(0);
      // The metrics count the reload by group and cause.
      const metrics = await get(`${admin}/metrics`);
      expect(body(metrics)).toMatch(/stackware_restarts_total\{[^}]*group="one"[^}]*cause="reload"[^}]*\} 1|stackware_restarts_total\{[^}]*cause="reload"[^}]*group="one"[^}]*\} 1/);
    } finally {
      await server.stop();
      await dir.cleanup();
    }
  }, 150_000);
});

/**
 * The demo's deploy file (apps/demo/site.toml): `/admin` is served by `[group.admin]`, its own
 * process, running as the user ADMIN_GROUP_USER names (as root). Sessions in Redis and the secret
 * from the environment: the data directory then needs only to be readable by that user.
 */
describe('the demo: /admin in its own process group, running as another user (ADMIN_GROUP_USER=nobody)', () => {
  let demo: Peer | undefined;
  let redis: RedisPeer | undefined;
  let data: { dir: string; cleanup(): Promise<void> } | undefined;
  let demoUrl = '';
  const auth = { Authorization: `Basic ${Buffer.from('operator:a long admin password').toString('base64')}` };

  beforeAll(async () => {
    if (!root) return;
    data = await tempDir('stackware-demo-admin-');
    await chmod(data.dir, 0o755); // nobody reads what the site stored
    redis = await startRedis();
    const port = await freePort();
    demoUrl = `http://127.0.0.1:${port}`;
    demo = startProcess(process.execPath, [bin, 'serve', 'apps/demo/site.toml', '--no-access-log'], {
      cwd: checkout,
      env: {
        ...process.env, NODE_OPTIONS: '', PORT: String(port), HOST: '127.0.0.1', STACKWARE_DATA_DIR: data.dir, DEBUG: 'false',
        SESSION_STORE: 'redis', REDIS_URL: redis.url, SESSION_SECRET: 'a-session-secret-of-more-than-32-characters',
        ADMIN_USER: 'operator', ADMIN_PASSWORD: 'a long admin password', ADMIN_GROUP_USER: 'nobody',
      },
    });
    await waitForPort(port, 120_000).catch((error: unknown) => { throw new Error(`the demo did not listen:\n${demo!.output()}`, { cause: error }); });
  }, 150_000);

  afterAll(async () => {
    await demo?.stop();
    await redis?.stop();
    await data?.cleanup();
  });

  (root ? it : it.skip)('the site runs as root in the server process; /admin/ in another process, as nobody (root only)', async () => {
    const site = await send(`${demoUrl}/`);
    expect(site).toMatchObject({ status: 200 });
    const sitePid = /process (\d+)<\/footer>/.exec(body(site))?.[1];
    const admin = await send(`${demoUrl}/admin/`, auth, 'GET');
    expect(admin).toMatchObject({ status: 200 });
    expect(body(admin)).toContain('user <span id="process-user">nobody (uid 65534)</span>');
    const adminPid = /id="pid">(\d+)</.exec(body(admin))?.[1];
    expect(adminPid).toBeDefined();
    expect(adminPid).not.toBe(sitePid);
    expect(body(admin)).toMatch(/Guestbook entries<\/th><td>0</); // its data directory is readable by nobody: a count, not "not readable"
    expect(records(demo!.output()).some((r) => r.group === 'admin' && r.uid === 65534)).toBe(true);
  }, 60_000);
});
