import type { Environ } from './types.js';

/** Percent-encodes a decoded path for use in a URL, keeping "/" and RFC 3986 sub-delims that are safe in paths. */
export function quotePath(path: string): string {
  return encodeURI(path).replace(/[?#]/g, (c) => encodeURIComponent(c));
}

/**
 * Makes a URL (or an IRI: a URL with non-ASCII characters) safe for a header such as Location
 * (RFC 3987 §3.1, Werkzeug's `iri_to_uri`): every character outside printable ASCII, and the
 * space, is percent-encoded as UTF-8; existing `%XX` escapes and ASCII are kept. Node's HTTP
 * server refuses header values with characters above U+00FF, and browsers read latin-1 bytes
 * inconsistently, so a raw "/café" must go out as "/caf%C3%A9".
 * @throws TypeError when `url` contains CR, LF, NUL or another control character (header injection).
 */
export function iriToUri(url: string): string {
  if (/[\u0000-\u001f\u007f]/.test(url)) throw new TypeError(`A URL for a header must not contain control characters (CR, LF, NUL, tab...): ${JSON.stringify(url)}`);
  return url.replace(/[^\u0021-\u007e]+/g, (run) => Array.from(Buffer.from(run, 'utf8'), (b) => `%${b.toString(16).toUpperCase().padStart(2, '0')}`).join(''));
}

/** Scheme and host of the request: "https://example.com:8443" (default ports omitted). Uses HTTP_HOST, else SERVER_NAME/PORT (PEP 3333 URL reconstruction). */
export function hostUrl(environ: Environ): string {
  const scheme = environ['stackware.url_scheme'];
  const host = typeof environ.HTTP_HOST === 'string' && environ.HTTP_HOST ? environ.HTTP_HOST : undefined;
  if (host) return `${scheme}://${host}`;
  const port = environ.SERVER_PORT;
  const defaultPort = scheme === 'https' ? '443' : '80';
  return `${scheme}://${environ.SERVER_NAME}${port && port !== defaultPort ? `:${port}` : ''}`;
}

/**
 * The application's base URL: scheme, host and SCRIPT_NAME ("http://h/mount").
 * @param includeHost default true; false gives just the quoted SCRIPT_NAME ("/mount" or "").
 */
export function applicationUri(environ: Environ, includeHost = true): string {
  const base = quotePath(environ.SCRIPT_NAME);
  return includeHost ? hostUrl(environ) + (base || '/') : base || '/';
}

/**
 * The full URL of the request: application URI + PATH_INFO (+ "?" QUERY_STRING).
 * @param includeQuery default true.
 */
export function requestUri(environ: Environ, includeQuery = true): string {
  let url = hostUrl(environ) + quotePath(environ.SCRIPT_NAME + environ.PATH_INFO);
  if (!environ.SCRIPT_NAME && !environ.PATH_INFO) url += '/';
  if (includeQuery && environ.QUERY_STRING) url += `?${environ.QUERY_STRING}`;
  return url;
}

/**
 * Moves the first segment of PATH_INFO onto SCRIPT_NAME and returns it (wsgiref.util.shift_path_info).
 * "/a/b" → returns "a", SCRIPT_NAME += "/a", PATH_INFO = "/b". Empty segments ("//") are skipped.
 * Mutates `environ`.
 * @returns the segment; "" when PATH_INFO is "/" (a trailing slash, consumed); undefined when PATH_INFO is empty.
 */
export function shiftPathInfo(environ: Environ): string | undefined {
  const pathInfo = environ.PATH_INFO;
  if (!pathInfo) return undefined;
  const parts = pathInfo.split('/');
  // parts[0] is "" (PATH_INFO starts with "/"); skip empty inner segments as wsgiref does.
  let i = 1;
  while (i < parts.length - 1 && parts[i] === '') i++;
  const segment = parts[i] ?? '';
  const rest = parts.slice(i + 1);
  if (segment) environ.SCRIPT_NAME = `${environ.SCRIPT_NAME}/${segment}`;
  environ.PATH_INFO = rest.length ? `/${rest.join('/')}` : '';
  return segment;
}

/**
 * Percent-decodes a raw request path into a PATH_INFO string (UTF-8).
 * "%2F" decodes to "/" as in CGI. Returns undefined when the bytes are not valid UTF-8
 * or an escape is malformed; servers answer 400 Bad Request then.
 */
export function decodePath(rawPath: string): string | undefined {
  if (!rawPath.includes('%')) return rawPath;
  const bytes: number[] = [];
  for (let i = 0; i < rawPath.length; i++) {
    const c = rawPath.charCodeAt(i);
    if (c === 0x25) {
      const hex = rawPath.slice(i + 1, i + 3);
      if (!/^[0-9a-fA-F]{2}$/.test(hex)) return undefined;
      bytes.push(parseInt(hex, 16));
      i += 2;
    } else if (c < 0x80) {
      bytes.push(c);
    } else {
      bytes.push(...Buffer.from(rawPath[i]!, 'utf8'));
    }
  }
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(Uint8Array.from(bytes));
  } catch {
    return undefined;
  }
}

/**
 * Why a decoded request path is unsafe, or undefined when it is safe: it contains NUL (from
 * `%00`), or a dot segment ("." or "..", raw or as `%2e`) — RFC 3986 §3.3, §5.2.4. Every gateway
 * answers such a request `400 Bad Request` (as nginx refuses them) before the application runs, so
 * applications behind a Stackware gateway never see them (packages/gateway/SPEC.md, PATH_INFO).
 * Also checks a decoded SCRIPT_NAME or PATH_INFO.
 */
export function unsafePathReason(decodedPath: string): string | undefined {
  if (decodedPath.includes('\0')) return 'The request path contains NUL (%00)';
  if (!decodedPath.includes('.')) return undefined;
  for (const segment of decodedPath.split('/')) {
    if (segment === '.' || segment === '..') return `The request path contains a dot segment ("${segment}")`;
  }
  return undefined;
}
