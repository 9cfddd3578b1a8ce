import cluster from 'node:cluster';
import type { Application } from '@stackware/gateway';
import { createLogger, onShutdownSignals, runPrimary, runWorker, type Logger, type LoggerOptions } from '@stackware/server';
import type { ParsedCommand } from './args.js';
import type { OptionValue } from './options.js';
import { isDeployFile, loadApplication, resolveTarget, type Target } from './target.js';
import { pickServer } from './servers.js';
import { UsageError } from './usage-error.js';
import type { OperationsListener } from '@stackware/config';

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

/** The logger of `stackware serve` (`--log-level`; workers add their slot). */
export function cliLogger(options: Record<string, OptionValue>): Logger {
  const slot = process.env.STACKWARE_WORKER_SLOT;
  return createLogger({ level: options.logLevel as LoggerOptions['level'], base: cluster.isWorker ? { worker: Number(slot ?? cluster.worker?.id) } : undefined });
}

/**
 * The metrics listener of `--metrics HOST:PORT` (`--metrics-public` for a non-loopback host): in
 * the single process or the prefork primary; a worker installs its counters only (startOperations
 * in @stackware/config). Nothing at all without `--metrics`. @throws UsageError for a refused address.
 */
export async function startMetrics(options: Record<string, OptionValue>, logger: Logger): Promise<OperationsListener | undefined> {
  // A worker's primary sets STACKWARE_METRICS=1 when it serves metrics (config's METRICS_ENV).
  if (cluster.isWorker ? process.env.STACKWARE_METRICS !== '1' : options.metrics === undefined) return undefined;
  const { startOperations } = await import('@stackware/config');
  try {
    return await startOperations({ listen: options.metrics as string | undefined, public: options.metricsPublic as boolean }, logger);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).syscall) throw error;
    throw new UsageError((error as Error).message);
  }
}

/**
 * `stackware serve <target> [options]`. The flow: resolve the target → (prefork primary: fork
 * workers and stop here) → build the application → start the server `--protocol` picks → wait
 * for SIGTERM/SIGINT and stop gracefully.
 */
export async function serveCommand(command: ParsedCommand): Promise<void> {
  if (isDeployFile(command.positionals[0])) return (await import('./deploy.js')).serveDeployFileCommand(command);
  const options = command.options;
  if (command.positionals.length > 1) throw new UsageError(`serve takes one application, got ${command.positionals.length}: ${command.positionals.join(' ')}`);
  const target = resolveTarget(command.positionals[0]);
  const start = pickServer(options.protocol as string, options.socket);
  const workers = options.workers as number;
  const timeoutMs = Math.round((options.timeout as number) * 1000);
  const shutdownTimeoutMs = Math.round((options.shutdownTimeout as number) * 1000);
  if (options.maxRequests && !workers && !options.reload) throw new UsageError('--max-requests recycles worker processes: add --workers N');
  if (options.maxMemoryMb && !workers && !options.reload) throw new UsageError('--max-memory-mb replaces a worker process over the limit: add --workers N');
  // One process, one thread: a request stuck in a synchronous loop blocks the server itself, so
  // nothing could answer 504 or go on serving. Refuse the promise rather than break it.
  if (command.given.has('timeout') && options.timeout !== 0 && !workers && !options.threads && !options.reload) {
    throw new UsageError('--timeout needs --workers N or --threads N: in a single process a request stuck in a synchronous loop blocks the whole server, so nothing can answer 504 (a request that is only waiting still gets 504 after the default 30 s)');
  }
  const logger = cliLogger(options);
  const prefork = workers > 0 || options.reload === true;
  const metrics = await startMetrics(options, logger);

  if (prefork && cluster.isPrimary) {
    metrics?.serving(); // the primary's own readiness check waits for the workers
    await runPrimary({ workers: Math.max(1, workers), timeoutMs, shutdownTimeoutMs, reload: options.reload as boolean, watchPaths: target.watchPaths, logger });
    return;
  }
  const app = await buildApplication(target, options);
  if (cluster.isWorker) {
    await runWorker({
      app,
      start: (wrapped) => start(wrapped, { options, logger }),
      maxRequests: options.maxRequests as number,
      maxRequestsJitter: options.maxRequestsJitter as number | undefined,
      maxMemoryMb: options.maxMemoryMb as number,
      logger,
    });
    return;
  }
  const running = await start(app, { options, logger });
  metrics?.serving();
  logger.info({ url: running.url, target: target.spec }, `serving ${target.spec} on ${running.url}`);
  onShutdownSignals(async () => {
    await Promise.all([running.close(), metrics?.close()]);
    await (app as { close?(): Promise<void> }).close?.();
  }, { logger });
}
