import { describe, it, expect, afterAll, afterEach } from '@jest/globals';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { TestClient, type Application } from '@stackware/gateway';
import { serve } from '@stackware/server';
import { startNginx, tempDir } from '@stackware/testing';
import { DebugPin, DEBUG_PIN_COOKIE, DEBUG_PIN_ENV, MAX_PIN_FAILURES, PIN_COOKIE_MAX_AGE_SECONDS, derivedPin, errorCatcher, isLoopbackHost, type ErrorCatcherApplication } from '../src/index.js';
import { captureLogger } from './helpers.js';

const run = promisify(execFile);
const PIN = '314-159-265';
const failing: Application = (environ) => { throw new Error(`Secret failure at ${environ.PATH_INFO}`); };
const catchers: ErrorCatcherApplication[] = [];
const cleanups: Array<() => Promise<void>> = [];
afterAll(async () => {
  for (const c of catchers) await c.close();
  for (const c of cleanups) await c();
});
const savedEnv = process.env[DEBUG_PIN_ENV];
afterEach(() => {
  if (savedEnv === undefined) delete process.env[DEBUG_PIN_ENV];
  else process.env[DEBUG_PIN_ENV] = savedEnv;
});

function catcherWith(options: Parameters<typeof errorCatcher>[1]) {
  const { logger, records } = captureLogger();
  const catcher = errorCatcher(failing, { logger, debug: true, ...options });
  catchers.push(catcher);
  return { catcher, records, http: new TestClient(catcher, { throwErrors: false }) };
}

/** POSTs `pin` to the PIN form; resolves with the response. */
function postPin(http: TestClient, pin: string, next = '/_debug/errors') {
  return http.post('/_debug/errors/pin', { headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ pin, next }).toString() });
}

describe('DebugPin', () => {
  it('accepts the PIN with or without dashes, counts failures, and locks after 10 until restart', () => {
    const pin = new DebugPin(PIN);
    expect(pin.check('314159265')).toBe('ok');
    expect(pin.check('314 159 265')).toBe('ok');
    for (let i = 1; i < MAX_PIN_FAILURES; i++) expect(pin.check('000-000-000')).toBe('wrong');
    expect(pin.check('000-000-000')).toBe('locked');
    expect(pin.check(PIN)).toBe('locked'); // even the right PIN, from now on
    expect(new DebugPin(PIN).check(PIN)).toBe('ok'); // a restart
    expect(() => new DebugPin('12')).toThrow(/at least 6/);
  });

  it('signs a cookie bound to the PIN: HttpOnly, SameSite=Strict, expires, and forged or other-PIN cookies fail', () => {
    let now = 1_800_000_000_000;
    const pin = new DebugPin(PIN, () => now);
    const setCookie = pin.setCookie('/app');
    expect(setCookie).toMatch(new RegExp(`^${DEBUG_PIN_COOKIE}=\\d+\\.[\\w-]+; Path=/app; Max-Age=${PIN_COOKIE_MAX_AGE_SECONDS}; HttpOnly; SameSite=Strict$`));
    const cookie = setCookie.split(';')[0]!;
    const environ = (c: string) => ({ HTTP_COOKIE: `other=1; ${c}` }) as never;
    expect(pin.hasValidCookie(environ(cookie))).toBe(true);
    expect(new DebugPin('271-828-182', () => now).hasValidCookie(environ(cookie))).toBe(false);
    expect(pin.hasValidCookie(environ(cookie.replace(/.$/, (c) => (c === 'A' ? 'B' : 'A'))))).toBe(false);
    expect(pin.hasValidCookie(environ(`${DEBUG_PIN_COOKIE}=${Math.floor(now / 1000) + 1}.${cookie.split('.')[1]}`))).toBe(false);
    now += (PIN_COOKIE_MAX_AGE_SECONDS + 1) * 1000;
    expect(pin.hasValidCookie(environ(cookie))).toBe(false);
  });

  it('derives the same nine-digit PIN in every process of one server (another process, another argv)', async () => {
    expect(derivedPin()).toMatch(/^\d{3}-\d{3}-\d{3}$/);
    const module = fileURLToPath(new URL('../src/debug-pin.ts', import.meta.url));
    const { stdout } = await run(process.execPath, ['--conditions=source', '--import', 'tsx', '--input-type=module', '-e', `const m = await import(${JSON.stringify(module)}); console.log(m.derivedPin());`, 'worker-argument'], { cwd: process.cwd() });
    expect(stdout.trim()).toBe(derivedPin());
  });
});

describe('errorCatcher with the debugger PIN', () => {
  it('logs the derived PIN at start and shows a trusted client without the cookie only the production page', async () => {
    delete process.env[DEBUG_PIN_ENV];
    const { http, records } = catcherWith({});
    expect(records.map((r) => r.msg).join('\n')).toContain(`debugger PIN: ${derivedPin()}`);
    const res = await http.get('/boom', { headers: { Accept: 'text/html' } });
    expect(res.statusCode).toBe(500);
    expect(res.text()).not.toContain('Secret failure');
    expect(res.text()).toContain('enter the debugger PIN');
    const text = await http.get('/boom', { headers: { Accept: 'text/plain' } });
    expect(text.text()).not.toContain('Secret failure');
    expect(text.text()).toContain('/_debug/errors/pin');
  });

  it('takes the PIN from STACKWARE_DEBUG_PIN without printing it; a correct PIN sets the cookie that unlocks debug pages and reports', async () => {
    process.env[DEBUG_PIN_ENV] = PIN;
    const { dir, cleanup } = await tempDir('stackware-errors-pin-');
    cleanups.push(cleanup);
    const { http, records, catcher } = catcherWith({ errorDir: dir });
    expect(records.map((r) => r.msg).join('\n')).not.toContain(PIN);
    await http.get('/first');
    await catcher.idle();
    // The viewer answers the PIN form instead of the list.
    const locked = await http.get('/_debug/errors');
    expect(locked.statusCode).toBe(200);
    expect(locked.text()).toContain('name="pin"');
    expect(locked.text()).not.toContain('Secret failure');
    const wrong = await postPin(http, '000-000-000');
    expect(wrong.statusCode).toBe(403);
    expect(wrong.header('set-cookie')).toBeUndefined();
    const right = await postPin(http, PIN, '/_debug/errors');
    expect(right.statusCode).toBe(303);
    expect(right.header('location')).toBe('/_debug/errors');
    const setCookie = right.header('set-cookie')!;
    expect(setCookie).toContain('HttpOnly');
    expect(setCookie).toContain('SameSite=Strict');
    const cookie = setCookie.split(';')[0]!;
    expect((await http.get('/_debug/errors', { headers: { Cookie: cookie } })).text()).toContain('Secret failure at /first');
    expect((await http.get('/boom', { headers: { Cookie: cookie, Accept: 'text/plain' } })).text()).toContain('Secret failure at /boom');
    // Off-site `next` values are not followed.
    expect((await postPin(http, PIN, '//evil.example/')).header('location')).toBe('/_debug/errors');
  });

  it('locks the PIN after 10 wrong ones: the right PIN is refused until restart', async () => {
    const { http } = catcherWith({ pin: PIN });
    for (let i = 0; i < MAX_PIN_FAILURES; i++) expect((await postPin(http, `${100_000_000 + i}`)).statusCode).toBe(403);
    const after = await postPin(http, PIN);
    expect(after.statusCode).toBe(403);
    expect(after.header('set-cookie')).toBeUndefined();
    expect(after.text()).toContain('locked');
  });

  it('pin: false (or STACKWARE_DEBUG_PIN=off) disables the PIN with a loud warning', async () => {
    process.env[DEBUG_PIN_ENV] = 'off';
    const { http, records } = catcherWith({});
    expect(records[0]!.level).toBe(40);
    expect(String(records[0]!.msg)).toMatch(/DEBUGGER PIN DISABLED/);
    expect((await http.get('/boom', { headers: { Accept: 'text/plain' } })).text()).toContain('Secret failure');
  });

  it('listenHost: debug stays on for loopback, and is turned off with a warning for any other address', async () => {
    expect(['127.0.0.1', 'localhost', '::1', '[::1]', '127.0.0.2'].every(isLoopbackHost)).toBe(true);
    expect(['0.0.0.0', '::', '192.0.2.1', 'example.com'].some(isLoopbackHost)).toBe(false);
    const open = catcherWith({ pin: false, listenHost: '0.0.0.0' });
    expect(open.records.map((r) => String(r.msg)).join('\n')).toMatch(/debug is turned off: the server listens on 0\.0\.0\.0/);
    expect((await open.http.get('/boom', { headers: { Accept: 'text/plain' } })).text()).not.toContain('Secret failure');
    const local = catcherWith({ pin: false, listenHost: '127.0.0.1' });
    expect((await local.http.get('/boom', { headers: { Accept: 'text/plain' } })).text()).toContain('Secret failure');
  });
});

describe('behind a real nginx proxy_pass (default config: from 127.0.0.1, Host 127.0.0.1:port, no X-Forwarded-For)', () => {
  it('a remote-looking request without the PIN cookie gets no debug content; the PIN, entered through nginx, unlocks it', async () => {
    const { dir, cleanup } = await tempDir('stackware-errors-nginx-');
    cleanups.push(cleanup);
    const { logger } = captureLogger();
    const catcher = errorCatcher(failing, { logger, debug: true, pin: PIN, errorDir: dir, trustedHosts: ['localhost', '127.0.0.1'] });
    catchers.push(catcher);
    const server = await serve(catcher, { host: '127.0.0.1', port: 0, accessLog: false });
    cleanups.push(() => server.close());
    const port = new URL(server.url).port;
    const nginx = await startNginx(`server { listen 127.0.0.1:{{PORT}}; location / { proxy_pass http://127.0.0.1:${port}; } }`);
    cleanups.push(() => nginx.stop());

    // What the application sees from nginx: loopback, Host 127.0.0.1:<port>, no forwarding headers.
    for (const accept of ['text/html', 'text/plain', 'application/json']) {
      const res = await fetch(`${nginx.url}/boom`, { headers: { Accept: accept } });
      expect(res.status).toBe(500);
      const body = await res.text();
      expect(body).not.toContain('Secret failure');
      expect(body).not.toContain('debug-pin.test.ts');
    }
    await catcher.idle();
    const list = await fetch(`${nginx.url}/_debug/errors`);
    const listed = await list.text();
    expect(listed).not.toContain('Secret failure');
    expect(listed).toContain('name="pin"');
    const report = (await fetch(`${nginx.url}/_debug/errors/${(await catcher.store!.list())[0]!.id}.json`)).status;
    expect(report).toBe(200); // the PIN form, not the report
    expect(await (await fetch(`${nginx.url}/_debug/errors/${(await catcher.store!.list())[0]!.id}.json`)).text()).not.toContain('Secret failure');

    // With the PIN (a developer on this machine reads it from the log), through the same proxy.
    const unlocked = await fetch(`${nginx.url}/_debug/errors/pin`, {
      method: 'POST', redirect: 'manual',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ pin: PIN, next: '/_debug/errors' }).toString(),
    });
    expect(unlocked.status).toBe(303);
    const cookie = unlocked.headers.getSetCookie()[0]!.split(';')[0]!;
    expect(await (await fetch(`${nginx.url}/boom`, { headers: { Accept: 'text/plain', Cookie: cookie } })).text()).toContain('Secret failure at /boom');
  });
});
