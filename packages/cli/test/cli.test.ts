import { describe, it, expect, afterAll, afterEach, beforeAll } from '@jest/globals';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { freePort, tempDir, waitForPort, type Peer } from '@stackware/testing';
import { EXIT_CODES, OPTIONS, parseCommandLine, UsageError } from '../src/index.js';
import { exited, fixture, get, here, runStackware, stackware, until } from './cli-helpers.js';

const peers: Peer[] = [];
afterEach(async () => {
  await Promise.all(peers.splice(0).map((p) => p.stop()));
});

describe('stackware: usage errors (one line, exit code 2, no stack trace)', () => {
  const cases: Array<[string, string[], RegExp]> = [
    ['a missing module', ['serve', 'no/such/module.ts'], /^stackware: no\/such\/module\.ts: no such file\n$/],
    ['a missing export', ['serve', `${fixture('apps.ts')}#nope`], /has no export named "nope" \(its exports: .*crash.*\)\n$/],
    ['an export that is not an application', ['serve', `${fixture('apps.ts')}#notApp`], /the export "notApp" is number, not an Application/],
    ['an unknown flag', ['serve', fixture('apps.ts'), '--bogus'], /^stackware: unknown option '--bogus' \(stackware serve --help lists the options\)\n$/],
    ['a bad number', ['serve', fixture('apps.ts'), '--port', 'eighty'], /^stackware: --port must be an integer from 0 to 65535, got "eighty"\n$/],
    ['an unknown protocol', ['serve', fixture('apps.ts'), '--protocol', 'gopher'], /--protocol must be one of http/],
    ['an unknown command', ['frobnicate'], /^stackware: unknown command "frobnicate"/],
    ['no target', ['serve'], /missing the application to serve/],
    ['--max-requests without workers', ['serve', fixture('apps.ts'), '--max-requests', '5'], /--max-requests recycles worker processes: add --workers N/],
    ['--lame-duck with workers', ['serve', fixture('apps.ts'), '--lame-duck', '3', '--workers', '2'], /--lame-duck works in one process/],
    ['a port out of range', ['serve', fixture('apps.ts'), '--port', '99999'], /^stackware: --port must be an integer from 0 to 65535, got "99999"\n$/],
    ['a negative worker count', ['serve', fixture('apps.ts'), '--workers', '-1'], /^stackware: --workers must be a non-negative integer, got "-1"\n$/],
    ['a negative timeout (--timeout=-2)', ['serve', fixture('apps.ts'), '--timeout=-2'], /^stackware: --timeout must be a non-negative number, got "-2"\n$/],
    ['a module given to check', ['check', fixture('apps.ts')], /^stackware: check expects a \.toml deploy file, got .*apps\.ts \(to try a module, run stackware serve .*apps\.ts\)\n$/],
  ];
  it.concurrent.each(cases)('%s', async (_name, args, message) => {
    const r = await runStackware(args);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });
});

describe('stackware: system errors', () => {
  it('a port in use is one line and exit code 1 for a deploy file too', async () => {
    const { createServer } = await import('node:net');
    const blocker = createServer();
    const port = await freePort();
    await new Promise<void>((resolve) => blocker.listen(port, '127.0.0.1', resolve));
    const dir = await tempDir('stackware-cli-busy-');
    try {
      const file = join(dir.dir, 'site.toml');
      await writeFile(file, `[app.main]\napplication = "${fixture('hello.mjs')}"\n[server.web]\nhost = "127.0.0.1"\nport = ${port}\n`);
      const r = await runStackware(['serve', file]);
      expect(r.stderr).toMatch(new RegExp(`^stackware: .*site\\.toml.*EADDRINUSE.*\\n$`));
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.code).toBe(EXIT_CODES.system.code);
    } finally {
      await new Promise((resolve) => blocker.close(resolve));
      await dir.cleanup();
    }
  });

  it('a port in use is one line and exit code 1', async () => {
    const { createServer } = await import('node:net');
    const blocker = createServer();
    const port = await freePort();
    await new Promise<void>((resolve) => blocker.listen(port, '127.0.0.1', resolve));
    try {
      const r = await runStackware(['serve', fixture('apps.ts'), '--port', String(port)]);
      expect(r.code).toBe(1);
      expect(r.stderr).toBe(`stackware: Cannot listen on 127.0.0.1:${port}: listen EADDRINUSE: address already in use 127.0.0.1:${port}\n`);
    } finally {
      await new Promise((resolve) => blocker.close(resolve));
    }
  });
});

describe('stackware: an application that fails to load (exit code 3)', () => {
  let dir: { dir: string; cleanup(): Promise<void> };
  beforeAll(async () => {
    dir = await tempDir('stackware-cli-syntax-');
    await writeFile(join(dir.dir, 'package.json'), '{ "type": "module" }\n');
    await writeFile(join(dir.dir, 'syntax.ts'), 'import type { Application } from "@stackware/gateway";\nconst app: Application = (environ, startResponse) => {\n  const x = ;\n};\nexport default app;\n');
    await writeFile(join(dir.dir, 'syntax.mjs'), 'export default function app() {\n  return [;\n}\n');
  });
  afterAll(async () => dir.cleanup());

  it.each([['syntax.ts', 3, 13], ['syntax.mjs', 2, 11]])('a syntax error in %s: its message once, with file:line:col, no loader internals', async (name, line, column) => {
    const r = await runStackware(['serve', join(dir.dir, name), '--port', '0']);
    expect(r.code).toBe(EXIT_CODES.boot.code);
    const location = `${join(dir.dir, name)}:${line}:${column}`;
    expect(r.stderr.split(location).length - 1).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`^stackware: ${location.replace(/[.]/g, '\\.')}: SyntaxError: Unexpected`));
    expect(r.stderr.match(/Unexpected/g)).toHaveLength(1);
    expect(r.stderr).not.toMatch(/esbuild|TransformError|Transform failed|\n\s+at /);
  });

  it('a module that throws while loading: exit code 3 and its stack', async () => {
    const r = await runStackware(['serve', fixture('broken.ts'), '--port', '0']);
    expect(r.code).toBe(EXIT_CODES.boot.code);
    expect(r.stderr).toMatch(/broken at import \(expected by the test\)[\s\S]*\n\s+at .*broken\.ts/);
  });
});

describe('exit codes', () => {
  it('one table: 0 ok, 1 system/runtime error, 2 usage or configuration error, 3 boot failure; listed in --help and the README', async () => {
    expect(Object.values(EXIT_CODES).map((e) => e.code)).toEqual([0, 1, 2, 3]);
    const r = await runStackware(['--help']);
    const readme = await readFile(join(here, '..', 'README.md'), 'utf8');
    for (const { code, meaning } of Object.values(EXIT_CODES)) {
      expect(r.stdout).toContain(`  ${code}  ${meaning}`);
      expect(readme).toContain(`| ${code} | ${meaning} |`);
    }
  });
});

describe('stackware serve --threads', () => {
  it('loads the application in every thread before it listens (the first request does not wait for thread start-up)', async () => {
    const dir = await tempDir('stackware-cli-threads-');
    const mark = join(dir.dir, 'loaded.txt');
    const port = await freePort();
    const { startProcess } = await import('@stackware/testing');
    const server = startProcess(process.execPath, [join(here, '..', 'bin', 'stackware.js'), 'serve', fixture('marks-load.ts'), '--threads', '2', '--port', String(port)], { cwd: here, env: { ...process.env, NODE_OPTIONS: '', LOAD_MARK_FILE: mark } });
    peers.push(server);
    try {
      await waitForPort(port, 60_000);
      // Listening: both threads have already imported the module (no request was made yet).
      const lines = (await readFile(mark, 'utf8').catch(() => '')).trim().split('\n').filter(Boolean);
      expect(lines).toHaveLength(2);
      expect(await get(`http://127.0.0.1:${port}/`)).toMatchObject({ status: 200 });
    } finally {
      await server.stop();
      await dir.cleanup();
    }
  }, 90_000);
});

describe('stackware --help', () => {
  it('lists every option of serve with its default', async () => {
    const r = await runStackware(['serve', '--help']);
    expect(r.code).toBe(0);
    for (const option of OPTIONS.filter((o) => o.commands.includes('serve'))) {
      expect(r.stdout).toContain(`--${option.type === 'boolean' && option.default === true ? `[no-]${option.name}` : option.name}`);
      const shown = option.defaultText ?? (option.type === 'boolean' || option.default === undefined ? undefined : String(option.default));
      if (shown !== undefined) expect(r.stdout).toContain(`(default: ${shown})`);
    }
  });
});

describe('stackware --version', () => {
  it('prints the version of @stackware/cli (its package.json), with --version and -V', async () => {
    const { version } = JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
    for (const flag of ['--version', '-V']) {
      const r = await runStackware([flag]);
      expect({ code: r.code, stdout: r.stdout, stderr: r.stderr }).toEqual({ code: 0, stdout: `${version}\n`, stderr: '' });
    }
  });
});

describe('the command runs compiled dist/ (production), or the sources with STACKWARE_SOURCE=1', () => {
  it('runs a .mjs target from dist/ with no TypeScript loader and no "source" condition', async () => {
    const r = await runStackware(['serve', fixture('which-main.mjs'), '--port', '0']);
    expect(r.stderr).toMatch(/^cli: file:.*\/packages\/cli\/dist\/index\.js\ntypescript: ERR_UNKNOWN_FILE_EXTENSION\n/);
    expect(r.code).toBe(2);
  });

  it('with STACKWARE_SOURCE=1 runs src/ with tsx and the "source" condition', async () => {
    const r = await runStackware(['serve', fixture('which-main.mjs'), '--port', '0'], 30_000, { STACKWARE_SOURCE: '1' });
    expect(r.stderr).toMatch(/^cli: file:.*\/packages\/cli\/src\/index\.ts\ntypescript: loaded\n/);
  });
});

describe('option parsing', () => {
  it('applies defaults, converts numbers, accepts --no-<flag>, records what was given', () => {
    const parsed = parseCommandLine('serve', ['app.ts', '-p', '9000', '--no-access-log', '--timeout', '2.5']);
    expect(parsed.positionals).toEqual(['app.ts']);
    expect(parsed.options).toMatchObject({ port: 9000, host: '127.0.0.1', accessLog: false, timeout: 2.5, workers: 0, reload: false });
    expect([...parsed.given].sort()).toEqual(['accessLog', 'port', 'timeout']);
    expect(() => parseCommandLine('serve', ['--workers', '1.5'])).toThrow(UsageError);
    expect(() => parseCommandLine('serve', ['--log-level', 'loud'])).toThrow(/one of fatal, error/);
  });
});

describe('stackware serve', () => {
  it('serves a compiled .mjs module and a named export of a .ts module', async () => {
    const port = await freePort();
    const js = stackware(['serve', fixture('hello.mjs'), '--port', String(port)]);
    peers.push(js);
    await waitForPort(port, 30_000);
    expect(await get(`http://127.0.0.1:${port}/`)).toEqual({ status: 200, body: 'hello from js\n' });
    await js.stop();
    const port2 = await freePort();
    const ts = stackware(['serve', `${fixture('apps.ts')}#crash`, '--port', String(port2)]);
    peers.push(ts);
    await waitForPort(port2, 30_000);
    expect(await get(`http://127.0.0.1:${port2}/`)).toEqual({ status: 200, body: `pid ${ts.process.pid}` });
    expect(await get(`http://127.0.0.1:${port2}/flags`)).toEqual({ status: 200, body: '{"multiprocess":false,"multithread":false,"run_once":false}' });
  });

  it('SIGTERM under load: every accepted request is answered, then the process exits 0', async () => {
    const port = await freePort();
    const server = stackware(['serve', `${fixture('apps.ts')}#slow`, '--port', String(port), '--shutdown-timeout', '20']);
    peers.push(server);
    await waitForPort(port, 30_000);
    const begun = () => (server.output().match(/^BEGIN$/gm) ?? []).length;
    const first = Array.from({ length: 30 }, () => get(`http://127.0.0.1:${port}/?ms=600`));
    await until(() => begun() >= 30, 20_000, '30 requests started', server.output);
    server.process.kill('SIGTERM');
    // more load while shutting down: each is either answered in full or refused, never cut
    const during = Array.from({ length: 10 }, () => get(`http://127.0.0.1:${port}/?ms=10`));
    const results = await Promise.all(first);
    expect(results).toEqual(Array.from({ length: 30 }, () => ({ status: 200, body: `done ${server.process.pid}` })));
    for (const r of await Promise.all(during)) {
      if ('error' in r) expect(['ECONNREFUSED', 'ECONNRESET']).toContain(r.error);
      else expect(r).toEqual({ status: 200, body: `done ${server.process.pid}` });
    }
    expect(await exited(server)).toBe(0);
    expect(server.output()).toMatch(/shutting down gracefully/);
  });

  it('SIGTERM while the server starts (its module still loading): held, then a graceful stop once started, exit 0', async () => {
    const port = await freePort();
    const server = stackware(['serve', fixture('slow-start.mjs'), '--port', String(port)]);
    peers.push(server);
    await until(() => /LOADING/.test(server.output()), 30_000, 'the module loading', server.output);
    server.process.kill('SIGTERM');
    expect(await exited(server)).toBe(0);
    const output = server.output();
    expect(output).toMatch(/signal received while starting: stopping gracefully once started/);
    expect(output).toMatch(/serving .*slow-start\.mjs on http:\/\/127\.0\.0\.1:\d+/);
    expect(output).toMatch(/shutting down gracefully/);
  });

  it('--lame-duck: after SIGTERM a GET on a new connection gets 503, then the process exits 0 once quiet', async () => {
    const port = await freePort();
    const server = stackware(['serve', `${fixture('apps.ts')}#slow`, '--port', String(port), '--lame-duck', '10']);
    peers.push(server);
    await waitForPort(port, 30_000);
    server.process.kill('SIGTERM');
    await until(() => /shutting down gracefully/.test(server.output()), 10_000, 'the stop began', server.output);
    expect(await get(`http://127.0.0.1:${port}/?ms=10`)).toEqual({ status: 503, body: 'This node is shutting down; the request can be sent to another one\n' });
    expect(await exited(server)).toBe(0); // well before the 10 s bound: no connection for 250 ms ends the phase
    expect(server.output()).toMatch(/lame duck over after \d+ ms \(no new connection for 250 ms\): 1 idempotent requests/);
  });
});

describe('every numeric option is checked the same way', () => {
  const numeric = OPTIONS.filter((o) => o.type === 'number');
  it.each(numeric.map((o) => [o.name]))('--%s rejects a negative value, a word and (when whole) a fraction, naming the range', (name) => {
    const option = numeric.find((o) => o.name === name)!;
    const kind = option.max !== undefined ? `an integer from 0 to ${option.max}` : option.integer ? 'a non-negative integer' : 'a non-negative number';
    for (const bad of ['-1', 'many', ...(option.integer ? ['1.5'] : []), ...(option.max !== undefined ? [String(option.max + 1)] : [])]) {
      expect(() => parseCommandLine('serve', [`--${name}`, bad])).toThrow(new UsageError(`--${name} must be ${kind}, got ${JSON.stringify(bad)}`));
      expect(() => parseCommandLine('serve', [`--${name}=${bad}`])).toThrow(new UsageError(`--${name} must be ${kind}, got ${JSON.stringify(bad)}`));
    }
    expect(parseCommandLine('serve', [`--${name}`, '0']).options).toHaveProperty(name.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase()), 0);
  });
  it('a flag after a numeric option is still a missing value, not a number', () => {
    expect(() => parseCommandLine('serve', ['--workers', '--reload'])).toThrow(/--workers/);
  });
});
