import { Counter, Gauge, Histogram, Registry, type MetricObjectWithValues, type MetricValue } from 'prom-client';
import { operations, processGroup, setOperations, type InFlightRequest, type Operations, type RestartCause } from './hooks.js';

/** Latency buckets of `stackware_request_duration_seconds`, in seconds (prom-client's defaults). */
export const DURATION_BUCKETS_SECONDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** The metrics JSON of one process (prom-client's `getMetricsAsJSON()`), as sent over IPC. */
export type MetricsJson = MetricObjectWithValues<MetricValue<string>>[];

/** This process's metrics: the prom-client registry behind the {@link Operations} hooks. */
export interface ProcessMetrics {
  readonly registry: Registry;
  readonly operations: Operations;
}

let installed: ProcessMetrics | undefined;

/** "2xx" for 204; "0xx" when no status was sent (the client went away first). */
function statusClass(status: number): string {
  return status >= 100 && status < 600 ? `${Math.floor(status / 100)}xx` : '0xx';
}

/**
 * Creates this process's metrics (once; later calls return the same) and installs the operations
 * hooks, so the gateways count each request from now on. Metrics (Prometheus naming):
 * `stackware_requests_total{status_class,group}`, `stackware_request_duration_seconds{group}`
 * (histogram, {@link DURATION_BUCKETS_SECONDS}), `stackware_requests_in_flight{group}`,
 * `stackware_pool_queue_length{group}`, `stackware_restarts_total{group,cause}`,
 * `stackware_session_store_errors_total`, `stackware_boot_failures_total`,
 * `stackware_init_failures_total`. `group` is `STACKWARE_GROUP` or "main" (a thread pool's name
 * for its queue and thread restarts).
 */
export function installMetrics(): ProcessMetrics {
  if (installed) return installed;
  const group = processGroup();
  const registry = new Registry();
  const registers = [registry];
  const requests = new Counter({ name: 'stackware_requests_total', help: 'Requests answered, by status class (1xx..5xx; 0xx: the client went away before a status was sent) and group', labelNames: ['status_class', 'group'], registers });
  const duration = new Histogram({ name: 'stackware_request_duration_seconds', help: 'Time from the request head to the end of the response, in seconds', labelNames: ['group'], buckets: DURATION_BUCKETS_SECONDS, registers });
  const restarts = new Counter({ name: 'stackware_restarts_total', help: 'Worker processes and threads replaced, by cause (timeout, memory, max-requests, crash, reload, inactivity)', labelNames: ['group', 'cause'], registers });
  const storeErrors = new Counter({ name: 'stackware_session_store_errors_total', help: 'Session store operations that failed', registers });
  const bootFailures = new Counter({ name: 'stackware_boot_failures_total', help: 'Worker processes that exited before they were ready', registers });
  const initFailures = new Counter({ name: 'stackware_init_failures_total', help: 'Threads that failed to load the application', registers });
  const inFlight = new Set<InFlightRequest>();
  const pools: Operations['pools'] = new Set();
  registry.registerMetric(new Gauge({
    name: 'stackware_requests_in_flight', help: 'Requests being served now', labelNames: ['group'], registers: [],
    collect() {
      this.set({ group }, inFlight.size);
    },
  }));
  registry.registerMetric(new Gauge({
    name: 'stackware_pool_queue_length', help: 'Requests waiting for a thread of a thread pool', labelNames: ['group'], registers: [],
    collect() {
      this.reset();
      for (const pool of pools) this.inc({ group: pool.name }, pool.queueLength());
    },
  }));
  // Zero series, so a scrape shows every counter from the start (rate() needs the first sample).
  requests.inc({ status_class: '2xx', group }, 0);
  for (const counter of [storeErrors, bootFailures, initFailures]) counter.inc(0);

  const ops: Operations = {
    group,
    inFlight,
    served: 0,
    restarts: {},
    pools,
    readiness: new Set(),
    start(method, path) {
      const request = { method, path, startedMs: performance.now() };
      inFlight.add(request);
      return request;
    },
    finish(request, status) {
      if (!inFlight.delete(request) || request.forwarded) return;
      ops.served++;
      requests.inc({ status_class: statusClass(status), group });
      duration.observe({ group }, (performance.now() - request.startedMs) / 1000);
    },
    restart(cause: RestartCause, name = group) {
      restarts.inc({ group: name, cause });
      ops.restarts[cause] = (ops.restarts[cause] ?? 0) + 1;
    },
    sessionStoreError: () => storeErrors.inc(),
    bootFailure: () => bootFailures.inc(),
    initFailure: () => initFailures.inc(),
  };
  setOperations(ops);
  installed = { registry, operations: ops };
  return installed;
}

/** Removes this process's metrics and hooks (tests). */
export function uninstallMetrics(): void {
  if (operations() === installed?.operations) setOperations(undefined);
  installed = undefined;
}
