/**
 * `[group.NAME]` sections: process groups (mod_wsgi's daemon mode, WSGIDaemonProcess), their
 * parsing and the front's routing to them (WSGIProcessGroup). The processes themselves are
 * started by serve.ts (group-serve.ts) with @stackware/server's GroupSupervisor.
 */
import { join, resolve } from 'node:path';
import type { Application } from '@stackware/gateway';
import { groupApplication, GROUPS_DIR_ENV, lookupGroup, lookupUser } from '@stackware/server';
import type { LocationDef } from './location.js';
import { underPrefix } from './location.js';
import { checkOptionType, closest, typeName } from './options.js';

/**
 * A `[group.NAME]` section (keys as in the deploy file; mod_wsgi's WSGIDaemonProcess option in
 * brackets). Every key is optional.
 */
export interface GroupSection {
  /** Processes of the group (default 1) [processes]. */
  processes?: number;
  /** Worker threads per process that run the application (default 0: the process's event loop runs it) [threads]. */
  threads?: number;
  /** The user the processes run as: a name from /etc/passwd or a uid (default, or "": the server's user; ignored with a warning unless the server runs as root) [user]. */
  user?: string | number;
  /** The group id they run as: a name from /etc/group or a gid (default: the user's primary group) [group]. */
  group?: string | number;
  /** Extra module resolution roots (relative to the deploy file): bare imports Node cannot resolve from node_modules are looked up there (@stackware/loader's registerModulePaths) [python-path]. */
  modulePaths?: string[];
  /** Extra environment variables of the processes (a table of strings). */
  env?: Record<string, string>;
  /** A process whose resident memory passes this many MiB is replaced gracefully (default 0: no limit) [memory-limit]. */
  memoryLimitMb?: number;
  /** A process is replaced gracefully after this many requests (default 0: never) [maximum-requests]. */
  maxRequests?: number;
  /** A request that runs longer gets 504 and its process is killed and replaced, in ms (default 30000) [request-timeout]. */
  timeoutMs?: number;
  /** The processes stop after this long without a request; the next request starts them, in ms (default 0: never) [inactivity-timeout]. */
  inactivityTimeoutMs?: number;
  /** How long a replaced process may finish its requests, in ms (default 15000) [graceful-timeout]. */
  gracefulTimeoutMs?: number;
  /** How long a request waits for a process of the group to accept it, then 503, in ms (default 15000) [connect-timeout]. */
  connectTimeoutMs?: number;
  /** Host names (the request's Host without the port) whose every request goes to this group (WSGIProcessGroup inside a VirtualHost). */
  hosts?: string[];
  /** Files or directories (relative to the deploy file) whose change reloads this group alone: its modules (mod_wsgi reloads on a touch of the script file). */
  watch?: string[];
}

/** A validated `[group.NAME]` (defaults applied, user and group resolved to ids). */
export interface GroupDef {
  readonly name: string;
  readonly processes: number;
  readonly threads: number;
  readonly user: string | undefined;
  readonly uid: number | undefined;
  readonly gid: number | undefined;
  readonly env: Readonly<Record<string, string>>;
  /** Absolute paths. */
  readonly modulePaths: readonly string[];
  readonly memoryLimitMb: number;
  readonly maxRequests: number;
  readonly timeoutMs: number;
  readonly inactivityTimeoutMs: number;
  readonly gracefulTimeoutMs: number;
  readonly connectTimeoutMs: number;
  readonly hosts: readonly string[];
  /** Absolute paths. */
  readonly watch: readonly string[];
}

/** The keys of a `[group.NAME]` section with their defaults (numbers) or kinds. */
const NUMBERS = { processes: 1, threads: 0, memoryLimitMb: 0, maxRequests: 0, timeoutMs: 30_000, inactivityTimeoutMs: 0, gracefulTimeoutMs: 15_000, connectTimeoutMs: 15_000 } as const;
const KEYS = [...Object.keys(NUMBERS), 'user', 'group', 'modulePaths', 'env', 'hosts', 'watch'];
const EXAMPLES: Record<string, string> = { processes: '2', threads: '4', memoryLimitMb: '512', maxRequests: '1000', timeoutMs: '30000', inactivityTimeoutMs: '300000', gracefulTimeoutMs: '15000', connectTimeoutMs: '15000' };

type Fail = (key: string | undefined, problem: string, fix: string) => never;

/**
 * Validates one `[group.NAME]` table. `here` is the deploy file's directory (for `watch`).
 * @throws through `fail` (a ConfigError at the section/key) for an unknown key, a value of the
 * wrong type or range, a user or group that does not exist.
 */
export function parseGroup(name: string, section: unknown, here: string, fail: Fail): GroupDef {
  if (!/^[A-Za-z0-9_-]+$/.test(name)) fail(undefined, `"${name}" is not a valid group name`, 'use letters, digits, "-" and "_"');
  if (typeName(section) !== 'table') fail(undefined, `must be a table, got ${typeName(section)}`, `write [group.${name}] with processes = 2`);
  const table = section as Record<string, unknown>;
  for (const key of Object.keys(table)) {
    if (KEYS.includes(key)) continue;
    const near = closest(key, KEYS);
    fail(key, `unknown key "${key}"`, `${near ? `did you mean "${near}"? ` : ''}a group takes: ${KEYS.join(', ')}`);
  }
  const numbers = {} as Record<keyof typeof NUMBERS, number>;
  for (const [key, fallback] of Object.entries(NUMBERS) as Array<[keyof typeof NUMBERS, number]>) {
    const raw = table[key];
    if (raw === undefined) {
      numbers[key] = fallback;
      continue;
    }
    // Numbers may come from the environment as strings: processes = "${PROCESSES:-2}".
    const checked = checkOptionType(raw, 'number');
    const value = 'value' in checked ? checked.value : raw;
    const min = key === 'processes' ? 1 : 0;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min) fail(key, `must be a whole number ≥ ${min}, got ${typeName(value)} ${JSON.stringify(value)}`, `write ${key} = ${EXAMPLES[key]}`);
    numbers[key] = value as number;
  }
  let uid: number | undefined;
  let gid: number | undefined;
  // An empty value is unset (the server's user), so that user = "${VAR:-}" works.
  const user = table.user === '' ? undefined : table.user;
  if (user !== undefined) {
    if (typeof user !== 'string' && typeof user !== 'number') fail('user', `must be a user name or uid, got ${typeName(user)}`, 'write user = "www-data"');
    const found = lookupUser(user as string | number);
    if (!found) fail('user', `no user named "${String(user)}" on this machine (/etc/passwd)`, 'create it (adduser --system NAME), or give an existing user or a numeric uid');
    uid = found.uid;
    gid = found.gid;
  }
  const group = table.group === '' ? undefined : table.group;
  if (group !== undefined) {
    if (typeof group !== 'string' && typeof group !== 'number') fail('group', `must be a group name or gid, got ${typeName(group)}`, 'write group = "www-data"');
    const found = lookupGroup(group as string | number);
    if (found === undefined) fail('group', `no group named "${String(group)}" on this machine (/etc/group)`, 'create it (addgroup --system NAME), or give an existing group or a numeric gid');
    gid = found;
  }
  const env: Record<string, string> = {};
  if (table.env !== undefined) {
    if (typeName(table.env) !== 'table') fail('env', `must be a table of strings, got ${typeName(table.env)}`, 'write env = { NAME = "value" }');
    for (const [key, value] of Object.entries(table.env as Record<string, unknown>)) {
      if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') fail('env', `variable ${key} must be a string, got ${typeName(value)}`, `write env = { ${key} = "value" }`);
      env[key] = String(value);
    }
  }
  const list = (key: 'hosts' | 'watch' | 'modulePaths', example: string): string[] => {
    const value = table[key];
    if (value === undefined) return [];
    if (!Array.isArray(value) || !value.every((v) => typeof v === 'string' && v !== '')) fail(key, `must be an array of strings, got ${typeName(value)}`, `write ${key} = [${example}]`);
    return value as string[];
  };
  const hosts = list('hosts', '"admin.example.com"').map((h) => h.toLowerCase());
  const watch = list('watch', '"lib/admin.mjs"').map((p) => resolve(here, p));
  const modulePaths = list('modulePaths', '"lib"').map((p) => resolve(here, p));
  return Object.freeze({ name, ...numbers, user: user === undefined ? undefined : String(user), uid, gid, env: Object.freeze(env), modulePaths: Object.freeze(modulePaths), hosts: Object.freeze(hosts), watch: Object.freeze(watch) });
}

/** The environment variable that carries a group's module paths to its processes and their threads (joined with ":"). */
export const MODULE_PATHS_ENV = 'STACKWARE_MODULE_PATHS';

/**
 * Registers module paths in this thread (@stackware/loader): `paths`, or those of
 * `STACKWARE_MODULE_PATHS` when not given. Nothing when there are none.
 * @throws Error when other paths were registered in this thread already.
 */
export async function useModulePaths(paths?: readonly string[]): Promise<void> {
  const list = paths ?? (process.env[MODULE_PATHS_ENV] ?? '').split(':').filter(Boolean);
  if (list.length === 0) return;
  const { registerModulePaths } = await import('@stackware/loader');
  registerModulePaths(list);
}

/** The groups some location or host actually routes to. */
export function routedGroups(groups: ReadonlyMap<string, GroupDef>, locations: readonly LocationDef[]): GroupDef[] {
  const used = new Set(locations.map((l) => l.group).filter((g): g is string => g !== undefined));
  return [...groups.values()].filter((g) => used.has(g.name) || g.hosts.length > 0);
}

/**
 * The front's routing to process groups: a request whose host (HTTP_HOST, or SERVER_NAME, without
 * the port, case-insensitive) is in a group's `hosts` goes to that group; else the longest
 * `[location]` prefix of its path (SCRIPT_NAME + PATH_INFO) that names a `group`; else `app` (this
 * process). Each group is reached through @stackware/server's `groupApplication` on the sockets
 * in `$STACKWARE_GROUPS_DIR/NAME` (set by the supervisor).
 * @returns `app` itself when no location or host routes to a group.
 * @throws Error when groups are routed to but no supervisor runs (STACKWARE_GROUPS_DIR unset).
 */
export function groupDispatcher(groups: ReadonlyMap<string, GroupDef>, locations: readonly LocationDef[], app: Application): Application {
  const routed = routedGroups(groups, locations);
  if (routed.length === 0) return app;
  const dir = process.env[GROUPS_DIR_ENV];
  if (!dir) throw new Error('process groups are started by `stackware serve` (serveDeployment): build this deployment with { groups: false }, or serve it');
  const fronts = new Map<string, Application>();
  for (const def of routed) fronts.set(def.name, groupApplication({ name: def.name, socketDir: join(dir, def.name), timeoutMs: def.timeoutMs, connectTimeoutMs: def.connectTimeoutMs }));
  const byHost = new Map<string, Application>();
  for (const def of routed) for (const host of def.hosts) byHost.set(host, fronts.get(def.name)!);
  const routes = locations.filter((l) => l.group !== undefined).sort((a, b) => b.prefix.length - a.prefix.length).map((l) => [l.prefix, fronts.get(l.group!)!] as const);
  return (environ, startResponse) => {
    if (byHost.size) {
      const host = (typeof environ.HTTP_HOST === 'string' ? environ.HTTP_HOST : environ.SERVER_NAME).replace(/:\d+$/, '').toLowerCase();
      const front = byHost.get(host);
      if (front) return front(environ, startResponse);
    }
    if (routes.length) {
      const path = environ.SCRIPT_NAME + environ.PATH_INFO;
      for (const [prefix, front] of routes) if (underPrefix(path, prefix)) return front(environ, startResponse);
    }
    return app(environ, startResponse);
  };
}
