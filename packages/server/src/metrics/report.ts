import cluster from 'node:cluster';
import { AggregatorRegistry } from 'prom-client';
import type { Registry, RegistryContentType } from 'prom-client';
import type { Operations, RestartCause } from './hooks.js';
import type { MetricsJson, ProcessMetrics } from './registry.js';

/** One request being served, as the status page lists it. */
export interface RequestStatus {
  method: string;
  path: string;
  /** Time since the request arrived, in ms. */
  ageMs: number;
  /** The thread-pool thread serving it ("POOL #THREAD_ID"), when a pool serves it and a thread has taken it. */
  thread?: string;
}

/** One thread pool of a process, as the status page lists it. */
export interface PoolStatus {
  name: string;
  threads: number;
  queueLength: number;
  restarts: Partial<Record<RestartCause, number>>;
}

/** One process of the server, as the status page lists it. */
export interface ProcessStatus {
  pid: number;
  /** "single" (one process), "primary" (prefork: forks, serves nothing) or "worker". */
  role: 'single' | 'primary' | 'worker';
  group: string;
  /** The prefork slot of a worker (`STACKWARE_WORKER_SLOT`). */
  slot?: number;
  uptimeSeconds: number;
  rssBytes: number;
  /** Requests finished by this process. */
  served: number;
  /** Replacements this process made (a primary: of its workers; with thread pools: of their threads), by cause. */
  restarts: Partial<Record<RestartCause, number>>;
  /** What the process is serving now, oldest first. */
  inFlight: RequestStatus[];
  pools: PoolStatus[];
}

/** What one process reports to a scrape: its metrics, its status and why it is not ready (empty: ready). */
export interface ProcessReport {
  metrics: MetricsJson;
  status: ProcessStatus;
  notReady: string[];
}

/** The whole server's view (one process, or a primary and its workers). */
export interface ServerReport {
  registry: Registry<RegistryContentType>;
  processes: ProcessStatus[];
  /** Reasons the server is not ready; empty when it is. */
  notReady: string[];
}

/** Longest wait for one readiness check (a session store's ping), in ms. */
export const READINESS_TIMEOUT_MS = 1000;
/** Longest wait for a worker's report, in ms; a worker that does not answer is listed as not ready. */
export const WORKER_REPORT_TIMEOUT_MS = 2000;

function withTimeout<T>(promise: Promise<T>, ms: number, fallback: T): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<T>((resolve) => (timer = setTimeout(() => resolve(fallback), ms)));
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Runs every readiness check of `ops` (each at most {@link READINESS_TIMEOUT_MS}); the reasons of those that failed. */
export async function readinessOf(ops: Operations): Promise<string[]> {
  const results = await Promise.all([...ops.readiness].map((check) => withTimeout(
    check().catch((error: unknown) => `a readiness check failed: ${error instanceof Error ? error.message : String(error)}`),
    READINESS_TIMEOUT_MS, `a readiness check did not answer within ${READINESS_TIMEOUT_MS} ms`,
  )));
  return results.filter((reason): reason is string => typeof reason === 'string');
}

/** This process's report. */
export async function localReport(metrics: ProcessMetrics, role: ProcessStatus['role']): Promise<ProcessReport> {
  const ops = metrics.operations;
  const now = performance.now();
  const slot = process.env.STACKWARE_WORKER_SLOT;
  const status: ProcessStatus = {
    pid: process.pid, role, group: ops.group, ...(slot !== undefined && role === 'worker' ? { slot: Number(slot) } : {}),
    uptimeSeconds: Math.round(process.uptime()), rssBytes: process.memoryUsage.rss(), served: ops.served, restarts: { ...ops.restarts },
    inFlight: [...ops.inFlight].map((r) => ({ method: r.method, path: r.path, ageMs: Math.round(now - r.startedMs), ...(r.thread ? { thread: r.thread } : {}) })),
    pools: [...ops.pools].map((p) => ({ name: p.name, threads: p.threads(), queueLength: p.queueLength(), restarts: p.restarts() })),
  };
  const [json, notReady] = await Promise.all([metrics.registry.getMetricsAsJSON(), readinessOf(ops)]);
  return { metrics: json as MetricsJson, status, notReady };
}

/** IPC between the primary and its workers (over node:cluster's channel). */
type ReportMessage = { stackware: 'ops-request'; id: number } | { stackware: 'ops-report'; id: number; report: ProcessReport } | { stackware: 'ops-final'; report: ProcessReport };

let nextId = 0;

/** The counters and histograms of workers that stopped gracefully, added up (a primary's). */
let retired: MetricsJson = [];
/** Workers whose final report arrived: a late answer of theirs to a scrape is not counted twice. */
const retiredPids = new Set<number>();
let keepingRetired = false;

/**
 * In the prefork primary: keeps the final counts each worker sends as it stops gracefully
 * (counters and histograms; gauges describe the living only), so `stackware_requests_total` does not
 * go back when a worker is recycled. A worker that crashes takes its counts since the last scrape
 * with it. Idempotent.
 */
export function keepRetiredCounts(): void {
  if (keepingRetired || !cluster.isPrimary) return;
  keepingRetired = true;
  let queue = Promise.resolve();
  cluster.on('message', (_worker, message: ReportMessage) => {
    if (!message || typeof message !== 'object' || message.stackware !== 'ops-final') return;
    retiredPids.add(message.report.status.pid);
    // getMetricsAsJSON() gives the type as text ("counter"), whatever prom-client's MetricType says.
    const kept = message.report.metrics.filter((m) => ['counter', 'histogram'].includes(String(m.type)));
    queue = queue.then(async () => {
      retired = (await AggregatorRegistry.aggregate([retired, kept]).getMetricsAsJSON()) as MetricsJson;
    });
  });
}

/**
 * In a cluster worker: answers the primary's report requests with this process's
 * {@link localReport}. Call once, after `installMetrics()`.
 */
export function answerPrimary(metrics: ProcessMetrics): void {
  metrics.operations.beforeExit = async () => {
    if (!process.connected) return;
    const report = await localReport(metrics, 'worker');
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, 1000);
      process.send!({ stackware: 'ops-final', report } satisfies ReportMessage, undefined, {}, () => {
        clearTimeout(timer);
        resolve();
      });
    });
  };
  process.on('message', (message: ReportMessage) => {
    if (!message || typeof message !== 'object' || message.stackware !== 'ops-request') return;
    void localReport(metrics, 'worker').then((report) => {
      if (process.connected) process.send!({ stackware: 'ops-report', id: message.id, report } satisfies ReportMessage);
    });
  });
}

/**
 * The whole server's report: this process's (the single process, or the prefork primary's own
 * counters: restarts, boot failures) merged with every connected cluster worker's, asked over IPC.
 * Counters and histograms add up (prom-client's AggregatorRegistry.aggregate); a worker that does
 * not answer within {@link WORKER_REPORT_TIMEOUT_MS} makes the server not ready.
 */
export async function serverReport(metrics: ProcessMetrics): Promise<ServerReport> {
  const role = cluster.isPrimary && Object.keys(cluster.workers ?? {}).length ? 'primary' : cluster.isWorker ? 'worker' : 'single';
  const own = await localReport(metrics, role);
  const reports: ProcessReport[] = [own];
  const notReady = [...own.notReady];
  if (cluster.isPrimary) {
    const workers = Object.values(cluster.workers ?? {}).filter((w) => w?.isConnected());
    const id = ++nextId;
    const answers = await Promise.all(workers.map((worker) => withTimeout(new Promise<ProcessReport | undefined>((resolve) => {
      const onMessage = (message: ReportMessage) => {
        if (message && typeof message === 'object' && message.stackware === 'ops-report' && message.id === id) {
          worker!.off('message', onMessage);
          resolve(message.report);
        }
      };
      worker!.on('message', onMessage);
      worker!.send({ stackware: 'ops-request', id } satisfies ReportMessage, (error: Error | null) => error && resolve(undefined));
    }), WORKER_REPORT_TIMEOUT_MS, undefined)));
    answers.forEach((answer, i) => {
      if (answer && retiredPids.has(answer.status.pid)) return; // its counts are in `retired` now
      if (answer) {
        reports.push(answer);
        notReady.push(...answer.notReady.map((reason) => `worker ${answer.status.pid}: ${reason}`));
      } else {
        notReady.push(`worker ${workers[i]!.process.pid} did not report within ${WORKER_REPORT_TIMEOUT_MS} ms`);
      }
    });
  }
  const registry = AggregatorRegistry.aggregate([...reports.map((r) => r.metrics), retired]);
  return { registry, processes: reports.map((r) => r.status), notReady };
}
