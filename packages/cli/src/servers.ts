import type { Application, RunningServer } from '@stackware/gateway';
import { serve, serveFastCGI, serveSCGI, type Logger } from '@stackware/server';
import type { OptionValue } from './options.js';
import { UsageError } from './usage-error.js';

/** What a server starter gets besides the application. */
export interface ServerContext {
  /** Parsed options of `stackware serve` (camelCase; defaults applied). */
  options: Record<string, OptionValue>;
  logger: Logger;
}

/** Starts a server for an application; resolves once it accepts connections. */
export type ServerStarter = (app: Application, context: ServerContext) => Promise<RunningServer>;

const seconds = (value: OptionValue) => Math.round(Number(value) * 1000);

/**
 * The servers `--protocol NAME` picks from. To add a protocol, add an entry (and mention it in
 * the --protocol help text in options.ts).
 */
export const SERVERS: Record<string, ServerStarter> = {
  http: (app, { options, logger }) => serve(app, {
    host: options.host as string,
    port: options.port as number,
    ...limitOptions(options),
    accessLog: options.accessLog as boolean,
    logger,
  }),
  // The same limits as HTTP (limits.ts in @stackware/server): --max-body-bytes → 413, --timeout → 504.
  fastcgi: (app, { options, logger }) => serveFastCGI(app, { ...listenTarget(options), ...limitOptions(options), log: logStream(logger) }),
  scgi: (app, { options, logger }) => serveSCGI(app, { ...listenTarget(options), ...limitOptions(options), log: logStream(logger) }),
};

/** The limits every gateway takes from the command line (--timeout, --max-body-bytes, --shutdown-timeout, --lame-duck). */
function limitOptions(options: Record<string, OptionValue>) {
  return {
    // With --threads the pool enforces --timeout itself: it terminates the stuck thread and allows for thread start-up.
    timeoutMs: options.threads ? 0 : seconds(options.timeout),
    shutdownTimeoutMs: seconds(options.shutdownTimeout),
    lameDuckMs: seconds(options.lameDuck ?? 0),
    maxBodyBytes: options.maxBodyBytes as number,
  };
}

/** `--socket PATH` or `--host`/`--port`, for the FastCGI and SCGI gateways. */
function listenTarget(options: Record<string, OptionValue>): { socket: string } | { host: string; port: number } {
  return typeof options.socket === 'string' ? { socket: options.socket } : { host: options.host as string, port: options.port as number };
}

/** Gateway-level errors (protocol errors) as logger records. */
function logStream(logger: Logger) {
  return { write: (text: string) => { const message = String(text).replace(/\s+$/, ''); if (message) logger.error(message); } };
}

/** The starter for `--protocol`. @throws UsageError for an unknown protocol. */
export function pickServer(protocol: string, socket?: OptionValue): ServerStarter {
  const starter = SERVERS[protocol];
  if (!starter) throw new UsageError(`--protocol must be one of ${Object.keys(SERVERS).join(', ')}; got ${JSON.stringify(protocol)}`);
  if (protocol === 'http' && socket !== undefined) throw new UsageError('--socket works with --protocol fastcgi or scgi; the HTTP server listens on --host/--port');
  return starter;
}
