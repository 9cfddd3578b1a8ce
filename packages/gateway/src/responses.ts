import type { Application, Headers } from './types.js';
import { statusLine } from './http-error.js';
import { iriToUri } from './uri.js';

/** Escapes `& < > " '` for HTML text and attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** Options of the response helpers. */
export interface ResponseInit {
  /** Status code (default 200) or a full status line. */
  status?: number | string;
  /** Extra headers, appended after Content-Type and Content-Length. */
  headers?: Headers;
}

function toStatus(status: number | string | undefined, fallback: number): string {
  if (status === undefined) return statusLine(fallback);
  return typeof status === 'number' ? statusLine(status) : status;
}

/** An application answering `body` (bytes) with the given Content-Type and Content-Length. */
export function bytesResponse(body: Uint8Array, contentType: string, init: ResponseInit = {}): Application {
  return (_environ, startResponse) => {
    startResponse(toStatus(init.status, 200), [
      ['Content-Type', contentType],
      ['Content-Length', String(body.byteLength)],
      ...(init.headers ?? []),
    ]);
    return [body];
  };
}

/** An application answering `text` as `text/plain; charset=utf-8`. */
export function text(body: string, init: ResponseInit = {}): Application {
  return bytesResponse(Buffer.from(body, 'utf8'), 'text/plain; charset=utf-8', init);
}

/** An application answering `html` (trusted markup, not escaped) as `text/html; charset=utf-8`. */
export function html(body: string, init: ResponseInit = {}): Application {
  return bytesResponse(Buffer.from(body, 'utf8'), 'text/html; charset=utf-8', init);
}

/** An application answering `JSON.stringify(value)` as `application/json`. */
export function json(value: unknown, init: ResponseInit = {}): Application {
  return bytesResponse(Buffer.from(JSON.stringify(value), 'utf8'), 'application/json; charset=utf-8', init);
}

/**
 * An application answering a redirect to `location` (RFC 9110 §15.4) with a short HTML body.
 * Non-ASCII characters and spaces in `location` are percent-encoded ({@link iriToUri}), so
 * `redirect('/café')` sends `Location: /caf%C3%A9`. It does not check where the URL points:
 * validate user-supplied targets yourself (open redirects).
 * @param status 302 (default), 301, 303, 307 or 308.
 * @throws TypeError when `location` contains CR, LF, NUL or another control character.
 */
export function redirect(location: string, status: 301 | 302 | 303 | 307 | 308 = 302): Application {
  const uri = iriToUri(location);
  const href = escapeHtml(uri);
  return html(`<!doctype html>\n<title>Redirect</title>\n<p>Moved to <a href="${href}">${href}</a>.</p>\n`, {
    status,
    headers: [['Location', uri]],
  });
}

/** An application answering 404 Not Found with a short HTML page; `message` is escaped. */
export function notFound(message = 'The requested URL was not found on this server.'): Application {
  return html(`<!doctype html>\n<title>404 Not Found</title>\n<h1>Not Found</h1>\n<p>${escapeHtml(message)}</p>\n`, { status: 404 });
}
