import { decodePath, statusCode, type Application, type Environ, type Headers } from '@stackware/gateway';
import { hasSession, loadSession, type Session } from '@stackware/session';
import type { HTTPRequest } from './request.js';
import type { HTTPResponse } from './response.js';
import { getServletRoot, type ServletRoot } from './root.js';

/** Environ key counting nested forward/include sub-requests (guards against loops). */
const DEPTH_KEY = 'stackware.servlet.depth';
/** Deepest chain of forward/include sub-requests before it is taken for a loop. */
export const MAX_FORWARD_DEPTH = 10;

/**
 * One request/response cycle (Webware's Transaction): the {@link HTTPRequest}, the
 * {@link HTTPResponse}, the servlet handling it, the session (from @stackware/session) and the
 * application that `forward`/`includeURL` dispatch to (see `servletRoot`).
 */
export class Transaction {
  readonly environ: Environ;
  readonly request: HTTPRequest;
  readonly response: HTTPResponse;
  readonly #servlet: object;

  constructor(request: HTTPRequest, response: HTTPResponse, servlet: object) {
    this.environ = request.environ;
    this.request = request;
    this.response = response;
    this.#servlet = servlet;
  }

  /** The servlet instance handling this transaction. */
  servlet(): object {
    return this.#servlet;
  }

  /** True when a session middleware (@stackware/session) is in the stack. */
  hasSession(): boolean {
    return hasSession(this.environ);
  }

  /**
   * The request's session, loaded from its store (once per request; later calls are cheap).
   * @throws Error when no `session()` middleware is in the stack (the message says how to add
   *   it); the store's errors (e.g. HTTPError 503 when a session lock times out).
   */
  async session(): Promise<Session> {
    return loadSession(this.environ);
  }

  /** The application `forward`/`includeURL` dispatch to, or undefined without `servletRoot()`. */
  application(): Application | undefined {
    return getServletRoot(this.environ)?.application;
  }

  /**
   * Hands the request to the resource at `url` (absolute below the `servletRoot`, or relative to
   * this request) in the same application stack: its status, headers and body become this
   * response (buffered output is dropped; cookies set so far are kept), and the response is then
   * ended — later writes throw. The same parsed form and files are visible to the target.
   * @throws Error when the response is committed, when there is no `servletRoot()` in the stack,
   *   when `url` leaves the root, or after {@link MAX_FORWARD_DEPTH} nested forwards (a loop).
   */
  async forward(url: string): Promise<void> {
    const response = this.response;
    response.reset();
    let started = false;
    const startResponse = (status: string, headers: Headers, error?: unknown) => {
      if (error !== undefined && started && response.isCommitted()) throw error;
      if (started) response.reset();
      started = true;
      response.setStatus(statusCode(status), status.slice(4));
      for (const [name, value] of headers) {
        if (name.toLowerCase() === 'set-cookie') response.addHeader(name, value);
        else response.setHeader(name, value);
      }
      return (chunk: Uint8Array) => response.write(chunk);
    };
    await this.#dispatch('forward', url, startResponse, (chunk) => response.write(chunk));
    response.end();
  }

  /**
   * Runs the resource at `url` (as for {@link forward}) and writes its body into this response;
   * its status and headers are not used.
   * @throws Error when the included resource answers 400 or more (so a missing include is not
   *   silently blank), and for the reasons of {@link forward}.
   */
  async includeURL(url: string): Promise<void> {
    const response = this.response;
    let status = '';
    const write = (chunk: Uint8Array) => (statusCode(status) >= 400 ? Promise.resolve() : response.write(chunk));
    const startResponse = (s: string) => {
      status = s;
      return write;
    };
    await this.#dispatch('includeURL', url, startResponse, write, () => {
      if (statusCode(status) >= 400) throw new Error(`includeURL(${JSON.stringify(url)}): the included resource answered ${status}`);
    });
  }

  async #dispatch(
    what: string,
    url: string,
    startResponse: (status: string, headers: Headers, error?: unknown) => (chunk: Uint8Array) => Promise<void>,
    onChunk: (chunk: Uint8Array) => Promise<void>,
    afterStart?: () => void,
  ): Promise<void> {
    const root = getServletRoot(this.environ);
    if (!root) {
      throw new Error(`${what}(${JSON.stringify(url)}) needs the application to dispatch to: wrap the stack with servletRoot(app), e.g. servletRoot(urlParser({ root }))`);
    }
    const environ = this.#subEnviron(what, url, root);
    const body = await root.application(environ, startResponse);
    try {
      afterStart?.();
      for await (const chunk of body as AsyncIterable<Uint8Array>) await onChunk(chunk);
    } finally {
      await body.close?.();
    }
  }

  #subEnviron(what: string, url: string, root: ServletRoot): Environ {
    const depth = ((this.environ[DEPTH_KEY] as number | undefined) ?? 0) + 1;
    if (depth > MAX_FORWARD_DEPTH) throw new Error(`${what}(${JSON.stringify(url)}): more than ${MAX_FORWARD_DEPTH} nested forward/include requests (a loop?)`);
    const current = `http://internal${encodeURI(this.environ.SCRIPT_NAME + this.environ.PATH_INFO) || '/'}`;
    const base = url.startsWith('/') ? `http://internal${encodeURI(root.scriptName)}` : current;
    const target = new URL(url.startsWith('/') ? `.${url}` : url, url.startsWith('/') ? `${base}/` : base);
    if (target.host !== 'internal') throw new Error(`${what}(${JSON.stringify(url)}): only paths inside this application can be forwarded to (use sendRedirect for other sites)`);
    const path = decodePath(target.pathname);
    if (path === undefined) throw new Error(`${what}(${JSON.stringify(url)}): the path is not valid percent-encoded UTF-8`);
    if (root.scriptName && path !== root.scriptName && !path.startsWith(`${root.scriptName}/`)) {
      throw new Error(`${what}(${JSON.stringify(url)}): the path ${JSON.stringify(path)} is outside the application mounted at ${JSON.stringify(root.scriptName)}`);
    }
    const query = target.search ? target.search.slice(1) : url.includes('?') ? '' : this.environ.QUERY_STRING;
    return {
      ...this.environ,
      SCRIPT_NAME: root.scriptName,
      PATH_INFO: path.slice(root.scriptName.length) || (root.scriptName ? '' : '/'),
      QUERY_STRING: query,
      REQUEST_URI: target.pathname + (query ? `?${query}` : ''),
      [DEPTH_KEY]: depth,
    };
  }
}
