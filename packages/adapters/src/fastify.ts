import { STATUS_CODES } from 'node:http';
import { PassThrough } from 'node:stream';
import type { FastifyInstance, FastifyPluginOptions, FastifyReply, FastifyRequest } from 'fastify';
import { BadRequestError, HOP_BY_HOP_HEADERS, runApplication, type Application, type Headers, type Middleware, type ResponseBody, type ResponseSink } from '@stackware/gateway';
import { ResponseSignal } from '@stackware/server';
import { environFromNode, toNodeHandler, type RequestWithEnviron, type ToNodeOptions } from './node.js';

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

const CONTEXT_KEY = 'stackware.adapters.fastify';

/** The middleware's response head, as runApplication sends it. */
interface ResponseHead {
  status: string;
  headers: Headers;
  length: number | undefined;
}

/** One request's link between the Fastify hooks and the Stackware middleware. */
interface HookContext {
  request: FastifyRequest;
  /** Called (once) when the middleware calls its inner application: Fastify's route runs then. */
  onContinue?: () => void;
  /** Called (once) with the middleware's response head, or undefined when nothing will be sent. */
  onAnswer?: (head: ResponseHead | undefined) => void;
  continued: boolean;
  answer: ResponseHead | undefined | null;
  /** The middleware's response body, handed to Fastify as a stream payload. */
  body: PassThrough;
  /** Set by the inner application: hands it the route's response, or the route's error. */
  deliver?: (status: string, headers: Headers, payload: unknown) => void;
  fail?: (error: unknown) => void;
  routeError?: unknown;
  /** The middleware answered without running the route (its reply passes onSend untouched). */
  own: boolean;
  passed: boolean;
}

const contexts = new WeakMap<object, HookContext>();

/** A Fastify payload (string, Buffer, Node or web stream, nothing) as a Stackware body. */
function payloadBody(payload: unknown): ResponseBody {
  if (payload === undefined || payload === null) return [];
  if (typeof payload === 'string') return [Buffer.from(payload)];
  if (payload instanceof Uint8Array) return [payload];
  const stream = payload as { destroy?(): void; cancel?(): Promise<void>; [Symbol.asyncIterator]?: () => AsyncIterator<unknown> };
  if (typeof stream[Symbol.asyncIterator] === 'function') {
    return {
      async *[Symbol.asyncIterator]() {
        for await (const chunk of stream as AsyncIterable<unknown>) yield typeof chunk === 'string' ? Buffer.from(chunk) : chunk as Uint8Array;
      },
      close() {
        if (typeof stream.destroy === 'function') stream.destroy();
        else void stream.cancel?.().catch(() => undefined);
      },
    };
  }
  throw new TypeError(`stackwareHooks: cannot pass a Fastify payload of type ${typeof payload} through a Stackware middleware`);
}

/** The headers a Fastify reply holds, as Stackware header pairs (Set-Cookie repeated; Content-Type required by the contract). */
function replyHeaders(reply: FastifyReply): Headers {
  const headers: Headers = [];
  for (const [name, value] of Object.entries(reply.getHeaders())) {
    // getHeaders() names are lower-case, as the gateway's one list is.
    if (value === undefined || HOP_BY_HOP_HEADERS.has(name)) continue;
    for (const v of Array.isArray(value) ? value : [value]) headers.push([name, String(v)]);
  }
  const code = reply.statusCode;
  const hasType = headers.some(([n]) => n === 'content-type');
  if (code >= 200 && code !== 204 && code !== 304 && !hasType) headers.push(['content-type', 'application/octet-stream']);
  if ((code === 204 || code === 304) && hasType) return headers.filter(([n]) => n !== 'content-type');
  return headers;
}

/** Makes the middleware's status and headers the reply's (replacing the route's). */
function applyHead(reply: FastifyReply, head: ResponseHead): void {
  const code = parseInt(head.status, 10);
  reply.code(code);
  reply.raw.statusMessage = head.status.slice(4);
  for (const name of Object.keys(reply.getHeaders())) reply.removeHeader(name);
  const grouped = new Map<string, string[]>();
  for (const [name, value] of head.headers) {
    const lower = name.toLowerCase();
    grouped.set(lower, [...(grouped.get(lower) ?? []), value]);
  }
  for (const [name, values] of grouped) reply.header(name, name === 'set-cookie' ? values : values.join(', '));
  if (head.length !== undefined && !grouped.has('content-length') && code >= 200 && code !== 204 && code !== 304) reply.header('content-length', String(head.length));
}

/** Options of {@link stackwareHooks}: the middleware, and the environ options of {@link environFromNode}. */
export interface StackwareHooksOptions extends FastifyPluginOptions, ToNodeOptions {
  middleware: Middleware;
}

/**
 * A Fastify plugin that runs a Stackware middleware around the native Fastify routes of the scope
 * it is registered in (Fastify's encapsulation: register it inside a plugin to cover only that
 * plugin's routes). Its inner application is the rest of Fastify's request lifecycle:
 *
 * - `onRequest` builds the environ (SCRIPT_NAME "", or `scriptName`) and runs the middleware; when
 *   the middleware calls its inner application, Fastify goes on (body parsing, validation, the
 *   route) with the environ the middleware passed inward on `request.raw.environ` (so
 *   `getSession(request.raw.environ)` works in routes). A middleware that answers by itself
 *   (`basicAuth`'s 401) answers the request; the route does not run.
 * - `onSend` gives the route's reply (status, headers, payload) to the middleware as the inner
 *   application's response; the middleware's status, headers and body replace the reply's, streamed
 *   (a session cookie, compression, an added header).
 * - `onError` keeps a route's error: when Fastify would answer it with a 5xx, the inner application
 *   throws it instead, so an exception catcher around the routes reports it and answers its page.
 *   Errors Fastify answers with a 4xx (validation, 404) pass as responses.
 *
 * The middleware must not read the request body (`stackware.input`): Fastify parses it for the
 * route after the middleware has passed the request on. A bad path answers 400.
 *
 * @example
 * await fastify.register(stackwareHooks, { middleware: (inner) => session(inner, { secret }) });
 * fastify.get('/count', async (request) => { const s = getSession(request.raw.environ); ... });
 */
export async function stackwareHooks(fastify: FastifyInstance, options: StackwareHooksOptions): Promise<void> {
  const inner: Application = (env, startResponse) => {
    const context = env[CONTEXT_KEY] as HookContext | undefined;
    if (!context) throw new Error('stackwareHooks: the inner application was called without its Fastify request (the middleware replaced the environ instead of copying it)');
    (context.request.raw as RequestWithEnviron).environ = env;
    return new Promise<ResponseBody>((resolve, reject) => {
      context.deliver = (status, headers, payload) => {
        try {
          startResponse(status, headers);
          resolve(payloadBody(payload));
        } catch (error) {
          reject(error);
        }
      };
      context.fail = reject;
      context.continued = true;
      context.onContinue?.();
    });
  };
  const app = options.middleware(inner);
  const { middleware: _middleware, ...environOptions } = options;

  fastify.addHook('onRequest', async (request, reply) => {
    let environ;
    try {
      environ = environFromNode(request.raw as RequestWithEnviron, environOptions);
    } catch (error) {
      if (!(error instanceof BadRequestError)) throw error;
      return reply.code(400).type('text/plain; charset=utf-8').send(`${error.message}\n`);
    }
    const context: HookContext = { request, continued: false, answer: null, body: new PassThrough(), own: false, passed: false };
    contexts.set(request.raw, context);
    environ[CONTEXT_KEY] = context;
    const signal = new ResponseSignal();
    reply.raw.once('close', () => { if (!reply.raw.writableFinished) signal.abort(); });
    const answer = (head: ResponseHead | undefined) => {
      if (context.answer !== null) return;
      context.answer = head;
      context.onAnswer?.(head);
    };
    const sink: ResponseSink = {
      signal,
      sendHeaders: (status, headers, length) => answer({ status, headers, length }),
      write: (chunk) => {
        if (context.body.write(chunk)) return undefined;
        return new Promise<void>((resolve) => {
          const done = () => { signal.removeEventListener('abort', done); context.body.off('drain', done); resolve(); };
          context.body.once('drain', done);
          signal.addEventListener('abort', done);
        });
      },
      end: () => { context.body.end(); },
      abort: (error) => { context.body.destroy(error instanceof Error ? error : new Error(String(error))); },
    };
    void runApplication(app, environ, sink, { head: request.method === 'HEAD' }).then(() => answer(undefined));
    // Either the middleware passes the request on (Fastify continues) or it answers by itself.
    const passedOn = await new Promise<boolean>((resolve) => {
      if (context.continued) resolve(true);
      else if (context.answer !== null) resolve(false);
      else {
        context.onContinue = () => resolve(true);
        context.onAnswer = () => resolve(false);
      }
    });
    context.onContinue = undefined;
    context.onAnswer = undefined;
    if (passedOn) return undefined;
    context.own = true;
    if (!context.answer) return reply.hijack(); // nothing to send: the client went away
    applyHead(reply, context.answer);
    return reply.send(context.body);
  });

  fastify.addHook('onError', async (request, _reply, error) => {
    const context = contexts.get(request.raw);
    if (context) context.routeError = error;
  });

  fastify.addHook('onSend', async (request, reply, payload) => {
    const context = contexts.get(request.raw);
    if (!context || context.own || context.passed || !context.deliver) return payload;
    context.passed = true;
    const head = new Promise<ResponseHead | undefined>((resolve) => {
      if (context.answer !== null) resolve(context.answer);
      else context.onAnswer = resolve;
    });
    if (context.routeError !== undefined && reply.statusCode >= 500) {
      (payload as { destroy?(): void } | null)?.destroy?.();
      context.fail!(context.routeError);
    } else {
      const code = reply.statusCode;
      context.deliver(`${code} ${reply.raw.statusMessage || STATUS_CODES[code] || 'Unknown'}`, replyHeaders(reply), payload);
    }
    const answered = await head;
    if (!answered) return null;
    applyHead(reply, answered);
    return context.body;
  });
}
(stackwareHooks as unknown as Record<symbol, boolean>)[Symbol.for('skip-override')] = true;
