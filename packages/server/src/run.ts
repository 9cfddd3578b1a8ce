import cluster from 'node:cluster';
import type { Application, RunningServer } from '@stackware/gateway';
import type { Logger } from 'pino';
import { LiveApplication } from './live.js';
import { BOOT_FAILURE_EXIT_CODE, runWorker, startPrimary, type PrimaryOptions, type PreforkPrimary } from './prefork.js';
import { onShutdownSignals } from './shutdown.js';
import { watchFiles } from './watch.js';

/**
 * The one orchestrator: `stackware serve app.ts` (the command line builds the plan) and
 * `stackware serve site.toml` (@stackware/config's `deploymentPlan()` builds it) both end in
 * {@link run}. A plan says what to serve (applications, built in the process that serves them),
 * where (servers), under which process model (this process, or a prefork primary and its
 * workers), what to watch and how to reload, and what else the supervising process runs. `run`
 * owns the rest: prefork (startPrimary/runWorker), the file watcher, live reload, init-failure
 * retry, signals and the log lines.
 */

/** An application built for serving, with the resources it holds (thread pools). */
export interface BuiltApplication {
  app: Application;
  /** Releases what the build holds (closes thread pools). Called once the application has no request in flight. */
  dispose(): Promise<void>;
}

/** How one application of a plan is built. Thread pools are built here (the pool is the application). */
export interface ApplicationPlan {
  /** Builds the application; runs in each process that serves it (a worker, or this process). */
  build(): Promise<BuiltApplication>;
  /**
   * True for an error of `build()` at start that is an init failure (a database not up yet), not a
   * mistake: the application answers 503 + `Retry-After: 1` and a later request (≥ 1 s after the
   * last attempt) builds it again. Absent: every build error is thrown by {@link run}.
   */
  retryable?(error: unknown): boolean;
}

/** One listener of a plan. */
export interface ServerPlan {
  /** The server's name (a deploy file's `[server.NAME]`; "main" on the command line). */
  name: string;
  /** The name of the application it serves (a key of {@link ServePlan.applications}). */
  app: string;
  /** Starts listening with `app`; resolves once it accepts connections. */
  start(app: Application): Promise<RunningServer>;
  /** What the "serving … on URL" line calls it: the target, or `site.toml [server.web]`. */
  label: string;
  /** Fields of that log record. */
  logFields?: Record<string, unknown>;
}

/** The prefork process model (gunicorn's): see `startPrimary` and `runWorker` in prefork.ts. */
export interface PreforkPlan extends Omit<PrimaryOptions, 'workers' | 'logger' | 'reload' | 'watchPaths' | 'reloadDebounceMs'> {
  /** Number of worker processes (≥ 1). */
  workers: number;
  /** A worker asks for its replacement after this many requests (0, default: never). */
  maxRequests?: number;
  /** Random 0..N added to `maxRequests` per worker. Default maxRequests / 10. */
  maxRequestsJitter?: number;
  /** A worker whose RSS passes this many MiB is replaced gracefully (0, default: no limit). */
  maxMemoryMb?: number;
}

/**
 * How a plan reloads, on a watched change or on `reload()`. In a prefork primary the workers are
 * replaced gracefully (new ones listen before old ones stop) once `check()` allows it; in one
 * process the applications are rebuilt with `rebuild()` and swapped in between requests.
 */
export interface ReloadPlan {
  /** Prefork primary: resolves false to keep the current workers (an invalid edit; it logs why). Default: always replace. */
  check?(): Promise<boolean>;
  /**
   * One process: the rebuilt applications by name, or undefined to keep serving the current ones
   * (it logs why). An application missing from the result keeps its current build; an extra one
   * is disposed. Absent: one process does not reload (and its applications are not wrapped, so a
   * request pays nothing for it).
   */
  rebuild?(): Promise<ReadonlyMap<string, BuiltApplication> | undefined>;
  /** How long a replaced build may finish its in-flight requests before it is disposed, in ms. Default 30000. */
  drainTimeoutMs?: number;
}

/** Files whose change reloads the plan (see `watchFiles`: rename-saves seen; node_modules, dot-directories, logs and data ignored). */
export interface WatchPlan {
  /** Files, or directories watched recursively. */
  paths: string[];
  /** Debounce of change events, in ms. Default 300. */
  debounceMs?: number;
}

/**
 * Something else the supervising process runs beside the servers: started by the prefork primary
 * (or by the single process) before the workers fork or the servers listen, stopped after them
 * on close. The place for a metrics listener or daemon process groups.
 */
export interface Supervisor {
  /** For log lines and errors. */
  name: string;
  /**
   * Starts it; `role` says whether workers serve ("primary") or this process does ("single").
   * `serving()`, when given, is called once this process's servers listen (single process only).
   */
  start(context: { logger: Logger; role: 'primary' | 'single' }): Promise<StartedSupervisor>;
  /** Called in each prefork worker before it builds the applications (a worker's part of it, such as its metrics). */
  startInWorker?(context: { logger: Logger }): Promise<void>;
}

/** A started {@link Supervisor}. */
export interface StartedSupervisor {
  close(): Promise<void>;
  /** The single process's servers listen now (for readiness). */
  serving?(): void;
}

/** What {@link run} runs. */
export interface ServePlan {
  /** What is served, for log lines: the target (`app.ts#app`) or the deploy file's name. */
  label: string;
  /** Fields added to the orchestrator's own log records (`{ file }`). */
  logFields?: Record<string, unknown>;
  logger: Logger;
  /** The applications by name (each server names one). */
  applications: ReadonlyMap<string, ApplicationPlan>;
  /** The listeners, in order. At least one. */
  servers: readonly ServerPlan[];
  /** Prefork: fork workers that each build the applications and listen. Absent: serve in this process. */
  prefork?: PreforkPlan;
  reload?: ReloadPlan;
  /** Watch files and reload on change. Absent: reload only on `reload()`. */
  watch?: WatchPlan;
  /** Extra listeners and supervisors of the supervising process (primary or single process). */
  supervisors?: readonly Supervisor[];
  /**
   * Install SIGTERM/SIGINT handlers (default true): a graceful stop, then the process exits (a
   * prefork primary with its exit code: 3 when workers cannot boot). False: the caller stops it
   * with `close()` (tests, embedding).
   */
  signals?: boolean;
}

/** A plan being run. */
export interface RunningPlan {
  /** "primary" (workers serve), "worker" (a prefork worker), "single" (this process serves). */
  readonly role: 'primary' | 'worker' | 'single';
  /** The listening servers, name and URL (empty in a prefork primary, whose workers listen). */
  readonly servers: ReadonlyArray<{ name: string; url: string }>;
  /** Reloads now, as a watched change would; resolves false when nothing was applied (logged). */
  reload(): Promise<boolean>;
  /** Graceful stop: servers stop accepting, in-flight requests finish, applications are disposed. */
  close(): Promise<void>;
  /** Resolves with the exit code once a prefork primary stopped (0 after close() otherwise; never in a worker). */
  readonly done: Promise<number>;
}

/**
 * Runs a plan in this process. The process model follows the plan and node:cluster: with
 * `prefork`, the cluster primary starts the supervisors, forks the workers, watches and reloads
 * by replacing workers; a cluster worker (which ran the same entry, so built the same plan) builds
 * the applications, starts the servers and serves until the primary stops it. Without `prefork`,
 * this process starts the supervisors, builds the applications (an init failure answers 503 and is
 * retried), starts the servers, and reloads by rebuilding and swapping the applications.
 * @throws what `build()` throws (not retryable) or a server's `start()` throws (port in use); what
 *   was started is stopped first.
 */
export async function run(plan: ServePlan): Promise<RunningPlan> {
  if (plan.servers.length === 0) throw new Error('run(plan): the plan has no server');
  if (plan.prefork && cluster.isPrimary) return runPrimaryPlan(plan, plan.prefork);
  return runServing(plan);
}

/** Starts the supervisors in order; on a failure stops those started and throws. */
async function startSupervisors(plan: ServePlan, role: 'primary' | 'single'): Promise<StartedSupervisor[]> {
  const started: StartedSupervisor[] = [];
  try {
    for (const supervisor of plan.supervisors ?? []) started.push(await supervisor.start({ logger: plan.logger, role }));
  } catch (error) {
    await Promise.allSettled(started.map((s) => s.close()));
    throw error;
  }
  return started;
}

/** The prefork primary: supervisors, workers, the watcher (reload = replace the workers), signals. */
async function runPrimaryPlan(plan: ServePlan, prefork: PreforkPlan): Promise<RunningPlan> {
  const { logger } = plan;
  const supervisors = await startSupervisors(plan, 'primary');
  const { workers, maxRequests: _r, maxRequestsJitter: _j, maxMemoryMb: _m, ...primaryOptions } = prefork;
  let primary: PreforkPrimary;
  try {
    primary = startPrimary({ ...primaryOptions, workers, logger, reload: false });
  } catch (error) {
    await Promise.allSettled(supervisors.map((s) => s.close()));
    throw error;
  }
  const reload = async (reason = 'reload requested'): Promise<boolean> => {
    if (plan.reload?.check && !(await plan.reload.check())) return false;
    primary.reloadWorkers(reason);
    return true;
  };
  const watcher = plan.watch && plan.watch.paths.length
    ? watchFiles(plan.watch.paths, (path) => void reload(`changed: ${path}`), { debounceMs: plan.watch.debounceMs ?? 300, logger })
    : undefined;
  logger.info({ ...plan.logFields, workers, reload: watcher !== undefined }, `prefork primary serving ${plan.label} with ${workers} workers`);
  let closing: Promise<void> | undefined;
  const close = () => (closing ??= (async () => {
    await watcher?.close();
    await primary.close();
    await Promise.allSettled(supervisors.map((s) => s.close()));
  })());
  // Workers that cannot boot stop the primary on its own: stop the rest too.
  const done = primary.done.then(async (code) => {
    await close();
    return code;
  });
  if (plan.signals !== false) {
    onShutdownSignals(close, { logger, exit: false });
    void done.then((code) => {
      logger.info({ code }, 'prefork primary exiting');
      // One clear line for the operator (the workers' own reports went to their output).
      if (code === BOOT_FAILURE_EXIT_CODE && primary.failure) process.stderr.write(`stackware: ${primary.failure}\n`);
      process.exit(code);
    });
  }
  return { role: 'primary', servers: [], reload: () => reload(), close, done };
}

/** A prefork worker or the single process: build, listen, serve (and, in one process, reload by swapping). */
async function runServing(plan: ServePlan): Promise<RunningPlan> {
  const { logger } = plan;
  const worker = cluster.isWorker;
  const holding = !worker && plan.signals !== false ? holdStopSignals(logger) : undefined;
  try {
    return await startServing(plan, holding);
  } finally {
    holding?.release();
  }
}

/**
 * SIGTERM/SIGINT that arrive while one process starts: held, and acted on once it has started.
 * The port accepts connections from the listen() call on, before the handlers of
 * {@link onShutdownSignals} are in place (a client, a test, a supervisor can signal then); the
 * default action would kill the process without its graceful stop and its last log lines. A
 * second signal while starting exits at once (code 1), as it does while stopping.
 */
function holdStopSignals(logger: Logger): { readonly held: NodeJS.Signals | undefined; release(): void } {
  let held: NodeJS.Signals | undefined;
  const hold = (signal: NodeJS.Signals) => {
    if (held) {
      logger.warn({ signal }, 'second signal while starting: exiting now');
      process.exit(1);
    }
    held = signal;
    logger.info({ signal }, 'signal received while starting: stopping gracefully once started');
  };
  const signals: NodeJS.Signals[] = ['SIGTERM', 'SIGINT'];
  for (const signal of signals) process.on(signal, hold);
  return {
    get held() { return held; },
    release: () => { for (const signal of signals) process.off(signal, hold); },
  };
}

/** {@link runServing} once its signals are held. */
async function startServing(plan: ServePlan, holding: ReturnType<typeof holdStopSignals> | undefined): Promise<RunningPlan> {
  const { logger } = plan;
  const worker = cluster.isWorker;
  const supervisors = worker ? [] : await startSupervisors(plan, 'single');
  if (worker) for (const supervisor of plan.supervisors ?? []) await supervisor.startInWorker?.({ logger });
  // In one process that reloads, each application is live (swapped between requests); otherwise it is served as built.
  const swappable = !worker && plan.reload?.rebuild !== undefined;
  const serving = new Map<string, { app: Application; live?: LiveApplication; built: BuiltApplication }>();
  const started: Array<{ name: string; server: RunningServer }> = [];
  const stopAll = async () => {
    await Promise.allSettled(started.map((s) => s.server.close()));
    await Promise.allSettled([...serving.values()].map((s) => (s.live ? s.live.close() : s.built.dispose())));
    await Promise.allSettled(supervisors.map((s) => s.close()));
  };
  try {
    const builds = await buildApplications(plan, logger);
    for (const [name, built] of builds) {
      const live = swappable ? new LiveApplication(built) : undefined;
      serving.set(name, { app: live ? live.app : built.app, live, built });
    }
  } catch (error) {
    await stopAll();
    throw error;
  }
  const startServers = async (wrap: (app: Application, name: string) => Application) => {
    try {
      for (const def of plan.servers) started.push({ name: def.name, server: await def.start(wrap(serving.get(def.app)!.app, def.app)) });
    } catch (error) {
      await stopAll();
      throw error;
    }
    for (const [i, s] of started.entries()) {
      const def = plan.servers[i]!;
      logger.info({ ...def.logFields, url: s.server.url }, `serving ${def.label} on ${s.server.url}`);
    }
    for (const s of supervisors) s.serving?.();
  };

  let stopWatching = () => {};
  let closing: Promise<void> | undefined;
  const close = () => (closing ??= (async () => {
    stopWatching();
    await stopAll();
  })());
  const servers = () => started.map((s) => ({ name: s.name, url: s.server.url }));

  if (worker) {
    // Prefork worker: the primary watches and replaces this process. runWorker counts requests
    // (max-requests) on the first server's application and stops on the primary's word.
    const first = plan.servers[0]!;
    await runWorker({
      app: serving.get(first.app)!.app,
      start: async (counted) => {
        await startServers((app, name) => (name === first.app ? counted : app));
        // The worker's watchdog (504 for a request stuck in a synchronous loop) watches an HTTP server.
        const only = started.length === 1 ? (started[0]!.server as { server?: unknown }).server : undefined;
        return { url: started[0]!.server.url, close, ...(only ? { server: only } : {}) } as RunningServer;
      },
      maxRequests: plan.prefork?.maxRequests,
      maxRequestsJitter: plan.prefork?.maxRequestsJitter,
      maxMemoryMb: plan.prefork?.maxMemoryMb,
      logger,
    });
    return { role: 'worker', servers: servers(), reload: async () => false, close, done: new Promise(() => {}) };
  }

  await startServers((app) => app);
  // One reload at a time: an edit made during a reload is applied after it, in order.
  let queue: Promise<unknown> = Promise.resolve();
  const reloadNow = async (): Promise<boolean> => {
    const next = await plan.reload?.rebuild?.();
    if (!next) return false;
    for (const [name, built] of next) {
      const live = serving.get(name)?.live;
      if (live) live.swap(built, plan.reload?.drainTimeoutMs ?? 30_000).catch((error: unknown) => logger.warn({ err: error }, 'disposing the previous configuration failed'));
      else await built.dispose();
    }
    const generation = [...serving.values()][0]?.live?.generation;
    logger.info({ ...plan.logFields, generation }, `configuration reloaded from ${plan.label}`);
    return true;
  };
  const reload = (): Promise<boolean> => {
    const next = queue.then(reloadNow, reloadNow);
    queue = next;
    return next;
  };
  if (plan.watch && plan.watch.paths.length && swappable) {
    const watcher = watchFiles(plan.watch.paths, () => void reload(), { debounceMs: plan.watch.debounceMs ?? 300, logger });
    stopWatching = () => void watcher.close();
  }
  if (plan.signals !== false) {
    const held = holding?.held;
    holding?.release();
    onShutdownSignals(close, { logger });
    // A signal held while starting: the stop it asked for, now that there is something to stop.
    if (held) process.emit(held, held);
  }
  return { role: 'single', servers: servers(), reload, close, done: Promise.resolve(0) };
}

/**
 * Builds every application of a plan that a server serves, once each, in server order. With
 * `initLogger` (at start), an error the plan calls retryable is served as 503 and retried (see
 * {@link ApplicationPlan.retryable}); any other error disposes what was built and is thrown.
 */
export async function buildApplications(plan: { applications: ServePlan['applications']; servers: ReadonlyArray<Pick<ServerPlan, 'name' | 'app'>> }, initLogger?: Logger): Promise<Map<string, BuiltApplication>> {
  const builds = new Map<string, BuiltApplication>();
  try {
    for (const def of plan.servers) {
      if (builds.has(def.app)) continue;
      const app = plan.applications.get(def.app);
      if (!app) throw new Error(`run(plan): server "${def.name}" serves "${def.app}", which the plan does not build`);
      try {
        builds.set(def.app, await app.build());
      } catch (error) {
        if (!initLogger || !app.retryable?.(error)) throw error;
        builds.set(def.app, retryingBuild(error, () => app.build(), initLogger));
      }
    }
  } catch (error) {
    await Promise.allSettled([...builds.values()].map((b) => b.dispose()));
    throw error;
  }
  return builds;
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
