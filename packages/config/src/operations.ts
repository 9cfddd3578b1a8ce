/**
 * The metrics listener of a running server (issue 23): `--metrics HOST:PORT` on the command line,
 * `[metrics] listen = "HOST:PORT"` in a deploy file. {@link startOperations} is the one call both
 * serve flows make, in every process, before they build the application.
 */
import cluster from 'node:cluster';
import type { Application, Environ, RunningServer, StartResponse } from '@stackware/gateway';
import type { Logger, Supervisor } from '@stackware/server';

/** The metrics settings: `[metrics]` of the deploy file, or `--metrics`/`--metrics-public`. */
export interface MetricsSettings {
  /** "HOST:PORT" ("127.0.0.1:9100", "[::1]:9100"); port 0 picks a free one. Absent: no listener, no metrics. */
  listen?: string;
  /** Allow a host other than loopback (127.0.0.0/8, ::1, localhost). Default false: such a host is refused. */
  public?: boolean;
}

/** Set in the primary for its cluster workers: they install their metrics and answer its reports. */
export const METRICS_ENV = 'STACKWARE_METRICS';

/** The port range of `listen`. */
const MAX_PORT = 65535;

/**
 * "127.0.0.1:9100" → { host: "127.0.0.1", port: 9100 }; "[::1]:9100" → { host: "::1", ... }.
 * @throws Error naming `option` and the expected shape for anything else.
 */
export function parseListenAddress(text: string, option = '--metrics'): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:\s]+)):(\d{1,5})$/.exec(String(text).trim());
  const port = match ? Number(match[3]) : NaN;
  if (!match || port > MAX_PORT) throw new Error(`${option} must be HOST:PORT (e.g. 127.0.0.1:9100, [::1]:9100; port 0 to ${MAX_PORT}), got ${JSON.stringify(text)}`);
  return { host: (match[1] ?? match[2])!, port };
}

/** What the metrics listener's admin paths act on. */
export interface OperationsActions {
  /** `POST /status/reload/NAME`: replaces process group NAME gracefully. @throws Error for an unknown group. */
  reloadGroup?: (name: string) => void;
}

/** A running metrics listener (in the single process or the prefork primary). */
export interface OperationsListener {
  /** "http://127.0.0.1:9100". */
  readonly url: string;
  /**
   * Call once the site's servers listen (the single process) or the prefork primary has started:
   * until then `/readyz` answers 503 "the server is starting".
   */
  serving(): void;
  close(): Promise<void>;
}

function forbidden(startResponse: StartResponse, message: string): Uint8Array[] {
  startResponse('403 Forbidden', [['Content-Type', 'text/plain; charset=utf-8'], ['Cache-Control', 'no-store']]);
  return [Buffer.from(`${message}\n`)];
}

/**
 * The /status page's protection: the debug viewer's rules from @stackware/errors — the client is
 * loopback and the Host header a trusted name (`isDebugClient`: DNS rebinding, local proxies),
 * and it holds the debugger PIN's cookie (`STACKWARE_DEBUG_PIN`, "off" for none; else the PIN
 * derived from this machine, logged at start), entered at `/status/pin`.
 */
async function statusProtection(logger: Logger): Promise<(status: Application) => Application> {
  const { isDebugClient, DebugPin, DEBUG_PIN_ENV, derivedPin, pinPage } = await import('@stackware/errors');
  const setting = process.env[DEBUG_PIN_ENV]?.trim();
  let pin: InstanceType<typeof DebugPin> | undefined;
  if (setting?.toLowerCase() === 'off') {
    logger.warn('metrics listener: /status needs no debugger PIN (STACKWARE_DEBUG_PIN=off); it is still loopback-only');
  } else if (setting) {
    pin = new DebugPin(setting);
  } else {
    const made = derivedPin();
    pin = new DebugPin(made);
    logger.warn(`metrics listener: /status needs the debugger PIN: ${made} (set ${DEBUG_PIN_ENV} to choose it)`);
  }
  const form = pin ? pinPage(pin, '/status/pin', '/status') : undefined;
  return (status) => (environ: Environ, startResponse: StartResponse) => {
    if (!isDebugClient(environ)) return forbidden(startResponse, 'Forbidden: /status answers loopback clients that name a loopback host (127.0.0.1, localhost, ::1)');
    if (environ.PATH_INFO === '/status/pin' && form) return form(environ, startResponse);
    if (environ.PATH_INFO !== '/status' && !environ.PATH_INFO.startsWith('/status/reload/')) return forbidden(startResponse, 'Not a status page');
    if (pin && !pin.hasValidCookie(environ)) {
      startResponse('401 Unauthorized', [['Content-Type', 'text/html; charset=utf-8'], ['Cache-Control', 'no-store']]);
      return [Buffer.from('<!doctype html><title>Debugger PIN</title><p>The status page needs the debugger PIN: <a href="/status/pin?next=/status">enter it</a>.</p>\n')];
    }
    return status(environ, startResponse);
  };
}

/**
 * Starts what this process's part of the metrics is (call it once, before the application is built):
 * - no `listen` (and not a cluster worker of a primary that has one): nothing at all — prom-client
 *   is never loaded, the gateways do no per-request work;
 * - a cluster worker whose primary has a listener (`STACKWARE_METRICS=1`): installs this process's
 *   metrics (the gateways count each request) and answers the primary's report requests;
 * - the single process or the prefork primary: installs its metrics and serves `/metrics`,
 *   `/healthz`, `/readyz`, `/status` on `listen` (see metricsApplication in
 *   @stackware/server/metrics); a primary's scrape adds up every worker's counters.
 * @throws Error for a malformed `listen`, or a host that is not loopback without `public` (the
 *   message names the option and the fix).
 */
export async function startOperations(settings: MetricsSettings, logger: Logger, actions: OperationsActions = {}): Promise<OperationsListener | undefined> {
  if (cluster.isWorker) {
    if (process.env[METRICS_ENV] !== '1') return undefined;
    const { installMetrics, answerPrimary } = await import('@stackware/server/metrics');
    answerPrimary(installMetrics());
    return undefined;
  }
  if (settings.listen === undefined) return undefined;
  const { host, port } = parseListenAddress(settings.listen);
  const { isLoopbackHost } = await import('@stackware/errors');
  if (!isLoopbackHost(host)) {
    if (!settings.public) throw new Error(`the metrics listener must bind a loopback address (127.0.0.1, ::1), got ${host}: it shows request paths and load; add --metrics-public (or public = true in [metrics]) to bind ${host} on purpose`);
    logger.warn({ metrics_host: host }, `metrics listener on ${host}, not loopback: /metrics, /healthz and /readyz are reachable from the network (/status still answers loopback clients only)`);
  }
  const { installMetrics, startMetricsListener } = await import('@stackware/server/metrics');
  const metrics = installMetrics();
  process.env[METRICS_ENV] = '1';
  let serving = false;
  metrics.operations.readiness.add(async () => (serving ? undefined : 'the server is starting'));
  const running: RunningServer = await startMetricsListener({ host, port, logger, metrics, protectStatus: await statusProtection(logger), reloadGroup: actions.reloadGroup });
  logger.info({ url: running.url }, `metrics on ${running.url}/metrics (also /healthz, /readyz, /status)`);
  return { url: running.url, serving: () => void (serving = true), close: () => running.close() };
}

/**
 * The metrics listener as a supervisor of `run(plan)` (@stackware/server): started in the prefork
 * primary or the single process before the servers listen, stopped after them. `run` calls
 * `serving()` once the single process's servers listen; in a primary it is called at once (the
 * primary's own readiness check waits for the workers). In each prefork worker, `startInWorker`
 * installs the worker's counters (startOperations with no `listen`). Without `settings.listen`,
 * nothing starts. `onRefused` turns a refused address into the caller's error (a ConfigError naming
 * the file, a UsageError); by default the Error is thrown as it is.
 */
export function metricsSupervisor(settings: MetricsSettings, onRefused: (error: Error) => never = (error) => { throw error; }, actions: OperationsActions = {}): Supervisor {
  return {
    name: 'metrics',
    async start({ logger, role }) {
      let listener: OperationsListener | undefined;
      try {
        listener = await startOperations(settings, logger, actions);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).syscall) throw error;
        onRefused(error as Error);
      }
      if (role === 'primary') listener?.serving();
      return { close: async () => listener?.close(), serving: () => listener?.serving() };
    },
    async startInWorker({ logger }) {
      await startOperations({}, logger);
    },
  };
}
