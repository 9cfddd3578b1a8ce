import { fileURLToPath, pathToFileURL } from 'node:url';
import { resolve } from 'node:path';
import { Piscina } from 'piscina';
import { statusLine, type Application } from '@stackware/gateway';
import { resolveOptions, type ResolvedOptions, type ThreadPoolOptions } from './options.js';
import { failureResponse, relay, type RelayContext } from './relay.js';
import { countRestart, operations, watchFiles, type PoolReport, type RestartCause } from '@stackware/server';
import type { ThreadConfig } from './thread.js';
import type { MessagePort } from 'node:worker_threads';
import type { Tagged, ThreadEvent, WorkerMessage } from './protocol.js';

// The worker entry is plain JavaScript beside this module: src/bootstrap.mjs, copied by the build
// to dist/bootstrap.mjs (compiled code never loads from src/).
const BOOTSTRAP = fileURLToPath(new URL('./bootstrap.mjs', import.meta.url));

/** The `cause` label of `stackware_restarts_total` for each reason a thread is replaced ("init" counts as an init failure instead). */
const RESTART_CAUSES: Record<'timeout' | 'memory' | 'crash' | 'recycle', RestartCause> = { timeout: 'timeout', memory: 'memory', crash: 'crash', recycle: 'max-requests' };

/** Counters of a pool, for monitoring and tests. */
export interface ThreadPoolStats {
  /** Threads configured. */
  threads: number;
  /** Requests sent to the current threads and not finished (running or queued). */
  inFlight: number;
  /** Requests answered 503 because the queue was full. */
  rejected: number;
  /** Threads replaced, by reason. */
  replaced: { timeout: number; memory: number; crash: number; recycle: number; init: number };
  /** Reloads done (the module's file changed, or `reload()`). */
  reloads: number;
}

/** The Application a pool returns, with its lifecycle. */
export interface ThreadPoolApplication extends Application {
  /** Resolves when every thread has loaded the application; rejects with the reason when one failed to. */
  ready(): Promise<void>;
  /** New threads load the module again and take new requests; the old threads finish theirs and exit. */
  reload(): Promise<void>;
  /** Graceful drain: new requests get 503; those in progress finish (up to `shutdownTimeoutMs`), then threads stop. */
  close(): Promise<void>;
  readonly stats: ThreadPoolStats;
  readonly options: Readonly<ResolvedOptions>;
}

/** One set of threads that loaded the module once (a reload starts a new generation). */
class Generation {
  readonly piscina: Piscina;
  inFlight = 0;
  private readonly initialised = new Set<number>();
  private failure: string | undefined;
  private waiters: Array<{ resolve(): void; reject(error: Error): void }> = [];
  private idleWaiters: Array<() => void> = [];
  private readonly startupTimers = new Map<number, NodeJS.Timeout>();
  /** Requests in progress by id: where their threads' messages go. */
  readonly routes = new Map<number, (message: WorkerMessage, port: MessagePort, threadId: number) => void>();

  private closed = false;

  /** `onDegraded`: called when a thread that ended was not replaced (see below). */
  constructor(private readonly options: ResolvedOptions, onDegraded: () => void) {
    const workerData: ThreadConfig = {
      moduleUrl: options.moduleUrl,
      exportName: options.export,
      factory: options.factory,
      factoryOptions: options.factoryOptions,
      maxRequestsPerThread: options.maxRequestsPerThread,
      // One limit for the thread: V8 enforces it on the heap, the thread checks heap + external.
      maxMemoryBytes: (options.resourceLimits.maxOldGenerationSizeMb ?? 0) * 1024 * 1024,
    };
    this.piscina = new Piscina({
      filename: BOOTSTRAP,
      minThreads: options.threads,
      maxThreads: options.threads,
      concurrentTasksPerWorker: 1,
      // Idle threads must keep their event loop running (background initialisation, ports).
      atomics: 'disabled',
      resourceLimits: options.resourceLimits,
      recordTiming: false,
      workerData,
    });
    this.piscina.on('message', (event: ThreadEvent) => this.onThreadEvent(event));
    // Piscina stops replacing threads for good once a replacement fails before it is ready (a
    // memory limit too small to load the loaders, a broken installation). Seen here as a pool with
    // fewer threads than configured a moment after one ended.
    this.piscina.on('workerDestroy', () => {
      setTimeout(() => {
        if (!this.closed && this.piscina.threads.length < this.options.threads) onDegraded();
      }, 1000).unref();
    });
    this.piscina.on('error', (error: unknown) => options.log(`threadpool ${options.name}: thread error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`));
  }

  private onThreadEvent(event: ThreadEvent): void {
    if (event?.stackware === 'port') {
      const { port, threadId } = event;
      port.on('message', (message: Tagged<WorkerMessage>) => this.routes.get(message.id)?.(message, port, threadId));
      // Like Piscina's idle threads, an idle channel does not keep the process alive.
      port.unref();
      this.watchStartup(event.threadId);
    } else if (event?.stackware === 'initialised') {
      this.startupDone(event.threadId);
      this.initialised.add(event.threadId);
      if (this.initialised.size >= this.options.threads) this.settleWaiters();
    } else if (event?.stackware === 'initFailed') {
      this.startupDone(event.threadId);
      this.failure = event.reason;
      this.options.log(`threadpool ${this.options.name}: thread ${event.threadId} failed to load ${this.options.modulePath}: ${event.reason}\n` +
        'threadpool: requests get 503 until it loads; each request retries the initialisation\n');
      this.settleWaiters();
    } else if (event?.stackware === 'uncaught') {
      this.options.log(`threadpool ${this.options.name}: uncaught in thread ${event.threadId}: ${event.error}\n`);
    }
  }

  /**
   * A thread's first load of the application must end (in success or failure) within
   * `initTimeoutMs`: a module stuck while loading (a synchronous loop at its top level) never
   * answers its requests, so the thread is terminated — its requests get 503 — and Piscina starts
   * a new one, which loads the (perhaps fixed) file again.
   */
  private watchStartup(threadId: number): void {
    if (this.options.initTimeoutMs <= 0) return;
    const timer = setTimeout(() => {
      this.startupTimers.delete(threadId);
      const worker = this.piscina.threads.find((w) => w.threadId === threadId);
      if (!worker) return;
      this.failure = `loading ${this.options.modulePath} did not finish within initTimeoutMs (${this.options.initTimeoutMs} ms); the thread was replaced`;
      this.options.log(`threadpool ${this.options.name}: thread ${threadId}: ${this.failure}\n`);
      this.settleWaiters();
      void worker.terminate();
    }, this.options.initTimeoutMs);
    timer.unref();
    this.startupTimers.set(threadId, timer);
  }

  private startupDone(threadId: number): void {
    clearTimeout(this.startupTimers.get(threadId));
    this.startupTimers.delete(threadId);
  }

  private settleWaiters(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) {
      if (this.initialised.size >= this.options.threads) w.resolve();
      else w.reject(new Error(`The application failed to initialise: ${this.failure}`));
    }
  }

  ready(): Promise<void> {
    if (this.initialised.size >= this.options.threads) return Promise.resolve();
    // Piscina's idle threads do not keep the process alive; a caller awaiting ready() must.
    const keepAlive = setInterval(() => {}, 60_000);
    return new Promise<void>((resolve, reject) => this.waiters.push({ resolve, reject })).finally(() => clearInterval(keepAlive));
  }

  /** Terminates thread `threadId` (a timed-out or retiring request's): its task fails and Piscina starts a replacement. */
  terminate(threadId: number): void {
    const worker = this.piscina.threads.find((w) => w.threadId === threadId);
    if (worker) void worker.terminate();
  }

  /** A request of this generation settled. */
  settled(): void {
    this.inFlight--;
    if (this.inFlight === 0) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
    }
  }

  /**
   * Graceful: waits until the requests sent to these threads (running and queued) have finished,
   * or `timeoutMs`, then terminates the threads. (Not Piscina's close(): it can count one thread's
   * task completions more than once and stop threads that are still running a request.)
   */
  async close(timeoutMs: number): Promise<void> {
    this.closed = true;
    if (this.inFlight > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        new Promise<void>((resolve) => this.idleWaiters.push(resolve)),
        new Promise<void>((resolve) => { timer = setTimeout(resolve, timeoutMs); }),
      ]);
      clearTimeout(timer);
    }
    for (const timer of this.startupTimers.values()) clearTimeout(timer);
    this.startupTimers.clear();
    await this.piscina.destroy();
  }
}

function pathResolver(base: string) {
  return (path: string) => {
    if (path.startsWith('file:')) return { url: path, path: fileURLToPath(path) };
    const absolute = resolve(base, path);
    return { url: pathToFileURL(absolute).href, path: absolute };
  };
}

/**
 * A thread pool as an Application: each request is run by a worker thread that loaded `module`
 * once (its application export, or a factory called once per thread), streaming the request body
 * to the thread and the response back, with flow control both ways. Inside the thread
 * `stackware.multithread` is true; which environ values cross is described in environ-transfer.ts
 * (and the README).
 *
 * Statuses the pool answers itself: 504 when a request runs past `timeoutMs` (its thread is
 * replaced), 503 when its thread hit the memory limit or died, when the application failed to
 * initialise (reason in the log; the next request retries), when the queue is full (with
 * Retry-After) and after `close()`.
 *
 * @example
 * const app = threadPool({ module: './site.ts', threads: 4, timeoutMs: 10_000 });
 * // serve(app) ... then, on shutdown:
 * await app.close();
 * @throws ThreadPoolOptionError for options of the wrong type.
 */
export function threadPool(options: ThreadPoolOptions, context: { here?: string } = {}): ThreadPoolApplication {
  const resolved = resolveOptions(options, pathResolver(context.here ?? process.cwd()));
  const stats: ThreadPoolStats = {
    threads: resolved.threads, inFlight: 0, rejected: 0, reloads: 0,
    replaced: { timeout: 0, memory: 0, crash: 0, recycle: 0, init: 0 },
  };
  let lastHeal = 0;
  const newGeneration = (): Generation => {
    const generation: Generation = new Generation(resolved, () => {
      // At most one new set of threads every 5 s, so that a configuration that cannot work does not spin.
      if (generation !== current || closing || Date.now() - lastHeal < 5_000) return;
      lastHeal = Date.now();
      resolved.log(`threadpool ${resolved.name}: threads that ended could not be replaced (a thread failed while starting: is the memory limit too small?); starting a new set of threads\n`);
      void reload();
    });
    return generation;
  };
  let current = newGeneration();
  let closing: Promise<void> | undefined;
  const draining = new Set<Promise<void>>();
  const retryAfter: [string, string] = ['Retry-After', String(resolved.retryAfterSeconds)];

  const contextFor = (generation: Generation): RelayContext => ({
    name: resolved.name,
    piscina: generation.piscina,
    timeoutMs: resolved.timeoutMs,
    initTimeoutMs: resolved.initTimeoutMs,
    windowBytes: resolved.windowBytes,
    register: (id, onMessage) => generation.routes.set(id, onMessage),
    unregister: (id) => generation.routes.delete(id),
    terminate: (threadId) => generation.terminate(threadId),
    log: resolved.log,
    onSettled: () => {
      generation.settled();
      stats.inFlight--;
    },
    onReplaced: (reason) => {
      stats.replaced[reason]++;
      if (reason === 'init') operations()?.initFailure();
      else countRestart(RESTART_CAUSES[reason], resolved.name);
    },
  });
  let relayContext = contextFor(current);

  const app = ((environ, startResponse) => {
    if (closing) return failureResponse(startResponse, { status: statusLine(503), message: 'Service Unavailable: the server is shutting down', headers: [retryAfter] });
    const generation = current;
    if (generation.inFlight >= resolved.threads + resolved.maxQueue) {
      stats.rejected++;
      return failureResponse(startResponse, { status: statusLine(503), message: 'Service Unavailable: every thread is busy and the queue is full', headers: [retryAfter] });
    }
    generation.inFlight++;
    stats.inFlight++;
    return relay(relayContext, environ, startResponse);
  }) as ThreadPoolApplication;

  const reload = async (): Promise<void> => {
    if (closing) return;
    const old = current;
    current = newGeneration();
    relayContext = contextFor(current);
    stats.reloads++;
    for (let i = 0; i < resolved.threads; i++) countRestart('reload', resolved.name);
    const drained = old.close(Math.max(resolved.shutdownTimeoutMs, resolved.timeoutMs)).catch((error: unknown) => {
      resolved.log(`threadpool ${resolved.name}: closing the old threads failed: ${String(error)}\n`);
    });
    draining.add(drained);
    void drained.finally(() => draining.delete(drained));
  };

  // The server's one reload watcher: follows editors' rename-saves, ignores logs, data, node_modules.
  const watcher = resolved.watch.length
    ? watchFiles(resolved.watch, (path) => {
      resolved.log(`threadpool ${resolved.name}: ${path} changed; reloading (new threads take new requests)\n`);
      void reload();
    }, { debounceMs: 100, persistent: false })
    : undefined;
  const unwatch = () => void watcher?.close();

  // The metrics listener's view of this pool (when one is configured): queue length and restarts.
  const ops = operations();
  const report: PoolReport | undefined = ops && {
    name: resolved.name,
    threads: () => resolved.threads,
    queueLength: () => current.piscina.queueSize,
    restarts: () => ({ timeout: stats.replaced.timeout, memory: stats.replaced.memory, crash: stats.replaced.crash, 'max-requests': stats.replaced.recycle, reload: stats.reloads * resolved.threads }),
  };
  if (report) ops!.pools.add(report);

  Object.defineProperties(app, {
    ready: { value: () => current.ready() },
    reload: { value: reload },
    close: {
      value: () => {
        closing ??= (async () => {
          unwatch();
          if (report) ops!.pools.delete(report);
          await Promise.all([current.close(resolved.shutdownTimeoutMs), ...draining]);
        })();
        return closing;
      },
    },
    stats: { value: stats },
    options: { value: resolved },
  });
  return app;
}
