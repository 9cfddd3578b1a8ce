/**
 * @stackware/server — the servers of the Stackware gateway interface: HTTP/1.1 on node:http,
 * prefork workers (node:cluster), and the shared pieces every server uses (logger, access log,
 * graceful shutdown, environ flags).
 */
export { serve, createHttpServer, type HttpServer, type HttpServerParts } from './http-server.js';
export { HTTP_DEFAULTS, checkNumberOption, type HttpServerOptions } from './options.js';
export {
  LIMIT_DEFAULTS, resolveLimits, limitAnswer, limitMessages, checkProgress, sweepIntervalMs,
  type LimitOptions, type Limits, type LimitStatus, type LimitAnswer, type RequestProgress, type TimeoutTrip,
} from './limits.js';
export { HttpSink, plainResponse } from './http-sink.js';
export { createLogger, flushLogger, prettyLine, type Logger, type LoggerOptions } from './logger.js';
export { accessLogRecord, type AccessLogRecord } from './access-log.js';
export { loggerErrorStream, LoggerErrorStream } from './error-stream.js';
export { ResponseSignal } from './response-signal.js';
export { EmptyInput } from './empty-input.js';
export { requestId, getRequestId, REQUEST_ID_KEY } from './request-id.js';
export { environFlags, type EnvironFlags } from './environ-flags.js';
export { startWatchdog, type Watchdog } from './watchdog.js';
export { watchFiles, isIgnoredPath, type FileWatcher, type WatchFilesOptions } from './watch.js';
// The operations hooks the metrics listener reads (issue 23); prom-client itself is in @stackware/server/metrics.
export { IN_FLIGHT_KEY, operations, setOperations, countRestart, processGroup, type Operations, type RestartCause, type InFlightRequest, type PoolReport } from './metrics/hooks.js';
export { startPrimary, runPrimary, runWorker, reportBootFailure, BOOT_FAILURE_EXIT_CODE, type PrimaryOptions, type PreforkPrimary, type WorkerOptions } from './prefork.js';
export { factories, httpServerFactory, HTTP_SERVER_OPTIONS } from './factories.js';
export { run, buildApplications, type ServePlan, type RunningPlan, type ApplicationPlan, type BuiltApplication, type ServerPlan, type PreforkPlan, type ReloadPlan, type WatchPlan, type Supervisor, type StartedSupervisor } from './run.js';
export { LiveApplication } from './live.js';
export { closeGracefully, onShutdownSignals, DEFAULT_SHUTDOWN_TIMEOUT_MS, type CloseOutcome, type CloseGracefullyOptions, type ShutdownSignalOptions } from './shutdown.js';
// FastCGI, SCGI and CGI gateways (issue 4)
export { serveFastCGI, type FastCGIServerOptions } from './fastcgi/serve.js';
export { serveSCGI, parseSCGIHeaders, type SCGIServerOptions } from './scgi.js';
export { runCgi, type CgiOptions } from './cgi.js';
export { environFromCgi, type CgiEnvironOptions, type CgiValue } from './cgi-environ.js';
export { cgiResponseHead } from './cgi-response.js';
export type { ListenTarget } from './fastcgi/listener.js';
export { fastcgiServerFactory, scgiServerFactory, FASTCGI_SERVER_OPTIONS, SCGI_SERVER_OPTIONS } from './fastcgi/factories.js';
export * as fastcgi from './fastcgi/records.js';
// Process groups: mod_wsgi's daemon mode (issue 23)
export { GroupSupervisor, residentMb, type GroupSpec, type GroupSupervisorOptions } from './groups/supervisor.js';
export { groupApplication, type GroupFrontOptions } from './groups/front.js';
export { runGroupProcess, isGroupProcess, type GroupProcessOptions } from './groups/process.js';
export { scgiRequest, scgiRequestHead, SCGIForwardError, type SCGIRequestOptions, type SCGIResponse } from './groups/scgi-client.js';
export { GROUP_ENV, GROUPS_DIR_ENV } from './groups/messages.js';
export { lookupUser, lookupGroup } from './groups/users.js';
