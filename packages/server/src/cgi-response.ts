import type { Headers } from '@stackware/gateway';

const TOKEN_RE = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const BAD_VALUE_RE = /[\r\n\0]/;

/**
 * The head of a CGI response (RFC 3875 §6.2–6.3), as FastCGI, SCGI and CGI gateways send it:
 * `Status: 404 Not Found`, then the headers in order (repeats kept), then `Content-Length` when
 * the length is known and the application did not set one, then an empty line. Latin-1 encoded,
 * like HTTP header bytes.
 * @throws TypeError for a header name that is not a token or a value containing CR, LF or NUL
 * (the front server would otherwise read injected headers).
 */
export function cgiResponseHead(status: string, headers: Headers, contentLength: number | undefined): Buffer {
  let head = `Status: ${status}\r\n`;
  let hasLength = false;
  for (const [name, value] of headers) {
    if (!TOKEN_RE.test(name)) throw new TypeError(`Invalid response header name ${JSON.stringify(name)}`);
    if (BAD_VALUE_RE.test(value)) throw new TypeError(`Invalid value for response header ${name}: it contains CR, LF or NUL`);
    if (name.toLowerCase() === 'content-length') hasLength = true;
    head += `${name}: ${value}\r\n`;
  }
  if (contentLength !== undefined && !hasLength) head += `Content-Length: ${contentLength}\r\n`;
  return Buffer.from(head + '\r\n', 'latin1');
}

/**
 * The plain-text response a CGI-style gateway sends by itself (a request it cannot turn into an
 * environ, a limit, the lame-duck 503): `Status:`, `Content-Type`, `extraHeaders` (e.g.
 * `Retry-After`), `Content-Length`, then `message` and a newline (RFC 3875 §6.2).
 */
export function cgiErrorResponse(status: string, message: string, extraHeaders: Headers = []): Buffer {
  const body = Buffer.from(`${message}\n`, 'utf8');
  return Buffer.concat([cgiResponseHead(status, [['Content-Type', 'text/plain; charset=utf-8'], ...extraHeaders], body.length), body]);
}

/**
 * The pending head of one CGI-style response: `set` builds it when the application calls
 * sendHeaders; the first body chunk carries it (`withHead`), or `takeHead` returns it alone when the
 * body is empty. Every CGI-family gateway (CGI, FastCGI, SCGI) sends its head this way, so the
 * front server sees the head and the first bytes of the body in one write.
 */
export class PendingCgiHead {
  private head: Buffer | undefined;

  /** Builds the head (see cgiResponseHead). @throws TypeError as cgiResponseHead does. */
  set(status: string, headers: Headers, contentLength: number | undefined): void {
    this.head = cgiResponseHead(status, headers, contentLength);
  }

  /** The chunk, with the head in front of it if the head was not sent yet. */
  withHead(chunk: Uint8Array): Uint8Array {
    const head = this.head;
    if (!head) return chunk;
    this.head = undefined;
    return Buffer.concat([head, chunk]);
  }

  /** The head if it was not sent yet (then it counts as sent), else undefined. */
  takeHead(): Buffer | undefined {
    const head = this.head;
    this.head = undefined;
    return head;
  }
}
