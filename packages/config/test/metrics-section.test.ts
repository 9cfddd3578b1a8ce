/** `[metrics]` in a deploy file and `startOperations` (issue 23): shapes, mistakes, and nothing at all when off. */
import { describe, it, expect } from '@jest/globals';
import { join } from 'node:path';
import { createLogger, operations } from '@stackware/server';
import { ConfigError, metricsSupervisor, parseDeployment, parseListenAddress, startOperations } from '@stackware/config';

const FILE = join('/srv', 'site', 'site.toml');
const APP = '[app.hello]\napplication = "./hello.ts"\n\n';
const parse = (toml: string, env: Record<string, string> = {}) => parseDeployment(APP + toml, FILE, { env });
const logger = createLogger({ level: 'silent' });

describe('[metrics]', () => {
  it('reads listen and public', () => {
    expect(parse('[metrics]\nlisten = "127.0.0.1:9100"\n').metrics).toEqual({ listen: '127.0.0.1:9100' });
    expect(parse('[metrics]\nlisten = "[::1]:0"\npublic = false\n').metrics).toEqual({ listen: '[::1]:0', public: false });
    expect(parse('').metrics).toEqual({});
  });

  it('an empty listen (an unset ${VAR:-}) is no listener', () => {
    expect(parse('[metrics]\nlisten = "${METRICS:-}"\n').metrics).toEqual({});
    expect(parse('[metrics]\nlisten = "${METRICS:-}"\n', { METRICS: '127.0.0.1:9200' }).metrics).toEqual({ listen: '127.0.0.1:9200' });
  });

  it('names the file, line, key and fix for a mistake', () => {
    const cases: Array<[string, RegExp]> = [
      ['[metrics]\nlisten = "9100"\n', /site\.toml:5:1: \[metrics\] key "listen": listen must be HOST:PORT .* got "9100" — write listen = "127\.0\.0\.1:9100"/],
      ['[metrics]\nlisten = "127.0.0.1:70000"\n', /listen must be HOST:PORT/],
      ['[metrics]\nlisten = 9100\n', /\[metrics\] key "listen": must be a string "HOST:PORT", got (integer|number)/],
      ['[metrics]\nlisten = "127.0.0.1:9100"\nport = 1\n', /unknown key "port" in \[metrics\]/],
      ['[metrics]\npublic = "yes"\n', /\[metrics\] key "public": must be true or false/],
    ];
    for (const [toml, message] of cases) {
      let error: unknown;
      try {
        parse(toml);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as Error).message).toMatch(message);
    }
  });
});

describe('parseListenAddress', () => {
  it('takes HOST:PORT and [IPv6]:PORT', () => {
    expect(parseListenAddress('127.0.0.1:9100')).toEqual({ host: '127.0.0.1', port: 9100 });
    expect(parseListenAddress('localhost:0')).toEqual({ host: 'localhost', port: 0 });
    expect(parseListenAddress('[::1]:9100')).toEqual({ host: '::1', port: 9100 });
    expect(() => parseListenAddress('::1:9100')).toThrow('--metrics must be HOST:PORT');
    expect(() => parseListenAddress('127.0.0.1')).toThrow('--metrics must be HOST:PORT');
  });
});

describe('startOperations', () => {
  it('does nothing without listen: no hooks, so the gateways do no per-request work', async () => {
    expect(await startOperations({}, logger)).toBeUndefined();
    expect(operations()).toBeUndefined();
  });

  it('refuses a host that is not loopback unless public, before anything is installed', async () => {
    await expect(startOperations({ listen: '0.0.0.0:0' }, logger)).rejects.toThrow(/must bind a loopback address .* --metrics-public \(or public = true in \[metrics\]\)/);
    await expect(startOperations({ listen: '192.0.2.1:0' }, logger)).rejects.toThrow(/loopback/);
    expect(operations()).toBeUndefined();
  });
});

describe('metricsSupervisor', () => {
  it('starts nothing without listen', async () => {
    const started = await metricsSupervisor({}).start({ logger, role: 'single' });
    expect(operations()).toBeUndefined();
    await started.close();
  });
});
