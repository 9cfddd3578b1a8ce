import { isIP } from 'node:net';
import { FORWARDED_ORIGINAL_KEY, type Application, type Environ } from '@stackware/gateway';
import { defineOptions, filterFactory, option } from '@stackware/gateway/options';

/**
 * How many proxies to trust for each forwarded value (Werkzeug ProxyFix's x_for, x_proto, ...).
 * All default to 0: nothing is trusted unless you say so, because a client can send any of these
 * headers itself.
 */
export interface ForwardedOptions {
  /** X-Forwarded-For → REMOTE_ADDR [0]. */
  for?: number;
  /** X-Forwarded-Proto → stackware.url_scheme [0]. */
  proto?: number;
  /** X-Forwarded-Host → HTTP_HOST, SERVER_NAME, SERVER_PORT [0]. */
  host?: number;
  /** X-Forwarded-Port → SERVER_PORT (and the port of HTTP_HOST) [0]. */
  port?: number;
  /** X-Forwarded-Prefix → prepended to SCRIPT_NAME [0]. */
  prefix?: number;
  /** RFC 7239 `Forwarded` header: for/proto/host of the Nth element from the right; used instead of the X- headers for the values it carries [0]. */
  forwarded?: number;
}

// The key holding the values this middleware replaced, and getOriginalRemote(), are owned by
// @stackware/gateway (src/keys.ts): errors' debug-access check reads them too.
export { FORWARDED_ORIGINAL_KEY, getOriginalRemote } from '@stackware/gateway';

/** The value `trusted` hops from the right of a comma-separated header, or undefined when there are fewer values. */
function fromRight(value: unknown, trusted: number): string | undefined {
  if (!trusted || typeof value !== 'string') return undefined;
  const values = value.split(',').map((v) => v.trim());
  return values.length >= trusted ? values[values.length - trusted] : undefined;
}

/** Parses RFC 7239 `Forwarded` elements: `for=1.2.3.4;proto=https, for="[::1]:80"`. */
export function parseForwarded(header: string): Array<Record<string, string>> {
  const elements: Array<Record<string, string>> = [];
  for (const element of header.split(/,(?=(?:[^"]*"[^"]*")*[^"]*$)/)) {
    const pairs: Record<string, string> = {};
    for (const pair of element.split(/;(?=(?:[^"]*"[^"]*")*[^"]*$)/)) {
      const eq = pair.indexOf('=');
      if (eq <= 0) continue;
      let value = pair.slice(eq + 1).trim();
      if (value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1).replace(/\\(.)/g, '$1');
      pairs[pair.slice(0, eq).trim().toLowerCase()] = value;
    }
    elements.push(pairs);
  }
  return elements;
}

/** "1.2.3.4", "1.2.3.4:80", "[::1]:80", "::1" → the address; undefined when it is not an IP address. */
function address(node: string): string | undefined {
  let host = node;
  const bracket = /^\[([^\]]+)\](?::\d+)?$/.exec(node);
  if (bracket) host = bracket[1]!;
  else if (/^[\d.]+:\d+$/.test(node)) host = node.slice(0, node.lastIndexOf(':'));
  return isIP(host) ? host : undefined;
}

const HOST = /^(?:\[[0-9a-fA-F:.]+\]|[a-zA-Z0-9.-]+)(?::\d{1,5})?$/;

/**
 * Trusts the forwarding headers set by the proxies in front of the server (Werkzeug ProxyFix):
 * with `{ for: 1, proto: 1 }` behind one nginx, REMOTE_ADDR becomes the client's address from
 * X-Forwarded-For and the scheme comes from X-Forwarded-Proto. For each value it takes the Nth
 * entry from the right (the one the Nth trusted proxy added); malformed values (not an IP, a
 * scheme other than http/https, a bad host, a non-numeric port, a prefix not starting with "/")
 * are ignored. A default port (`:443` for https, `:80` for http) is left out of the HTTP_HOST it
 * sets. The original values are kept under {@link FORWARDED_ORIGINAL_KEY}. The inner
 * application gets a copy of the environ.
 */
export function forwardedHeaders(app: Application, options: ForwardedOptions = {}): Application {
  return (environ, startResponse) => {
    const env: Environ = { ...environ };
    const original: Record<string, unknown> = {};
    const set = (key: string, value: string) => {
      if (!(key in original)) original[key] = (environ as Record<string, unknown>)[key];
      (env as Record<string, unknown>)[key] = value;
    };

    const element = options.forwarded && typeof environ.HTTP_FORWARDED === 'string'
      ? (() => { const all = parseForwarded(environ.HTTP_FORWARDED); return all.length >= options.forwarded! ? all[all.length - options.forwarded!] : undefined; })()
      : undefined;

    const forAddr = element?.for !== undefined ? address(element.for) : address(fromRight(environ.HTTP_X_FORWARDED_FOR, options.for ?? 0) ?? '');
    if (forAddr) set('REMOTE_ADDR', forAddr);

    const proto = (element?.proto ?? fromRight(environ.HTTP_X_FORWARDED_PROTO, options.proto ?? 0))?.toLowerCase();
    if (proto === 'http' || proto === 'https') set('stackware.url_scheme', proto);

    const host = element?.host ?? fromRight(environ.HTTP_X_FORWARDED_HOST, options.host ?? 0);
    if (host && HOST.test(host)) {
      set('HTTP_HOST', host);
      const m = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(host)!;
      set('SERVER_NAME', m[1]!.replace(/^\[|\]$/g, ''));
      set('SERVER_PORT', m[2] ?? (env['stackware.url_scheme'] === 'https' ? '443' : '80'));
    }

    const port = fromRight(environ.HTTP_X_FORWARDED_PORT, options.port ?? 0);
    if (port && /^\d{1,5}$/.test(port)) {
      set('SERVER_PORT', port);
      const currentHost = typeof env.HTTP_HOST === 'string' ? env.HTTP_HOST : env.SERVER_NAME;
      set('HTTP_HOST', `${currentHost.replace(/:\d+$/, '')}:${port}`);
    }

    const prefix = fromRight(environ.HTTP_X_FORWARDED_PREFIX, options.prefix ?? 0);
    if (prefix && prefix.startsWith('/') && !/[\u0000-\u001f\u007f\\]/.test(prefix)) {
      // One leading slash: "//evil.example" as SCRIPT_NAME would make every "${SCRIPT_NAME}/" link or redirect leave the site.
      const clean = prefix.replace(/\/+$/, '').replace(/^\/+/, '/');
      if (clean) set('SCRIPT_NAME', clean + env.SCRIPT_NAME);
    }

    if ('HTTP_HOST' in original && typeof env.HTTP_HOST === 'string') {
      // "example.com:443" under https is "example.com" (RFC 9110 §4.2.2, §7.2: the default port is
      // left out), so URLs built from HTTP_HOST carry no ":443"; SERVER_PORT keeps the number.
      const m = /^(\[[^\]]+\]|[^:[\]]+):(\d+)$/.exec(env.HTTP_HOST);
      if (m && m[2] === (env['stackware.url_scheme'] === 'https' ? '443' : '80')) env.HTTP_HOST = m[1]!;
    }

    if (Object.keys(original).length) {
      const kept: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(original)) kept[k === 'stackware.url_scheme' ? 'url_scheme' : k] = v;
      env[FORWARDED_ORIGINAL_KEY] = kept;
    }
    return app(env, startResponse);
  };
}

/** The deploy-file options of {@link forwardedHeaders}: for each header, how many proxies in front are trusted to set it (0: ignored). */
export const FORWARDED_OPTIONS = defineOptions({
  for: option.number('X-Forwarded-For → REMOTE_ADDR (proxies trusted)', { integer: true, min: 0, default: 0 }),
  proto: option.number('X-Forwarded-Proto → stackware.url_scheme (proxies trusted)', { integer: true, min: 0, default: 0 }),
  host: option.number('X-Forwarded-Host → HTTP_HOST, SERVER_NAME, SERVER_PORT (proxies trusted)', { integer: true, min: 0, default: 0 }),
  port: option.number('X-Forwarded-Port → SERVER_PORT (proxies trusted)', { integer: true, min: 0, default: 0 }),
  prefix: option.number('X-Forwarded-Prefix → prepended to SCRIPT_NAME (proxies trusted)', { integer: true, min: 0, default: 0 }),
  forwarded: option.number('RFC 7239 Forwarded: for/proto/host of the Nth element from the right, instead of the X- headers', { integer: true, min: 0, default: 0 }),
});

/** Deploy-file factory: `[filter.proxyfix] use = "@stackware/middleware#forwarded"`, `for = 1`, `proto = 1`; options: {@link FORWARDED_OPTIONS}. */
export const forwardedFactory = filterFactory(
  FORWARDED_OPTIONS,
  (options) => (app: Application) => forwardedHeaders(app, options),
  { description: 'trusts X-Forwarded-* / Forwarded from N proxies (REMOTE_ADDR, scheme, host, port, prefix)' },
);
