/**
 * `@stackware/adapters/express`: Stackware inside Express or Connect (and any Node
 * `(req, res, next)` framework), and their handlers inside Stackware. Needs nothing from Hono or
 * Fastify. Importing it types `req.environ` on Express requests.
 */
import type { Environ } from '@stackware/gateway';

export { toNodeHandler, fromNodeHandler, environFromNode, environOr400, responseHeaders, patchResponse, ChunkQueue, type NodeHandler, type RequestWithEnviron, type ToNodeOptions, type FromNodeOptions, type ResponseHooks } from '../node.js';
export { toConnectMiddleware, type ConnectMiddleware, type ConnectErrorMiddleware } from '../connect.js';

declare global {
  // Express's own types (@types/express-serve-static-core) merge their Request into this global
  // interface, so the augmentation needs no import of Express (absent for Connect users).
  namespace Express {
    interface Request {
      /**
       * The request's Stackware environ, set by `toConnectMiddleware` (and `toNodeHandler`) for
       * the handlers after it: `getSession(req.environ)`. Absent on requests that did not pass
       * through one of them.
       */
      environ: Environ;
    }
  }
}
