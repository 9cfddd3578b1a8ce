/**
 * @stackware/testing — helpers for integration tests that use real peers on loopback.
 * Every peer is started in a fresh temp directory on a free port and stopped by the test.
 * A missing peer binary is an error (scripts/install-peers.sh installs them), never a silent skip.
 */
import { spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { createServer, connect } from 'node:net';
import { mkdtemp, rm, writeFile, mkdir, readFile, chmod } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A free TCP port on 127.0.0.1 (asks the kernel for one, then releases it). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** Resolves once something accepts TCP connections on `port` (polls every 50 ms), or rejects after `timeoutMs` (default 10 s). */
export async function waitForPort(port: number, timeoutMs = 10_000, host = '127.0.0.1'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connect(port, host);
      socket.once('connect', () => { socket.destroy(); resolve(true); });
      socket.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`Nothing listens on ${host}:${port} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A fresh temp directory; `cleanup()` removes it. */
export async function tempDir(prefix = 'stackware-test-'): Promise<{ dir: string; cleanup(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** The path of a peer binary, or an Error that says how to install it. */
export function requireBinary(name: string, debianPackage = name): string {
  for (const dir of ['/usr/sbin', '/usr/bin', '/usr/local/bin', '/usr/local/sbin']) {
    const path = join(dir, name);
    if (existsSync(path)) return path;
  }
  const which = spawnSync('which', [name], { encoding: 'utf8' });
  if (which.status === 0 && which.stdout.trim()) return which.stdout.trim();
  throw new Error(`${name} is not installed: run scripts/install-peers.sh (Debian package ${debianPackage})`);
}

/** A started child process with its output collected. */
export interface Peer {
  process: ChildProcess;
  /** Everything written to stdout and stderr so far. */
  output(): string;
  /** Kills the process (SIGTERM, then SIGKILL after 3 s) and waits for it to exit. */
  stop(): Promise<void>;
}

/** Spawns a long-running process and collects its output. */
export function startProcess(command: string, args: string[], options: SpawnOptions = {}): Peer {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => { out += d.toString(); });
  child.stderr?.on('data', (d: Buffer) => { out += d.toString(); });
  return {
    process: child,
    output: () => out,
    stop: () => stopChild(child),
  };
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
  await exited;
  clearTimeout(timer);
}

/** A running Redis server on loopback. */
export interface RedisPeer { port: number; url: string; stop(): Promise<void> }

/** Starts `redis-server` on a free loopback port, no persistence (PEERS.md). */
export async function startRedis(): Promise<RedisPeer> {
  const bin = requireBinary('redis-server');
  const port = await freePort();
  const peer = startProcess(bin, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no']);
  try {
    await waitForPort(port);
  } catch (error) {
    await peer.stop();
    throw new Error(`redis-server did not start: ${peer.output()}`, { cause: error });
  }
  return { port, url: `redis://127.0.0.1:${port}`, stop: () => peer.stop() };
}

/** A running Prometheus server on loopback (its own process group). */
export interface PrometheusPeer {
  port: number;
  url: string;
  /** An instant query through the HTTP API (`/api/v1/query`): the numeric values of the result vector. */
  query(promql: string): Promise<number[]>;
  /** Everything Prometheus logged so far. */
  output(): string;
  /** Stops it by its pid (SIGTERM, then SIGKILL after 3 s) and removes its data directory. */
  stop(): Promise<void>;
}

/**
 * Starts Debian's `prometheus` on a free loopback port, scraping `targets` ("127.0.0.1:9100", path
 * /metrics) every `scrapeIntervalSeconds` (default 1), with its TSDB in a temp directory. The
 * process is detached into its own process group and stopped by its pid.
 */
export async function startPrometheus(targets: string[], scrapeIntervalSeconds = 1): Promise<PrometheusPeer> {
  const bin = requireBinary('prometheus');
  const { dir, cleanup } = await tempDir('stackware-prometheus-');
  const port = await freePort();
  const config = join(dir, 'prometheus.yml');
  await writeFile(config, `global:\n  scrape_interval: ${scrapeIntervalSeconds}s\n  evaluation_interval: ${scrapeIntervalSeconds}s\nscrape_configs:\n  - job_name: stackware\n    static_configs:\n      - targets: [${targets.map((t) => JSON.stringify(t)).join(', ')}]\n`);
  const peer = startProcess(bin, [`--config.file=${config}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'], { cwd: dir, detached: true });
  const stop = async () => {
    await peer.stop();
    await cleanup();
  };
  try {
    await waitForPort(port, 30_000);
  } catch (error) {
    await stop();
    throw new Error(`prometheus did not start: ${peer.output()}`, { cause: error });
  }
  const url = `http://127.0.0.1:${port}`;
  const query = async (promql: string): Promise<number[]> => {
    const res = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(promql)}`);
    const body = await res.json() as { status: string; error?: string; data?: { resultType: string; result: Array<{ value: [number, string] }> } };
    if (body.status !== 'success') throw new Error(`prometheus query ${promql} failed: ${body.error ?? res.status}`);
    return (body.data?.result ?? []).map((r) => Number(r.value[1]));
  };
  return { port, url, query, output: peer.output, stop };
}

/** A running nginx. */
export interface NginxPeer { port: number; url: string; dir: string; errorLog(): Promise<string>; stop(): Promise<void> }

/**
 * Starts nginx (foreground, as root, one worker) with `serverBlock` placed inside `http { }`.
 * In `serverBlock`, `{{PORT}}` is replaced by the port nginx listens on and `{{DIR}}` by its temp dir.
 * Example server block: `server { listen 127.0.0.1:{{PORT}}; location / { proxy_pass http://127.0.0.1:9000; } }`.
 */
export async function startNginx(serverBlock: string, options: { port?: number } = {}): Promise<NginxPeer> {
  const bin = requireBinary('nginx');
  const port = options.port ?? (await freePort());
  const { dir, cleanup } = await tempDir('stackware-nginx-');
  await mkdir(join(dir, 'tmp'), { recursive: true });
  await mkdir(join(dir, 'logs'), { recursive: true });
  const block = serverBlock.replaceAll('{{PORT}}', String(port)).replaceAll('{{DIR}}', dir);
  const conf = `user root; worker_processes 1; daemon off; pid ${dir}/nginx.pid; error_log ${dir}/error.log;
events { worker_connections 1024; }
http {
  access_log off; include /etc/nginx/mime.types;
  client_body_temp_path ${dir}/tmp; proxy_temp_path ${dir}/tmp; fastcgi_temp_path ${dir}/tmp; scgi_temp_path ${dir}/tmp; uwsgi_temp_path ${dir}/tmp;
  ${block}
}
`;
  await writeFile(join(dir, 'nginx.conf'), conf);
  const peer = startProcess(bin, ['-p', dir, '-c', join(dir, 'nginx.conf')]);
  try {
    await waitForPort(port);
  } catch (error) {
    await peer.stop();
    throw new Error(`nginx did not start: ${peer.output()}\n${await readFile(join(dir, 'error.log'), 'utf8').catch(() => '')}`, { cause: error });
  }
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    dir,
    errorLog: () => readFile(join(dir, 'error.log'), 'utf8').catch(() => ''),
    stop: async () => { await peer.stop(); await cleanup(); },
  };
}

/** A running Apache httpd with mod_cgid. */
export interface ApachePeer { port: number; url: string; dir: string; cgiBin: string; errorLog(): Promise<string>; stop(): Promise<void> }

/**
 * Starts Apache httpd (mod_cgid, event MPM) per PEERS.md, with `ScriptAlias /cgi/ <dir>/cgi-bin/`.
 * Put executable CGI scripts in `cgiBin` (readable by www-data) before requesting them.
 * `extraConfig` is appended to httpd.conf (e.g. `PassEnv`, `SetEnv`).
 */
export async function startApache(extraConfig = ''): Promise<ApachePeer> {
  const bin = requireBinary('apache2');
  const port = await freePort();
  const { dir, cleanup } = await tempDir('stackware-apache-');
  await chmod(dir, 0o755);
  const cgiBin = join(dir, 'cgi-bin');
  await mkdir(cgiBin, { recursive: true });
  await chmod(cgiBin, 0o755);
  const conf = `ServerRoot "/usr/lib/apache2"
Listen 127.0.0.1:${port}
PidFile ${dir}/httpd.pid
ErrorLog ${dir}/error.log
LoadModule mpm_event_module /usr/lib/apache2/modules/mod_mpm_event.so
LoadModule authz_core_module /usr/lib/apache2/modules/mod_authz_core.so
LoadModule alias_module /usr/lib/apache2/modules/mod_alias.so
LoadModule cgid_module /usr/lib/apache2/modules/mod_cgid.so
LoadModule mime_module /usr/lib/apache2/modules/mod_mime.so
LoadModule env_module /usr/lib/apache2/modules/mod_env.so
TypesConfig /etc/mime.types
ScriptSock ${dir}/cgisock
User www-data
Group www-data
ServerName localhost
ScriptAlias /cgi/ ${cgiBin}/
<Directory ${cgiBin}>
  Require all granted
</Directory>
${extraConfig}
`;
  await writeFile(join(dir, 'httpd.conf'), conf);
  const result = spawnSync(bin, ['-f', join(dir, 'httpd.conf'), '-k', 'start'], { encoding: 'utf8', env: { ...process.env, APACHE_RUN_DIR: dir, APACHE_LOCK_DIR: dir, APACHE_LOG_DIR: dir } });
  if (result.status !== 0) throw new Error(`apache2 did not start: ${result.stdout}${result.stderr}`);
  await waitForPort(port);
  const errorLog = () => readFile(join(dir, 'error.log'), 'utf8').catch(() => '');
  return {
    port, url: `http://127.0.0.1:${port}`, dir, cgiBin, errorLog,
    stop: async () => {
      const pid = Number((await readFile(join(dir, 'httpd.pid'), 'utf8').catch(() => '')).trim());
      if (pid) {
        try { process.kill(pid, 'SIGTERM'); } catch { /* already gone */ }
        for (let i = 0; i < 100 && processAlive(pid); i++) await new Promise((r) => setTimeout(r, 50));
      }
      await cleanup();
    },
  };
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Flags Chromium needs on these machines (PEERS.md). */
export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-quic'];

/**
 * Launches Debian's Chromium with playwright-core (never a downloaded browser) and a fresh
 * user-data dir. Returns the playwright Browser; call `close()` when done.
 */
export async function launchChromium() {
  const executablePath = requireBinary('chromium');
  const { chromium } = await import('playwright-core');
  return chromium.launch({ executablePath, args: CHROMIUM_ARGS, headless: true });
}

/** Where tests save artifacts (screenshots): `<repo>/test-artifacts/<name>`; created on demand. */
export async function artifactPath(name: string): Promise<string> {
  const dir = join(process.cwd(), 'test-artifacts');
  await mkdir(dir, { recursive: true });
  return join(dir, name);
}
