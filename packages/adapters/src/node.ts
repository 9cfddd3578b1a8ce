import { IncomingMessage, ServerResponse } from 'node:http';
import { Socket } from 'node:net';
import {
  BadRequestError, createEnviron, createInput, decodePath, quotePath, runApplication,
  type Application, type Environ, type Headers, type ResponseBody,
} from '@stackware/gateway';
import { HttpSink, plainResponse } from '@stackware/server';
import { HOP_BY_HOP_HEADERS as HOP_BY_HOP } from '@stackware/gateway';

/** A node:http request handler (node:http, Express/Connect apps, Fastify's raw req/res). */
export type NodeHandler = (req: IncomingMessage, res: ServerResponse, next?: (error?: unknown) => void) => unknown;

/** A Node request that carries its Stackware environ (`req.environ`), as the adapters set it. */
export interface RequestWithEnviron extends IncomingMessage {
  environ?: Environ;
}

/** Options of {@link toNodeHandler} and {@link environFromNode}. */
export interface ToNodeOptions {
  /**
   * Mount point given to the application as SCRIPT_NAME when the framework has none (default ""):
   * the request path must start with it. Under Express/Connect the mount is read from the request
   * (the path before `req.url`), so `app.use('/static', toNodeHandler(app))` needs no option.
   */
  scriptName?: string;
  /** Environ keys added to every request (process-model flags, your own keys). */
  environ?: Partial<Environ>;
  /** Where `stackware.errors` goes (default: process.stderr). */
  errors?: { write(text: string): void };
}

function headerPairs(raw: string[]): Array<[string, string]> {
  const pairs: Array<[string, string]> = [];
  for (let i = 0; i < raw.length; i += 2) pairs.push([raw[i]!, raw[i + 1]!]);
  return pairs;
}

function pathOf(target: string): string {
  const q = target.indexOf('?');
  return q === -1 ? target : target.slice(0, q);
}

/**
 * The raw target and the mount of a request. Under Express/Connect (`req.originalUrl` set) the
 * mount is the part of the full path before `req.url`, the path left to this handler: Express's
 * own mount (`app.use('/static', handler)`, nested routers) plus, inside `fromNodeHandler`, the
 * Stackware SCRIPT_NAME. Otherwise `options.scriptName`.
 */
function targetAndMount(req: IncomingMessage, options: ToNodeOptions): { target: string; scriptName: string } {
  const originalUrl = (req as { originalUrl?: unknown }).originalUrl;
  const url = req.url ?? '/';
  if (typeof originalUrl !== 'string' || originalUrl === url) return { target: url, scriptName: options.scriptName ?? '' };
  const full = decodePath(pathOf(originalUrl));
  if (full === undefined) throw new BadRequestError(`The request path is not valid percent-encoded UTF-8: ${JSON.stringify(pathOf(originalUrl).slice(0, 200))}`);
  const rest = decodePath(pathOf(url)) ?? '';
  let scriptName = '';
  if (rest !== '' && full.endsWith(rest)) scriptName = full.slice(0, full.length - rest.length);
  else if (rest === '/') scriptName = full; // the mount itself ("/static" asked, Express says "/"): PATH_INFO ""
  if (scriptName.endsWith('/')) scriptName = scriptName.slice(0, -1);
  return { target: originalUrl, scriptName: scriptName || (options.scriptName ?? '') };
}

/**
 * Builds the environ of a node:http request (RFC 3875 keys + `stackware.*`), reading the body
 * from `req` with backpressure. SCRIPT_NAME is Express's mount when there is one
 * (`app.use('/static', handler)`: the path before `req.url`, nested routers included), else
 * `options.scriptName` (default ""); PATH_INFO is the rest of the path. When an outer adapter
 * already built an environ (`req.environ`, say from `toConnectMiddleware(session(...))`), the new
 * one is a copy of it — its keys (the session, REMOTE_USER) stay — with SCRIPT_NAME, PATH_INFO and
 * QUERY_STRING taken from this mount. The result is left on `req.environ`.
 * @throws BadRequestError (status 400) for a path that is not valid UTF-8 or outside `scriptName`.
 */
export function environFromNode(req: RequestWithEnviron, options: ToNodeOptions = {}): Environ {
  const { target, scriptName } = targetAndMount(req, options);
  if (req.environ) {
    const paths = createEnviron({ method: req.method ?? 'GET', target, headers: [], scriptName });
    const environ: Environ = { ...req.environ, SCRIPT_NAME: paths.SCRIPT_NAME, PATH_INFO: paths.PATH_INFO, QUERY_STRING: paths.QUERY_STRING };
    Object.assign(environ, options.environ);
    req.environ = environ;
    return environ;
  }
  const length = req.headers['content-length'];
  const environ = createEnviron({
    method: req.method ?? 'GET',
    target,
    headers: headerPairs(req.rawHeaders),
    protocol: `HTTP/${req.httpVersion}`,
    scheme: (req.socket as { encrypted?: boolean }).encrypted ? 'https' : 'http',
    serverPort: req.socket.localPort,
    remoteAddr: req.socket.remoteAddress,
    remotePort: req.socket.remotePort,
    scriptName,
    input: createInput(req, length !== undefined ? Number(length) : undefined),
    errors: options.errors,
  });
  Object.assign(environ, options.environ);
  req.environ = environ;
  return environ;
}

/**
 * {@link environFromNode}, or a 400 Bad Request answered on `res` (undefined then) when the
 * request cannot become an environ. Other errors propagate.
 */
export function environOr400(req: RequestWithEnviron, res: ServerResponse, options: ToNodeOptions = {}): Environ | undefined {
  try {
    return environFromNode(req, options);
  } catch (error) {
    if (!(error instanceof BadRequestError)) throw error;
    plainResponse(req, res, 400, 'Bad Request', error.message, '');
    return undefined;
  }
}

/**
 * Turns a Stackware application into a node:http handler `(req, res) => Promise<void>`, for
 * `http.createServer(handler)`, Express/Connect (`app.use('/x', handler)`), or Fastify
 * (see {@link toFastifyHandler}). The environ is left on `req.environ`. The response streams
 * with backpressure; `close()` runs on every body, also when the client goes away; a bad path
 * answers 400. The promise resolves when the response is finished.
 *
 * @example
 * http.createServer(toNodeHandler(app)).listen(8080);
 */
export function toNodeHandler(app: Application, options: ToNodeOptions = {}): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  return async (req, res) => {
    const environ = environOr400(req, res, options);
    if (!environ) return;
    await runApplication(app, environ, new HttpSink(res, '', performance.now()), { head: environ.REQUEST_METHOD === 'HEAD' });
  };
}


/**
 * The response headers a node:http `ServerResponse` holds, as Stackware header pairs: original
 * name casing, repeated values (Set-Cookie) as separate pairs, hop-by-hop headers removed, and
 * a `Content-Type` of `application/octet-stream` added when the handler set none (the gateway
 * contract requires one except for 1xx/204/304).
 */
export function responseHeaders(res: ServerResponse): Headers {
  const headers: Headers = [];
  for (const name of res.getHeaderNames()) {
    if (HOP_BY_HOP.has(name)) continue;
    const value = res.getHeader(name);
    const raw = rawName(res, name);
    if (Array.isArray(value)) for (const v of value) headers.push([raw, String(v)]);
    else if (value !== undefined) headers.push([raw, String(value)]);
  }
  const code = res.statusCode;
  if (code >= 200 && code !== 204 && code !== 304 && !res.hasHeader('content-type')) headers.push(['Content-Type', 'application/octet-stream']);
  if ((code === 204 || code === 304) && res.hasHeader('content-type')) return headers.filter(([n]) => n.toLowerCase() !== 'content-type');
  return headers;
}

function rawName(res: ServerResponse, lower: string): string {
  // getRawHeaderNames() exists since Node 15.13 but is missing from @types/node 20.
  for (const name of (res as unknown as { getRawHeaderNames(): string[] }).getRawHeaderNames()) if (name.toLowerCase() === lower) return name;
  return lower;
}

/** A queue of response chunks between a node-style writer and a Stackware body reader, with backpressure. */
export class ChunkQueue {
  private chunks: Uint8Array[] = [];
  private bytes = 0;
  private ended = false;
  private failure: unknown;
  private wake: (() => void) | undefined;
  private drainWaiters: Array<() => void> = [];

  constructor(private readonly highWaterMark = 64 * 1024) {}

  /** Adds a chunk; returns false when the reader is behind (the writer should wait for `onDrain`). */
  push(chunk: Uint8Array): boolean {
    if (chunk.byteLength > 0) {
      this.chunks.push(chunk);
      this.bytes += chunk.byteLength;
      this.notify();
    }
    return this.bytes < this.highWaterMark;
  }

  end(error?: unknown): void {
    this.ended = true;
    this.failure ??= error;
    this.notify();
  }

  /** Calls `fn` once the reader has taken the queued bytes. */
  onDrain(fn: () => void): void {
    if (this.bytes < this.highWaterMark) fn();
    else this.drainWaiters.push(fn);
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Uint8Array> {
    for (;;) {
      if (this.chunks.length) {
        const chunk = this.chunks.shift()!;
        this.bytes -= chunk.byteLength;
        if (this.bytes < this.highWaterMark && this.drainWaiters.length) {
          const waiters = this.drainWaiters;
          this.drainWaiters = [];
          for (const w of waiters) w();
        }
        yield chunk;
        continue;
      }
      if (this.ended) {
        if (this.failure !== undefined) throw this.failure;
        return;
      }
      await new Promise<void>((resolve) => { this.wake = resolve; });
    }
  }
}

/** Options of {@link fromNodeHandler}. */
export interface FromNodeOptions {
  /**
   * The application that answers when the handler calls `next()` without an error (Express: no
   * route matched). Default: 404 Not Found. `next(error)` rejects the request with `error`, so an
   * exception catcher around the adapter sees it.
   */
  fallback?: Application;
}

/**
 * Turns a node:http handler (an Express or Connect app, a Fastify `routing` function, any
 * `(req, res)`) into a Stackware application, so it can sit inside a URL map. The handler sees
 * `req.url` relative to the mount (PATH_INFO + query), `req.originalUrl` as the full raw target,
 * `req.environ` as the environ, and a request body read from `stackware.input`. Its response is
 * streamed back (writes past 64 KiB wait for the reader: backpressure).
 *
 * @example
 * urlMap({ '/legacy': fromNodeHandler(expressApp), '/': site })
 */
export function fromNodeHandler(handler: NodeHandler, options: FromNodeOptions = {}): Application {
  return (environ, startResponse) => new Promise<ResponseBody>((resolve, reject) => {
    const socket = new Socket();
    Object.defineProperties(socket, {
      remoteAddress: { value: environ.REMOTE_ADDR ?? '127.0.0.1' },
      remotePort: { value: environ.REMOTE_PORT ? Number(environ.REMOTE_PORT) : 0 },
      localPort: { value: Number(environ.SERVER_PORT) },
      encrypted: { value: environ['stackware.url_scheme'] === 'https' },
    });
    const req = new IncomingMessage(socket) as RequestWithEnviron & { originalUrl?: string };
    req.method = environ.REQUEST_METHOD;
    req.url = quotePath(environ.PATH_INFO || '/') + (environ.QUERY_STRING ? `?${environ.QUERY_STRING}` : '');
    req.originalUrl = environ.REQUEST_URI ?? quotePath(environ.SCRIPT_NAME + environ.PATH_INFO) + (environ.QUERY_STRING ? `?${environ.QUERY_STRING}` : '');
    req.httpVersion = environ.SERVER_PROTOCOL.replace('HTTP/', '');
    req.environ = environ;
    const rawHeaders: string[] = [];
    for (const [key, value] of Object.entries(environ)) {
      if (typeof value !== 'string') continue;
      let name: string | undefined;
      if (key.startsWith('HTTP_')) name = key.slice(5).toLowerCase().replace(/_/g, '-');
      else if (key === 'CONTENT_TYPE' || key === 'CONTENT_LENGTH') name = key.toLowerCase().replace('_', '-');
      if (!name) continue;
      rawHeaders.push(name, value);
      req.headers[name] = value;
    }
    req.rawHeaders = rawHeaders;
    const input = environ['stackware.input'][Symbol.asyncIterator]();
    // IncomingMessage starts with readingMore = true (its parser pushes data itself); its own
    // _read clears it on first use. Ours must too, or the stream asks for one chunk only.
    const state = (req as unknown as { _readableState: { readingMore: boolean }; _consuming: boolean });
    req._read = () => {
      state._readableState.readingMore = false;
      state._consuming = true;
      input.next().then(
        (step) => { req.push(step.done ? null : step.value); if (step.done) req.complete = true; },
        (error: unknown) => req.destroy(error as Error),
      );
    };

    const res = new ServerResponse(req);
    const queue = new ChunkQueue();
    let started = false;
    let settled = false;
    const begin = () => {
      if (started) return;
      started = true;
      if (!res.headersSent) markHeadersSent(res);
      try {
        startResponse(`${res.statusCode} ${res.statusMessage || 'Unknown'}`, responseHeaders(res));
      } catch (error) {
        settle(error);
        return;
      }
      settle();
    };
    const settle = (error?: unknown) => {
      if (settled) return;
      settled = true;
      if (error !== undefined) {
        reject(error);
        return;
      }
      resolve(Object.assign(queue, { close: () => { if (!res.writableEnded) res.destroy(); } }) as ResponseBody);
    };
    patchResponse(res, {
      writeHead: () => begin(),
      write: (chunk) => { begin(); return queue.push(chunk); },
      end: () => { begin(); queue.end(); finish(res); },
      onDrain: (fn) => queue.onDrain(fn),
    });
    const next = (error?: unknown) => {
      if (started) {
        queue.end(error);
        return;
      }
      if (error !== undefined) {
        settle(error);
        return;
      }
      settled = true;
      Promise.resolve((options.fallback ?? notFoundApp)(environ, startResponse)).then(resolve, reject);
    };
    try {
      const result = handler(req, res, next);
      if (result && typeof (result as Promise<unknown>).then === 'function') (result as Promise<unknown>).catch((error: unknown) => next(error));
    } catch (error) {
      next(error);
    }
  });
}

const notFoundApp: Application = (_environ, startResponse) => {
  const body = Buffer.from('Not Found\n');
  startResponse('404 Not Found', [['Content-Type', 'text/plain; charset=utf-8'], ['Content-Length', String(body.length)]]);
  return [body];
};

/** Hooks that a patched ServerResponse calls instead of writing to a socket. */
export interface ResponseHooks {
  writeHead(): void;
  /** Returns false to ask the writer to wait for 'drain'. */
  write(chunk: Uint8Array): boolean;
  end(): void;
  onDrain(fn: () => void): void;
}

function toBytes(chunk: unknown, encoding?: unknown): Uint8Array {
  if (chunk instanceof Uint8Array) return chunk;
  return Buffer.from(String(chunk), typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8');
}

/** Marks a response's headers as sent without writing them (node's `headersSent` reads `_header`). */
function markHeadersSent(res: ServerResponse): void {
  (res as unknown as { _header: string })._header = '\r\n';
}

function finish(res: ServerResponse): void {
  Object.defineProperty(res, 'writableEnded', { value: true, configurable: true });
  Object.defineProperty(res, 'writableFinished', { value: true, configurable: true });
  queueMicrotask(() => { res.emit('prefinish'); res.emit('finish'); res.emit('close'); });
}

/**
 * Redirects a ServerResponse's output (writeHead/write/end, node's and Express's callers alike)
 * to `hooks`, as instance properties, so that prototype methods of frameworks keep working
 * (Express's `res.send` ends in `res.end`). Returns a function that removes the patch.
 */
export function patchResponse(res: ServerResponse, hooks: ResponseHooks): () => void {
  const own = { writeHead: Object.getOwnPropertyDescriptor(res, 'writeHead'), write: Object.getOwnPropertyDescriptor(res, 'write'), end: Object.getOwnPropertyDescriptor(res, 'end'), flushHeaders: Object.getOwnPropertyDescriptor(res, 'flushHeaders') };
  let headWritten = false;
  const writeHead = function (this: ServerResponse, statusCode: number, reason?: unknown, headers?: unknown) {
    if (headWritten) return res;
    if (typeof reason !== 'string') { headers = reason; reason = undefined; }
    res.statusCode = statusCode;
    if (typeof reason === 'string') res.statusMessage = reason;
    if (Array.isArray(headers)) {
      if (Array.isArray(headers[0])) for (const [n, v] of headers as Array<[string, string]>) res.appendHeader(n, v);
      else for (let i = 0; i < headers.length; i += 2) res.appendHeader(String(headers[i]), String(headers[i + 1]));
    } else if (headers && typeof headers === 'object') {
      for (const [n, v] of Object.entries(headers)) if (v !== undefined) res.setHeader(n, v as string | string[]);
    }
    headWritten = true;
    hooks.writeHead();
    markHeadersSent(res);
    return res;
  };
  res.writeHead = writeHead as typeof res.writeHead;
  res.flushHeaders = () => { if (!headWritten) res.writeHead(res.statusCode); };
  res.write = function (chunk: unknown, encoding?: unknown, callback?: unknown) {
    if (!headWritten) res.writeHead(res.statusCode);
    if (typeof encoding === 'function') { callback = encoding; encoding = undefined; }
    const ok = res.req?.method === 'HEAD' ? true : hooks.write(toBytes(chunk, encoding));
    if (typeof callback === 'function') queueMicrotask(callback as () => void);
    if (!ok) hooks.onDrain(() => res.emit('drain'));
    return ok;
  } as typeof res.write;
  res.end = function (chunk?: unknown, encoding?: unknown, callback?: unknown) {
    if (typeof chunk === 'function') { callback = chunk; chunk = undefined; }
    if (typeof encoding === 'function') { callback = encoding; encoding = undefined; }
    if (!headWritten) {
      if (chunk !== undefined && chunk !== null && !res.hasHeader('content-length')) res.setHeader('Content-Length', toBytes(chunk, encoding).byteLength);
      else if ((chunk === undefined || chunk === null) && !res.hasHeader('content-length') && res.statusCode !== 204 && res.statusCode !== 304) res.setHeader('Content-Length', 0);
      res.writeHead(res.statusCode);
    }
    if (chunk !== undefined && chunk !== null && res.req?.method !== 'HEAD') hooks.write(toBytes(chunk, encoding));
    hooks.end();
    if (typeof callback === 'function') queueMicrotask(callback as () => void);
    return res;
  } as typeof res.end;
  return () => {
    for (const key of ['writeHead', 'write', 'end', 'flushHeaders'] as const) {
      const descriptor = own[key];
      if (descriptor) Object.defineProperty(res, key, descriptor);
      else delete (res as unknown as Record<string, unknown>)[key];
    }
  };
}
