import { STATUS_CODES } from 'node:http';
import {
  BadRequestError, createEnviron, createInput, hostUrl, quotePath, runApplication,
  type Application, type Environ, type Headers, type ResponseBody,
} from '@stackware/gateway';
import { ResponseSignal } from '@stackware/server';
import { HOP_BY_HOP_HEADERS as HOP_BY_HOP } from '@stackware/gateway';

/** A fetch-style handler: Hono's `app.fetch`, Deno/Bun-style servers, any `(Request) => Response`. */
export type FetchHandler = (request: Request, ...rest: never[]) => Response | Promise<Response>;

/** Options of {@link toFetchHandler} / {@link environFromRequest}. */
export interface ToFetchOptions {
  /** Mount point given to the application as SCRIPT_NAME (default ""). */
  scriptName?: string;
  /** REMOTE_ADDR, when the runtime knows the client (fetch's Request does not carry it). */
  remoteAddr?: string;
  /** Environ keys added to every request. */
  environ?: Partial<Environ>;
  errors?: { write(text: string): void };
}

const NULL_BODY = new Set([101, 103, 204, 205, 304]);
/** Bodies of known length up to this size are answered as bytes rather than as a stream. */
const SMALL_BODY_BYTES = 64 * 1024;

/**
 * Builds the environ of a fetch `Request`: path and query from its URL, `Host` from the URL when
 * the headers have none, the body (a ReadableStream) as `stackware.input` with backpressure.
 * @throws BadRequestError (400) for a path that is not valid UTF-8 or outside `scriptName`.
 */
export function environFromRequest(request: Request, options: ToFetchOptions = {}): Environ {
  const url = new URL(request.url);
  const headers: Array<[string, string]> = [];
  request.headers.forEach((value, name) => { headers.push([name, value]); });
  if (!request.headers.has('host')) headers.unshift(['host', url.host]);
  const length = request.headers.get('content-length');
  const scheme = url.protocol === 'https:' ? 'https' : 'http';
  const environ = createEnviron({
    method: request.method,
    target: url.pathname + url.search,
    headers,
    scheme,
    serverName: url.hostname.replace(/^\[|\]$/g, ''),
    serverPort: url.port || (scheme === 'https' ? 443 : 80),
    remoteAddr: options.remoteAddr,
    scriptName: options.scriptName,
    // GET and HEAD carry no body: not touching request.body keeps lightweight Request objects
    // (@hono/node-server's) from being turned into full ones.
    input: request.method === 'GET' || request.method === 'HEAD' ? createInput([], 0) : createInput(request.body ?? [], length !== null ? Number(length) : undefined),
    errors: options.errors,
  });
  if (url.search === '?') environ.QUERY_STRING = '';
  Object.assign(environ, options.environ);
  return environ;
}

/**
 * Runs an application for one environ and answers a fetch `Response` as soon as the status and
 * headers are known; the body is a ReadableStream fed chunk by chunk as the consumer pulls
 * (backpressure); a body of known length up to 64 KiB (an array body) is answered as bytes.
 * Cancelling the stream (client gone) or aborting `signal` stops the application's
 * body and calls its `close()`.
 */
export function runToResponse(app: Application, environ: Environ, options: { signal?: AbortSignal } = {}): Promise<Response> {
  const head = environ.REQUEST_METHOD === 'HEAD';
  // A light signal, and a stream only for responses that stream: an AbortController and a
  // ReadableStream per request dominated the cost of small responses (measured with --cpu-prof).
  const aborted = new ResponseSignal();
  options.signal?.addEventListener('abort', () => aborted.abort(), { once: true });
  let controller: ReadableStreamDefaultController<Uint8Array> | undefined;
  let wakeWriter: (() => void) | undefined;
  const wake = () => { const w = wakeWriter; wakeWriter = undefined; w?.(); };
  const makeStream = () => new ReadableStream<Uint8Array>({
    start(c) { controller = c; },
    pull() { wake(); },
    cancel() { aborted.abort(); wake(); },
  }, { highWaterMark: 1 });

  return new Promise<Response>((resolve) => {
    let answered = false;
    let small: { init: ResponseInit; chunks: Uint8Array[] } | undefined;
    void runApplication(app, environ, {
      signal: aborted,
      sendHeaders(status, headers, contentLength) {
        const code = parseInt(status, 10);
        const out = new globalThis.Headers();
        let hasLength = false;
        for (const [name, value] of headers) {
          out.append(name, value);
          if (name.toLowerCase() === 'content-length') hasLength = true;
        }
        if (!hasLength && contentLength !== undefined && !NULL_BODY.has(code)) out.set('content-length', String(contentLength));
        const init = { status: code, statusText: status.slice(4), headers: out };
        if (head || NULL_BODY.has(code)) {
          answered = true;
          resolve(new Response(null, init));
        } else if (contentLength !== undefined && contentLength <= SMALL_BODY_BYTES) {
          // A small body of known length (an array body): answer it as bytes once complete.
          // Runtimes send byte bodies much faster than streams (no reader, no chunked framing).
          small = { init, chunks: [] };
        } else {
          answered = true;
          resolve(new Response(makeStream(), init));
        }
      },
      async write(chunk) {
        if (small) {
          small.chunks.push(chunk);
          return;
        }
        if (aborted.aborted || !controller) return;
        controller.enqueue(chunk);
        if ((controller.desiredSize ?? 1) <= 0) await new Promise<void>((r) => { wakeWriter = r; });
      },
      async end() {
        if (small) {
          answered = true;
          resolve(new Response(Buffer.concat(small.chunks), small.init));
          return;
        }
        try { controller?.close(); } catch { /* already closed */ }
      },
      abort(error) {
        try { controller?.error(error); } catch { /* already closed */ }
      },
    }, { head }).then(() => {
      if (!answered) resolve(new Response(null, { status: 499, statusText: 'Client Closed Request' }));
    });
  });
}

/**
 * Turns a Stackware application into a fetch handler `(request) => Promise<Response>` — for
 * @hono/node-server, Bun/Deno-style servers. Streams both ways. A bad path answers 400. The
 * request's path must start with `scriptName`; to mount in Hono use {@link honoMount}, which
 * gives the application its SCRIPT_NAME (Hono's own `mount()` strips the path first).
 *
 * @example
 * Bun.serve({ fetch: toFetchHandler(site) });
 */
export function toFetchHandler(app: Application, options: ToFetchOptions = {}): (request: Request) => Promise<Response> {
  return async (request) => {
    let environ: Environ;
    try {
      environ = environFromRequest(request, options);
    } catch (error) {
      if (error instanceof BadRequestError) return new Response(`${error.message}\n`, { status: 400, headers: { 'content-type': 'text/plain; charset=utf-8' } });
      throw error;
    }
    // request.signal is not read: runtimes make it on demand at a cost (@hono/node-server builds a
    // full Request for it), and a client that goes away cancels the response stream, which stops
    // the application's body and closes it all the same.
    return runToResponse(app, environ);
  };
}

/**
 * Answers a fetch `Response` through `startResponse` and returns its body as a Stackware body
 * (streamed; `close()` cancels the stream). Hop-by-hop headers are dropped; a missing
 * Content-Type becomes `application/octet-stream` (the gateway contract requires one).
 */
export function responseToBody(response: Response, startResponse: (status: string, headers: Headers) => unknown): ResponseBody {
  const headers: Headers = [];
  response.headers.forEach((value, name) => {
    if (name === 'set-cookie' || HOP_BY_HOP.has(name)) return;
    headers.push([name, value]);
  });
  for (const cookie of response.headers.getSetCookie()) headers.push(['set-cookie', cookie]);
  const code = response.status;
  if (code >= 200 && !NULL_BODY.has(code) && !response.headers.has('content-type')) headers.push(['content-type', 'application/octet-stream']);
  startResponse(`${code} ${response.statusText || STATUS_CODES[code] || 'Unknown'}`, headers);
  const body = response.body;
  if (!body) return [];
  return {
    async *[Symbol.asyncIterator]() {
      for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) yield chunk;
    },
    async close() {
      if (!body.locked) await body.cancel().catch(() => undefined);
    },
  };
}

/**
 * A "." or ".." path segment: the WHATWG URL parser resolves them (also as %2e%2e), so the handler
 * would route another path. Every Stackware gateway and adapter (createEnviron, environFromCgi)
 * already answers such a path 400 (packages/gateway/SPEC.md); this check stays as defence in
 * depth for an environ built another way or rewritten by a middleware, and because it also
 * treats "\\" as a separator, which the gateway does not refuse.
 */
const DOT_SEGMENT = /(^|[/\\])\.\.?([/\\]|$)/;
/** A Host header value that is only a host name or IP literal and an optional port. */
const HOST_RE = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?::\d{1,5})?$/;

/** Scheme and authority for the handler's URL: the Host header only when it is a plain host[:port], else SERVER_NAME/PORT. */
function requestOrigin(environ: Environ): string {
  const host = environ.HTTP_HOST;
  if (typeof host === 'string' && host !== '' && !HOST_RE.test(host)) {
    return hostUrl({ ...environ, HTTP_HOST: undefined } as unknown as Environ);
  }
  return hostUrl(environ);
}

function badRequest(message: string): Application {
  return (_environ, startResponse) => {
    const body = Buffer.from(`400 Bad Request: ${message}.\n`);
    startResponse('400 Bad Request', [['Content-Type', 'text/plain; charset=utf-8'], ['Content-Length', String(body.length)]]);
    return [body];
  };
}

/**
 * Turns a fetch handler (a Hono app's `fetch`, any `(Request) => Response`) into a Stackware
 * application, so it can sit inside a URL map. The handler sees a URL whose path is PATH_INFO
 * (relative to the mount) plus the query; the environ is passed as its second argument (Hono: `c.env`).
 * A Host header that is not a plain `host[:port]` is replaced by SERVER_NAME/SERVER_PORT (a Host
 * such as `x/admin?` would otherwise become part of the URL's path), and a path with a `.` or `..`
 * segment is answered 400 (the URL parser would resolve it to a path the URL map did not route).
 *
 * @example
 * urlMap({ '/api': fromFetchHandler(honoApp.fetch), '/': site })
 */
export function fromFetchHandler(handler: (request: Request, env?: Environ) => Response | Promise<Response>): Application {
  return async (environ, startResponse) => {
    if (DOT_SEGMENT.test(environ.PATH_INFO)) return badRequest('the path contains a "." or ".." segment')(environ, startResponse);
    const url = requestOrigin(environ) + quotePath(environ.PATH_INFO || '/') + (environ.QUERY_STRING ? `?${environ.QUERY_STRING}` : '');
    const headers = new globalThis.Headers();
    for (const [key, value] of Object.entries(environ)) {
      if (typeof value !== 'string') continue;
      if (key.startsWith('HTTP_') && key !== 'HTTP_HOST') headers.append(key.slice(5).toLowerCase().replace(/_/g, '-'), value);
      else if (key === 'CONTENT_TYPE' || key === 'CONTENT_LENGTH') headers.set(key.toLowerCase().replace('_', '-'), value);
    }
    const method = environ.REQUEST_METHOD;
    const hasBody = method !== 'GET' && method !== 'HEAD';
    const input = environ['stackware.input'];
    const body = hasBody ? ReadableStream.from(input) : undefined;
    const request = new Request(url, { method, headers, body, duplex: 'half' } as RequestInit);
    const response = await handler(request, environ);
    return responseToBody(response, startResponse);
  };
}
