/**
 * The subpath entries (`@stackware/adapters/express`, `/hono`, `/fastify`, `/fetch`): each
 * exports its framework's adapters, and `/express` and `/hono` type the environ in handlers
 * (`req.environ`, `c.get('environ')`). The type assertions are checked by `pnpm typecheck`; the
 * pack-and-install test (packages/cli/test/pack-install.test.ts) type-checks an Express-only
 * consumer of the published tarballs without Hono's or Fastify's types.
 */
import { describe, it, expect } from '@jest/globals';
import express from 'express';
import { Hono } from 'hono';
import { TestClient, type Environ, type Middleware } from '@stackware/gateway';
import * as expressEntry from '../src/exports/express.js';
import * as honoEntry from '../src/exports/hono.js';
import * as fastifyEntry from '../src/exports/fastify.js';
import * as fetchEntry from '../src/exports/fetch.js';

const tagging: Middleware = (app) => (environ, startResponse) => app({ ...environ, 'stackware.test.tag': 'tagged' }, startResponse);

describe('@stackware/adapters subpaths', () => {
  it('each entry exports its framework\'s adapters', () => {
    expect(Object.keys(expressEntry).sort()).toEqual(['ChunkQueue', 'environFromNode', 'environOr400', 'fromNodeHandler', 'patchResponse', 'responseHeaders', 'toConnectMiddleware', 'toNodeHandler']);
    expect(Object.keys(honoEntry).sort()).toEqual(['environFromRequest', 'fromFetchHandler', 'honoMiddleware', 'responseToBody', 'runToResponse', 'toFetchHandler']);
    expect(Object.keys(fastifyEntry).sort()).toEqual(['stackwareFastify', 'toFastifyHandler']);
    expect(Object.keys(fetchEntry).sort()).toEqual(['environFromRequest', 'fromFetchHandler', 'responseToBody', 'runToResponse', 'toFetchHandler']);
  });

  it('/express: req.environ is typed as the Environ in Express handlers', async () => {
    const app = express();
    app.use(expressEntry.toConnectMiddleware(tagging));
    app.get('/', (req, res) => {
      const environ: Environ = req.environ;
      // @ts-expect-error req.environ is an Environ, not any
      const wrong: number = req.environ;
      res.send(`${String(environ['stackware.test.tag'])} ${typeof wrong}`);
    });
    const response = await new TestClient(expressEntry.fromNodeHandler(app)).get('/');
    expect(response.text()).toBe('tagged object');
  });

  it('/hono: c.get(\'environ\') is typed as the Environ without declaring Variables', async () => {
    const hono = new Hono();
    hono.use('*', honoEntry.honoMiddleware(tagging));
    hono.get('/', (c) => {
      const environ: Environ = c.get('environ');
      // @ts-expect-error c.get('environ') is an Environ, not any
      const wrong: number = c.get('environ');
      return c.text(`${String(environ['stackware.test.tag'])} ${typeof wrong}`);
    });
    expect(await (await hono.request('/')).text()).toBe('tagged object');
  });
});
