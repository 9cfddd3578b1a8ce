/**
 * `@stackware/adapters/fetch`: Stackware as a fetch handler `(Request) => Response` (Deno, Bun,
 * workers, `@hono/node-server`) and fetch handlers inside Stackware. No framework needed.
 */
export { toFetchHandler, fromFetchHandler, environFromRequest, runToResponse, responseToBody, type FetchHandler, type ToFetchOptions } from '../fetch.js';
