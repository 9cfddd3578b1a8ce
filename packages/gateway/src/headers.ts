import type { Environ, Headers } from './types.js';

/**
 * Looks up a response header by name (case-insensitive) in an ordered header list.
 * @returns the first value, or undefined when absent.
 */
export function getHeader(headers: Headers, name: string): string | undefined {
  const lower = name.toLowerCase();
  for (const [n, v] of headers) if (n.toLowerCase() === lower) return v;
  return undefined;
}

/** All values of a response header (case-insensitive), in order; [] when absent. */
export function getHeaders(headers: Headers, name: string): string[] {
  const lower = name.toLowerCase();
  return headers.filter(([n]) => n.toLowerCase() === lower).map(([, v]) => v);
}

/** Replaces every occurrence of header `name` with one `[name, value]` pair appended at the end. Mutates and returns `headers`. */
export function setHeader(headers: Headers, name: string, value: string): Headers {
  removeHeader(headers, name);
  headers.push([name, value]);
  return headers;
}

/** Removes every occurrence of header `name` (case-insensitive). Mutates and returns `headers`. */
export function removeHeader(headers: Headers, name: string): Headers {
  const lower = name.toLowerCase();
  for (let i = headers.length - 1; i >= 0; i--) if (headers[i]![0].toLowerCase() === lower) headers.splice(i, 1);
  return headers;
}

/**
 * The environ key that carries request header `name` (RFC 3875 §4.1.18):
 * "Content-Type" → CONTENT_TYPE, "Content-Length" → CONTENT_LENGTH, "X-Foo" → HTTP_X_FOO.
 */
export function environKey(name: string): string {
  const upper = name.toUpperCase().replace(/-/g, '_');
  return upper === 'CONTENT_TYPE' || upper === 'CONTENT_LENGTH' ? upper : `HTTP_${upper}`;
}

/**
 * Reads request header `name` from the environ (case-insensitive, "-" or "_").
 * Repeated headers arrive joined with ", " (cookies with "; ").
 */
export function requestHeader(environ: Environ, name: string): string | undefined {
  const value = environ[environKey(name)];
  return typeof value === 'string' ? value : undefined;
}

/**
 * The hop-by-hop header names, lower case: they describe one connection, so an application never
 * sends them (the validator's `header-hop-by-hop` rule) and a proxy or adapter never forwards them.
 * RFC 9110 §7.6.1 (Connection, and the fields it names), RFC 9112 §6.1 (Transfer-Encoding), plus
 * the fields RFC 2616 §13.5.1 listed that proxies still drop: Keep-Alive, TE, Trailer, Upgrade,
 * Proxy-Authenticate, Proxy-Authorization, and the non-standard Proxy-Connection.
 * The one list: the validator, the proxy middleware and the adapters all read it.
 */
export const HOP_BY_HOP_HEADERS: ReadonlySet<string> = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'proxy-authenticate', 'proxy-authorization',
]);

/** True when `name` (any case) is a hop-by-hop header ({@link HOP_BY_HOP_HEADERS}). Headers named in a Connection header are hop-by-hop too; the caller checks those. */
export function isHopByHop(name: string): boolean {
  return HOP_BY_HOP_HEADERS.has(name.toLowerCase());
}
