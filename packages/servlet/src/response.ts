import { serialize as serializeCookie, type SerializeOptions } from 'cookie';
import { escapeHtml, iriToUri, getHeader, removeHeader, setHeader, statusLine, type Environ, type Headers, type ResponseBody, type StartResponse, type WriteFunction } from '@stackware/gateway';
import { SafeHtml } from './html.js';

/** Options of {@link HTTPResponse}. Defaults at the top. */
export interface ResponseOptions {
  /** Bytes kept in memory before the response is committed and streamed. Default 65536 (64 KiB). */
  bufferBytes?: number;
  /** Discard body bytes but count them (HEAD answered by GET code). Default false. */
  muted?: boolean;
}

/** Options of {@link HTTPResponse.setCookie}: the cookie package's attributes (RFC 6265 §4.1). */
export type CookieOptions = Omit<SerializeOptions, 'encode'>;

/** What a servlet may write: text (UTF-8), bytes, or markup from `html`. Numbers are written as text. */
export type Writable = string | number | Uint8Array | SafeHtml;

const NO_CONTENT = new Set([204, 304]);

/**
 * The response of one transaction (Webware's HTTPResponse). Output is buffered in memory up to
 * `bufferBytes`; past that (or on {@link flush}) the response is **committed**: status and
 * headers go to `startResponse` and the buffered bytes are streamed through the gateway's
 * `write()`, awaiting backpressure. An uncommitted response ends as one body with Content-Length.
 *
 * The default Content-Type is "text/html; charset=utf-8" (Webware's default), except for 204/304.
 */
export class HTTPResponse {
  readonly environ: Environ;
  readonly #startResponse: StartResponse;
  readonly #bufferBytes: number;
  readonly #muted: boolean;
  #status = 200;
  #reason: string | undefined;
  #headers: Headers = [];
  #buffer: Buffer[] = [];
  #buffered = 0;
  #mutedBytes = 0;
  #write: WriteFunction | undefined;
  #chain: Promise<void> = Promise.resolve();
  #error: unknown;
  #ended = false;

  constructor(environ: Environ, startResponse: StartResponse, options: ResponseOptions = {}) {
    this.environ = environ;
    this.#startResponse = startResponse;
    this.#bufferBytes = options.bufferBytes ?? 64 * 1024;
    this.#muted = options.muted ?? false;
  }

  // -- Status and headers -----------------------------------------------------------------------

  /**
   * Sets the status code (100-599) and optionally the reason phrase (default: RFC 9110's).
   * @throws Error when the response is committed; RangeError for a bad code.
   */
  setStatus(code: number, reason?: string): void {
    this.#assertUncommitted('setStatus');
    if (!Number.isInteger(code) || code < 100 || code > 599) throw new RangeError(`Status code must be 100-599, got ${code}`);
    if (reason !== undefined && /[\r\n\0]/.test(reason)) throw new TypeError('A reason phrase must not contain CR, LF or NUL');
    this.#status = code;
    this.#reason = reason;
  }

  /** The status code (200 unless set). */
  status(): number {
    return this.#status;
  }

  /** The status line that is (or will be) sent: "404 Not Found". */
  statusLine(): string {
    return this.#reason !== undefined ? `${this.#status} ${this.#reason}` : statusLine(this.#status);
  }

  /** Sets header `name`, replacing earlier values. @throws Error when committed. */
  setHeader(name: string, value: string): void {
    this.#assertUncommitted('setHeader');
    setHeader(this.#headers, name, value);
  }

  /** Adds a header, keeping earlier values of the same name. @throws Error when committed. */
  addHeader(name: string, value: string): void {
    this.#assertUncommitted('addHeader');
    this.#headers.push([name, value]);
  }

  /** The first value of header `name`, or undefined. */
  header(name: string): string | undefined {
    return getHeader(this.#headers, name);
  }

  /** True when response header `name` is set (case-insensitive). */
  hasHeader(name: string): boolean {
    return getHeader(this.#headers, name) !== undefined;
  }

  /** Removes header `name`. @throws Error when committed. */
  delHeader(name: string): void {
    this.#assertUncommitted('delHeader');
    removeHeader(this.#headers, name);
  }

  /** A copy of the headers set so far, in order. */
  headers(): Headers {
    return this.#headers.map(([n, v]) => [n, v]);
  }

  /**
   * Adds a `Set-Cookie` header (RFC 6265 §4.1, serialised by the cookie package; the value is
   * percent-encoded). Replaces an earlier cookie of the same name and path in this response.
   * Defaults: `path: "/"`, `httpOnly: true`, `sameSite: "lax"`, `secure` on https requests.
   * @throws Error when committed; TypeError for a name or attribute the cookie package rejects.
   */
  setCookie(name: string, value: string, options: CookieOptions = {}): void {
    this.#assertUncommitted('setCookie');
    const attributes: SerializeOptions = {
      path: '/',
      httpOnly: true,
      sameSite: 'lax',
      secure: this.environ['stackware.url_scheme'] === 'https',
      ...options,
    };
    const line = serializeCookie(name, value, attributes);
    this.#dropCookie(name, attributes.path);
    this.#headers.push(['Set-Cookie', line]);
  }

  /**
   * Tells the client to delete cookie `name` (an empty value with `Max-Age=0` and an Expires in
   * the past). `path` and `domain` must match those the cookie was set with. Default path "/".
   */
  deleteCookie(name: string, options: Pick<CookieOptions, 'path' | 'domain' | 'secure' | 'sameSite'> = {}): void {
    this.setCookie(name, '', { ...options, maxAge: 0, expires: new Date(0) });
  }

  #dropCookie(name: string, path: string | undefined): void {
    this.#headers = this.#headers.filter(([n, v]) => {
      if (n.toLowerCase() !== 'set-cookie' || !v.startsWith(`${name}=`)) return true;
      const cookiePath = /;\s*path=([^;]*)/i.exec(v)?.[1];
      return cookiePath !== path;
    });
  }

  // -- Body -------------------------------------------------------------------------------------

  /** True once status and headers were handed to the gateway (nothing about them can change). */
  isCommitted(): boolean {
    return this.#write !== undefined;
  }

  /**
   * Appends output: strings are encoded as UTF-8, {@link SafeHtml} as its markup.
   * Returns a promise that resolves when the bytes are accepted: at once while they fit the
   * buffer, after the gateway took them (backpressure) when this write filled it. Await it in
   * loops that produce a lot of output; un-awaited writes still go out in order. The promise
   * never rejects: a failed transport (client gone) makes the next `write()` throw.
   * @throws the transport's error (ClientDisconnectedError) when an earlier flush failed;
   *   Error after the response ended.
   */
  write(data: Writable): Promise<void> {
    if (this.#error !== undefined) throw this.#error;
    if (this.#ended) throw new Error('write() after the response ended (endResponse, sendRedirect or forward ended it)');
    const chunk = typeof data === 'string' || typeof data === 'number' || data instanceof SafeHtml
      ? Buffer.from(String(data), 'utf8')
      : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    if (chunk.length === 0) return Promise.resolve();
    if (this.#muted) {
      this.#mutedBytes += chunk.length;
      return Promise.resolve();
    }
    this.#buffer.push(chunk);
    this.#buffered += chunk.length;
    if (this.#buffered >= this.#bufferBytes) return this.flush();
    return Promise.resolve();
  }

  /**
   * Commits the response (when not yet) and sends the buffered bytes, awaiting backpressure.
   * Never rejects; see {@link write} for how transport errors surface.
   */
  flush(): Promise<void> {
    if (this.#error !== undefined || this.#muted) return this.#chain;
    if (!this.#write) this.#commit(undefined);
    if (this.#buffered === 0) return this.#chain;
    const chunk = this.#buffer.length === 1 ? this.#buffer[0]! : Buffer.concat(this.#buffer, this.#buffered);
    this.#buffer = [];
    this.#buffered = 0;
    const write = this.#write!;
    this.#chain = this.#chain.then(() => (this.#error === undefined ? write(chunk) : undefined)).catch((error: unknown) => {
      this.#error ??= error;
    });
    return this.#chain;
  }

  /** Drops buffered output, the status and headers other than Set-Cookie. @throws Error when committed. */
  reset(): void {
    this.#assertUncommitted('reset');
    this.#buffer = [];
    this.#buffered = 0;
    this.#mutedBytes = 0;
    this.#status = 200;
    this.#reason = undefined;
    this.#headers = this.#headers.filter(([n]) => n.toLowerCase() === 'set-cookie');
  }

  /**
   * Answers a redirect (RFC 9110 §15.4) to `url`: status (302 by default; 301, 303, 307, 308),
   * Location, and a short HTML body; buffered output is dropped. Does not end the servlet: use
   * `sendRedirectAndEnd()` on the servlet, or return. Non-ASCII characters and spaces are
   * percent-encoded (`iriToUri`): `sendRedirect('/café')` sends `Location: /caf%C3%A9`.
   * @throws Error when committed; TypeError when `url` contains CR, LF, NUL or another control character.
   */
  sendRedirect(url: string, status: 301 | 302 | 303 | 307 | 308 = 302): void {
    this.#assertUncommitted('sendRedirect');
    if (/[\r\n\0]/.test(url)) throw new TypeError('A redirect URL must not contain CR, LF or NUL');
    const uri = iriToUri(url);
    this.#buffer = [];
    this.#buffered = 0;
    this.setStatus(status);
    this.setHeader('Location', uri);
    this.setHeader('Content-Type', 'text/html; charset=utf-8');
    const href = escapeHtml(uri);
    void this.write(`<!doctype html>\n<title>Redirect</title>\n<p>Moved to <a href="${href}">${href}</a>.</p>\n`);
  }

  #assertUncommitted(what: string): void {
    if (this.#write) throw new Error(`${what}() after the response was committed (headers are sent once the output passes bufferBytes or on flush()); set status, headers and cookies first`);
  }

  #commit(contentLength: number | undefined): void {
    const noContent = NO_CONTENT.has(this.#status) || this.#status < 200;
    if (noContent) {
      removeHeader(this.#headers, 'content-type');
      removeHeader(this.#headers, 'content-length');
    } else {
      if (!this.hasHeader('content-type')) this.#headers.push(['Content-Type', 'text/html; charset=utf-8']);
      if (contentLength !== undefined) setHeader(this.#headers, 'Content-Length', String(contentLength));
    }
    this.#write = this.#startResponse(this.statusLine(), this.#headers);
  }

  /**
   * Ends the response and returns the body for the gateway: the buffered bytes with a
   * Content-Length when uncommitted, else the rest after the streamed part. Used by the servlet
   * application; call it once.
   * @throws the transport error that stopped streaming, if any.
   */
  async finish(): Promise<ResponseBody> {
    this.#ended = true;
    if (this.#error !== undefined) throw this.#error;
    if (!this.#write) {
      const noContent = NO_CONTENT.has(this.#status) || this.#status < 200;
      const body = noContent ? Buffer.alloc(0) : Buffer.concat(this.#buffer, this.#buffered);
      this.#buffer = [];
      this.#buffered = 0;
      // Muted (HEAD): the length GET would have had; a Content-Length set by a forwarded
      // resource (itself muted, so it wrote nothing here) is kept.
      const mutedLength = this.#mutedBytes === 0 && this.hasHeader('content-length') ? undefined : this.#mutedBytes;
      this.#commit(this.#muted ? mutedLength : body.length);
      return body.length ? [body] : [];
    }
    await this.flush();
    if (this.#error !== undefined) throw this.#error;
    return [];
  }

  /** Marks the response ended: later writes throw. */
  end(): void {
    this.#ended = true;
  }

  /** True after {@link end} or {@link finish}. */
  isEnded(): boolean {
    return this.#ended;
  }
}

