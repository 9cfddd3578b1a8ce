/**
 * `@stackware/adapters/fastify`: Stackware applications inside Fastify (`stackwareFastify`
 * plugin, `toFastifyHandler`). Needs nothing from Express or Hono.
 */
export { toFastifyHandler, stackwareFastify, type StackwareFastifyOptions } from '../fastify.js';
export type { ToNodeOptions } from '../node.js';
