/**
 * @stackware/server/metrics — the metrics listener (issue 23): prom-client's registry for this
 * process, the report a prefork primary gathers from its workers, and the listener application
 * (`/metrics`, `/healthz`, `/readyz`, `/status`). A separate entry point, so that a server
 * without `--metrics` never loads prom-client; the hooks the gateways call are in
 * `@stackware/server` itself (`operations()`, `countRestart()`).
 */
export { installMetrics, uninstallMetrics, DURATION_BUCKETS_SECONDS, type ProcessMetrics, type MetricsJson } from './registry.js';
export { answerPrimary, keepRetiredCounts, localReport, serverReport, readinessOf, READINESS_TIMEOUT_MS, WORKER_REPORT_TIMEOUT_MS, type ProcessReport, type ProcessStatus, type PoolStatus, type RequestStatus, type ServerReport } from './report.js';
export { metricsApplication, startMetricsListener, renderStatusHtml, type MetricsApplicationOptions, type MetricsListenerOptions } from './listener.js';
