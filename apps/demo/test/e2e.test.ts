/**
 * The demo site end to end, as a new user meets it: started with the README's command
 * (`npx -y pnpm@10 demo`, PORT and the data directory set through the environment) and driven by
 * real Chromium. The same cases run against two deployments:
 *  1. one process serving HTTP directly (the defaults: debug page on loopback, file sessions);
 *  2. real nginx (FastCGI) in front of TWO demo processes that share sessions through real Redis
 *     (`PROTOCOL=fastcgi`, `SESSION_STORE=redis`, `DEBUG=false`).
 * Screenshots of every page go to test-artifacts/ (artifactPath).
 */
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { artifactPath, freePort, launchChromium, startNginx, startRedis, tempDir, waitForPort, type NginxPeer, type RedisPeer } from '@stackware/testing';

const REPO = fileURLToPath(new URL('../../..', import.meta.url));
/** The README's first command (after install): `npx -y pnpm@10 demo`. */
const README_COMMAND = ['npx', '-y', 'pnpm@10', 'demo'] as const;
const START_TIMEOUT_MS = 90_000;
/** Every variable apps/demo/site.toml reads (see apps/demo/README.md). */
const DEMO_VARIABLES = ['PORT', 'HOST', 'PROTOCOL', 'STACKWARE_DATA_DIR', 'SESSION_SECRET', 'SESSION_STORE', 'REDIS_URL', 'ADMIN_USER', 'ADMIN_PASSWORD', 'DEBUG', 'ERROR_EMAIL_TO', 'LAME_DUCK_MS', 'ADMIN_GROUP_USER'];
const PAGE_TIMEOUT_MS = 60_000;
/** The debugger PIN the HTTP deployment is started with (STACKWARE_DEBUG_PIN). */
const DEBUG_PIN = '246-813-579';
jest.setTimeout(120_000); // each case: first requests warm up the pool threads on a shared 2-core machine

/** One demo process started as the README says, in its own process group. */
interface DemoProcess { child: ChildProcess; output(): string; stop(): Promise<void> }

function startDemo(env: Record<string, string>): DemoProcess {
  const childEnv: NodeJS.ProcessEnv = { ...process.env };
  delete childEnv.NODE_OPTIONS; // Jest's --experimental-vm-modules is not part of the README's command
  // The demo's own variables come only from `env` (a CI machine may export HOST or DEBUG for other reasons).
  for (const name of DEMO_VARIABLES) delete childEnv[name];
  Object.assign(childEnv, { HOST: '127.0.0.1' }, env);
  const child = spawn(README_COMMAND[0], README_COMMAND.slice(1), { cwd: REPO, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
  child.stderr!.on('data', (d: Buffer) => { out += d.toString(); });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    child,
    output: () => out,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      // npx → pnpm → node: signal the whole group this test started (detached: the group id is the pid).
      try { process.kill(-child.pid!, 'SIGTERM'); } catch { /* already gone */ }
      const timer = setTimeout(() => { try { process.kill(-child.pid!, 'SIGKILL'); } catch { /* gone */ } }, 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Waits until the demo listens on `port`; fails at once, with its output, if it exits first. */
async function waitForDemo(demo: DemoProcess, port: number): Promise<void> {
  let onExit: (() => void) | undefined;
  const exited = new Promise<never>((_, reject) => {
    onExit = () => reject(new Error(`the demo exited (code ${String(demo.child.exitCode)}) before listening on ${port}:\n${demo.output()}`));
    demo.child.once('exit', onExit);
  });
  try {
    await Promise.race([waitForPort(port, START_TIMEOUT_MS), exited]);
  } catch (error) {
    if (String(error).includes('exited')) throw error;
    throw new Error(`the demo did not listen on ${port}:\n${demo.output()}`, { cause: error });
  } finally {
    demo.child.off('exit', onExit!);
    exited.catch(() => {});
  }
}

/** What differs between the deployments the cases run against. */
interface Deployment {
  /** Label for test names and screenshot files. */
  label: string;
  /** The URL a browser opens. */
  url: string;
  /** True when the error page is the debug page (DEBUG=true and a loopback client). */
  debugErrors: boolean;
  /** Admin login. */
  admin: { username: string; password: string };
  /** How many distinct processes should answer (two behind nginx). */
  processes: number;
}

async function shot(page: Page, deployment: Deployment, name: string): Promise<void> {
  await page.screenshot({ path: await artifactPath(`demo-${deployment.label}-${name}.png`), fullPage: true });
}

/** The footer names the process that answered: "process 1234". */
async function answeringProcess(page: Page): Promise<string> {
  const footer = await page.locator('footer').innerText();
  const match = /process (\d+)/.exec(footer);
  expect(match).not.toBeNull();
  return match![1]!;
}

/**
 * Opens `url` and returns the status the browser received. Headless Chromium, asked for
 * credentials it does not have (or that were refused), ends the navigation with
 * net::ERR_INVALID_AUTH_CREDENTIALS instead of showing the 401 page; the status is then the one of
 * the last response it saw for that URL.
 */
async function refusedStatus(page: Page, url: string): Promise<number | undefined> {
  let last: number | undefined;
  page.on('response', (response) => {
    if (response.url() === url) last = response.status();
  });
  try {
    return (await page.goto(url, { timeout: PAGE_TIMEOUT_MS }))?.status();
  } catch (error) {
    if (!String(error).includes('ERR_INVALID_AUTH_CREDENTIALS')) throw error;
    return last;
  }
}

/**
 * The cases a person would try, in order, against one deployment (`get()` is read when the tests
 * run, after beforeAll started it).
 */
function siteCases(get: () => { deployment: Deployment; browser: Browser }): void {
  let context: BrowserContext;
  let page: Page;
  const open = async (path: string) => {
    const response = await page.goto(new URL(path, get().deployment.url).href, { timeout: PAGE_TIMEOUT_MS });
    expect(response).not.toBeNull();
    return response!;
  };

  beforeAll(async () => {
    context = await get().browser.newContext();
    page = await context.newPage();
    page.setDefaultTimeout(PAGE_TIMEOUT_MS);
  });
  afterAll(async () => {
    await context?.close();
  });

  it('shows the home page with its style sheet and logo', async () => {
    const response = await open('/');
    expect(response.status()).toBe(200);
    await expect(page.locator('h1').innerText()).resolves.toBe('Welcome');
    await expect(page.title()).resolves.toBe('Welcome · Stackware demo');
    await expect(page.getByRole('link', { name: /Session counter/ }).first().isVisible()).resolves.toBe(true);
    // The static files arrived: the logo has pixels and the header took the style sheet's colour.
    await expect(page.evaluate('[...document.querySelectorAll("header img")].every((img) => img.complete && img.naturalWidth > 0)')).resolves.toBe(true);
    await expect(page.evaluate('getComputedStyle(document.querySelector("header.top")).backgroundColor')).resolves.toBe('rgb(30, 58, 95)');
    await shot(page, get().deployment, 'home');
  });

  it('counts visits in the session, across requests (and processes)', async () => {
    const processes = new Set<string>();
    for (let expected = 1; expected <= 6; expected++) {
      const response = await open('/counter');
      expect(response.status()).toBe(200);
      expect((await response.allHeaders())['cache-control']).toBe('private'); // a session page: no shared cache
      await expect(page.locator('#count').innerText()).resolves.toBe(String(expected));
      processes.add(await answeringProcess(page));
    }
    expect(processes.size).toBe(get().deployment.processes);
    await shot(page, get().deployment, 'counter');
  });

  it('keeps the input and shows errors next to the fields for a bad guestbook form', async () => {
    await open('/guestbook');
    await page.fill('#message', 'A message without a name <b>bold?</b>');
    const [response] = await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);
    expect(response!.status()).toBe(422);
    await expect(page.locator('#name-error').innerText()).resolves.toBe('Please give your name.');
    await expect(page.locator('#message').inputValue()).resolves.toBe('A message without a name <b>bold?</b>');
    await expect(page.locator('#message-error').count()).resolves.toBe(0);
    await shot(page, get().deployment, 'guestbook-invalid');
  });

  it('signs the guestbook: 303 back to the page, the entry shown as typed (escaped)', async () => {
    const name = `Ann <script>alert(1)</script> ${get().deployment.label}`;
    await open('/guestbook');
    await page.fill('#name', name);
    await page.fill('#message', 'Hello & <b>welcome</b>!');
    const [response] = await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);
    expect(response!.status()).toBe(200);
    const redirect = await response!.request().redirectedFrom()?.response();
    expect(redirect?.status()).toBe(303);
    expect(new URL(page.url()).pathname).toBe('/guestbook');
    await expect(page.locator('.flash').innerText()).resolves.toBe('Thank you for signing the guestbook!');
    const entry = page.locator('.entries li').first();
    await expect(entry.locator('p').first().innerText()).resolves.toBe('Hello & <b>welcome</b>!');
    await expect(entry.locator('.meta').innerText()).resolves.toContain(name);
    await expect(page.locator('.entries b').count()).resolves.toBe(0); // no markup from the user
    // Reloading the page does not post again (redirect-after-post) and the flash is gone.
    await page.reload();
    await expect(page.locator('.flash').count()).resolves.toBe(0);
    await shot(page, get().deployment, 'guestbook');
  });

  it('uploads a file and shows its name, size, type and SHA-256', async () => {
    const bytes = Buffer.from(Array.from({ length: 70_000 }, (_, i) => (i * 31 + 7) % 256));
    await open('/upload');
    await page.setInputFiles('#file', { name: 'report <2026>.bin', mimeType: 'application/x-demo', buffer: bytes });
    const [response] = await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);
    expect(response!.status()).toBe(200);
    await expect(page.locator('#file-name').innerText()).resolves.toBe('report <2026>.bin');
    await expect(page.locator('#file-size').innerText()).resolves.toBe('68.36 KiB (70,000 bytes)');
    await expect(page.locator('#file-type').innerText()).resolves.toBe('application/x-demo');
    await expect(page.locator('#file-sha256').innerText()).resolves.toBe(createHash('sha256').update(bytes).digest('hex'));
    await shot(page, get().deployment, 'upload');
  });

  it('refuses a file over the 5 MiB limit with 413', async () => {
    const response = await context.request.post(new URL('/upload', get().deployment.url).href, {
      multipart: { file: { name: 'big.bin', mimeType: 'application/octet-stream', buffer: Buffer.alloc(6 * 1024 * 1024, 1) } },
      timeout: PAGE_TIMEOUT_MS,
    });
    expect(response.status()).toBe(413);
  });

  it('shows the exception catcher for a page that throws', async () => {
    const response = await open('/boom');
    expect(response.status()).toBe(500);
    const text = await page.locator('body').innerText();
    if (get().deployment.debugErrors) {
      // Debug output needs the debugger PIN (set through STACKWARE_DEBUG_PIN at start): the page links to the form.
      expect(text).not.toContain('The demo failed on purpose');
      await page.getByRole('link', { name: 'enter the debugger PIN' }).click();
      await page.getByLabel('PIN').fill(DEBUG_PIN);
      await page.getByRole('button', { name: 'Unlock' }).click();
      await page.waitForURL(/\/_debug\/errors\/[0-9a-f]{16}$/);
      const report = await page.locator('body').innerText();
      expect(report).toContain('The demo failed on purpose');
      expect(report).toContain('boom.ts');
    } else {
      expect(text).toContain('Internal Server Error');
      expect(text).toMatch(/Error id: [0-9a-f]{16}/);
      expect(text).not.toContain('The demo failed on purpose');
    }
    await shot(page, get().deployment, 'error');
  });

  it('refuses /admin without credentials and admits the admin with them', async () => {
    const { deployment, browser } = get();
    const anonymous = await browser.newContext();
    try {
      const refused = await anonymous.newPage();
      expect(await refusedStatus(refused, new URL('/admin/', deployment.url).href)).toBe(401);
      await expect(refused.locator('body').innerText().catch(() => '')).resolves.not.toContain('Signed in as');
    } finally {
      await anonymous.close();
    }
    const wrong = await browser.newContext({ httpCredentials: { username: deployment.admin.username, password: 'wrong password' } });
    try {
      expect(await refusedStatus(await wrong.newPage(), new URL('/admin/', deployment.url).href)).toBe(401);
    } finally {
      await wrong.close();
    }
    // An unknown user with the admin's password is refused too (the password is still compared).
    const stranger = await browser.newContext({ httpCredentials: { username: `not-${deployment.admin.username}`, password: deployment.admin.password } });
    try {
      expect(await refusedStatus(await stranger.newPage(), new URL('/admin/', deployment.url).href)).toBe(401);
    } finally {
      await stranger.close();
    }
    const admitted = await browser.newContext({ httpCredentials: deployment.admin });
    try {
      const adminPage = await admitted.newPage();
      const response = await adminPage.goto(new URL('/admin/', deployment.url).href, { timeout: PAGE_TIMEOUT_MS });
      expect(response!.status()).toBe(200);
      await expect(adminPage.locator('#user').innerText()).resolves.toBe(deployment.admin.username);
      await expect(adminPage.locator('footer').innerText()).resolves.toContain('admin thread');
      // [group.admin]: /admin is served by its own process, not by the process that serves the site.
      const adminPid = await adminPage.locator('#pid').innerText();
      const sitePage = await admitted.newPage();
      await sitePage.goto(deployment.url, { timeout: PAGE_TIMEOUT_MS });
      expect(await sitePage.locator('footer').innerText()).not.toContain(`process ${adminPid}`);
      // What the earlier cases stored shows up here: the entry, the upload, the error report and its mail.
      const stats = await adminPage.locator('table.stats').innerText();
      expect(stats).toMatch(/Guestbook entries\s+[1-9]/);
      expect(stats).toMatch(/Uploaded files\s+[1-9]/);
      expect(stats).toMatch(/Error reports\s+[1-9]/);
      expect(stats).toMatch(/Error mails \(\.eml\)\s+[1-9]/);
      await adminPage.screenshot({ path: await artifactPath(`demo-${deployment.label}-admin.png`), fullPage: true });
    } finally {
      await admitted.close();
    }
  });
}

let browser: Browser;
beforeAll(async () => {
  browser = await launchChromium();
}, 60_000);
afterAll(async () => {
  await browser?.close();
});

describe('the demo, started as the README says (HTTP, one process)', () => {
  let demo: DemoProcess | undefined;
  let data: { dir: string; cleanup(): Promise<void> } | undefined;
  let deployment: Deployment;

  beforeAll(async () => {
    data = await tempDir('stackware-demo-');
    const port = await freePort();
    demo = startDemo({ PORT: String(port), STACKWARE_DATA_DIR: data.dir, DEBUG: 'true', PROTOCOL: 'http', SESSION_STORE: 'file', STACKWARE_DEBUG_PIN: DEBUG_PIN });
    await waitForDemo(demo, port);
    deployment = { label: 'http', url: `http://127.0.0.1:${port}/`, debugErrors: true, admin: { username: 'admin', password: 'admin' }, processes: 1 };
  }, START_TIMEOUT_MS + 10_000);

  afterAll(async () => {
    await demo?.stop();
    await data?.cleanup();
  }, 30_000);

  it('warns at start that the admin login is the default one', () => {
    expect(demo!.output()).toContain('default login admin / admin');
  });

  describe('pages', () => {
    siteCases(() => ({ deployment, browser }));
  });
});

describe('the demo behind nginx (FastCGI), two processes sharing sessions through Redis', () => {
  let demos: DemoProcess[] = [];
  let data: { dir: string; cleanup(): Promise<void> } | undefined;
  let redis: RedisPeer | undefined;
  let nginx: NginxPeer | undefined;
  let deployment: Deployment;

  beforeAll(async () => {
    data = await tempDir('stackware-demo-nginx-');
    redis = await startRedis();
    const ports = [await freePort(), await freePort()];
    const env = (port: number) => ({
      PORT: String(port), PROTOCOL: 'fastcgi', STACKWARE_DATA_DIR: data!.dir, SESSION_STORE: 'redis', REDIS_URL: redis!.url,
      DEBUG: 'false', ADMIN_USER: 'operator', ADMIN_PASSWORD: 'correct horse battery staple',
    });
    demos = ports.map((port) => startDemo(env(port)));
    for (const [i, port] of ports.entries()) await waitForDemo(demos[i]!, port);
    nginx = await startNginx(`
  upstream demo { server 127.0.0.1:${ports[0]}; server 127.0.0.1:${ports[1]}; }
  server {
    listen 127.0.0.1:{{PORT}};
    client_max_body_size 10m;
    location / {
      include /etc/nginx/fastcgi_params;
      fastcgi_param SCRIPT_NAME '';
      fastcgi_param PATH_INFO $uri;
      fastcgi_pass demo;
    }
  }`);
    deployment = { label: 'nginx-fastcgi', url: `${nginx.url}/`, debugErrors: false, admin: { username: 'operator', password: 'correct horse battery staple' }, processes: 2 };
  }, 2 * START_TIMEOUT_MS + 20_000);

  afterAll(async () => {
    await nginx?.stop();
    await Promise.allSettled(demos.map((d) => d.stop()));
    await redis?.stop();
    await data?.cleanup();
  }, 30_000);

  describe('pages', () => {
    siteCases(() => ({ deployment, browser }));
  });
});
