import type { Application, Environ, ErrorStream, Headers } from './types.js';
import { BadRequestError, createEnviron, type RequestInit } from './environ.js';
import { createInput } from './input.js';
import { runApplication, type ResponseSink } from './run.js';
import { validator, checkBodiesClosed, ValidationError } from './validator.js';
import { CookieJar } from './cookies.js';
import { getHeader, getHeaders } from './headers.js';

/** Options of a {@link TestClient}. */
export interface TestClientOptions {
  /** Wrap the application in {@link validator} (default true: strict). */
  validate?: boolean;
  /** Keep cookies between requests like a browser (default false). */
  cookies?: boolean;
  /** Reject the request promise with the application's error instead of answering 500 (default true, as Werkzeug's client). */
  throwErrors?: boolean;
  /** Environ keys added to every request (e.g. `stackware.multithread`). */
  environ?: Partial<Environ>;
  /** Mount point: SCRIPT_NAME for every request (default ""). Paths given to requests include it. */
  scriptName?: string;
  /** Host header (default "localhost"). */
  host?: string;
}

/** A request body, or one of the ways to build one. */
export interface RequestOptions {
  /** Request headers: an object or `[name, value]` pairs (repeats allowed). */
  headers?: Record<string, string> | Array<[string, string]>;
  /** Raw body. An AsyncIterable body is sent as a chunked upload: `Transfer-Encoding: chunked`, no Content-Length. */
  body?: string | Uint8Array | AsyncIterable<Uint8Array>;
  /** URL-encoded form (application/x-www-form-urlencoded). */
  form?: Record<string, string | string[]>;
  /** A JSON body (application/json). */
  json?: unknown;
  /** A multipart/form-data body, built by the platform's FormData (files as Blob/File). */
  formData?: FormData;
  /** Query parameters appended to the path. */
  query?: Record<string, string | string[]>;
  /** Environ keys for this request only. */
  environ?: Partial<Environ>;
  /** "http" (default) or "https". */
  scheme?: string;
  /** REMOTE_ADDR (default "127.0.0.1"). */
  remoteAddr?: string;
  /** Simulate a client that goes away after receiving this many body chunks. */
  disconnectAfterChunks?: number;
}

/** The response the TestClient received. */
export interface TestResponse {
  /** The status line: "200 OK". */
  status: string;
  /** The numeric status code: 200. */
  statusCode: number;
  /** Response headers as sent, in order. */
  headers: Headers;
  /** First value of a response header (case-insensitive). */
  header(name: string): string | undefined;
  /** All values of a response header (e.g. every Set-Cookie). */
  headerAll(name: string): string[];
  /** The whole body. */
  body: Buffer;
  /** The body chunks as the application produced them. */
  chunks: Buffer[];
  /** The length the gateway was told (Content-Length it would send), if known. */
  contentLength: number | undefined;
  /** The body decoded as UTF-8. */
  text(): string;
  /** The body parsed as JSON. */
  json<T = unknown>(): T;
  /** The environ the application was called with. */
  environ: Environ;
  /** Text written to `stackware.errors` during the request. */
  errors: string;
  /** True when the response reached its end. */
  completed: boolean;
}

function toPairs(headers: RequestOptions['headers']): Array<[string, string]> {
  if (!headers) return [];
  return Array.isArray(headers) ? headers.map(([n, v]) => [n, v]) : Object.entries(headers);
}

function encodeForm(form: Record<string, string | string[]>): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(form)) for (const item of Array.isArray(v) ? v : [v]) params.append(k, item);
  return params.toString();
}

/** The answer of a gateway to a request that cannot become an environ (400, the reason as text). */
function badRequest(message: string): Application {
  return (_environ, startResponse) => {
    const body = Buffer.from(`${message}\n`);
    startResponse('400 Bad Request', [['Content-Type', 'text/plain; charset=utf-8'], ['Content-Length', String(body.length)]]);
    return [body];
  };
}

/**
 * The in-process gateway: calls an application with a request and returns status, headers and
 * body, exactly as a server would send them (same driver as the servers: {@link runApplication}).
 * Strict by default: the application runs inside {@link validator}, and any contract violation
 * rejects the request with a {@link ValidationError}. Like every gateway, it answers 400 itself
 * (the application never runs) to a request that cannot become an environ: a path that is not
 * UTF-8 or has NUL or a dot segment, two Host headers, conflicting Content-Length (SPEC.md).
 *
 * @example
 * const client = new TestClient(app, { cookies: true });
 * const res = await client.get('/hello?name=x');
 * expect(res.statusCode).toBe(200);
 * await client.post('/form', { form: { title: 'Hi' } });
 */
export class TestClient {
  readonly app: Application;
  readonly options: TestClientOptions;
  /** The cookie jar, when `cookies` is on (always present; used only when on). */
  readonly cookies = new CookieJar();

  constructor(app: Application, options: TestClientOptions = {}) {
    this.options = options;
    this.app = options.validate === false ? app : validator(app);
  }

  get(path: string, options?: RequestOptions) { return this.request('GET', path, options); }
  head(path: string, options?: RequestOptions) { return this.request('HEAD', path, options); }
  post(path: string, options?: RequestOptions) { return this.request('POST', path, options); }
  put(path: string, options?: RequestOptions) { return this.request('PUT', path, options); }
  patch(path: string, options?: RequestOptions) { return this.request('PATCH', path, options); }
  delete(path: string, options?: RequestOptions) { return this.request('DELETE', path, options); }
  options_(path: string, options?: RequestOptions) { return this.request('OPTIONS', path, options); }

  /**
   * Sends one request. `path` is the raw request target ("/a%20b?x=1"), percent-encoded as on the wire.
   * @throws ValidationError on any gateway-contract violation; the application's own error when
   * `throwErrors` is on (the default) and it failed before responding.
   */
  async request(method: string, path: string, options: RequestOptions = {}): Promise<TestResponse> {
    const headers = toPairs(options.headers);
    const has = (name: string) => headers.some(([n]) => n.toLowerCase() === name);
    let body: Uint8Array | AsyncIterable<Uint8Array> | undefined;
    if (options.form) {
      body = Buffer.from(encodeForm(options.form));
      if (!has('content-type')) headers.push(['Content-Type', 'application/x-www-form-urlencoded']);
    } else if (options.json !== undefined) {
      body = Buffer.from(JSON.stringify(options.json));
      if (!has('content-type')) headers.push(['Content-Type', 'application/json']);
    } else if (options.formData) {
      const encoded = new Request('http://localhost/', { method: 'POST', body: options.formData });
      body = Buffer.from(await encoded.arrayBuffer());
      if (!has('content-type')) headers.push(['Content-Type', encoded.headers.get('content-type')!]);
    } else if (typeof options.body === 'string') {
      body = Buffer.from(options.body);
    } else {
      body = options.body;
    }
    if (body instanceof Uint8Array && !has('content-length')) headers.push(['Content-Length', String(body.byteLength)]);
    // A streamed body is sent the way an HTTP/1.1 client would: chunked, without a length.
    else if (body !== undefined && !(body instanceof Uint8Array) && !has('content-length') && !has('transfer-encoding')) headers.push(['Transfer-Encoding', 'chunked']);
    if (!has('host')) headers.unshift(['Host', this.options.host ?? 'localhost']);
    if (options.query) {
      const q = encodeForm(options.query);
      if (q) path += (path.includes('?') ? '&' : '?') + q;
    }
    const pathOnly = path.split('?')[0]!;
    if (this.options.cookies && !has('cookie')) {
      const cookie = this.cookies.cookieHeader(pathOnly);
      if (cookie) headers.push(['Cookie', cookie]);
    }

    let errorsText = '';
    const errors: ErrorStream = { write: (text: string) => { errorsText += text; } };
    const declared = headers.find(([n]) => n.toLowerCase() === 'content-length')?.[1];
    const source = body === undefined ? [] : body instanceof Uint8Array ? [body] : body;
    const init: RequestInit = {
      method,
      target: path,
      headers,
      scheme: options.scheme ?? 'http',
      serverName: (this.options.host ?? 'localhost').replace(/:\d+$/, ''),
      serverPort: /:(\d+)$/.exec(this.options.host ?? '')?.[1] ?? (options.scheme === 'https' ? 443 : 80),
      remoteAddr: options.remoteAddr ?? '127.0.0.1',
      scriptName: this.options.scriptName ?? '',
      input: createInput(source, declared !== undefined ? Number(declared) : undefined),
      errors,
    };
    let app = this.app;
    let environ: Environ;
    try {
      environ = createEnviron(init);
    } catch (error) {
      if (!(error instanceof BadRequestError)) throw error;
      // Like every gateway, the TestClient answers 400 before the application runs (SPEC.md).
      environ = createEnviron({ ...init, target: init.scriptName || '/', headers: headers.filter(([n]) => n.toLowerCase() !== 'host') });
      app = badRequest(error.message);
    }
    Object.assign(environ, this.options.environ, options.environ);

    let status = '';
    let responseHeaders: Headers = [];
    let contentLength: number | undefined;
    const chunks: Buffer[] = [];
    const controller = new AbortController();
    const sink: ResponseSink = {
      sendHeaders(s, h, length) {
        status = s;
        responseHeaders = h.map(([n, v]) => [n, v]);
        contentLength = length;
      },
      async write(chunk) {
        chunks.push(Buffer.from(chunk));
        if (options.disconnectAfterChunks !== undefined && chunks.length >= options.disconnectAfterChunks) controller.abort();
      },
      async end() {},
      abort() {},
      signal: controller.signal,
    };
    let appError: unknown;
    const result = await runApplication(app, environ, sink, {
      head: method.toUpperCase() === 'HEAD',
      onError: (error, phase) => {
        appError ??= error;
        errors.write(`Error in ${phase}: ${error instanceof Error ? error.stack : String(error)}\n`);
      },
    });
    // The first rule broken is the one reported; violations found after the fact (a body some
    // middleware never closed) are errors too.
    if (appError instanceof ValidationError) throw appError;
    checkBodiesClosed(environ);
    if (appError !== undefined && this.options.throwErrors !== false) throw appError;

    if (this.options.cookies) for (const value of getHeaders(responseHeaders, 'set-cookie')) this.cookies.setCookie(value, pathOnly);
    const all = Buffer.concat(chunks);
    return {
      status: result.status ?? status,
      statusCode: parseInt((result.status ?? status).slice(0, 3), 10),
      headers: responseHeaders,
      header: (name) => getHeader(responseHeaders, name),
      headerAll: (name) => getHeaders(responseHeaders, name),
      body: all,
      chunks,
      contentLength,
      text: () => all.toString('utf8'),
      json: <T>() => JSON.parse(all.toString('utf8')) as T,
      environ,
      errors: errorsText,
      completed: result.completed,
    };
  }
}
