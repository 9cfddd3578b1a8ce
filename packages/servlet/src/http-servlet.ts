import { Servlet, type MaybePromise } from './servlet.js';
import type { Transaction } from './transaction.js';

type Responder = (transaction: Transaction) => MaybePromise;

function toDate(value: Date | number): Date {
  return value instanceof Date ? value : new Date(value);
}

/**
 * A servlet that dispatches on the request method (Webware's HTTPServlet): GET → `respondToGet`,
 * POST → `respondToPost`, and so on for any method token ("PROPFIND" → `respondToPropfind`).
 * - A method without a `respondTo…` method answers 501 Not Implemented (Webware), with an
 *   `Allow` header listing the methods that are implemented.
 * - HEAD runs `respondToGet` with the body muted: headers and Content-Length as for GET, no body.
 * - For GET and HEAD, `lastModified(transaction)` (a Date or ms since the epoch) sets
 *   Last-Modified; a request whose If-Modified-Since is not older gets 304 Not Modified
 *   without running the responder (RFC 9110 §13.1.3; ignored when If-None-Match is present).
 */
export class HTTPServlet extends Servlet {
  override async respond(transaction: Transaction): Promise<void> {
    const method = transaction.request.method();
    const responder = this.responderFor(method);
    if (!responder) {
      const response = transaction.response;
      response.setStatus(501);
      response.setHeader('Allow', this.allowedMethods().join(', '));
      response.setHeader('Content-Type', 'text/plain; charset=utf-8');
      await response.write(`The method ${method} is not implemented by this resource.\n`);
      return;
    }
    if ((method === 'GET' || method === 'HEAD') && (await this.#notModified(transaction))) return;
    await responder.call(this, transaction);
  }

  /** Answers HEAD by running `respondToGet` (the response is muted for HEAD requests). */
  respondToHead(transaction: Transaction): MaybePromise {
    const get = this.responderFor('GET');
    if (!get) {
      transaction.response.setStatus(501);
      return;
    }
    return get.call(this, transaction);
  }

  /** The responder of `method` ("respondTo" + "Get"), or undefined. */
  responderFor(method: string): Responder | undefined {
    if (!/^[A-Z][A-Z-]*$/.test(method)) return undefined;
    if (method === 'HEAD' && !this.responderFor('GET')) return undefined;
    const name = `respondTo${method[0]}${method.slice(1).toLowerCase().replace(/-/g, '')}`;
    const fn = (this as unknown as Record<string, unknown>)[name];
    return typeof fn === 'function' ? (fn as Responder) : undefined;
  }

  /** The methods this servlet implements, for the Allow header. */
  allowedMethods(): string[] {
    const standard = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'];
    return standard.filter((m) => this.responderFor(m));
  }

  /** When the resource last changed (Date or ms since the epoch), or undefined for "unknown" (default). */
  lastModified(_transaction: Transaction): Date | number | undefined | Promise<Date | number | undefined> {
    return undefined;
  }

  async #notModified(transaction: Transaction): Promise<boolean> {
    const value = await this.lastModified(transaction);
    if (value === undefined) return false;
    const date = toDate(value);
    if (Number.isNaN(date.getTime())) throw new TypeError(`${this.name()}.lastModified() returned an invalid date`);
    const response = transaction.response;
    response.setHeader('Last-Modified', date.toUTCString());
    const request = transaction.request;
    if (request.hasHeader('if-none-match')) return false;
    const since = Date.parse(request.header('if-modified-since') ?? '');
    if (Number.isNaN(since)) return false;
    if (Math.floor(date.getTime() / 1000) > Math.floor(since / 1000)) return false;
    response.setStatus(304);
    return true;
  }
}
