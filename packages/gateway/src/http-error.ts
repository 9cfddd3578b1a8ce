import { STATUS_CODES } from 'node:http';
import type { Application, Headers } from './types.js';
import { escapeHtml } from './responses.js';

/**
 * The status line for a code: 404 → "404 Not Found" (reason phrases from RFC 9110 via node:http).
 * Unknown codes get the reason "Unknown".
 */
export function statusLine(code: number): string {
  return `${code} ${STATUS_CODES[code] ?? 'Unknown'}`;
}

/** The numeric code of a status line: "404 Not Found" → 404. */
export function statusCode(status: string): number {
  return parseInt(status.slice(0, 3), 10);
}

/** Options for {@link HTTPError}. */
export interface HTTPErrorOptions {
  /** Extra response headers (e.g. `WWW-Authenticate`, `Allow`, `Retry-After`). */
  headers?: Headers;
  /** Whether the message is safe to show to the client. Default: true for 4xx, false for 5xx. */
  expose?: boolean;
  cause?: unknown;
}

/**
 * An error that is an HTTP response: throw it from an application or middleware and the
 * exception catcher (or {@link HTTPError.toApplication}) answers with its status.
 * `new HTTPError(404)`, `new HTTPError(403, 'Not yours')`, `new HTTPError(405, undefined, { headers: [['Allow', 'GET']] })`.
 * @throws RangeError when `status` is not 400–599.
 */
export class HTTPError extends Error {
  readonly status: number;
  readonly headers: Headers;
  readonly expose: boolean;

  constructor(status: number, message?: string, options: HTTPErrorOptions = {}) {
    if (!Number.isInteger(status) || status < 400 || status > 599) throw new RangeError(`HTTPError status must be 400-599, got ${status}`);
    super(message ?? STATUS_CODES[status] ?? 'Error', options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'HTTPError';
    this.status = status;
    this.headers = options.headers ?? [];
    this.expose = options.expose ?? status < 500;
  }

  /** The status line: "404 Not Found". */
  get statusLine(): string {
    return statusLine(this.status);
  }

  /** An application that renders this error as a small HTML page (the message only when `expose`). */
  toApplication(): Application {
    return (_environ, startResponse) => {
      const reason = STATUS_CODES[this.status] ?? 'Error';
      const detail = this.expose && this.message !== reason ? `<p>${escapeHtml(this.message)}</p>\n` : '';
      const body = Buffer.from(`<!doctype html>\n<title>${this.status} ${escapeHtml(reason)}</title>\n<h1>${escapeHtml(reason)}</h1>\n${detail}`);
      startResponse(this.statusLine, [
        ['Content-Type', 'text/html; charset=utf-8'],
        ['Content-Length', String(body.length)],
        ...this.headers,
      ]);
      return [body];
    };
  }
}

/** True when `error` is an {@link HTTPError} (or quacks like one: an integer `status` 400–599 and `expose`). */
export function isHTTPError(error: unknown): error is HTTPError {
  if (error instanceof HTTPError) return true;
  const e = error as { status?: unknown; expose?: unknown } | null;
  return typeof e === 'object' && e !== null && Number.isInteger(e.status) && (e.status as number) >= 400 && (e.status as number) <= 599 && typeof e.expose === 'boolean';
}
