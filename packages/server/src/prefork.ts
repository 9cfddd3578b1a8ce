import cluster, { type Worker } from 'node:cluster';
import { randomInt } from 'node:crypto';
import type { Application, RunningServer } from '@stackware/gateway';
import type { Logger } from 'pino';
import { Server as HttpServer } from 'node:http';
import { onShutdownSignals } from './shutdown.js';
import { startWatchdog } from './watchdog.js';
import { watchFiles, type FileWatcher } from './watch.js';
import { countRestart, operations, type RestartCause } from './metrics/hooks.js';

/**
 * Prefork (gunicorn's sync-worker model on node:cluster): a primary process forks N workers that
 * each run the CLI entry again, build the application and listen on the shared socket
 * (`stackware.multiprocess` true). The primary:
 * - replaces a worker that exits unexpectedly, with exponential back-off when workers keep dying
 *   young (`initialBackoffMs` doubling up to `maxBackoffMs`), so a worker that fails at start-up
 *   never spins the CPU;
 * - replaces a worker stuck in a synchronous loop while the others keep serving: an HTTP worker's
 *   watchdog thread answers its requests 504 (503 + Retry-After for requests it never started)
 *   after `timeoutMs` and kills it (see watchdog.ts); the primary kills (SIGKILL) any worker whose
 *   heartbeat stopped for `timeoutMs` + 2 s;
 * - recycles a worker that reached its request budget (`--max-requests` + jitter) or, with
 *   `reload`, every worker when a watched file changes: the replacement is forked first, and the old
 *   worker is told to stop gracefully only once the new one listens, so no request is dropped;
 * - on close (SIGTERM/SIGINT): tells every worker to stop gracefully and waits for them.
 */

/** Messages between primary and workers (over the cluster IPC channel). */
type PreforkMessage = { stackware: 'ready' | 'heartbeat' | 'stop' } | { stackware: 'retire'; reason?: string; cause?: 'memory' | 'max-requests' } | { stackware: 'boot-error'; message: string };

/** Exit code of a primary whose workers cannot boot (gunicorn's WORKER_BOOT_ERROR / HALT code). */
export const BOOT_FAILURE_EXIT_CODE = 3;

const HEARTBEAT_ENV = 'STACKWARE_PREFORK_HEARTBEAT_MS';
const TIMEOUT_ENV = 'STACKWARE_PREFORK_TIMEOUT_MS';
/** The primary's own heartbeat kill waits this much longer than `timeoutMs`, so the worker's watchdog answers first. */
const WATCHDOG_GRACE_MS = 2000;

/** Options of {@link startPrimary}. */
export interface PrimaryOptions {
  /** Number of worker processes (≥ 1). */
  workers: number;
  /** A ready worker whose heartbeat stops for this long is killed and replaced; 0 disables. Default 30000. */
  timeoutMs?: number;
  /** A worker must become ready within this after fork, or it is killed. Default max(timeoutMs, 60000). */
  bootTimeoutMs?: number;
  /** Graceful stop of one worker before it is killed (SIGKILL), beyond its own shutdown timeout. Default 5000 (+2000 grace). */
  shutdownTimeoutMs?: number;
  /** Replace all workers gracefully when a file under `watchPaths` changes. Default false. */
  reload?: boolean;
  /** Directories (recursive) or files watched by `reload` (see `watchFiles`: editors' rename-saves are seen; node_modules, dot-directories, logs and data are ignored). */
  watchPaths?: string[];
  logger: Logger;
  /** A worker that dies after living at least this long is replaced at once. Default 5000. */
  minUptimeMs?: number;
  /** First back-off delay after a young death, doubled for each further one. Default 100. */
  initialBackoffMs?: number;
  /** Largest back-off delay. Default 10000. */
  maxBackoffMs?: number;
  /** Debounce of file-change events for `reload`, in ms. Default 300. */
  reloadDebounceMs?: number;
  /** Extra environment variables for workers. */
  env?: Record<string, string>;
  /**
   * Boot-failure policy: when this many workers in a row exit before becoming ready (the port is in
   * use, a syntax error, the module throws while loading, the boot timeout) within
   * `bootFailureWindowMs`, and no ready worker is left serving, the primary stops every worker and
   * `done` resolves with {@link BOOT_FAILURE_EXIT_CODE} (3). Default 5; 0 retries forever.
   */
  maxBootFailures?: number;
  /** The window of `maxBootFailures`, in ms. Default 60000. */
  bootFailureWindowMs?: number;
  /**
   * How connections reach workers. "os" (default): every worker accepts on the shared socket
   * itself, so a busy or stuck worker takes no new connections (gunicorn's model) and the primary
   * is not on the data path. "round-robin": the primary accepts and hands connections out
   * (node:cluster's default elsewhere); a stuck worker still gets its share until it is killed.
   */
  scheduling?: 'os' | 'round-robin';
}

/** A running prefork primary. */
export interface PreforkPrimary {
  /**
   * Resolves with the exit code the primary should exit with: 0 after close(), 2 when the first
   * workers fail with a usage error (code 2), 3 when workers cannot boot (see `maxBootFailures`).
   */
  readonly done: Promise<number>;
  /** Why the primary stopped on its own (exit code 2 or 3): the workers' last boot error, one line. */
  readonly failure: string | undefined;
  /** Process ids of the live workers. */
  workerPids(): number[];
  /** Number of workers forked so far (tests; crash back-off). */
  readonly forks: number;
  /** Replaces every worker gracefully (what `reload` does on a file change). */
  reloadWorkers(reason: string): void;
  /** Graceful stop of every worker; resolves when all exited. */
  close(): Promise<void>;
}

interface Slot {
  index: number;
  current?: WorkerState;
  next?: WorkerState;
  failures: number;
  timer?: NodeJS.Timeout;
}

interface WorkerState {
  worker: Worker;
  slot: Slot;
  forkedAt: number;
  readyAt?: number;
  lastBeat: number;
  stopping: boolean;
  stopDeadline?: number;
  killedForTimeout: boolean;
  /** What the worker reported before exiting at boot. */
  bootError?: string;
}

/**
 * Starts the prefork primary in this (cluster primary) process. Workers run `process.argv` again
 * (node:cluster's default), so the CLI entry must call {@link runWorker} when `cluster.isWorker`.
 */
export function startPrimary(options: PrimaryOptions): PreforkPrimary {
  if (!cluster.isPrimary) throw new Error('startPrimary must run in the cluster primary');
  cluster.schedulingPolicy = options.scheduling === 'round-robin' ? cluster.SCHED_RR : cluster.SCHED_NONE;
  const primary = new Primary(options);
  primary.start();
  return {
    done: primary.done,
    workerPids: () => [...primary.states.keys()].map((w) => w.process.pid!).filter(Boolean),
    get forks() {
      return primary.forks;
    },
    get failure() {
      return primary.failure;
    },
    reloadWorkers: (reason: string) => primary.reloadWorkers(reason),
    close: () => primary.close(),
  };
}

/** The state and steps of one prefork primary ({@link startPrimary}): forking, replacing, checking and stopping workers. */
class Primary {
  readonly logger: Logger;
  readonly timeoutMs: number;
  readonly bootTimeoutMs: number;
  readonly shutdownTimeoutMs: number;
  readonly minUptimeMs: number;
  readonly initialBackoffMs: number;
  readonly maxBackoffMs: number;
  readonly maxBootFailures: number;
  readonly bootFailureWindowMs: number;
  readonly heartbeatMs: number;
  /** Times (ms) of the recent boot failures, within `bootFailureWindowMs`. */
  readonly bootFailures: number[] = [];
  readonly states = new Map<Worker, WorkerState>();
  readonly slots: Slot[];
  readonly done: Promise<number>;
  failure: string | undefined;
  forks = 0;
  private stopping = false;
  private everReady = false;
  private exitCode = 0;
  private resolveDone!: (code: number) => void;
  private check: NodeJS.Timeout | undefined;
  private watcher: FileWatcher | undefined;
  private closing: Promise<void> | undefined;
  private finished = false;

  /** Resolves the options' defaults. */
  constructor(readonly options: PrimaryOptions) {
    this.logger = options.logger;
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.bootTimeoutMs = options.bootTimeoutMs ?? Math.max(this.timeoutMs, 60_000);
    this.shutdownTimeoutMs = options.shutdownTimeoutMs ?? 5000;
    this.minUptimeMs = options.minUptimeMs ?? 5000;
    this.initialBackoffMs = options.initialBackoffMs ?? 100;
    this.maxBackoffMs = options.maxBackoffMs ?? 10_000;
    this.maxBootFailures = options.maxBootFailures ?? 5;
    this.bootFailureWindowMs = options.bootFailureWindowMs ?? 60_000;
    this.heartbeatMs = Math.max(100, Math.min(1000, Math.floor((this.timeoutMs || 4000) / 4)));
    this.slots = Array.from({ length: Math.max(1, options.workers) }, (_, index) => ({ index, failures: 0 }));
    this.done = new Promise<number>((resolve) => (this.resolveDone = resolve));
  }

  /** Starts the heartbeat check, the reload watcher (with `reload`) and one worker per slot. */
  start(): void {
    this.check = setInterval(() => this.checkWorkers(), this.heartbeatMs);
    // /readyz of the metrics listener: ready once every slot has a worker that reported ready.
    operations()?.readiness.add(async () => this.notReady());
    const { options } = this;
    if (options.reload && (options.watchPaths ?? []).length) {
      this.watcher = watchFiles(options.watchPaths!, (path) => this.reloadWorkers(`changed: ${path}`), { debounceMs: options.reloadDebounceMs ?? 300, logger: this.logger });
    }
    for (const slot of this.slots) this.spawn(slot);
  }

  /** Forks a worker into `slot` (as its replacement when the current one still serves). */
  spawn(slot: Slot): void {
    if (this.stopping) return;
    slot.timer = undefined;
    const worker = cluster.fork({ ...this.options.env, [HEARTBEAT_ENV]: String(this.heartbeatMs), [TIMEOUT_ENV]: String(this.timeoutMs), STACKWARE_WORKER_SLOT: String(slot.index) });
    this.forks++;
    const now = Date.now();
    const state: WorkerState = { worker, slot, forkedAt: now, lastBeat: now, stopping: false, killedForTimeout: false };
    this.states.set(worker, state);
    if (slot.current && !slot.current.stopping) slot.next = state;
    else slot.current = state;
    this.logger.info({ worker_pid: worker.process.pid, slot: slot.index }, 'worker started');
    worker.on('message', (message: PreforkMessage) => this.onMessage(state, message));
    worker.on('exit', (code, signal) => this.onExit(state, code, signal));
    worker.on('error', (error) => this.logger.warn({ err: error, worker_pid: worker.process.pid }, 'worker IPC error'));
  }

  /** Asks a worker to stop gracefully (SIGTERM when it is not ready or not connected), with a kill deadline. */
  stopWorker(state: WorkerState): void {
    if (state.stopping) return;
    state.stopping = true;
    state.stopDeadline = Date.now() + this.shutdownTimeoutMs + 2000;
    // Not ready yet: it has no handlers and serves nothing, so SIGTERM ends it at once.
    if (state.readyAt === undefined) state.worker.process.kill('SIGTERM');
    else if (state.worker.isConnected()) state.worker.send({ stackware: 'stop' } satisfies PreforkMessage, (error: Error | null) => error && state.worker.process.kill('SIGTERM'));
    else state.worker.process.kill('SIGTERM');
  }

  /** Forks a replacement for a serving worker; the old one stops once the new one is ready. */
  replace(state: WorkerState, reason: string, cause: RestartCause): void {
    const slot = state.slot;
    if (this.stopping || state.stopping || slot.current !== state || slot.next || slot.timer) return;
    this.logger.info({ worker_pid: state.worker.process.pid, reason }, 'replacing worker');
    countRestart(cause);
    this.spawn(slot);
  }

  /** Handles a worker's IPC message: ready (swap in a replacement), retire, boot-error; any message is a heartbeat. */
  onMessage(state: WorkerState, message: PreforkMessage): void {
    if (!message || typeof message !== 'object') return;
    state.lastBeat = Date.now();
    if (message.stackware === 'ready') {
      state.readyAt = state.lastBeat;
      this.everReady = true;
      this.bootFailures.length = 0;
      const slot = state.slot;
      if (slot.next === state) {
        const old = slot.current;
        slot.current = state;
        slot.next = undefined;
        if (old) this.stopWorker(old);
      }
      this.logger.info({ worker_pid: state.worker.process.pid, slot: slot.index }, 'worker ready');
    } else if (message.stackware === 'retire') {
      this.replace(state, typeof message.reason === 'string' ? message.reason : 'max-requests reached', message.cause === 'memory' ? 'memory' : 'max-requests');
    } else if (message.stackware === 'boot-error' && typeof message.message === 'string') {
      state.bootError = message.message;
    }
  }

  /** Handles a worker's exit: frees its slot, then stops the primary (usage or boot failure) or respawns with back-off. */
  onExit(state: WorkerState, code: number | null, signal: string | null): void {
    this.states.delete(state.worker);
    const slot = state.slot;
    const wasReplacement = slot.next === state;
    if (slot.current === state) {
      slot.current = slot.next;
      slot.next = undefined;
    } else if (slot.next === state) {
      slot.next = undefined;
    }
    if (this.stopping) {
      if (this.states.size === 0) this.finish();
      return;
    }
    const pid = state.worker.process.pid;
    if (state.stopping) {
      this.logger.info({ worker_pid: pid, code, signal }, 'worker stopped');
      if (!slot.current && !slot.timer) this.spawn(slot);
      return;
    }
    if (code === 2 && !this.everReady) {
      this.failure = state.bootError;
      this.logger.fatal({ worker_pid: pid, cause: state.bootError }, 'worker could not start (usage error, exit code 2): stopping');
      this.exitCode = 2;
      void this.close();
      return;
    }
    if (state.readyAt === undefined && this.bootFailed(state, code, signal)) return;
    this.respawnAfterDeath(state, code, signal, wasReplacement);
  }

  /** Schedules the replacement of a worker that died, after a back-off when workers keep dying young. */
  respawnAfterDeath(state: WorkerState, code: number | null, signal: string | null, wasReplacement: boolean): void {
    const slot = state.slot;
    const lived = Date.now() - state.forkedAt;
    let delay = 0;
    if (state.killedForTimeout) {
      slot.failures = 0;
    } else if (state.readyAt !== undefined && lived >= this.minUptimeMs) {
      slot.failures = 0;
    } else {
      slot.failures++;
      delay = Math.min(this.maxBackoffMs, this.initialBackoffMs * 2 ** (slot.failures - 1));
    }
    countRestart(state.killedForTimeout ? 'timeout' : 'crash');
    this.logger.error({ worker_pid: state.worker.process.pid, code, signal, lived_ms: lived, restart_in_ms: delay }, state.killedForTimeout ? 'worker killed after timeout; replacing it' : 'worker died; replacing it');
    // A worker that died while its replacement was starting: the replacement takes the slot.
    if (slot.timer || (!wasReplacement && slot.current)) return;
    slot.timer = setTimeout(() => this.spawn(slot), delay);
  }

  /**
   * A worker exited before it was ready. Returns true when the boot-failure policy stops the
   * primary: `maxBootFailures` within the window and no ready worker serving (with old workers
   * still serving, e.g. a reload with a broken edit, they keep serving and the slot keeps retrying).
   */
  bootFailed(state: WorkerState, code: number | null, signal: string | null): boolean {
    const { bootFailures } = this;
    const now = Date.now();
    bootFailures.push(now);
    operations()?.bootFailure();
    while (bootFailures.length && now - bootFailures[0]! > this.bootFailureWindowMs) bootFailures.shift();
    if (state.bootError) this.failure = state.bootError;
    const serving = [...this.states.values()].some((s) => s.readyAt !== undefined && !s.stopping);
    if (this.maxBootFailures <= 0 || bootFailures.length < this.maxBootFailures || serving) return false;
    const cause = this.failure ?? `a worker exited with ${signal ?? `code ${code}`} before it was ready (no error reported)`;
    this.failure = `workers failed to boot ${bootFailures.length} times in ${Math.round((now - bootFailures[0]!) / 1000)} s, stopping: ${cause}`;
    this.logger.fatal({ worker_pid: state.worker.process.pid, boot_failures: bootFailures.length, window_ms: this.bootFailureWindowMs, cause }, `workers cannot boot: ${cause}`);
    this.exitCode = BOOT_FAILURE_EXIT_CODE;
    void this.close();
    return true;
  }

  /** One heartbeat tick: SIGKILLs workers past their stop deadline, and workers whose heartbeat (or boot) timed out. */
  checkWorkers(): void {
    const now = Date.now();
    const { timeoutMs } = this;
    for (const state of this.states.values()) {
      if (state.stopping) {
        if (state.stopDeadline !== undefined && now > state.stopDeadline) {
          this.logger.warn({ worker_pid: state.worker.process.pid }, 'worker did not stop in time: killing it');
          state.worker.process.kill('SIGKILL');
          state.stopDeadline = undefined;
        }
        continue;
      }
      if (state.killedForTimeout) continue;
      // A ready HTTP worker's own watchdog answers 504 and exits after timeoutMs; this is the backstop.
      const limit = state.readyAt === undefined ? this.bootTimeoutMs : timeoutMs > 0 ? timeoutMs + WATCHDOG_GRACE_MS : 0;
      if (limit > 0 && now - state.lastBeat > limit) {
        state.killedForTimeout = true;
        if (state.readyAt === undefined) state.bootError ??= `a worker did not become ready within the boot timeout (${limit} ms)`;
        this.logger.error({ worker_pid: state.worker.process.pid, timeout_ms: limit, booting: state.readyAt === undefined }, 'worker timeout: no heartbeat (stuck in a synchronous loop?); killing it');
        state.worker.process.kill('SIGKILL');
      }
    }
  }

  /** Why the primary is not ready (a slot without a ready worker), or undefined when every slot serves. */
  notReady(): string | undefined {
    if (this.stopping) return 'the server is shutting down';
    const waiting = this.slots.filter((slot) => slot.current?.readyAt === undefined && slot.next?.readyAt === undefined).length;
    return waiting ? `${waiting} of ${this.slots.length} workers not booted yet` : undefined;
  }

  /** Replaces every serving worker gracefully (reload). */
  reloadWorkers(reason: string): void {
    this.logger.info({ reason }, 'reloading workers');
    for (const slot of this.slots) if (slot.current) this.replace(slot.current, reason, 'reload');
  }

  /** Stops the heartbeat check and resolves `done` with the exit code (once). */
  finish(): void {
    if (this.finished) return;
    this.finished = true;
    clearInterval(this.check);
    this.resolveDone(this.exitCode);
  }

  /** Graceful stop of every worker; resolves when all exited. */
  close(): Promise<void> {
    if (this.closing) return this.closing;
    this.stopping = true;
    void this.watcher?.close();
    for (const slot of this.slots) if (slot.timer) clearTimeout(slot.timer);
    for (const state of this.states.values()) this.stopWorker(state);
    if (this.states.size === 0) this.finish();
    this.closing = this.done.then(() => undefined);
    return this.closing;
  }
}

/**
 * Runs the primary until SIGTERM/SIGINT (graceful stop of every worker), then exits the process
 * with the primary's exit code.
 */
export async function runPrimary(options: PrimaryOptions): Promise<never> {
  const primary = startPrimary(options);
  options.logger.info({ workers: options.workers, reload: options.reload ?? false }, 'prefork primary started');
  onShutdownSignals(() => primary.close(), { logger: options.logger, exit: false });
  const code = await primary.done;
  options.logger.info({ code }, 'prefork primary exiting');
  // One clear line for the operator (the workers' own reports went to their output).
  if (code === BOOT_FAILURE_EXIT_CODE && primary.failure) process.stderr.write(`stackware: ${primary.failure}\n`);
  process.exit(code);
}

/** Options of {@link runWorker}. */
export interface WorkerOptions {
  /** The application this worker serves. */
  app: Application;
  /** Starts the server (HTTP, FastCGI...) for the (wrapped) application; resolves once it listens. */
  start(app: Application): Promise<RunningServer>;
  /** Ask the primary for a replacement after this many requests (0: never). */
  maxRequests?: number;
  /** Add a random 0..jitter to `maxRequests`. Default maxRequests / 10, rounded down. */
  maxRequestsJitter?: number;
  /**
   * Resident memory limit of this worker process, in MiB (uWSGI's reload-on-rss, mod_wsgi's
   * memory-limit): checked every heartbeat (≤ 1 s); over it, the worker asks for a replacement and,
   * once that one listens, finishes its requests and exits like a max-requests recycle. RSS counts
   * everything the process holds: JS heap, Buffers and other external memory, native allocations.
   * 0 (default): no limit.
   */
  maxMemoryMb?: number;
  logger: Logger;
}

/**
 * The worker side of prefork, run in a cluster worker: starts the server for the application,
 * tells the primary it is ready, sends heartbeats (a blocked event loop stops them), asks to be
 * replaced after its request budget, and stops gracefully on the primary's "stop", on
 * SIGTERM/SIGINT or when the primary goes away.
 */
export async function runWorker(options: WorkerOptions): Promise<RunningServer> {
  if (!cluster.isWorker || !process.send) throw new Error('runWorker must run in a cluster worker');
  const send = (message: PreforkMessage) => {
    if (process.connected) process.send!(message);
  };
  const maxRequests = options.maxRequests ?? 0;
  const jitter = options.maxRequestsJitter ?? Math.floor(maxRequests / 10);
  const budget = maxRequests > 0 ? maxRequests + randomInt(jitter + 1) : 0;
  let count = 0;
  const inner = options.app;
  const app: Application = budget > 0
    ? (environ, startResponse) => {
        if (++count === budget) {
          options.logger.info({ requests: count }, 'max-requests reached: asking for a replacement');
          send({ stackware: 'retire' });
        }
        return inner(environ, startResponse);
      }
    : inner;
  const running = await options.start(app);
  const timeoutMs = Number(process.env[TIMEOUT_ENV]) || 0;
  const server = (running as { server?: unknown }).server;
  const watchdog = timeoutMs > 0 && server instanceof HttpServer ? startWatchdog(server, timeoutMs) : undefined;
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    clearInterval(beat);
    watchdog?.stop();
    await running.close();
    await operations()?.beforeExit?.();
    process.exit(0);
  };
  process.on('message', (message: PreforkMessage) => {
    if (message && typeof message === 'object' && message.stackware === 'stop') void stop();
  });
  process.on('disconnect', () => void stop());
  onShutdownSignals(stop, { logger: options.logger, exit: false });
  const heartbeatMs = Number(process.env[HEARTBEAT_ENV]) || 1000;
  const maxMemoryBytes = (options.maxMemoryMb ?? 0) * 1024 * 1024;
  let overMemory = false;
  const beat = setInterval(() => {
    send({ stackware: 'heartbeat' });
    if (maxMemoryBytes > 0 && !overMemory) {
      const rss = process.memoryUsage.rss();
      if (rss > maxMemoryBytes) {
        overMemory = true;
        options.logger.warn({ rss_mb: Math.round(rss / 1048576), max_memory_mb: options.maxMemoryMb }, 'memory limit reached: asking for a replacement');
        send({ stackware: 'retire', cause: 'memory', reason: `memory limit reached (${Math.round(rss / 1048576)} MiB > ${options.maxMemoryMb} MiB)` });
      }
    }
  }, heartbeatMs);
  send({ stackware: 'ready' });
  options.logger.info({ url: running.url, max_requests: budget || undefined, max_memory_mb: options.maxMemoryMb || undefined }, 'worker listening');
  return running;
}

/**
 * Worker side of the boot-failure policy: tells the primary why this worker cannot start (one
 * line: the port in use, the syntax error with file:line, the error thrown while loading) before it
 * exits. Resolves once sent (at most 1 s); does nothing outside a cluster worker.
 */
export function reportBootFailure(message: string): Promise<void> {
  if (!cluster.isWorker || !process.send || !process.connected) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, 1000);
    process.send!({ stackware: 'boot-error', message } satisfies PreforkMessage, undefined, {}, () => {
      clearTimeout(timer);
      resolve();
    });
  });
}
