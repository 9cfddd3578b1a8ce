import type { FastifyInstance, FastifyPluginOptions, FastifyReply, FastifyRequest } from 'fastify';
import type { Application } from '@stackware/gateway';
import { toNodeHandler, type ToNodeOptions } from './node.js';

/**
 * A Fastify route handler that hands the raw request and response to a Stackware application
 * (`reply.hijack()`): streaming both ways, the environ on `request.raw.environ`. Fastify must not
 * parse the body first: use {@link stackwareFastify}, which registers a pass-through body parser
 * in its own scope, or do the same yourself.
 */
export function toFastifyHandler(app: Application, options: ToNodeOptions = {}): (request: FastifyRequest, reply: FastifyReply) => Promise<void> {
  const handler = toNodeHandler(app, options);
  return async (request, reply) => {
    reply.hijack();
    await handler(request.raw, reply.raw);
  };
}

/** Options of {@link stackwareFastify}: the application, and the usual Fastify `prefix`. */
export interface StackwareFastifyOptions extends FastifyPluginOptions {
  app: Application;
  prefix?: string;
}

/**
 * A Fastify plugin that mounts a Stackware application under the plugin's prefix: every method,
 * every path below it, bodies left unparsed for the application, SCRIPT_NAME set to the prefix.
 *
 * @example
 * await fastify.register(stackwareFastify, { app: site, prefix: '/site' });
 */
export async function stackwareFastify(fastify: FastifyInstance, options: StackwareFastifyOptions): Promise<void> {
  const prefix = (options.prefix ?? '').replace(/\/$/, '');
  fastify.removeAllContentTypeParsers();
  fastify.addContentTypeParser('*', (_request, _payload, done) => done(null, undefined));
  const handler = toFastifyHandler(options.app, { scriptName: prefix });
  fastify.all('/*', handler);
  fastify.all('/', handler);
}
