import cluster from 'node:cluster';
import type { Application } from '@stackware/gateway';
import { createLogger, run, type BuiltApplication, type Logger, type LoggerOptions, type ServePlan, type Supervisor } from '@stackware/server';
import type { ParsedCommand } from './args.js';
import type { OptionValue } from './options.js';
import { isDeployFile, loadApplication, resolveTarget, type Target } from './target.js';
import { pickServer } from './servers.js';
import { UsageError } from './usage-error.js';

/**
 * Builds the application a target names (imports the module and picks its export). Wrappers that
 * change how the application runs (a thread pool) go here: they get the target, not the app.
 */
export async function buildApplication(target: Target, options: Record<string, OptionValue>): Promise<Application> {
  const threads = (options.threads as number | undefined) ?? 0;
  if (threads > 0) {
    // --threads N: the module is loaded in N worker threads, not here (a failed load answers 503 and is retried).
    const { threadPool } = await import('@stackware/threadpool');
    const pool = threadPool({
      module: target.file, export: target.exportName, threads,
      timeoutMs: Math.round(((options.timeout as number | undefined) ?? 30) * 1000),
      shutdownTimeoutMs: Math.round(((options.shutdownTimeout as number | undefined) ?? 5) * 1000),
    });
    // Warm the threads before the server listens, so the first requests do not wait for thread
    // start-up. A failed start-up is logged by the pool, answers 503 and is retried later.
    await pool.ready().catch(() => {});
    return pool;
  }
  return loadApplication(target);
}

/**
 * The metrics listener of `--metrics HOST:PORT` (`--metrics-public` for a non-loopback host) as a
 * supervisor of the plan: in the single process or the prefork primary, and each worker's counters
 * (metricsSupervisor in @stackware/config, loaded only when `--metrics` is given: without it no
 * metrics code runs). A refused address is a UsageError (exit 2).
 */
export function metricsFromOptions(options: Record<string, OptionValue>): Supervisor | undefined {
  if (options.metrics === undefined) return undefined;
  const settings = { listen: options.metrics as string, public: options.metricsPublic as boolean };
  const load = async () => (await import('@stackware/config')).metricsSupervisor(settings, (error) => { throw new UsageError(error.message); });
  return {
    name: 'metrics',
    start: async (context) => (await load()).start(context),
    startInWorker: async (context) => (await load()).startInWorker?.(context),
  };
}

/** The logger of `stackware serve` (`--log-level`; workers add their slot). */
export function cliLogger(options: Record<string, OptionValue>): Logger {
  const slot = process.env.STACKWARE_WORKER_SLOT;
  return createLogger({ level: options.logLevel as LoggerOptions['level'], base: cluster.isWorker ? { worker: Number(slot ?? cluster.worker?.id) } : undefined });
}

/**
 * The plan of `stackware serve <module> [options]` for `run` (@stackware/server): one application
 * (the module's export, or a thread pool loading it with `--threads`), one server (`--protocol`,
 * `--host`/`--port` or `--socket`), prefork with `--workers N` or `--reload` (which watches the
 * module's directory and replaces the workers on a change).
 * @throws UsageError for a missing target, an unknown protocol or flags that do not go together.
 */
export function commandPlan(command: ParsedCommand, logger: Logger): ServePlan {
  const options = command.options;
  if (command.positionals.length > 1) throw new UsageError(`serve takes one application, got ${command.positionals.length}: ${command.positionals.join(' ')}`);
  const target = resolveTarget(command.positionals[0]);
  const start = pickServer(options.protocol as string, options.socket);
  const workers = options.workers as number;
  if (options.maxRequests && !workers && !options.reload) throw new UsageError('--max-requests recycles worker processes: add --workers N');
  if (options.maxMemoryMb && !workers && !options.reload) throw new UsageError('--max-memory-mb replaces a worker process over the limit: add --workers N');
  if (options.lameDuck && (workers || options.reload)) throw new UsageError('--lame-duck works in one process (the node a load balancer sends to); with --workers or --reload the primary holds the listener: leave it out, or run one process per node');
  // One process, one thread: a request stuck in a synchronous loop blocks the server itself, so
  // nothing could answer 504 or go on serving. Refuse the promise rather than break it.
  if (command.given.has('timeout') && options.timeout !== 0 && !workers && !options.threads && !options.reload) {
    throw new UsageError('--timeout needs --workers N or --threads N: in a single process a request stuck in a synchronous loop blocks the whole server, so nothing can answer 504 (a request that is only waiting still gets 504 after the default 30 s)');
  }
  const reload = options.reload === true;
  return {
    label: target.spec,
    logFields: { target: target.spec },
    logger,
    applications: new Map([['main', {
      build: async (): Promise<BuiltApplication> => {
        const app = await buildApplication(target, options);
        return { app, dispose: async () => { await (app as { close?(): Promise<void> }).close?.(); } };
      },
    }]]),
    servers: [{ name: 'main', app: 'main', label: target.spec, logFields: { target: target.spec }, start: (app) => start(app, { options, logger }) }],
    prefork: workers > 0 || reload ? {
      workers: Math.max(1, workers),
      timeoutMs: Math.round((options.timeout as number) * 1000),
      shutdownTimeoutMs: Math.round((options.shutdownTimeout as number) * 1000),
      maxRequests: options.maxRequests as number,
      maxRequestsJitter: options.maxRequestsJitter as number | undefined,
      maxMemoryMb: options.maxMemoryMb as number,
    } : undefined,
    watch: reload ? { paths: target.watchPaths, debounceMs: 300 } : undefined,
    supervisors: [metricsFromOptions(options)].filter((s) => s !== undefined),
  };
}

/**
 * `stackware serve <target> [options]`: a deploy file goes to deploy.ts; a module's plan
 * ({@link commandPlan}) goes to `run`, which forks the workers (prefork), builds the application,
 * starts the server and stops gracefully on SIGTERM/SIGINT.
 */
export async function serveCommand(command: ParsedCommand): Promise<void> {
  if (isDeployFile(command.positionals[0])) return (await import('./deploy.js')).serveDeployFileCommand(command);
  await run(commandPlan(command, cliLogger(command.options)));
}
