/**
 * `stackware serve site.toml` and `stackware check site.toml` as a user runs them: the CLI as a
 * child process, real HTTP on loopback, the deploy file edited on disk while requests run.
 */
import { describe, it, expect, beforeAll, afterAll, afterEach } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { mkdir, rename, symlink, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { request as httpRequest, Agent } from 'node:http';
import { freePort, startProcess, tempDir, waitForPort, type Peer } from '@stackware/testing';

const here = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(here, '../../..');
const CLI = join(ROOT, 'packages/cli/bin/stackware.js');

let tmp: { dir: string; cleanup(): Promise<void> };
const peers: Peer[] = [];

beforeAll(async () => {
  tmp = await tempDir('stackware-config-serve-');
  await mkdir(join(tmp.dir, 'lib'));
  await symlink(resolve(here, 'fixtures/lib/apps.ts'), join(tmp.dir, 'lib/apps.ts'));
});
afterEach(async () => {
  await Promise.all(peers.splice(0).map((p) => p.stop()));
});
afterAll(() => tmp.cleanup());

function site(port: number, greeting: string, extra = ''): string {
  return `main = "root"

[defaults]
title = "Site"

[app.site]
use = "./lib/apps.ts#echo"
greeting = "${greeting}"

[app.admin]
use = "./lib/apps.ts#echo"
greeting = "admin"

[filter.outer]
use = "./lib/apps.ts#tag"
tag = "outer"

[filter.inner]
use = "./lib/apps.ts#tag"
tag = "inner"

[pipeline.main]
pipeline = ["outer", "inner", "site"]

[composite.root]
"/" = "main"
"/admin" = "admin"

[location."/admin"]
title = "Admin"

[server.web]
protocol = "http"
host = "127.0.0.1"
port = ${port}
${extra}`;
}

/** Writes the file the way editors do: a temp file renamed over it (one atomic change). */
async function writeAtomically(file: string, text: string): Promise<void> {
  const temp = `${file}.tmp-${process.pid}`;
  await writeFile(temp, text);
  await rename(temp, file);
}

const agent = new Agent({ keepAlive: true, maxSockets: 8 });
afterAll(() => agent.destroy());

interface Reply { status: number; body: string }
/** Requests that were retried: sent on a reused keep-alive connection the server closed at that moment. */
const retried = { count: 0 };

/**
 * GET over a keep-alive agent. Like browsers and undici, a request sent on a reused idle
 * connection that the server closed at the same moment (ECONNRESET / hang-up before any response
 * byte) is retried once on a new connection (RFC 9112 §9.3.1; Node's `request.reusedSocket` docs).
 */
function get(port: number, path: string, retry = true): Promise<Reply> {
  return new Promise((resolvePromise, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, agent: retry ? agent : false, timeout: 10_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolvePromise({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (error: NodeJS.ErrnoException) => {
      if (retry && req.reusedSocket && (error.code === 'ECONNRESET' || error.message === 'socket hang up')) {
        retried.count++;
        get(port, path, false).then(resolvePromise, reject);
      } else {
        reject(new Error(`${error.message} (${req.reusedSocket ? 'reused connection' : 'new connection'}${retry ? '' : ', retry'})`));
      }
    });
    req.end();
  });
}

async function waitFor(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The `msg` of every JSON log line the process wrote. */
function logMessages(peer: Peer): string[] {
  return peer.output().split('\n').filter((l) => l.startsWith('{')).map((l) => (JSON.parse(l) as { msg: string }).msg);
}

/**
 * Runs `clients` request loops against `path` while `during()` runs; returns what they saw.
 * `during` gets the count of successful requests and `since()`: calling it starts a new epoch and
 * returns the greetings of the requests *started* in it (a request sent before the call and answered
 * after it is not counted).
 */
async function underLoad(port: number, during: (progress: () => number, since: () => Set<string>) => Promise<void>, clients = 4): Promise<{ ok: number; failures: string[]; seen: Set<string> }> {
  const seen = new Set<string>();
  const failures: string[] = [];
  const control = { stop: false, ok: 0, epoch: 0 };
  const epochs: Array<Set<string>> = [new Set()];
  const since = () => {
    control.epoch++;
    epochs.push(new Set());
    return epochs[control.epoch]!;
  };
  const loop = async () => {
    while (!control.stop) {
      try {
        const epoch = control.epoch;
        const reply = await get(port, '/load');
        if (reply.status !== 200) throw new Error(`status ${reply.status}: ${reply.body.slice(0, 200)}`);
        const greeting = (JSON.parse(reply.body) as { greeting: string }).greeting;
        seen.add(greeting);
        epochs[epoch]!.add(greeting);
        control.ok++;
      } catch (error) {
        failures.push(String(error));
      }
    }
  };
  const loops = Array.from({ length: clients }, loop);
  try {
    await during(() => control.ok, since);
  } finally {
    control.stop = true;
    await Promise.all(loops);
  }
  return { ok: control.ok, failures, seen };
}

async function startServe(file: string, port: number): Promise<Peer> {
  const peer = startProcess(process.execPath, [CLI, 'serve', file], { cwd: ROOT, env: { ...process.env, NODE_OPTIONS: '' } });
  peers.push(peer);
  try {
    await waitForPort(port, 30_000);
  } catch (error) {
    throw new Error(`stackware serve did not listen:\n${peer.output()}`, { cause: error });
  }
  return peer;
}

describe('stackware serve site.toml', () => {
  it('serves a pipeline + composite + server over real HTTP, with locations reaching getConfig', async () => {
    const port = await freePort();
    const file = join(tmp.dir, 'site.toml');
    await writeFile(file, site(port, 'hello'));
    const peer = await startServe(file, port);
    const page = await get(port, '/docs/intro');
    expect(page.status).toBe(200);
    expect(JSON.parse(page.body)).toMatchObject({ app: 'site', greeting: 'hello', trail: ['outer', 'inner'], script: '', path: '/docs/intro', config: { title: 'Site' } });
    const admin = JSON.parse((await get(port, '/admin/users')).body);
    expect(admin).toMatchObject({ app: 'admin', script: '/admin', path: '/users', config: { title: 'Admin' }, location: '/admin' });
    expect((await get(port, '/administrator')).body).toContain('"app":"site"');
    expect(peer.output()).toContain(`serving site.toml [server.web] on http://127.0.0.1:${port}`);
  });

  it('reloads a valid edit under load with zero failed requests, and keeps serving on an invalid edit', async () => {
    const port = await freePort();
    const file = join(tmp.dir, 'live.toml');
    await writeFile(file, site(port, 'v1'));
    const peer = await startServe(file, port);

    const current = async () => (JSON.parse((await get(port, '/')).body) as { greeting: string }).greeting;
    const result = await underLoad(port, async (ok) => {
      await waitFor(() => ok() > 50, 'the first requests');
      await writeAtomically(file, site(port, 'v2'));
      await waitFor(async () => (await current()) === 'v2', 'the reload to v2');
      const before = ok();
      await waitFor(() => ok() > before + 50, 'requests on v2');

      // An invalid edit: the old configuration keeps serving, and the reason is logged.
      await writeAtomically(file, site(port, 'v3').replace('[filter.inner]\nuse = "./lib/apps.ts#tag"\ntag = "inner"', '[filter.inner]\ntag = "inner"'));
      await waitFor(() => peer.output().includes('deploy file is invalid; still serving the previous configuration'), 'the invalid-edit log');
      expect(logMessages(peer).find((m) => m.startsWith('deploy file is invalid'))).toBe(`deploy file is invalid; still serving the previous configuration: ${file}:18:1: [filter.inner] key "use": missing "use": nothing says what builds this filter — add use = "@scope/package" or use = "./lib/module.ts#filterFactory"`);
      expect(await current()).toBe('v2');
      await writeAtomically(file, site(port, 'v4').replace('greeting = "v4"', 'greeting = "v4'));
      await waitFor(() => peer.output().includes('TOML syntax error'), 'the syntax-error log');
      expect(await current()).toBe('v2');

      // A valid edit after the broken ones applies again.
      await writeAtomically(file, site(port, 'v5'));
      await waitFor(async () => (await current()) === 'v5', 'the reload to v5');
    });
    expect(result.failures).toEqual([]);
    expect([...result.seen].sort()).toEqual(['v1', 'v2', 'v5']);
    expect(peer.output()).toContain('configuration reloaded from live.toml');
  });

  it('with workers = 2, validates an edit in the primary and replaces the workers without failed requests', async () => {
    const port = await freePort();
    const file = join(tmp.dir, 'prefork.toml');
    await writeFile(file, site(port, 'w1', 'workers = 2\naccessLog = false\n'));
    const peer = await startServe(file, port);
    await waitFor(() => (peer.output().match(/worker ready/g) ?? []).length >= 2, 'two workers');
    const current = async () => (JSON.parse((await get(port, '/')).body) as { greeting: string }).greeting;
    let afterReload = new Set<string>();
    const result = await underLoad(port, async (ok, since) => {
      await waitFor(() => ok() > 50, 'the first requests');
      await writeAtomically(file, site(port, 'w2', 'workers = 2\naccessLog = false\n').replace('[app.admin]\nuse', '[app.admin]\nusee'));
      await waitFor(() => peer.output().includes('deploy file is invalid; still serving the previous configuration'), 'the invalid-edit log');
      expect(await current()).toBe('w1');
      const stopped = () => (peer.output().match(/"msg":"worker stopped"/g) ?? []).length;
      const stoppedBefore = stopped();
      await writeAtomically(file, site(port, 'w3', 'workers = 2\naccessLog = false\n'));
      await waitFor(async () => (await current()) === 'w3', 'a new worker with w3', 60_000);
      // Workers are replaced one slot at a time: until the second old worker has stopped, the
      // connections it holds still get w1 (the flaky failure: 50 requests after the first w3 answer
      // could all land on it, so the loops never saw w3). Once both old workers are gone, every
      // request started from then on is answered by a w3 worker.
      await waitFor(() => stopped() >= stoppedBefore + 2, 'both old workers stopped', 60_000);
      afterReload = since();
      const before = ok();
      await waitFor(() => ok() > before + 50, 'requests on w3');
    });
    expect([...afterReload]).toEqual(['w3']);
    expect(result.failures).toEqual([]);
    expect(result.seen.has('w2')).toBe(false);
    expect(result.seen.has('w1') && result.seen.has('w3')).toBe(true);
    expect(peer.output()).toContain('configuration valid: replacing 2 workers gracefully');
    if (process.env.STACKWARE_TEST_REPORT) process.stderr.write(`prefork reload: ${result.ok} requests, ${retried.count} retried on a new connection after an idle keep-alive close\n`);
  }, 120_000);

  it('with workers, a rename-saved module edit (sed -i) and a touch of the deploy file replace the workers; a log file does not', async () => {
    const port = await freePort();
    const dir = join(tmp.dir, 'touch-site');
    await mkdir(join(dir, 'mod'), { recursive: true });
    await writeFile(join(dir, 'package.json'), '{ "type": "module" }\n');
    await writeFile(join(dir, 'mod/version.ts'), "export const version = 'm1';\n");
    await writeFile(join(dir, 'mod/versioned.ts'), "import { version } from './version.ts';\nexport const app = () => (_e: unknown, startResponse: (s: string, h: Array<[string, string]>) => void) => {\n  startResponse('200 OK', [['Content-Type', 'text/plain']]);\n  return [Buffer.from(version)];\n};\n");
    const file = join(dir, 'site.toml');
    await writeFile(file, `main = "v"\n\n[app.v]\nuse = "./mod/versioned.ts#app"\n\n[server.web]\nhost = "127.0.0.1"\nport = ${port}\nworkers = 1\naccessLog = false\n`);
    const peer = await startServe(file, port);
    const replacing = () => (peer.output().match(/replacing 1 workers gracefully/g) ?? []).length;
    const text = async () => { try { return (await get(port, '/')).body; } catch { return ''; } };
    await waitFor(async () => (await text()) === 'm1', 'm1', 30_000);
    // a rename-save of an imported module, twice (the old watcher went blind after the first)
    for (const [from, to] of [['m1', 'm2'], ['m2', 'm3']]) {
      expect(spawnSync('sed', ['-i', `s/${from}/${to}/`, join(dir, 'mod/version.ts')]).status).toBe(0);
      await waitFor(async () => (await text()) === to, `the workers serving ${to}`, 60_000);
    }
    // a log file and a data directory written in the site's directory are not changes
    const before = replacing();
    await writeFile(join(dir, 'server.log'), 'a log line\n');
    await mkdir(join(dir, 'data'), { recursive: true });
    await writeFile(join(dir, 'data/sessions.json'), '{}');
    await new Promise((r) => setTimeout(r, 1500));
    expect(replacing()).toBe(before);
    // touch-to-reload
    expect(spawnSync('touch', [file]).status).toBe(0);
    await waitFor(() => replacing() === before + 1, 'the reload after touch', 30_000);
  }, 180_000);

  for (const workers of [0, 1]) {
    it(`an init failure (a factory throws at start) answers 503 + Retry-After, and a later request retries it (workers = ${workers})`, async () => {
      const port = await freePort();
      const dir = join(tmp.dir, `init-site-${workers}`);
      await mkdir(join(dir, 'mod'), { recursive: true });
      await writeFile(join(dir, 'package.json'), '{ "type": "module" }\n');
      // The marker lives outside the site's directory: the prefork primary watches that directory and
      // would reload on it, and a fresh worker would then initialise at start instead of on retry.
      const ready = join(tmp.dir, `init-ready-${workers}.txt`);
      await writeFile(join(dir, 'mod/flaky.ts'), `import { existsSync } from 'node:fs';\nexport const app = () => {\n  if (!existsSync(${JSON.stringify(ready)})) throw new Error('database unreachable (no ready.txt yet)');\n  return (_e: unknown, startResponse: (s: string, h: Array<[string, string]>) => void) => {\n    startResponse('200 OK', [['Content-Type', 'text/plain']]);\n    return [Buffer.from('ready')];\n  };\n};\n`);
      const file = join(dir, 'site.toml');
      await writeFile(file, `main = "v"\n\n[app.v]\nuse = "./mod/flaky.ts#app"\n\n[server.web]\nhost = "127.0.0.1"\nport = ${port}\nworkers = ${workers}\naccessLog = false\n`);
      const peer = await startServe(file, port);
      const failing = await new Promise<{ status: number; retryAfter: string | undefined }>((resolvePromise, reject) => {
        httpRequest({ host: '127.0.0.1', port, path: '/', agent: false }, (res) => {
          res.resume();
          res.on('end', () => resolvePromise({ status: res.statusCode ?? 0, retryAfter: res.headers['retry-after'] }));
        }).on('error', reject).end();
      });
      expect(failing).toEqual({ status: 503, retryAfter: '1' });
      expect(peer.output()).toContain('the application failed to initialise; answering 503 and retrying on a later request');
      expect(peer.output()).toContain('database unreachable (no ready.txt yet)');
      await writeFile(ready, 'up\n');
      await waitFor(async () => (await get(port, '/')).body === 'ready', 'the retry to succeed', 30_000);
      // The log line and the response leave the server together, on different pipes: wait for the line.
      await waitFor(() => peer.output().includes('the application initialised on retry'), 'the retry log line', 10_000);
    }, 120_000);
  }

  it('lets --port on the command line override the single server section', async () => {
    const port = await freePort();
    const file = join(tmp.dir, 'override.toml');
    await writeFile(file, site(1, 'overridden'));
    const peer = startProcess(process.execPath, [CLI, 'serve', file, '--port', String(port)], { cwd: ROOT, env: { ...process.env, NODE_OPTIONS: '' } });
    peers.push(peer);
    await waitForPort(port, 20_000).catch((error: unknown) => { throw new Error(`not listening:\n${peer.output()}`, { cause: error }); });
    expect(JSON.parse((await get(port, '/')).body)).toMatchObject({ greeting: 'overridden' });
  });

  it('refuses to start on a mistake, with the one-line message and exit code 2', async () => {
    const port = await freePort();
    const file = join(tmp.dir, 'broken.toml');
    await writeFile(file, site(port, 'x').replace('use = "./lib/apps.ts#echo"\ngreeting = "x"', 'use = "./lib/apps.ts#echo"\ngreting = "x"'));
    const result = spawnSync(process.execPath, [CLI, 'serve', file], { cwd: ROOT, encoding: 'utf8', timeout: 60_000, env: { ...process.env, NODE_OPTIONS: '' } });
    expect(result.status).toBe(2);
    expect(result.stderr.trim()).toBe(`stackware: ${file}:8:1: [app.site] key "greting": unknown option "greting" for ./lib/apps.ts#echo — did you mean "greeting"? it accepts: greeting, times, loud, tags`);
  });
});

describe('stackware check site.toml', () => {
  it('prints the resolved stack: pipeline order, mounts, locations, servers', () => {
    const file = join(tmp.dir, 'check.toml');
    return writeFile(file, site(8080, 'hi')).then(() => {
      const result = spawnSync(process.execPath, [CLI, 'check', file], { cwd: ROOT, encoding: 'utf8', timeout: 60_000, env: { ...process.env, NODE_OPTIONS: '' } });
      expect(result.stderr).toBe('');
      expect(result.status).toBe(0);
      expect(result.stdout).toContain('root (main): composite (2 mounts)');
      expect(result.stdout).toMatch(/mount \/admin →\n\s+admin: app \.\/lib\/apps\.ts#echo \{ greeting="admin" \}\n\s+mount \/ →\n\s+main: pipeline \[outer, inner, site\]\n\s+1\. filter outer: \.\/lib\/apps\.ts#tag \{ tag="outer" \}\n\s+2\. filter inner: \.\/lib\/apps\.ts#tag \{ tag="inner" \}\n\s+3\. app:\n\s+site: app \.\/lib\/apps\.ts#echo \{ greeting="hi" \}/);
      expect(result.stdout).toContain('/admin: title="Admin"');
      expect(result.stdout).toContain('web: http://127.0.0.1:8080 serving root via @stackware/server');
      expect(result.stdout).toContain(`${file}: OK`);
    });
  });

  it('exits 2 with the message for a broken file', async () => {
    const file = join(tmp.dir, 'check-broken.toml');
    await writeFile(file, '[pipeline.a]\npipeline = ["a"]\n');
    const result = spawnSync(process.execPath, [CLI, 'check', file], { cwd: ROOT, encoding: 'utf8', timeout: 60_000, env: { ...process.env, NODE_OPTIONS: '' } });
    expect(result.status).toBe(2);
    expect(result.stderr.trim()).toBe(`stackware: ${file}:2:1: [pipeline.a] key "pipeline": a cycle: a → a — an application cannot contain itself: point one of them at a different application`);
  });
});
