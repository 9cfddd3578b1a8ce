/**
 * `@stackware/adapters/hono`: a Stackware middleware inside Hono (`honoMiddleware`), plus the
 * fetch adapters Hono runs on. Needs nothing from Express or Fastify. Importing it types
 * `c.get('environ')` in every Hono handler.
 */
import type { Environ } from '@stackware/gateway';

export { honoMiddleware, type StackwareVariables } from '../hono.js';
export { toFetchHandler, fromFetchHandler, environFromRequest, runToResponse, responseToBody, type FetchHandler, type ToFetchOptions } from '../fetch.js';

declare module 'hono' {
  interface ContextVariableMap {
    /** The request's Stackware environ, set by `honoMiddleware`: `getSession(c.get('environ'))`. */
    environ: Environ;
  }
}
