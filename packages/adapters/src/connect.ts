import type { IncomingMessage, ServerResponse } from 'node:http';
import { runApplication, type Application, type Environ, type Middleware, type ResponseBody, type ResponseSink } from '@stackware/gateway';
import { HttpSink } from '@stackware/server';
import { ChunkQueue, environOr400, patchResponse, responseHeaders, type RequestWithEnviron, type ToNodeOptions } from './node.js';

/** Connect/Express middleware: `(req, res, next)`. */
export type ConnectMiddleware = (req: IncomingMessage, res: ServerResponse, next: (error?: unknown) => void) => void;

/** Connect/Express error middleware: `(error, req, res, next)`. */
export type ConnectErrorMiddleware = (error: unknown, req: IncomingMessage, res: ServerResponse, next: (error?: unknown) => void) => void;

const PENDING = Symbol('stackware.adapters.pending');
const CONTEXT_KEY = 'stackware.adapters.connect';

interface ConnectContext {
  callNext(environ: Environ, startResponse: Parameters<Application>[1]): Promise<ResponseBody>;
}

/**
 * The Stackware adapters waiting for the rest of the Express chain on one request, outermost
 * first: a route error goes to the innermost, and what it does not handle goes on outward.
 */
type PendingRequest = RequestWithEnviron & { [PENDING]?: Array<(error: unknown) => void> };

/** A sink that drops everything once `dropped()` says so (the error went to an outer adapter). */
function droppingSink(sink: ResponseSink, dropped: () => boolean): ResponseSink {
  const dropping: ResponseSink = {
    get signal() { return sink.signal; },
    sendHeaders: (status, headers, length) => (dropped() ? undefined : sink.sendHeaders(status, headers, length)),
    write: (chunk) => (dropped() ? undefined : sink.write(chunk)),
    end: () => (dropped() ? undefined : sink.end()),
    abort: (error) => { if (!dropped()) sink.abort(error); },
  };
  if (sink.sendFile) dropping.sendFile = (file, length) => (dropped() ? Promise.resolve() : sink.sendFile!(file, length));
  return dropping;
}

/**
 * A view of `res` whose output methods are the ones it had before the adapter patched it, and
 * whose first `writeHead` forgets the headers the inner (Express) response set: the middleware's
 * response (which already contains them, as it saw them through startResponse) replaces them.
 */
function outerView(res: ServerResponse, original: Pick<ServerResponse, 'writeHead' | 'write' | 'end'>): ServerResponse {
  return new Proxy(res, {
    get(target, property) {
      if (property === 'writeHead') {
        return (code: number, reason?: string, headers?: string[]) => {
          (target as unknown as { _header: string | null })._header = null;
          for (const name of target.getHeaderNames()) target.removeHeader(name);
          // appendHeader keeps repeated names (Set-Cookie); writeHead's own header argument
          // would fold them once setHeader has been used on this response.
          if (headers) for (let i = 0; i < headers.length; i += 2) target.appendHeader(headers[i]!, headers[i + 1]!);
          return (original.writeHead as (...a: unknown[]) => unknown).call(target, code, reason);
        };
      }
      if (property === 'write' || property === 'end') return (original[property] as (...a: unknown[]) => unknown).bind(target);
      const value = Reflect.get(target, property, target) as unknown;
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}

/**
 * Runs a Stackware middleware inside an Express/Connect chain (Paste's "filter" in a foreign
 * framework). Its inner application is `next()`: requests the middleware passes on continue down
 * the Express chain, and whatever Express answers comes back through the middleware as a
 * streamed response — so a session middleware saves after the Express handler, and a compression
 * or error middleware sees the Express response. `req.environ` is the environ the middleware
 * passed inward, so `getSession(req.environ)` works in routes.
 *
 * Express reports route errors to error middleware, not by throwing; register
 * `adapter.errorHandler` after your routes so the Stackware middleware (an exception catcher)
 * receives them as errors. With several adapters on one chain (`app.use(catcher)`,
 * `app.use(sessions)`), one `errorHandler` is enough: the error goes to the innermost adapter's
 * middleware, and whatever that one rethrows goes on to the next one out:
 *
 * @example
 * const catcher = toConnectMiddleware((app) => errorCatcher(app));
 * expressApp.use(catcher);
 * expressApp.get('/', handler);
 * expressApp.use(catcher.errorHandler);
 */
export function toConnectMiddleware(middleware: Middleware, options: ToNodeOptions = {}): ConnectMiddleware & { errorHandler: ConnectErrorMiddleware } {
  // The middleware is applied once; its inner application finds the Express request it
  // belongs to through an environ key (copies of the environ made by the middleware keep it).
  const inner: Application = (env, startResponse) => {
    const context = env[CONTEXT_KEY] as ConnectContext | undefined;
    if (!context) throw new Error('toConnectMiddleware: the inner application was called without its Express request (the middleware replaced the environ instead of copying it)');
    return context.callNext(env, startResponse);
  };
  const app = middleware(inner);

  const handler = (req: PendingRequest, res: ServerResponse, next: (error?: unknown) => void) => {
    let environ: Environ | undefined;
    try {
      environ = environOr400(req, res, options);
    } catch (error) {
      next(error);
      return;
    }
    if (!environ) return;
    const pendingStack = (req[PENDING] ??= []);
    // The Stackware adapter this one runs inside (added separately to the same Express chain).
    const outer = pendingStack.at(-1);
    const original = { writeHead: res.writeHead, write: res.write, end: res.end };
    let responseStarted = false;
    let forwarded = false;
    let mine: ((error: unknown) => void) | undefined;
    const unregister = () => {
      const at = mine ? pendingStack.lastIndexOf(mine) : -1;
      if (at !== -1) pendingStack.splice(at, 1);
    };
    const callNext: ConnectContext['callNext'] = (env, startResponse) => new Promise<ResponseBody>((resolve, reject) => {
      req.environ = env;
      const queue = new ChunkQueue();
      let started = false;
      const begin = () => {
        if (started) return;
        started = true;
        try {
          startResponse(`${res.statusCode} ${res.statusMessage || 'Unknown'}`, responseHeaders(res));
          resolve(Object.assign(queue, { close: () => restore() }) as ResponseBody);
        } catch (error) {
          reject(error);
        }
      };
      const restore = patchResponse(res, {
        writeHead: begin,
        write: (chunk) => { begin(); return queue.push(chunk); },
        end: () => { begin(); queue.end(); restore(); },
        onDrain: (fn) => queue.onDrain(fn),
      });
      unregister();
      mine = (error) => {
        unregister();
        restore();
        if (started) queue.end(error);
        else reject(error);
      };
      pendingStack.push(mine);
      next();
    });
    environ[CONTEXT_KEY] = { callNext } satisfies ConnectContext;
    // An error this middleware lets through (it rethrows, or has no catcher) goes on to the outer
    // adapter's middleware — an exception catcher there reports it — instead of a bare 500 here.
    const guarded: Application = async (env, startResponse) => {
      try {
        return await app(env, (status, headers, error) => {
          const write = startResponse(status, headers, error);
          return async (chunk) => { responseStarted = true; await write(chunk); };
        });
      } catch (error) {
        if (outer && !responseStarted && pendingStack.includes(outer)) {
          forwarded = true;
          unregister();
          outer(error);
        }
        throw error;
      }
    };
    const sink = new HttpSink(outerView(res, original), '', performance.now());
    void runApplication(guarded, environ, droppingSink(sink, () => forwarded), {
      head: environ.REQUEST_METHOD === 'HEAD',
      onError: (error, phase) => {
        if (forwarded) return;
        const text = error instanceof Error ? (error.stack ?? String(error)) : String(error);
        environ['stackware.errors'].write(`Error in ${phase}: ${text}\n`);
      },
    }).finally(unregister);
  };
  const errorHandler: ConnectErrorMiddleware = (error, req, _res, next) => {
    // Whichever adapter's errorHandler Express calls first, the innermost adapter gets the error.
    const innermost = (req as PendingRequest)[PENDING]?.at(-1);
    if (!innermost) {
      next(error);
      return;
    }
    innermost(error);
  };
  return Object.assign(handler as ConnectMiddleware, { errorHandler });
}
