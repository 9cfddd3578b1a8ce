import { describe, it, expect, afterAll } from '@jest/globals';
import { readdir } from 'node:fs/promises';
import { TestClient, type FactoryContext } from '@stackware/gateway';
import { tempDir } from '@stackware/testing';
import { factories, errorCatcher, getErrorReport } from '../src/index.js';
import { captureLogger } from './helpers.js';

const cleanups: Array<() => Promise<void>> = [];
afterAll(async () => { for (const c of cleanups) await c(); });

function context(here: string): FactoryContext {
  return { name: 'errors', here, defaults: {}, loadApp: async () => () => [] };
}

describe('deploy-file factory', () => {
  it('is the default filter, declares its option types, and resolves paths against the deploy file', async () => {
    const { dir, cleanup } = await tempDir('stackware-errors-factory-');
    cleanups.push(cleanup);
    const factory = factories.filters!.default!;
    expect(factory.optionTypes).toMatchObject({ debug: 'boolean', errorDir: 'string', emailTo: 'string[]', smtp: 'string' });
    const middleware = await factory({ debug: true, debugPin: 'off', errorDir: 'var/errors', emailTo: 'ops@example.test', emailDir: 'var/mail', trustedHosts: 'localhost, app.test' }, context(dir));
    const app = middleware(() => { throw new Error('from the deploy file'); }) as ReturnType<typeof errorCatcher>;
    const res = await new TestClient(app, { throwErrors: false }).get('/', { headers: { Accept: 'text/plain', Host: 'app.test' } });
    expect(res.text()).toContain('from the deploy file'); // debug page for a trusted host
    await app.idle();
    expect((await readdir(`${dir}/var/errors`)).filter((n) => n.endsWith('.json'))).toHaveLength(1);
    expect((await readdir(`${dir}/var/mail`)).filter((n) => n.endsWith('.eml'))).toHaveLength(1);
    await app.close();
  });

  it('rejects bad options with a message naming the option', async () => {
    const factory = factories.filters!.default!;
    await expect(async () => factory({ redactFields: '(' }, context('/tmp'))).rejects.toThrow(/\[filter\.errors\] option "redactFields" is not a valid regular expression/);
    await expect(async () => factory({ debugPin: '12' }, context('/tmp'))).rejects.toThrow(/\[filter\.errors\] option "debugPin" is not a usable PIN: The debugger PIN must have at least 6 characters/);
    await expect(async () => factory({ maxReports: 0 }, context('/tmp'))).rejects.toThrow(/\[filter\.errors\] option "maxReports" must be ≥ 1, got 0 — write maxReports = 500/);
    await expect(async () => factory({ smtp: 'smtp://127.0.0.1:2525' }, context('/tmp'))).rejects.toThrow(/emailTo/);
    await expect(async () => factory({ viewerPath: 'debug' }, context('/tmp'))).rejects.toThrow(/viewerPath must start with "\/"/);
    const noMail = await factory({ emailTo: '' }, context('/tmp')); // an empty list (an unset variable) means no mail
    expect((noMail(() => []) as ReturnType<typeof errorCatcher>).mailer).toBeUndefined();
  });
});

describe('request ids and HEAD', () => {
  it('uses the request id the server put in the environ, else X-Request-Id, else the error id', async () => {
    const { logger, records } = captureLogger();
    let seen: unknown;
    const app = errorCatcher((environ) => { seen = environ; throw new Error('x'); }, { logger });
    const http = new TestClient(app, { throwErrors: false });
    await http.get('/', { environ: { 'stackware.server.request_id': 'srv-1' } });
    await http.get('/', { headers: { 'X-Request-Id': 'edge-2' } });
    await http.get('/', { headers: { 'X-Request-Id': 'bad id <with> spaces' } });
    expect(records.map((r) => r.req_id)).toEqual(['srv-1', 'edge-2', records[2]!.error_id]);
    expect(getErrorReport(seen as never)!.id).toBe(records[2]!.error_id);
  });

  it('answers HEAD with the error status and headers, and no body', async () => {
    const app = errorCatcher(() => { throw new Error('x'); }, { logger: captureLogger().logger });
    const res = await new TestClient(app, { throwErrors: false }).head('/', { headers: { Accept: 'text/html' } });
    expect(res.statusCode).toBe(500);
    expect(res.header('content-type')).toBe('text/html; charset=utf-8');
    expect(res.body.length).toBe(0);
  });
});

describe('the request id of a report', () => {
  it('is the one the gateway set (getRequestId), not a key nothing sets', async () => {
    const { REQUEST_ID_KEY } = await import('@stackware/gateway');
    const { requestIdOf } = await import('../src/index.js');
    const environ = { REQUEST_METHOD: 'GET', [REQUEST_ID_KEY]: 'from-server', 'stackware.request_id': 'stale' } as never;
    expect(requestIdOf(environ, 'fallback')).toBe('from-server');
    expect(requestIdOf({ REQUEST_METHOD: 'GET', HTTP_X_REQUEST_ID: 'from-nginx' } as never, 'fallback')).toBe('from-nginx');
    expect(requestIdOf({ REQUEST_METHOD: 'GET' } as never, 'fallback')).toBe('fallback');
  });
});
