import { describe, it, expect } from '@jest/globals';
import { createServer } from 'node:net';
import { text, type Application } from '@stackware/gateway';
import { run, serve, createLogger, type ServePlan, type BuiltApplication, type Supervisor } from '../src/index.js';

/**
 * run(plan) in one process (the prefork primary and workers are run by the CLI's tests, which
 * fork real processes: packages/cli/test/prefork.test.ts, chaos.test.ts).
 */

const logger = createLogger({ level: 'silent' });

/** A plan serving `apps` (name → application builder) on loopback, port 0, one server per app. */
function plan(apps: Record<string, () => Promise<BuiltApplication>>, more: Partial<ServePlan> = {}): ServePlan {
  return {
    label: 'test',
    logger,
    applications: new Map(Object.entries(apps).map(([name, build]) => [name, { build }])),
    servers: Object.keys(apps).map((name) => ({ name, app: name, label: name, start: (app: Application) => serve(app, { host: '127.0.0.1', port: 0, logger, accessLog: false }) })),
    signals: false,
    ...more,
  };
}

const built = (app: Application, events: string[] = [], name = 'app'): BuiltApplication => ({ app, dispose: async () => void events.push(`dispose ${name}`) });
const get = async (url: string) => {
  const response = await fetch(url);
  return { status: response.status, body: await response.text(), retryAfter: response.headers.get('retry-after') };
};

describe('run(plan) in one process', () => {
  it('starts the supervisors first, serves every server, and on close stops servers, then applications, then supervisors', async () => {
    const events: string[] = [];
    const supervisor: Supervisor = {
      name: 'metrics',
      start: async ({ role }) => {
        events.push(`start supervisor (${role})`);
        return { close: async () => void events.push('close supervisor') };
      },
    };
    const running = await run(plan({
      one: async () => { events.push('build one'); return built(text('one\n'), events, 'one'); },
      two: async () => { events.push('build two'); return built(text('two\n'), events, 'two'); },
    }, { supervisors: [supervisor] }));
    expect(running.role).toBe('single');
    expect(running.servers.map((s) => s.name)).toEqual(['one', 'two']);
    expect((await get(running.servers[0]!.url)).body).toBe('one\n');
    expect((await get(running.servers[1]!.url)).body).toBe('two\n');
    await running.close();
    expect(events).toEqual(['start supervisor (single)', 'build one', 'build two', 'dispose one', 'dispose two', 'close supervisor']);
    await expect(fetch(running.servers[0]!.url)).rejects.toThrow();
  });

  it('a server that cannot listen: what was started is stopped and the error is thrown', async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const port = (taken.address() as { port: number }).port;
    const events: string[] = [];
    try {
      const failing = plan({ main: async () => built(text('x'), events) }, {
        supervisors: [{ name: 'extra', start: async () => ({ close: async () => void events.push('close supervisor') }) }],
      });
      const servers = [{ ...failing.servers[0]!, start: (app: Application) => serve(app, { host: '127.0.0.1', port, logger, accessLog: false }) }];
      await expect(run({ ...failing, servers })).rejects.toThrow(/EADDRINUSE|in use/);
      expect(events).toEqual(['dispose app', 'close supervisor']);
    } finally {
      taken.close();
    }
  });

  it('an init failure the plan calls retryable answers 503 + Retry-After, and a request a second later builds it again', async () => {
    let attempts = 0;
    const running = await run({
      ...plan({}),
      applications: new Map([['main', {
        build: async () => {
          if (++attempts === 1) throw new Error('database not up yet');
          return built(text('up\n'));
        },
        retryable: (error: unknown) => error instanceof Error && error.message.includes('not up'),
      }]]),
      servers: [{ name: 'main', app: 'main', label: 'main', start: (app) => serve(app, { host: '127.0.0.1', port: 0, logger, accessLog: false }) }],
    });
    try {
      const url = running.servers[0]!.url;
      expect(await get(url)).toEqual({ status: 503, body: expect.stringContaining('failed to initialise'), retryAfter: '1' });
      await new Promise((resolve) => setTimeout(resolve, 1100));
      expect(await get(url)).toEqual({ status: 200, body: 'up\n', retryAfter: null });
      expect(attempts).toBe(2);
    } finally {
      await running.close();
    }
  });

  it('an error the plan does not call retryable is thrown (nothing listens)', async () => {
    await expect(run(plan({ main: async () => { throw new Error('a mistake'); } }))).rejects.toThrow('a mistake');
  });

  it('reload() swaps in the rebuilt applications between requests and disposes the old build; without rebuild it applies nothing', async () => {
    const events: string[] = [];
    let generation = 1;
    const make = () => built(text(`generation ${generation}\n`), events, `generation ${generation}`);
    const running = await run(plan({ main: async () => make() }, {
      reload: { rebuild: async () => (generation === 3 ? undefined : new Map([['main', make()]])) },
    }));
    try {
      const url = running.servers[0]!.url;
      expect((await get(url)).body).toBe('generation 1\n');
      generation = 2;
      expect(await running.reload()).toBe(true);
      expect((await get(url)).body).toBe('generation 2\n');
      expect(events).toEqual(['dispose generation 1']);
      generation = 3; // the rebuild refuses (an invalid edit): the current build keeps serving
      expect(await running.reload()).toBe(false);
      expect((await get(url)).body).toBe('generation 2\n');
    } finally {
      await running.close();
    }
    const still = await run(plan({ main: async () => built(text('same\n')) }));
    try {
      expect(await still.reload()).toBe(false);
    } finally {
      await still.close();
    }
  });
});
