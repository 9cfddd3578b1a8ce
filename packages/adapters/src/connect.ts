import type { IncomingMessage, ServerResponse } from 'node:http';
import { runApplication, type Application, type Environ, type Middleware, type ResponseBody } from '@stackware/gateway';
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

type PendingRequest = RequestWithEnviron & { [PENDING]?: (error: unknown) => void };

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
 * receives them as errors:
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
    const original = { writeHead: res.writeHead, write: res.write, end: res.end };
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
      req[PENDING] = (error) => {
        restore();
        if (started) queue.end(error);
        else reject(error);
      };
      next();
    });
    environ[CONTEXT_KEY] = { callNext } satisfies ConnectContext;
    void runApplication(app, environ, new HttpSink(outerView(res, original), '', performance.now()), { head: environ.REQUEST_METHOD === 'HEAD' })
      .finally(() => { delete req[PENDING]; });
  };
  const errorHandler: ConnectErrorMiddleware = (error, req, _res, next) => {
    const pending = (req as PendingRequest)[PENDING];
    if (!pending) {
      next(error);
      return;
    }
    delete (req as PendingRequest)[PENDING];
    pending(error);
  };
  return Object.assign(handler as ConnectMiddleware, { errorHandler });
}
