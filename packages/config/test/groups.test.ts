import { describe, it, expect } from '@jest/globals';
import { text } from '@stackware/gateway';
import { defineDeployment, parseDeployment, ConfigError } from '@stackware/config';

const FILE = '/srv/site/site.toml';
const base = ['[app.main]', 'application = "./app.mjs#app"'];
const parse = (...lines: string[]) => parseDeployment([...base, ...lines].join('\n'), FILE);
const error = (...lines: string[]): ConfigError => {
  try {
    parse(...lines);
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new Error('no ConfigError');
};

describe('[group.NAME] sections (process groups)', () => {
  it('reads every key, with defaults, units in the names, user and group resolved to ids, watch paths resolved', () => {
    const d = parse(
      '[group.admin]', 'processes = "${N:-2}"', 'threads = 4', 'user = "nobody"', 'group = "nogroup"', 'env = { MODE = "admin", LEVEL = 3 }',
      'memoryLimitMb = 512', 'maxRequests = 1000', 'timeoutMs = 20000', 'inactivityTimeoutMs = 300000', 'gracefulTimeoutMs = 5000', 'connectTimeoutMs = 2000',
      'hosts = ["Admin.Example.com"]', 'watch = ["lib/admin.mjs"]', 'modulePaths = ["lib", "/opt/shared"]',
      '[group.plain]',
      '[location."/admin"]', 'group = "admin"', 'title = "Admin"',
    );
    expect(d.groups.get('admin')).toEqual({
      name: 'admin', processes: 2, threads: 4, user: 'nobody', uid: 65534, gid: 65534, env: { MODE: 'admin', LEVEL: '3' },
      memoryLimitMb: 512, maxRequests: 1000, timeoutMs: 20000, inactivityTimeoutMs: 300000, gracefulTimeoutMs: 5000, connectTimeoutMs: 2000,
      hosts: ['admin.example.com'], watch: ['/srv/site/lib/admin.mjs'], modulePaths: ['/srv/site/lib', '/opt/shared'],
    });
    expect(d.groups.get('plain')).toMatchObject({ processes: 1, threads: 0, uid: undefined, memoryLimitMb: 0, maxRequests: 0, timeoutMs: 30000, inactivityTimeoutMs: 0, gracefulTimeoutMs: 15000, connectTimeoutMs: 15000, hosts: [], watch: [], modulePaths: [] });
    const location = d.locations.find((l) => l.prefix === '/admin')!;
    expect(location.group).toBe('admin');
    expect(location.settings).toEqual({ title: 'Admin' });
  });

  it('a numeric uid is accepted', () => {
    expect(parse('[group.g]', 'user = 65534').groups.get('g')).toMatchObject({ uid: 65534 });
  });

  it.each([
    [['[group.g]', 'user = "no-such-user-here"'], 'user', /no user named "no-such-user-here".*adduser/],
    [['[group.g]', 'group = "no-such-group-here"'], 'group', /no group named "no-such-group-here"/],
    [['[group.g]', 'processes = 0'], 'processes', /whole number ≥ 1, got number 0 — write processes = 2/],
    [['[group.g]', 'memoryLimitMb = -1'], 'memoryLimitMb', /whole number ≥ 0/],
    [['[group.g]', 'timeoutMs = "soon"'], 'timeoutMs', /whole number ≥ 0, got string "soon"/],
    [['[group.g]', 'memoryLimit = 5'], 'memoryLimit', /unknown key "memoryLimit".*did you mean "memoryLimitMb"/],
    [['[group.g]', 'env = "x"'], 'env', /table of strings/],
    [['[group.g]', 'hosts = "a.example"'], 'hosts', /array of strings/],
  ])('%j is a ConfigError at the key with file:line', (lines, key, message) => {
    const e = error(...lines);
    expect(e.section).toBe('group.g');
    expect(e.key).toBe(key);
    expect(e.line).toBe(4);
    expect(e.message).toMatch(message);
    expect(e.message.startsWith(`${FILE}:4:`)).toBe(true);
  });

  it('a location naming an unknown group, or both a pool and a group, is a ConfigError', () => {
    const unknown = error('[group.admin]', '[location."/x"]', 'group = "admn"');
    expect(unknown.message).toMatch(/\[location."\/x"\] key "group": no process group named "admn" — use one of: admin/);
    expect(unknown.line).toBe(5);
    const none = error('[location."/x"]', 'group = "admin"');
    expect(none.message).toMatch(/declare \[group.admin\] with processes = N/);
    const both = error('[group.admin]', '[pool.p]', '[location."/x"]', 'group = "admin"', 'pool = "p"');
    expect(both.message).toMatch(/a thread pool or by a process group, not both/);
  });

  it('building an application that routes to groups outside `stackware serve` is a ConfigError that says so', async () => {
    const d = defineDeployment({ apps: { main: { application: text('hi') } }, groups: { admin: {} }, locations: { '/admin': { group: 'admin' } } });
    const saved = process.env.STACKWARE_GROUPS_DIR;
    delete process.env.STACKWARE_GROUPS_DIR;
    try {
      await expect(d.build('main', { pools: false })).rejects.toThrow(/process groups are started by `stackware serve`/);
      await expect(d.build('main', { groups: false })).resolves.toBeDefined();
    } finally {
      if (saved !== undefined) process.env.STACKWARE_GROUPS_DIR = saved;
    }
  });
});
