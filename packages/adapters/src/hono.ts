import type { Context, MiddlewareHandler } from 'hono';
import { BadRequestError, type Environ, type Middleware } from '@stackware/gateway';

const CONTEXT_KEY = 'stackware.adapters.hono';
import { environFromRequest, responseToBody, runToResponse, type ToFetchOptions } from './fetch.js';

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
 * @example
 * const app = new Hono();
 * app.use('*', honoMiddleware((inner) => session(inner, { secret })));
 */
export function honoMiddleware(middleware: Middleware, options: ToFetchOptions = {}): MiddlewareHandler<{ Variables: StackwareVariables }> {
  // Applied once; the inner application reaches this request's Hono context through an environ key.
  const app = middleware(async (env, startResponse) => {
    const context = env[CONTEXT_KEY] as { c: Context<{ Variables: StackwareVariables }>; next: () => Promise<void> } | undefined;
    if (!context) throw new Error('honoMiddleware: the inner application was called without its Hono context (the middleware replaced the environ instead of copying it)');
    const { c } = context;
    c.set('environ', env);
    await context.next();
    if (c.error) throw c.error;
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
