import type { Context, ErrorHandler, MiddlewareHandler } from 'hono';
import { BadRequestError, type Application, type Environ, type Middleware } from '@stackware/gateway';
import { environFromRequest, responseToBody, runToResponse, toFetchHandler, type ToFetchOptions } from './fetch.js';

const CONTEXT_KEY = 'stackware.adapters.hono';

/** Hono contexts whose handlers run inside a {@link honoMiddleware} right now. */
const waiting = new WeakSet<Context>();

/**
 * A Hono error handler for apps that use {@link honoMiddleware}: `hono.onError(honoOnError)`.
 * Hono's default handler prints every route error (console.error) before the Stackware
 * middleware sees it, so an exception catcher there printed it a second time. This one hands
 * the error to the waiting Stackware middleware unprinted; an `HTTPException` still answers its
 * own response, and an error outside any Stackware middleware gets Hono's default treatment
 * (printed, 500).
 */
export const honoOnError: ErrorHandler = (error, c) => {
  if ('getResponse' in error && typeof error.getResponse === 'function') return error.getResponse() as Response;
  if (waiting.has(c)) throw error;
  console.error(error);
  return c.text('Internal Server Error', 500);
};

/** What {@link honoMount} needs of a Hono app: `all(path, handler)`. */
export interface HonoRoutes {
  all(path: string, handler: (c: Context) => Promise<Response>): unknown;
}

/**
 * Mounts a Stackware application in a Hono app under `path` (every method, `path` and everything
 * below it): the application gets SCRIPT_NAME = the mount — including a `basePath()` or
 * `route()` prefix of the Hono app, read from the route Hono matched — and PATH_INFO = the rest.
 * (`hono.mount(path, toFetchHandler(app))` hands the application a request stripped of its mount,
 * so SCRIPT_NAME would be "".) A bad path answers 400. `path` has no parameters or wildcards.
 *
 * @example
 * const hono = new Hono();
 * honoMount(hono, '/static', staticFiles({ root: './public' }));
 */
export function honoMount(hono: HonoRoutes, path: string, app: Application, options: ToFetchOptions = {}): void {
  const mount = path.replace(/\/+$/, '');
  const handlers = new Map<string, (request: Request) => Promise<Response>>();
  hono.all(`${mount}/*`, (c) => {
    // The matched route ("/api/static/*" under basePath("/api")) less its wildcard is the mount.
    const route = (c.req as unknown as { routePath?: string }).routePath ?? `${mount}/*`;
    const scriptName = route.replace(/\/?\*$/, '');
    let handler = handlers.get(scriptName);
    if (!handler) handlers.set(scriptName, (handler = toFetchHandler(app, { ...options, scriptName })));
    return handler(c.req.raw);
  });
}

/** Hono context variables set by the adapters: `c.get('environ')`. */
export interface StackwareVariables {
  environ: Environ;
}

/**
 * Runs a Stackware middleware inside a Hono app. Its inner application is Hono's `next()`:
 * the downstream handlers' Response (or their thrown error, which Hono records on `c.error`)
 * comes back through the middleware, and the middleware's response becomes `c.res`. The environ
 * the middleware passed inward is `c.get('environ')`, so `getSession(c.get('environ'))` works
 * in Hono handlers.
 *
 * Register {@link honoOnError} as the app's error handler, so a handler's error reaches the
 * Stackware middleware without Hono printing it first (an exception catcher reports it once).
 *
 * @example
 * const app = new Hono();
 * app.use('*', honoMiddleware((inner) => session(inner, { secret })));
 * app.onError(honoOnError);
 */
export function honoMiddleware(middleware: Middleware, options: ToFetchOptions = {}): MiddlewareHandler<{ Variables: StackwareVariables }> {
  // Applied once; the inner application reaches this request's Hono context through an environ key.
  const app = middleware(async (env, startResponse) => {
    const context = env[CONTEXT_KEY] as { c: Context<{ Variables: StackwareVariables }>; next: () => Promise<void> } | undefined;
    if (!context) throw new Error('honoMiddleware: the inner application was called without its Hono context (the middleware replaced the environ instead of copying it)');
    const { c } = context;
    c.set('environ', env);
    waiting.add(c);
    try {
      await context.next();
    } finally {
      waiting.delete(c);
    }
    // An HTTPException is Hono's way to answer (its response is c.res), not a failure.
    if (c.error && !('getResponse' in c.error)) throw c.error;
    return responseToBody(c.res, startResponse);
  });
  return async (c: Context<{ Variables: StackwareVariables }>, next) => {
    let environ: Environ;
    try {
      environ = c.get('environ') ?? environFromRequest(c.req.raw, options);
    } catch (error) {
      if (error instanceof BadRequestError) {
        c.res = new Response(`${error.message}\n`, { status: 400, headers: { 'content-type': 'text/plain; charset=utf-8' } });
        return;
      }
      throw error;
    }
    c.set('environ', environ);
    environ[CONTEXT_KEY] = { c, next };
    const response = await runToResponse(app, environ, { signal: c.req.raw.signal });
    // Hono merges the previous response's headers into a new one; clear it first so the
    // middleware's headers (which already include the downstream's) are the whole set.
    c.res = undefined as unknown as Response;
    c.res = response;
    c.error = undefined;
  };
}
