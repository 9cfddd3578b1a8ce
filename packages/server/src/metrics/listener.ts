import { escapeHtml, type Application, type Environ, type RunningServer } from '@stackware/gateway';
import type { Logger } from 'pino';
import { serve } from '../http-server.js';
import { keepRetiredCounts, serverReport, type ProcessStatus, type ServerReport } from './report.js';
import type { ProcessMetrics } from './registry.js';

/** Options of {@link metricsApplication}. */
export interface MetricsApplicationOptions {
  /** This process's metrics (`installMetrics()`); a prefork primary adds its workers' over IPC. */
  metrics: ProcessMetrics;
  /**
   * Wraps the `/status` page (HTML and JSON) with its access check: the caller passes the
   * debug-viewer protection of @stackware/errors (loopback client, trusted Host, debugger PIN).
   * Default: `/status` answers 403 to everyone (it lists request paths).
   */
  protectStatus?: (status: Application) => Application;
  /**
   * Replaces the processes of one process group gracefully (`POST /status/reload/NAME`, behind
   * `protectStatus`). @throws Error for an unknown group (answered 404). Absent: 404.
   */
  reloadGroup?: (name: string) => void;
}

function send(startResponse: Parameters<Application>[1], status: string, type: string, body: string): Uint8Array[] {
  const bytes = Buffer.from(body);
  startResponse(status, [['Content-Type', type], ['Content-Length', String(bytes.byteLength)], ['Cache-Control', 'no-store'], ['X-Content-Type-Options', 'nosniff']]);
  return [bytes];
}

function wantsJson(environ: Environ): boolean {
  if (new URLSearchParams(environ.QUERY_STRING ?? '').get('format') === 'json') return true;
  const accept = typeof environ.HTTP_ACCEPT === 'string' ? environ.HTTP_ACCEPT : '';
  return /application\/json/i.test(accept) && !/text\/html/i.test(accept);
}

/** "max-requests 2, crash 1", or "none". */
function causes(counts: Partial<Record<string, number>>): string {
  return Object.entries(counts).filter(([, n]) => n).map(([cause, n]) => `${cause} ${n}`).join(', ') || 'none';
}

/** The status page as HTML (mod_status's table: one row per process, then what each serves now). */
export function renderStatusHtml(report: Pick<ServerReport, 'processes' | 'notReady'>): string {
  const rows = report.processes.map((p: ProcessStatus) => `<tr><td>${p.pid}</td><td>${escapeHtml(p.role)}</td><td>${escapeHtml(p.group)}</td><td>${p.slot ?? ''}</td><td>${p.uptimeSeconds}</td><td>${Math.round(p.rssBytes / 1048576)}</td><td>${p.served}</td><td>${p.inFlight.length}</td><td>${escapeHtml(causes(p.restarts))}</td></tr>`).join('\n');
  const requests = report.processes.flatMap((p) => p.inFlight.map((r) => `<tr><td>${p.pid}</td><td>${escapeHtml(p.group)}</td><td>${escapeHtml(r.thread ?? '')}</td><td>${escapeHtml(r.method)}</td><td>${escapeHtml(r.path)}</td><td>${r.ageMs}</td></tr>`)).join('\n');
  const pools = report.processes.flatMap((p) => p.pools.map((pool) => `<tr><td>${p.pid}</td><td>${escapeHtml(pool.name)}</td><td>${pool.threads}</td><td>${pool.queueLength}</td><td>${escapeHtml(causes(pool.restarts))}</td></tr>`)).join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Stackware status</title>
<style>body{font:14px/1.4 system-ui,sans-serif;margin:24px}table{border-collapse:collapse;margin-bottom:24px}td,th{border:1px solid #ccc;padding:2px 8px;text-align:left}</style></head>
<body><h1>Stackware status</h1>
<p>${report.notReady.length ? `Not ready: ${report.notReady.map(escapeHtml).join('; ')}` : 'Ready.'}</p>
<h2>Processes</h2>
<table><tr><th>pid</th><th>role</th><th>group</th><th>slot</th><th>uptime (s)</th><th>RSS (MiB)</th><th>requests served</th><th>in flight</th><th>restarts</th></tr>
${rows}
</table>
<h2>Serving now</h2>
<table><tr><th>pid</th><th>group</th><th>thread</th><th>method</th><th>path</th><th>age (ms)</th></tr>
${requests}
</table>
<h2>Thread pools</h2>
<table><tr><th>pid</th><th>pool</th><th>threads</th><th>queue</th><th>restarts</th></tr>
${pools}
</table>
</body></html>
`;
}

/**
 * The application of the metrics listener (issue 23). Paths:
 * - `POST /status/reload/NAME`: replaces process group NAME's processes gracefully (mod_wsgi's
 *   per-group restart); 202, 404 for an unknown group, 403 for a cross-site request; behind
 *   `protectStatus` like `/status`;
 * - `GET /metrics`: Prometheus text exposition 0.0.4 of the whole server (every worker's counters
 *   added up), `Content-Type: text/plain; version=0.0.4`;
 * - `GET /healthz`: 200 "ok" while the process runs (liveness);
 * - `GET /readyz`: 200 "ready" when every worker has booted and every readiness check (session
 *   stores' ping) answered; 503 with one reason per line otherwise;
 * - `GET /status` (HTML, like Apache's mod_status) and `/status?format=json` (or `Accept:
 *   application/json`): each process, what it serves now (method, path, age in ms), requests
 *   served, thread pools and their restarts; behind `protectStatus`.
 * Anything else: 404; a method other than GET/HEAD: 405.
 */
export function metricsApplication(options: MetricsApplicationOptions): Application {
  const reload = (environ: Environ, startResponse: Parameters<Application>[1]): Uint8Array[] => {
    if (environ.REQUEST_METHOD !== 'POST') {
      startResponse('405 Method Not Allowed', [['Allow', 'POST'], ['Content-Type', 'text/plain; charset=utf-8']]);
      return [Buffer.from('Method Not Allowed: POST /status/reload/NAME reloads a process group\n')];
    }
    // A browser's cross-site POST carries Origin (or Sec-Fetch-Site): only a same-origin page or a
    // client that sends neither (curl, an orchestrator) may reload (CSRF, even with the PIN off).
    const origin = typeof environ.HTTP_ORIGIN === 'string' ? environ.HTTP_ORIGIN : undefined;
    const fetchSite = typeof environ.HTTP_SEC_FETCH_SITE === 'string' ? environ.HTTP_SEC_FETCH_SITE : undefined;
    const ownOrigin = `${environ['stackware.url_scheme']}://${String(environ.HTTP_HOST ?? '')}`;
    if ((origin !== undefined && origin !== ownOrigin) || (fetchSite !== undefined && fetchSite !== 'same-origin' && fetchSite !== 'none')) {
      return send(startResponse, '403 Forbidden', 'text/plain; charset=utf-8', 'Forbidden: a reload must come from this listener\'s own pages or from a client without Origin (curl)\n');
    }
    const name = decodeURIComponent(environ.PATH_INFO.slice('/status/reload/'.length));
    if (!options.reloadGroup) return send(startResponse, '404 Not Found', 'text/plain; charset=utf-8', 'Not Found: this server runs no process group\n');
    try {
      options.reloadGroup(name);
    } catch (error) {
      return send(startResponse, '404 Not Found', 'text/plain; charset=utf-8', `Not Found: ${(error as Error).message}\n`);
    }
    return send(startResponse, '202 Accepted', 'text/plain; charset=utf-8', `reloading process group "${name}": new processes start, then the old ones finish their requests\n`);
  };
  const status: Application = async (environ, startResponse) => {
    if (environ.PATH_INFO.startsWith('/status/reload/')) return reload(environ, startResponse);
    const report = await serverReport(options.metrics);
    if (wantsJson(environ)) return send(startResponse, '200 OK', 'application/json', `${JSON.stringify({ ready: report.notReady.length === 0, notReady: report.notReady, processes: report.processes }, null, 2)}\n`);
    return send(startResponse, '200 OK', 'text/html; charset=utf-8', renderStatusHtml(report));
  };
  const protectedStatus = options.protectStatus ? options.protectStatus(status) : ((_e, startResponse) => send(startResponse, '403 Forbidden', 'text/plain; charset=utf-8', 'Forbidden: the status page is not enabled\n')) as Application;
  return async (environ, startResponse) => {
    const path = environ.PATH_INFO;
    if (environ.REQUEST_METHOD !== 'GET' && environ.REQUEST_METHOD !== 'HEAD' && !path.startsWith('/status/')) {
      startResponse('405 Method Not Allowed', [['Allow', 'GET, HEAD'], ['Content-Type', 'text/plain; charset=utf-8']]);
      return [Buffer.from('Method Not Allowed\n')];
    }
    if (path === '/healthz') return send(startResponse, '200 OK', 'text/plain; charset=utf-8', 'ok\n');
    if (path === '/metrics') {
      const report = await serverReport(options.metrics);
      return send(startResponse, '200 OK', report.registry.contentType, await report.registry.metrics());
    }
    if (path === '/readyz') {
      const report = await serverReport(options.metrics);
      if (report.notReady.length === 0) return send(startResponse, '200 OK', 'text/plain; charset=utf-8', 'ready\n');
      return send(startResponse, '503 Service Unavailable', 'text/plain; charset=utf-8', `not ready:\n${report.notReady.join('\n')}\n`);
    }
    if (path === '/status' || path.startsWith('/status/')) return protectedStatus(environ, startResponse);
    return send(startResponse, '404 Not Found', 'text/plain; charset=utf-8', 'Not Found: the metrics listener serves /metrics, /healthz, /readyz and /status\n');
  };
}

/** Options of {@link startMetricsListener}. */
export interface MetricsListenerOptions extends MetricsApplicationOptions {
  host: string;
  /** TCP port; 0 picks a free one (see the returned `url`). */
  port: number;
  logger: Logger;
}

/**
 * Serves {@link metricsApplication} on its own HTTP listener (node:http, no access log; its own
 * requests are not counted). The caller checks the address (loopback unless opted in): see
 * `startOperations` in @stackware/config. Resolves once it listens.
 */
export function startMetricsListener(options: MetricsListenerOptions): Promise<RunningServer> {
  keepRetiredCounts();
  return serve(metricsApplication(options), { host: options.host, port: options.port, accessLog: false, logger: options.logger, countRequests: false, shutdownTimeoutMs: 1000 });
}
