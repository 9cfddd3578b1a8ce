/**
 * @stackware/adapters — use any Stackware application or middleware inside Express/Connect,
 * Hono/fetch runtimes and Fastify, and mount their handlers inside a Stackware stack.
 */
export { toNodeHandler, fromNodeHandler, environFromNode, environOr400, responseHeaders, patchResponse, ChunkQueue, type NodeHandler, type RequestWithEnviron, type ToNodeOptions, type FromNodeOptions, type ResponseHooks } from './node.js';
export { toFetchHandler, fromFetchHandler, environFromRequest, runToResponse, responseToBody, type FetchHandler, type ToFetchOptions } from './fetch.js';
export { toConnectMiddleware, type ConnectMiddleware, type ConnectErrorMiddleware } from './connect.js';
export { honoMiddleware, honoMount, honoOnError, type HonoRoutes, type StackwareVariables } from './hono.js';
export { toFastifyHandler, stackwareFastify, stackwareHooks, type StackwareFastifyOptions, type StackwareHooksOptions } from './fastify.js';
