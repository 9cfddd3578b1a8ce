import cluster from 'node:cluster';
import { basename, dirname, resolve } from 'node:path';
import type { Application, RunningServer } from '@stackware/gateway';
import { startPrimary, runWorker, watchFiles, type Logger } from '@stackware/server';
import type { BuiltApplication, Deployment } from './build.js';
import { ConfigError } from './config-error.js';
import { LiveApplication } from './live.js';
import { loadDeployment } from './load.js';
import { startOperations, type MetricsSettings, type OperationsListener } from './operations.js';

/** Options of {@link serveDeployment}. Defaults: watch true, debounceMs 200, drainTimeoutMs 30000. */
export interface ServeDeploymentOptions {
  /** A pino logger (the CLI's). */
  logger: Logger;
  /**
   * Command-line overrides of the server sections: `--host`, `--port` (allowed only with one server
   * section) and `--workers` (every server section: prefork applies to the whole deployment).
   */
  overrides?: { host?: string; port?: number; workers?: number };
  /** Watch the deploy file and reload on change (default true). */
  watch?: boolean;
  /** Debounce of file-change events, in ms (default 200). */
  debounceMs?: number;
  /** How long a replaced configuration may keep serving its in-flight requests, in ms (default 30000). */
  drainTimeoutMs?: number;
  /** Command-line overrides of `[metrics]` (`--metrics HOST:PORT`, `--metrics-public`). */
  metrics?: MetricsSettings;
}

/** A deployment being served. */
export interface ServingDeployment {
  /** The deployment in use (the latest valid one). */
  readonly deployment: Deployment;
  /** The listening servers: name and URL (empty in a prefork primary, whose workers listen). */
  readonly servers: ReadonlyArray<{ name: string; url: string }>;
  /** Re-reads the file and applies it if valid; resolves false (and logs why) when it is not. */
  reload(): Promise<boolean>;
  /** Graceful stop: servers stop accepting, in-flight requests finish, pools close. */
  close(): Promise<void>;
  /** Resolves with the exit code once a prefork primary has stopped (0 otherwise, after close()). */
  readonly done: Promise<number>;
}

/**
 * `stackware serve site.toml`: loads the deploy file (a mistake throws a ConfigError before
 * anything listens), starts every `[server.NAME]`, and watches the file.
 *
 * Live configuration:
 * - `workers = 0` (default): one process. A valid edit is applied at the application level: the
 *   whole stack is rebuilt from the new file and swapped in atomically between requests; requests
 *   in flight finish on the old stack, which is then disposed (its thread pools closed). Server
 *   sections (host, port, protocol) are read at start only; changing them logs a warning.
 *   ES modules stay cached, so code changes need a restart (or workers).
 * - `workers = N`: prefork (@stackware/server's primary/worker). The primary validates the edited
 *   file and, when valid, replaces the workers gracefully (new ones listen before old ones stop);
 *   each new worker reads the file afresh — code and server sections included. The primary watches
 *   the file and its directory: a module edit or a `touch` of the file replaces the workers too.
 * - An invalid edit keeps the current configuration serving and logs the ConfigError message.
 * @throws ConfigError for a mistake in the file at start.
 */
export async function serveDeployment(file: string, options: ServeDeploymentOptions): Promise<ServingDeployment> {
  const path = resolve(file);
  const logger = options.logger;
  let deployment = applyOverrides(await loadDeployment(path), options.overrides);
  const workers = Math.max(0, ...[...deployment.servers.values()].map((s) => s.workers));
  if (deployment.servers.size === 0) deployment.fail(undefined, undefined, undefined, 'the deploy file declares no server', 'add a [server.main] section with host and port (or use `stackware check` to validate only)');

  const metrics = await startMetrics(deployment, options);
  if (workers > 0 && cluster.isPrimary) return servePrimary(path, deployment, workers, options, metrics);

  // One process (or one prefork worker): live applications per served application name.
  const lives = new Map<string, LiveApplication>();
  // At start, an application whose factory fails (an init failure) is served as 503 and retried.
  const builds = await buildAll(deployment, logger);
  for (const [name, built] of builds) lives.set(name, new LiveApplication(built));
  const started: Array<{ name: string; server: RunningServer }> = [];
  try {
    for (const def of deployment.servers.values()) {
      const [one] = await deployment.startServers(lives.get(def.app ?? deployment.main)!.app, [def.name]);
      started.push(one!);
    }
  } catch (error) {
    await Promise.allSettled(started.map((s) => s.server.close()));
    await Promise.allSettled([...lives.values()].map((l) => l.close()));
    throw error;
  }
  metrics?.serving();
  for (const s of started) logger.info({ server: s.name, url: s.server.url, file: path }, `serving ${basename(path)} [server.${s.name}] on ${s.server.url}`);
  const servers = started.map((s) => ({ name: s.name, url: s.server.url }));

  let stopWatching = () => {};
  let closing: Promise<void> | undefined;
  const closeAll = () => {
    closing ??= (async () => {
      stopWatching();
      await Promise.allSettled([...started.map((s) => s.server.close()), metrics?.close()]);
      await Promise.allSettled([...lives.values()].map((l) => l.close()));
    })();
    return closing;
  };

  if (cluster.isWorker) {
    // Prefork worker: the primary watches the file and replaces this process on change.
    const combined: RunningServer = { url: servers[0]!.url, close: closeAll };
    const maxMemoryMb = Math.max(0, ...[...deployment.servers.values()].map((d) => d.maxMemoryMb));
    await runWorker({ app: lives.values().next().value!.app, start: async () => combined, logger, maxMemoryMb });
    return { deployment, servers, reload: async () => false, close: closeAll, done: new Promise(() => {}) };
  }

  let serverShape = JSON.stringify([...deployment.servers.values()]);
  // One reload at a time: an edit made during a reload is applied after it, in order.
  let queue: Promise<unknown> = Promise.resolve();
  const reload = (): Promise<boolean> => {
    const next = queue.then(reloadNow, reloadNow);
    queue = next;
    return next;
  };
  const reloadNow = async (): Promise<boolean> => {
    let next: Deployment;
    let nextBuilds: Map<string, BuiltApplication>;
    try {
      next = applyOverrides(await loadDeployment(path), options.overrides);
      nextBuilds = await buildAll(next);
    } catch (error) {
      logger.error({ file: path }, `deploy file is invalid; still serving the previous configuration: ${error instanceof Error ? error.message : String(error)}`);
      return false;
    }
    const missing = [...lives.keys()].filter((n) => !nextBuilds.has(n));
    if (missing.length) {
      await Promise.allSettled([...nextBuilds.values()].map((b) => b.dispose()));
      logger.error({ file: path }, `deploy file is invalid for this process; still serving the previous configuration: servers serve ${missing.join(', ')}, which the new file does not declare (restart to change what servers serve)`);
      return false;
    }
    if (JSON.stringify([...next.servers.values()]) !== serverShape) {
      logger.warn({ file: path }, 'server sections changed: host, port and protocol are read at start; restart (or use workers) to apply them');
      serverShape = JSON.stringify([...next.servers.values()]);
    }
    deployment = next;
    for (const [name, built] of nextBuilds) {
      lives.get(name)?.swap(built, options.drainTimeoutMs ?? 30_000).catch((error: unknown) => logger.warn({ err: error }, 'disposing the previous configuration failed'));
    }
    for (const [name, built] of nextBuilds) if (!lives.has(name)) await built.dispose();
    logger.info({ file: path, generation: lives.values().next().value!.generation }, `configuration reloaded from ${basename(path)}`);
    return true;
  };

  if (options.watch !== false) stopWatching = watchFile(path, options.debounceMs ?? 200, () => void reload(), logger);
  return {
    get deployment() { return deployment; },
    servers,
    reload,
    close: closeAll,
    done: Promise.resolve(0),
  };
}

/**
 * Builds each application a server serves (threads → the application runs in a thread pool).
 * With `initLogger` (at start): a factory that throws — an init failure, such as a database that is
 * not up yet — does not stop the server: the application answers 503 and a later request builds it
 * again ({@link retryingBuild}, seed 003). Mistakes in the file (ConfigError of any other kind) throw.
 */
async function buildAll(deployment: Deployment, initLogger?: Logger): Promise<Map<string, BuiltApplication>> {
  const builds = new Map<string, BuiltApplication>();
  try {
    for (const def of deployment.servers.values()) {
      const name = def.app ?? deployment.main;
      if (builds.has(name)) continue;
      const buildOne = () => (def.threads > 0 ? deployment.buildThreaded(name, def) : deployment.build(name));
      try {
        builds.set(name, await buildOne());
      } catch (error) {
        if (!initLogger || !isInitFailure(error)) throw error;
        builds.set(name, retryingBuild(error, buildOne, initLogger));
      }
    }
  } catch (error) {
    await Promise.allSettled([...builds.values()].map((b) => b.dispose()));
    throw error;
  }
  return builds;
}

/** A factory that threw while building (not a mistake in the file): retried by later requests. */
function isInitFailure(error: unknown): boolean {
  return error instanceof ConfigError && error.problem.startsWith('the factory failed:');
}

/** How long after a failed initialisation the next request retries it, in ms. */
const INIT_RETRY_MS = 1000;

/**
 * An application whose initialisation failed: answers **503 Service Unavailable** with
 * `Retry-After: 1` (the reason goes to the log once per attempt) while it fails; a request that
 * arrives `INIT_RETRY_MS` (1 s) or more after the last attempt builds it again (one attempt at a
 * time; requests meanwhile wait for it). Once built, every request goes to the built application.
 */
function retryingBuild(first: unknown, rebuild: () => Promise<BuiltApplication>, logger: Logger): BuiltApplication {
  logger.error({ err: first }, `the application failed to initialise; answering 503 and retrying on a later request: ${first instanceof Error ? first.message : String(first)}`);
  let built: BuiltApplication | undefined;
  let attempt: Promise<void> | undefined;
  let lastAttempt = Date.now();
  const retry = () => (attempt ??= rebuild().then(
    (b) => {
      built = b;
      logger.info('the application initialised on retry');
    },
    (error: unknown) => logger.error({ err: error }, `the application failed to initialise again: ${error instanceof Error ? error.message : String(error)}`),
  ).finally(() => {
    attempt = undefined;
    lastAttempt = Date.now();
  }));
  const app: Application = async (environ, startResponse) => {
    if (!built) {
      if (attempt) await attempt;
      else if (Date.now() - lastAttempt >= INIT_RETRY_MS) await retry();
    }
    if (built) return built.app(environ, startResponse);
    startResponse('503 Service Unavailable', [['Content-Type', 'text/plain; charset=utf-8'], ['Retry-After', '1']]);
    return [Buffer.from('Service Unavailable: the application failed to initialise; the reason is in the server log\n')];
  };
  return { app, dispose: async () => { await attempt; await built?.dispose(); } };
}

function applyOverrides(deployment: Deployment, overrides: ServeDeploymentOptions['overrides']): Deployment {
  if (overrides?.workers !== undefined) {
    for (const def of deployment.servers.values()) deployment.servers.set(def.name, Object.freeze({ ...def, workers: overrides.workers }));
  }
  if (!overrides || (overrides.host === undefined && overrides.port === undefined)) return deployment;
  if (deployment.servers.size !== 1) deployment.fail(undefined, undefined, undefined, `--host/--port apply to one server, but the file declares ${deployment.servers.size}`, 'drop the flags and set host and port in each [server.NAME] section');
  const [def] = deployment.servers.values();
  const options = { ...def!.options, ...(overrides.host !== undefined ? { host: overrides.host } : {}), ...(overrides.port !== undefined ? { port: overrides.port } : {}) };
  deployment.servers.set(def!.name, Object.freeze({ ...def!, options: Object.freeze(options) }));
  return deployment;
}

/**
 * The metrics listener of `[metrics]` (read at start; `options.metrics` from the command line wins),
 * see startOperations. @throws ConfigError for a listen address it refuses.
 */
async function startMetrics(deployment: Deployment, options: ServeDeploymentOptions): Promise<OperationsListener | undefined> {
  const settings = { ...deployment.metrics, ...Object.fromEntries(Object.entries(options.metrics ?? {}).filter(([, v]) => v !== undefined)) };
  try {
    return await startOperations(settings, options.logger);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).syscall) throw error;
    return deployment.fail('metrics', undefined, 'listen', (error as Error).message, 'listen on 127.0.0.1, or set public = true in [metrics]');
  }
}

/** The prefork primary: validates edits and replaces workers gracefully. */
async function servePrimary(path: string, deployment: Deployment, workers: number, options: ServeDeploymentOptions, metrics: OperationsListener | undefined): Promise<ServingDeployment> {
  const logger = options.logger;
  const primary = startPrimary({ workers, logger, reload: false, shutdownTimeoutMs: options.drainTimeoutMs });
  metrics?.serving(); // from now on the primary's own readiness check waits for the workers
  let current = deployment;
  const reload = async (): Promise<boolean> => {
    try {
      current = applyOverrides(await loadDeployment(path), options.overrides);
    } catch (error) {
      logger.error({ file: path }, `deploy file is invalid; still serving the previous configuration: ${error instanceof Error ? error.message : String(error)}`);
      return false;
    }
    primary.reloadWorkers(`${basename(path)} changed`);
    logger.info({ file: path }, `configuration valid: replacing ${workers} workers gracefully`);
    return true;
  };
  // Workers import the modules afresh: watch the deploy file and its directory (the modules it loads).
  const stopWatching = options.watch === false ? () => {} : watchFile(path, options.debounceMs ?? 200, () => void reload(), logger, true);
  logger.info({ workers, file: path }, `prefork primary serving ${basename(path)} with ${workers} workers`);
  return {
    get deployment() { return current; },
    servers: [],
    reload,
    close: async () => { stopWatching(); await Promise.all([primary.close(), metrics?.close()]); },
    done: primary.done,
  };
}

/**
 * Calls `onChange` when the deploy file changes — a content edit, a rename-save, or a `touch`
 * (mod_wsgi's touch-to-reload) — and, with `alsoDirectory`, when any file under its directory
 * changes (the modules it loads; node_modules, dot-directories, logs and data are ignored). Uses the
 * server's one reload watcher (`watchFiles`). Returns a function that stops watching.
 */
function watchFile(path: string, debounceMs: number, onChange: () => void, logger: Logger, alsoDirectory = false): () => void {
  const watcher = watchFiles(alsoDirectory ? [path, dirname(path)] : [path], () => onChange(), { debounceMs, logger });
  return () => void watcher.close();
}
