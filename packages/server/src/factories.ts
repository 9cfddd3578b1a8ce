import type { Application, FactoryOptions, ServerFactory, StackwareFactories } from '@stackware/gateway';
import { serve } from './http-server.js';
import { createLogger, type LoggerOptions } from './logger.js';
import type { HttpServerOptions } from './options.js';
import { fastcgiServerFactory, scgiServerFactory } from './fastcgi/factories.js';

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
 * Every {@link HttpServerOptions} number/boolean is accepted by name, plus `logLevel`.
 */
export const httpServerFactory: ServerFactory = Object.assign(
  (options: FactoryOptions) => {
    const { logLevel, ...rest } = options as HttpServerOptions & { logLevel?: LoggerOptions['level'] };
    return (app: Application) => serve(app, { ...rest, logger: createLogger({ level: logLevel ?? 'info' }) });
  },
  {
    description: 'HTTP/1.1 server (node:http): streaming, limits, timeouts, access log, graceful stop',
    optionTypes: {
      host: 'string', port: 'number', maxHeaderBytes: 'number', maxBodyBytes: 'number', headersTimeoutMs: 'number', requestTimeoutMs: 'number',
      keepAliveTimeoutMs: 'number', timeoutMs: 'number', clientTimeoutMs: 'number', maxConnections: 'number', shutdownTimeoutMs: 'number', accessLog: 'boolean', serverHeader: 'string', logLevel: 'string',
    },
  } as const,
);

/** The factories of @stackware/server for the deploy file: `servers.default` and `servers.http` are the HTTP server; `servers.fastcgi` and `servers.scgi` the gateways for nginx. */
export const factories: StackwareFactories = {
  servers: { default: httpServerFactory, http: httpServerFactory, fastcgi: fastcgiServerFactory, scgi: scgiServerFactory },
};
