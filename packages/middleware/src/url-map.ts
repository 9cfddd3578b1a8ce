import { notFound, type Application, type Environ } from '@stackware/gateway';
import { appFactory, defineOptions, option } from '@stackware/gateway/options';

/** Options of {@link urlMap}. Defaults: `notFound` = gateway's `notFound()` (404 HTML page). */
export interface UrlMapOptions {
  /** The application that answers when no entry matches (default: a 404 Not Found page). */
  notFound?: Application;
}

/** One parsed mapping entry (exposed by `urlMap(...).entries` for tools such as `stackware check`). */
export interface UrlMapEntry {
  /** The key as given: "/admin", "http://other.example:8080/". */
  key: string;
  /** Lower-case host name to match, or undefined for any host. */
  host: string | undefined;
  /** Port to match ("8080"), or undefined for any port. */
  port: string | undefined;
  /** The path prefix, without a trailing slash: "" (everything) or "/admin". */
  prefix: string;
  app: Application;
}

/** An application built by {@link urlMap}; `entries` lists the mounts in match order. */
export type UrlMapApplication = Application & { readonly entries: readonly UrlMapEntry[] };

function parseKey(key: string, app: Application): UrlMapEntry {
  if (typeof app !== 'function') throw new TypeError(`urlMap: the value for ${JSON.stringify(key)} is not an Application (a function (environ, startResponse) => body)`);
  let host: string | undefined;
  let port: string | undefined;
  let path = key;
  const absolute = /^(https?):\/\/([^/?#]+)(\/[^?#]*)?$/i.exec(key);
  if (absolute) {
    const authority = absolute[2]!.toLowerCase();
    const m = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(authority);
    if (!m) throw new TypeError(`urlMap: cannot read the host in ${JSON.stringify(key)}; write "http://host[:port]/path"`);
    host = m[1]!;
    port = m[2];
    path = absolute[3] ?? '/';
  } else if (/^[a-z][a-z0-9+.-]*:/i.test(key)) {
    throw new TypeError(`urlMap: ${JSON.stringify(key)} is not a path or an http(s):// URL; write "/prefix" or "http://host/prefix"`);
  } else if (!key.startsWith('/')) {
    throw new TypeError(`urlMap: the prefix ${JSON.stringify(key)} must start with "/" (write ${JSON.stringify('/' + key)})`);
  }
  const prefix = path.replace(/\/+$/, '');
  return { key, host, port, prefix, app };
}

/** Host name and port of a request: from HTTP_HOST, else SERVER_NAME / SERVER_PORT. */
function requestHost(environ: Environ): { host: string; port: string } {
  const header = typeof environ.HTTP_HOST === 'string' ? environ.HTTP_HOST.trim().toLowerCase() : '';
  const defaultPort = environ['stackware.url_scheme'] === 'https' ? '443' : '80';
  if (header) {
    const m = /^(\[[^\]]+\]|[^:]+)(?::(\d*))?$/.exec(header);
    if (m) return { host: m[1]!.replace(/\.$/, ''), port: m[2] || defaultPort };
  }
  return { host: String(environ.SERVER_NAME).toLowerCase(), port: String(environ.SERVER_PORT || defaultPort) };
}

/**
 * Dispatches to one of several applications by URL prefix and, optionally, by host
 * (Paste's URLMap, Rack::URLMap, Werkzeug's DispatcherMiddleware).
 *
 * - Keys are path prefixes (`"/admin"`) or absolute URLs (`"http://other.example/"`,
 *   `"http://other.example:8080/api"`). The scheme of an absolute key is ignored (as in Paste and
 *   Rack); its host matches the request's Host header (or SERVER_NAME) case-insensitively, and a
 *   port, when the key names one, must equal the request's port (Host's port, or the scheme's
 *   default port 80/443 when Host has none).
 * - Prefixes match whole path segments: `"/admin"` matches `/admin` and `/admin/x`, never
 *   `/administrator`. A trailing slash in a key is ignored; `"/"` matches everything.
 * - Entries with a host are tried before entries without; then the longest prefix wins.
 * - The chosen application gets a copy of the environ with the prefix moved from PATH_INFO to
 *   SCRIPT_NAME (`/admin/users` under `"/admin"` → SCRIPT_NAME += "/admin", PATH_INFO "/users";
 *   `/admin` → PATH_INFO ""). The caller's environ is not changed.
 * - No match: `options.notFound` answers (default 404 Not Found).
 *
 * @example
 * const app = urlMap({ '/': site, '/admin': admin, 'http://other.example/': other });
 * @throws TypeError when a key is neither "/path" nor an http(s):// URL, or a value is not a function.
 */
export function urlMap(mapping: Record<string, Application> | Iterable<readonly [string, Application]>, options: UrlMapOptions = {}): UrlMapApplication {
  const pairs = Symbol.iterator in Object(mapping) && !isPlainRecord(mapping) ? [...(mapping as Iterable<readonly [string, Application]>)] : Object.entries(mapping as Record<string, Application>);
  const entries = pairs.map(([key, app]) => parseKey(key, app));
  entries.sort((a, b) => {
    if ((a.host === undefined) !== (b.host === undefined)) return a.host === undefined ? 1 : -1;
    if (a.host !== undefined && b.host !== undefined && (a.port === undefined) !== (b.port === undefined)) return a.port === undefined ? 1 : -1;
    return b.prefix.length - a.prefix.length;
  });
  const fallback = options.notFound ?? notFound();
  const mapped: Application = (environ, startResponse) => {
    const pathInfo = environ.PATH_INFO;
    let request: { host: string; port: string } | undefined;
    for (const entry of entries) {
      if (entry.host !== undefined) {
        request ??= requestHost(environ);
        if (entry.host !== request.host) continue;
        if (entry.port !== undefined && entry.port !== request.port) continue;
      }
      const { prefix } = entry;
      if (prefix && pathInfo !== prefix && !pathInfo.startsWith(prefix + '/')) continue;
      const inner: Environ = { ...environ, SCRIPT_NAME: environ.SCRIPT_NAME + prefix, PATH_INFO: pathInfo.slice(prefix.length) };
      return entry.app(inner, startResponse);
    }
    return fallback(environ, startResponse);
  };
  return Object.assign(mapped, { entries: Object.freeze(entries) as readonly UrlMapEntry[] });
}

function isPlainRecord(value: unknown): boolean {
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

/** The deploy-file options of {@link urlMapFactory}. */
export const URL_MAP_OPTIONS = defineOptions({
  mounts: option.table<Record<string, unknown>>('prefix (or http://host/prefix) → the name of an application in the same deploy file', { type: 'table of names', example: '{ "/" = "home", "/api" = "api" }' }),
  notFound: option.string('the name of the application answering what no prefix matches', { defaultText: 'a 404 page' }),
});

/**
 * Config factory (`use = "@stackware/middleware#urlMap"`): options `mounts` (a table of prefix →
 * application name declared in the same deploy file) and `notFound` (an application name).
 * A deploy file's `[composite.NAME]` section builds the same thing more directly.
 */
export const urlMapFactory = appFactory(
  URL_MAP_OPTIONS,
  async ({ mounts = {}, notFound: notFoundName }, context): Promise<Application> => {
    const pairs: Array<[string, Application]> = [];
    for (const [prefix, name] of Object.entries(mounts)) {
      if (typeof name !== 'string') throw new TypeError(`mounts.${JSON.stringify(prefix)} must be the name of an application (a string)`);
      pairs.push([prefix, await context.loadApp(name)]);
    }
    const notFoundApp = notFoundName !== undefined ? await context.loadApp(notFoundName) : undefined;
    return urlMap(pairs, { notFound: notFoundApp });
  },
  { description: 'URL map: prefix or http://host/prefix → application (longest prefix wins)' },
);
