import type { Application, FactoryOptions, ServerFactory } from '@stackware/gateway';
import { serveFastCGI, type FastCGIServerOptions } from './serve.js';
import { serveSCGI, type SCGIServerOptions } from '../scgi.js';

/** The deploy-file types of the limits every gateway takes (limits.ts). */
const LIMIT_OPTION_TYPES = {
  maxBodyBytes: 'number', maxHeaderBytes: 'number', headersTimeoutMs: 'number', clientTimeoutMs: 'number', requestTimeoutMs: 'number',
  timeoutMs: 'number', keepAliveTimeoutMs: 'number', maxConnections: 'number',
} as const;

/**
 * The deploy-file server factory for FastCGI (`use = "@stackware/server#fastcgi"`):
 * ```toml
 * [server.main]
 * use = "@stackware/server#fastcgi"
 * port = 9000            # or: socket = "/run/app.sock"
 * ```
 * Every {@link FastCGIServerOptions} option is accepted by name.
 */
export const fastcgiServerFactory: ServerFactory = Object.assign(
  (options: FactoryOptions) => (app: Application) => serveFastCGI(app, options as FastCGIServerOptions),
  {
    description: 'FastCGI 1.0 responder (nginx fastcgi_pass, Apache mod_proxy_fcgi): TCP or Unix socket, multiplexing, backpressure',
    optionTypes: {
      host: 'string', port: 'number', socket: 'string', ...LIMIT_OPTION_TYPES, maxRequestsPerConnection: 'number', multiplex: 'boolean',
      maxParamsBytes: 'number', inputHighWaterBytes: 'number', shutdownTimeoutMs: 'number', multithread: 'boolean', multiprocess: 'boolean',
    },
  } as const,
);

/**
 * The deploy-file server factory for SCGI (`use = "@stackware/server#scgi"`), e.g. `port = 4000`
 * or `socket = "/run/app.sock"`. Every {@link SCGIServerOptions} option is accepted by name.
 */
export const scgiServerFactory: ServerFactory = Object.assign(
  (options: FactoryOptions) => (app: Application) => serveSCGI(app, options as SCGIServerOptions),
  {
    description: 'SCGI server (nginx scgi_pass): TCP or Unix socket, backpressure',
    optionTypes: {
      host: 'string', port: 'number', socket: 'string', ...LIMIT_OPTION_TYPES,
      inputHighWaterBytes: 'number', shutdownTimeoutMs: 'number', multithread: 'boolean', multiprocess: 'boolean',
    },
  } as const,
);
