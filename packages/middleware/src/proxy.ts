import { STATUS_CODES } from 'node:http';
import { Readable } from 'node:stream';
import type { Pool } from 'undici';
import { quotePath, type Application, type Environ, type Headers } from '@stackware/gateway';
import { appFactory, defineOptions, option } from '@stackware/gateway/options';
import { HOP_BY_HOP_HEADERS as HOP_BY_HOP } from '@stackware/gateway';

/** Options of {@link proxy}. Defaults: headersTimeoutMs 30000, bodyTimeoutMs 300000, connectTimeoutMs 10000, connections 32, forwardedHeaders true, preserveHost false. */
export interface ProxyOptions {
  /** The upstream server: "http://127.0.0.1:9000" or "http://backend/base" (a path is prefixed to every request). */
  target: string;
  /** Longest wait for the upstream's response headers, in ms; then 504 [30000]. */
  headersTimeoutMs?: number;
  /** Longest silence while the upstream's body streams, in ms; then the response is broken off [300000]. */
  bodyTimeoutMs?: number;
  /** Longest wait to connect, in ms; then 504 [10000]. */
  connectTimeoutMs?: number;
  /** Kept-alive connections to the upstream [32]. */
  connections?: number;
  /** Add X-Forwarded-For/Proto/Host/Prefix [true]. */
  forwardedHeaders?: boolean;
  /** Send the client's Host header instead of the target's [false]. */
  preserveHost?: boolean;
}

/**
 * Request headers the gateway has already acted on: `Expect: 100-continue` was answered by the
 * server in front of this proxy (it sends 100 Continue when the body is read, RFC 9110 §10.1.1),
 * and the body is streamed upstream as it arrives; undici refuses the header ("expect header not
 * supported"), which made every such request a 502.
 */
const ANSWERED_BY_GATEWAY = new Set(['expect']);

function gatewayError(code: 502 | 504, message: string): Application {
  return (_environ, startResponse) => {
    const body = Buffer.from(`${code} ${STATUS_CODES[code]}: ${message}\n`);
    startResponse(`${code} ${STATUS_CODES[code]}`, [['Content-Type', 'text/plain; charset=utf-8'], ['Content-Length', String(body.length)]]);
    return [body];
  };
}

/** The request headers to send upstream: the client's, minus hop-by-hop ones (and those named in Connection). */
function upstreamHeaders(environ: Environ, options: ProxyOptions, targetHost: string): Record<string, string> {
  const headers: Record<string, string> = {};
  const connectionNamed = new Set(typeof environ.HTTP_CONNECTION === 'string' ? environ.HTTP_CONNECTION.toLowerCase().split(',').map((s) => s.trim()) : []);
  for (const [key, value] of Object.entries(environ)) {
    if (typeof value !== 'string') continue;
    let name: string | undefined;
    if (key.startsWith('HTTP_')) name = key.slice(5).toLowerCase().replace(/_/g, '-');
    else if (key === 'CONTENT_TYPE') name = 'content-type';
    else if (key === 'CONTENT_LENGTH') name = 'content-length';
    if (!name || HOP_BY_HOP.has(name) || ANSWERED_BY_GATEWAY.has(name) || connectionNamed.has(name)) continue;
    headers[name] = value;
  }
  const clientHost = headers.host ?? environ.SERVER_NAME;
  if (!options.preserveHost) headers.host = targetHost;
  if (options.forwardedHeaders !== false) {
    const remote = environ.REMOTE_ADDR;
    if (remote) headers['x-forwarded-for'] = headers['x-forwarded-for'] ? `${headers['x-forwarded-for']}, ${remote}` : remote;
    headers['x-forwarded-proto'] = environ['stackware.url_scheme'];
    headers['x-forwarded-host'] = clientHost;
    if (environ.SCRIPT_NAME) headers['x-forwarded-prefix'] = environ.SCRIPT_NAME;
  }
  return headers;
}

/**
 * A "." or ".." path segment (also with "\\" as separator, which some upstream servers accept).
 * Every Stackware gateway already answers a dot segment 400 (packages/gateway/SPEC.md); the proxy
 * keeps its own check as defence in depth (it can be mounted under Express through an adapter or
 * behind a middleware that rewrites PATH_INFO) and for the "\\" form, which the gateway allows.
 */
const DOT_SEGMENT = /(^|[/\\])\.\.?([/\\]|$)/;

/** A proxy application: call `close()` to release its upstream connections. */
export interface ProxyApplication extends Application {
  close(): Promise<void>;
}

/**
 * Forwards requests to another HTTP server (the seeds' "proxying some subset of URLs to another
 * process"; Paste's proxy, nginx proxy_pass) with undici: the path is the target's path + PATH_INFO
 * (so mounted at /api in a URL map, /api/x goes to <target>/x) + the query; the request body
 * streams up and the response streams back, both with backpressure. Hop-by-hop headers are
 * removed both ways (RFC 9110 §7.6.1), and so is `Expect` (the server in front answers
 * `100-continue` itself); X-Forwarded-For/Proto/Host/Prefix are added. A path with
 * a "." or ".." segment (after percent-decoding: `/%2e%2e/`) is answered 400, since the upstream
 * would resolve it outside the mount and the base path (RFC 3986 §5.2.4). An upstream
 * that cannot be reached answers 502; one that does not answer within `headersTimeoutMs`, 504;
 * a failure while the body streams breaks the response off (the client sees a truncated response).
 *
 * @example
 * const app = urlMap({ '/api': proxy({ target: 'http://127.0.0.1:9000' }), '/': site });
 */
export function proxy(options: ProxyOptions): ProxyApplication {
  const target = new URL(options.target);
  if (target.protocol !== 'http:' && target.protocol !== 'https:') throw new TypeError(`proxy target must be http:// or https://, got ${options.target}`);
  const basePath = target.pathname.replace(/\/+$/, '');
  // undici (~20 MiB resident) loads with the first proxied request, not with @stackware/middleware:
  // a stack that imports the package for another middleware does not pay for it.
  let pool: Promise<Pool> | undefined;
  const upstream = () => (pool ??= import('undici').then(({ Pool }) => new Pool(target.origin, {
    connections: options.connections ?? 32,
    headersTimeout: options.headersTimeoutMs ?? 30_000,
    bodyTimeout: options.bodyTimeoutMs ?? 300_000,
    connectTimeout: options.connectTimeoutMs ?? 10_000,
  })));

  const app = (async (environ, startResponse) => {
    const method = environ.REQUEST_METHOD;
    if (DOT_SEGMENT.test(environ.PATH_INFO)) {
      // The upstream would resolve "/x/../admin" itself, past the URL map and any auth in front of
      // this proxy (and past the target's base path): refuse, as no browser sends such a path.
      const body = Buffer.from('400 Bad Request: the path contains a "." or ".." segment.\n');
      startResponse('400 Bad Request', [['Content-Type', 'text/plain; charset=utf-8'], ['Content-Length', String(body.length)]]);
      return [body];
    }
    const path = basePath + quotePath(environ.PATH_INFO || '/') + (environ.QUERY_STRING ? `?${environ.QUERY_STRING}` : '');
    const hasBody = environ.CONTENT_LENGTH !== undefined ? environ.CONTENT_LENGTH !== '0' : typeof environ.HTTP_TRANSFER_ENCODING === 'string';
    let response: Awaited<ReturnType<Pool['request']>>;
    try {
      response = await (await upstream()).request({
        method: method as 'GET',
        path,
        headers: upstreamHeaders(environ, options, target.host),
        body: hasBody ? Readable.from(environ['stackware.input'], { objectMode: false }) : undefined,
      });
    } catch (error) {
      const code = (error as { code?: string }).code;
      environ['stackware.errors'].write(`proxy: ${method} ${target.origin}${path} failed: ${String(error)}\n`);
      // undici's HeadersTimeoutError and ConnectTimeoutError carry these codes.
      if (code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'UND_ERR_HEADERS_TIMEOUT') {
        return gatewayError(504, 'the upstream server did not answer in time.')(environ, startResponse);
      }
      return gatewayError(502, 'the upstream server could not be reached.')(environ, startResponse);
    }
    const headers: Headers = [];
    const connectionNamed = new Set(String(response.headers.connection ?? '').toLowerCase().split(',').map((s) => s.trim()));
    for (const [name, value] of Object.entries(response.headers)) {
      if (value === undefined || HOP_BY_HOP.has(name) || connectionNamed.has(name)) continue;
      for (const v of Array.isArray(value) ? value : [value]) headers.push([name, v]);
    }
    const code = response.statusCode;
    if (code >= 200 && code !== 204 && code !== 304 && response.headers['content-type'] === undefined) headers.push(['content-type', 'application/octet-stream']);
    if ((code === 204 || code === 304)) for (let i = headers.length - 1; i >= 0; i--) if (headers[i]![0] === 'content-type') headers.splice(i, 1);
    startResponse(`${code} ${STATUS_CODES[code] ?? 'Unknown'}`, headers);
    const body = response.body;
    return {
      async *[Symbol.asyncIterator]() {
        for await (const chunk of body) yield chunk as Buffer;
      },
      close() {
        if (!body.destroyed) body.destroy();
      },
    };
  }) as ProxyApplication;
  app.close = async () => {
    if (pool) await (await pool).close();
  };
  return app;
}

/** The deploy-file options of {@link proxy} ({@link ProxyOptions}). */
export const PROXY_OPTIONS = defineOptions({
  target: option.required(option.string('the upstream server: "http://127.0.0.1:9000", or "http://backend/base" (the path prefixes every request)', { example: '"http://127.0.0.1:9000"' })),
  headersTimeoutMs: option.number('longest wait for the upstream\'s response headers, then 504', { unit: 'ms', integer: true, min: 0, default: 30_000 }),
  bodyTimeoutMs: option.number('longest silence while the upstream\'s body streams, then the response is broken off', { unit: 'ms', integer: true, min: 0, default: 300_000 }),
  connectTimeoutMs: option.number('longest wait to connect, then 504', { unit: 'ms', integer: true, min: 0, default: 10_000 }),
  connections: option.number('kept-alive connections to the upstream', { integer: true, min: 1, default: 32 }),
  forwardedHeaders: option.boolean('add X-Forwarded-For/Proto/Host/Prefix', { default: true }),
  preserveHost: option.boolean('send the client\'s Host header instead of the target\'s', { default: false }),
});

/** Deploy-file factory: `[app.api] use = "@stackware/middleware#proxy"`, `target = "http://127.0.0.1:9000"`; options: {@link PROXY_OPTIONS}. */
export const proxyFactory = appFactory(
  PROXY_OPTIONS,
  ({ target, ...options }) => proxy({ target, ...options }),
  { description: 'forwards requests to another HTTP server (undici, streaming)' },
);
