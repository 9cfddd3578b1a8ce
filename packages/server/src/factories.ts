import { defineOptions, option, serverFactory } from '@stackware/gateway/options';
import type { StackwareFactories } from '@stackware/gateway';
import { serve } from './http-server.js';
import { createLogger } from './logger.js';
import { HTTP_DEFAULTS } from './options.js';
import { LIMIT_OPTIONS } from './limits.js';
import { LAME_DUCK_OPTION, fastcgiServerFactory, scgiServerFactory } from './fastcgi/factories.js';

/** The log levels of pino, for `logLevel`. */
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** The deploy-file options of the HTTP server: {@link HttpServerOptions} (the logger excepted) plus `logLevel`. */
export const HTTP_SERVER_OPTIONS = defineOptions({
  host: option.string('interface to listen on ("0.0.0.0" or "::" for every interface)', { default: HTTP_DEFAULTS.host }),
  port: option.number('TCP port to listen on (0: a free port)', { integer: true, min: 0, max: 65535, default: HTTP_DEFAULTS.port }),
  ...LIMIT_OPTIONS,
  shutdownTimeoutMs: option.number('graceful stop: in-flight requests get this long, then connections are destroyed', { unit: 'ms', integer: true, min: 0, default: HTTP_DEFAULTS.shutdownTimeoutMs }),
  lameDuckMs: LAME_DUCK_OPTION,
  accessLog: option.boolean('one log record per request', { default: HTTP_DEFAULTS.accessLog }),
  serverHeader: option.string('the Server response header ("": none)', { default: HTTP_DEFAULTS.serverHeader }),
  multithread: option.boolean('stackware.multithread for every request', { default: false }),
  multiprocess: option.boolean('stackware.multiprocess for every request', { defaultText: 'true in a prefork worker' }),
  logLevel: option.oneOf(LOG_LEVELS, 'log records at this level and above (pino)', { default: 'info' }),
});

/**
 * The deploy-file server factory for HTTP (PasteDeploy's server_factory):
 *
 * ```toml
 * [server.main]
 * use = "@stackware/server"        # or "@stackware/server#http"
 * host = "0.0.0.0"
 * port = 8080
 * timeoutMs = 30000
 * logLevel = "info"
 * ```
 * Options: {@link HTTP_SERVER_OPTIONS} (the README's table).
 */
export const httpServerFactory = serverFactory(
  HTTP_SERVER_OPTIONS,
  ({ logLevel, ...rest }) => (app) => serve(app, { ...rest, logger: createLogger({ level: logLevel ?? 'info' }) }),
  { description: 'HTTP/1.1 server (node:http): streaming, limits, timeouts, access log, graceful stop' },
);

/** The factories of @stackware/server for the deploy file: `servers.default` and `servers.http` are the HTTP server; `servers.fastcgi` and `servers.scgi` the gateways for nginx. */
export const factories: StackwareFactories = {
  servers: { default: httpServerFactory, http: httpServerFactory, fastcgi: fastcgiServerFactory, scgi: scgiServerFactory },
};
