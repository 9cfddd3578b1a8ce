/**
 * The operations hooks: the one small place where the gateways, the prefork primary, the thread
 * pool and the session stores report what the metrics listener shows (issue 23). It imports
 * nothing: when no metrics listener is configured, {@link operations} is undefined and every
 * reporter does one `undefined` check, nothing more (no prom-client, no per-request work).
 *
 * The state lives on `globalThis` under `Symbol.for('stackware.operations')`, so a package that
 * must not import @stackware/server (a session store) reports through the same object, and two
 * copies of this module (sources and dist) share it.
 */

/** Why a worker process or thread was replaced: the `cause` label of `stackware_restarts_total`. */
export type RestartCause = 'timeout' | 'memory' | 'max-requests' | 'crash' | 'reload' | 'inactivity';

/** One request being served now (the status page's "what each is serving"). */
export interface InFlightRequest {
  readonly method: string;
  /** The request target as received ("/slow?x=1"). */
  readonly path: string;
  /** `performance.now()` when the request arrived, in ms. */
  readonly startedMs: number;
  /**
   * Set by a process group's front when it forwards the request to a group process, which counts
   * it under its own `group` label: the front then keeps it in flight but does not count it again.
   */
  forwarded?: boolean;
  /** Set by a thread pool when one of its threads takes the request: "POOL #THREAD_ID" (for /status). */
  thread?: string;
}

/** The environ key under which a gateway keeps the request's {@link InFlightRequest} (only while metrics are on). */
export const IN_FLIGHT_KEY = 'stackware.metrics.request';

/** Marks the request of `environ` as forwarded to a process group (see {@link InFlightRequest.forwarded}); nothing when metrics are off. */
export function markForwarded(environ: Record<string, unknown>): void {
  const request = environ[IN_FLIGHT_KEY] as InFlightRequest | undefined;
  if (request) request.forwarded = true;
}

/** A thread pool as the status page and `stackware_pool_queue_length` see it. */
export interface PoolReport {
  /** The pool's name: the `group` label of its metrics. */
  readonly name: string;
  /** Threads configured. */
  threads(): number;
  /** Requests waiting for a thread (sent, not yet running). */
  queueLength(): number;
  /** Restarts of its threads so far, by cause. */
  restarts(): Partial<Record<RestartCause, number>>;
}

/** The counters a process reports, installed by the metrics module (`installMetrics`). */
export interface Operations {
  /** The `group` label of this process: `STACKWARE_GROUP`, else "main". */
  readonly group: string;
  /** Requests being served now in this process. */
  readonly inFlight: Set<InFlightRequest>;
  /** Requests finished in this process. */
  served: number;
  /** Restarts counted by this process (a primary's workers, a pool's threads), by cause. */
  readonly restarts: Partial<Record<RestartCause, number>>;
  /** Called once per request when it starts; returns what `finish` gets back. */
  start(method: string, path: string): InFlightRequest;
  /** Called once per request when its response ended (or was abandoned); `status` 0 when none was sent. */
  finish(request: InFlightRequest, status: number): void;
  /** `stackware_restarts_total{group,cause}` += 1. */
  restart(cause: RestartCause, group?: string): void;
  /** `stackware_session_store_errors_total` += 1. */
  sessionStoreError(): void;
  /** `stackware_boot_failures_total` += 1 (a worker exited before it was ready). */
  bootFailure(): void;
  /** `stackware_init_failures_total` += 1 (a thread failed to load the application). */
  initFailure(): void;
  /** Readiness checks (a session store's ping): resolve with undefined when fine, else the reason. */
  readonly readiness: Set<() => Promise<string | undefined>>;
  /** Thread pools of this process. */
  readonly pools: Set<PoolReport>;
  /**
   * Set in a prefork worker: hands this process's final counts to the primary, so that counters
   * keep adding up after a graceful stop (max-requests, memory, reload). `runWorker` awaits it
   * before the worker exits.
   */
  beforeExit?: () => Promise<void>;
}

const KEY = Symbol.for('stackware.operations');

/** This process's operations hooks, or undefined when no metrics listener is configured. */
export function operations(): Operations | undefined {
  return (globalThis as { [KEY]?: Operations })[KEY];
}

/** Installs (or, with undefined, removes) this process's operations hooks. */
export function setOperations(value: Operations | undefined): void {
  (globalThis as { [KEY]?: Operations })[KEY] = value;
}

/** The group name of this process (the convention shared with process groups): `STACKWARE_GROUP` or "main". */
export function processGroup(): string {
  return process.env.STACKWARE_GROUP ?? 'main';
}

/**
 * Counts one replacement of a worker process or thread (`stackware_restarts_total`). The one hook
 * the prefork primary, the thread pool and process groups call; does nothing when metrics are off.
 */
export function countRestart(cause: RestartCause, group?: string): void {
  operations()?.restart(cause, group);
}
