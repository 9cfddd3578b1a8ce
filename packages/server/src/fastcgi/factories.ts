import { defineOptions, option, serverFactory, type OptionsOf } from '@stackware/gateway/options';
import { serveFastCGI } from './serve.js';
import { serveSCGI } from '../scgi.js';
import { LIMIT_OPTIONS } from '../limits.js';
import type { ListenTarget } from './listener.js';

/** Where a FastCGI/SCGI gateway listens: host and port, or a Unix socket. */
const LISTEN_OPTIONS = {
  host: option.string('interface to listen on (with port)', { default: '127.0.0.1' }),
  socket: option.string('a Unix socket path to listen on instead of host/port'),
} as const;

/** `lameDuckMs` of every gateway's deploy-file options (HTTP, FastCGI, SCGI): `LameDuck` in shutdown.ts. */
export const LAME_DUCK_OPTION = option.number('graceful stop behind a load balancer: the listener stays open up to this long first, answering idempotent requests on new connections 503 so the balancer resends them elsewhere (0: no such phase)', { unit: 'ms', integer: true, min: 0, default: 0 });

/** The gateway options common to FastCGI and SCGI after the listen target and the limits. */
const GATEWAY_OPTIONS = {
  inputHighWaterBytes: option.number('request body bytes queued for a slow application before the socket is paused, per request', { unit: 'bytes', integer: true, min: 1, default: 64 * 1024 }),
  shutdownTimeoutMs: option.number('graceful stop: in-flight requests get this long before connections are broken off', { unit: 'ms', integer: true, min: 0, default: 5000 }),
  lameDuckMs: LAME_DUCK_OPTION,
  multithread: option.boolean('stackware.multithread for every request', { default: false }),
  multiprocess: option.boolean('stackware.multiprocess for every request', { defaultText: 'true in a prefork worker' }),
} as const;

/** `socket` excludes `host`/`port` ({@link ListenTarget}). */
function listenTarget<T extends { host?: string; port?: number; socket?: string }>({ host, port, socket, ...rest }: T): Omit<T, 'host' | 'port' | 'socket'> & ListenTarget {
  return socket !== undefined ? { ...rest, socket } : { ...rest, host, port };
}

/** The deploy-file options of the FastCGI responder ({@link FastCGIServerOptions}, `log` excepted). */
export const FASTCGI_SERVER_OPTIONS = defineOptions({
  ...LISTEN_OPTIONS,
  port: option.number('TCP port to listen on (0: a free port)', { integer: true, min: 0, max: 65535, default: 9000 }),
  ...LIMIT_OPTIONS,
  maxRequestsPerConnection: option.number('concurrent requests on one connection; more get FCGI_OVERLOADED', { integer: true, min: 1, default: 64 }),
  multiplex: option.boolean('accept several requests at once on one connection (FCGI_MPXS_CONNS)', { default: true }),
  maxParamsBytes: option.number('largest PARAMS stream of one request; a larger one closes the connection', { unit: 'bytes', integer: true, min: 1, default: 256 * 1024 }),
  ...GATEWAY_OPTIONS,
});

/** The deploy-file options of the SCGI server ({@link SCGIServerOptions}, `log` excepted). */
export const SCGI_SERVER_OPTIONS = defineOptions({
  ...LISTEN_OPTIONS,
  port: option.number('TCP port to listen on (0: a free port)', { integer: true, min: 0, max: 65535, default: 4000 }),
  ...LIMIT_OPTIONS,
  ...GATEWAY_OPTIONS,
});

function checkTarget(options: OptionsOf<typeof SCGI_SERVER_OPTIONS.shape>, section: string): void {
  if (options.socket !== undefined && (options.port !== undefined || options.host !== undefined)) {
    throw new TypeError(`[${section}] socket and host/port are both set: a gateway listens on one of them (drop socket, or drop host and port)`);
  }
}

/**
 * The deploy-file server factory for FastCGI (`use = "@stackware/server#fastcgi"`):
 * ```toml
 * [server.main]
 * use = "@stackware/server#fastcgi"
 * port = 9000            # or: socket = "/run/app.sock"
 * ```
 * Options: {@link FASTCGI_SERVER_OPTIONS} (the README's table).
 */
export const fastcgiServerFactory = serverFactory(
  FASTCGI_SERVER_OPTIONS,
  (options, context) => {
    checkTarget(options, `server.${context.name}`);
    return (app) => serveFastCGI(app, listenTarget(options));
  },
  { description: 'FastCGI 1.0 responder (nginx fastcgi_pass, Apache mod_proxy_fcgi): TCP or Unix socket, multiplexing, backpressure' },
);

/**
 * The deploy-file server factory for SCGI (`use = "@stackware/server#scgi"`), e.g. `port = 4000`
 * or `socket = "/run/app.sock"`. Options: {@link SCGI_SERVER_OPTIONS} (the README's table).
 */
export const scgiServerFactory = serverFactory(
  SCGI_SERVER_OPTIONS,
  (options, context) => {
    checkTarget(options, `server.${context.name}`);
    return (app) => serveSCGI(app, listenTarget(options));
  },
  { description: 'SCGI server (nginx scgi_pass): TCP or Unix socket, backpressure' },
);
