import { basename, dirname, resolve } from 'node:path';
import { buildApplications, countRestart, run, type ApplicationPlan, type Logger, type RestartCause, type ServePlan, type ServerPlan, type Supervisor } from '@stackware/server';
import type { Deployment } from './build.js';
import { ConfigError } from './config-error.js';
import { isGroupProcess, serveGroupProcess, startGroups, useAllModulePaths, type GroupRunner } from './group-serve.js';
import { loadDeployment } from './load.js';
import { metricsSupervisor, startOperations, type MetricsSettings } from './operations.js';

/** Options of {@link deploymentPlan} and {@link serveDeployment}. Defaults: watch true, debounceMs 200, drainTimeoutMs 30000. */
export interface ServeDeploymentOptions {
  /** A pino logger (the CLI's). */
  logger: Logger;
  /**
   * Command-line overrides of the server sections: `--host`, `--port` (allowed only with one server
   * section) and `--workers` (every server section: prefork applies to the whole deployment).
   */
  overrides?: { host?: string; port?: number; workers?: number };
  /** Watch the deploy file and reload on change (default true). */
  watch?: boolean;
  /** Debounce of file-change events, in ms (default 200). */
  debounceMs?: number;
  /** How long a replaced configuration may keep serving its in-flight requests, in ms (default 30000). */
  drainTimeoutMs?: number;
  /** Install SIGTERM/SIGINT handlers that stop gracefully and exit (`run`'s `signals`). Default: true for deploymentPlan, false for serveDeployment. */
  signals?: boolean;
  /** Called in the primary once per restart of a `[group.NAME]` process, with its cause (crash, timeout, memory, max-requests, reload, inactivity): for metrics. */
  onGroupRestart?: (group: string, cause: RestartCause, pid: number | undefined) => void;
  /** Command-line overrides of `[metrics]` (`--metrics HOST:PORT`, `--metrics-public`). */
  metrics?: MetricsSettings;
}

/** A deployment being served. */
export interface ServingDeployment {
  /** The deployment in use (the latest valid one). */
  readonly deployment: Deployment;
  /** The listening servers: name and URL (empty in a prefork primary, whose workers listen). */
  readonly servers: ReadonlyArray<{ name: string; url: string }>;
  /** Re-reads the file and applies it if valid; resolves false (and logs why) when it is not. */
  reload(): Promise<boolean>;
  /** Graceful stop: servers stop accepting, in-flight requests finish, pools close. */
  close(): Promise<void>;
  /** Resolves with the exit code once a prefork primary has stopped (0 otherwise, after close()). */
  readonly done: Promise<number>;
  /** Replaces the processes of one `[group.NAME]` gracefully (the primary only). @throws Error for an unknown group or outside the primary. */
  reloadGroup(name: string): void;
}

/** A deployment's plan for `run` (@stackware/server), and the deployment it was made from. */
export interface DeploymentPlan {
  plan: ServePlan;
  /** The deployment in use: the one loaded at start, then the latest valid edit. */
  readonly deployment: Deployment;
  /** Replaces the processes of one `[group.NAME]` gracefully, once the plan runs (the primary only). @throws Error for an unknown group or outside the primary. */
  reloadGroup(name: string): void;
}

/**
 * The plan of `stackware serve site.toml`: loads the deploy file (a mistake throws a ConfigError
 * before anything listens) and says what `run` (@stackware/server) serves: one application per
 * application a `[server.NAME]` names (built in a thread pool when the section sets `threads`),
 * every server section, prefork when a section sets `workers` (the largest wins), and the watch.
 *
 * Live configuration:
 * - `workers = 0` (default): one process. A valid edit is applied at the application level: the
 *   whole stack is rebuilt from the new file and swapped in atomically between requests; requests
 *   in flight finish on the old stack, which is then disposed (its thread pools closed). Server
 *   sections (host, port, protocol) are read at start only; changing them logs a warning.
 *   ES modules stay cached, so code changes need a restart (or workers).
 * - `workers = N`: prefork. The primary validates the edited file and, when valid, replaces the
 *   workers gracefully (new ones listen before old ones stop); each new worker reads the file
 *   afresh — code and server sections included. The primary watches the file and its directory: a
 *   module edit or a `touch` of the file replaces the workers too.
 * - An invalid edit keeps the current configuration serving and logs the ConfigError message.
 * - At start, an application whose factory throws (an init failure, such as a database that is
 *   not up yet) answers 503 and is built again by a later request; other mistakes throw.
 * @throws ConfigError for a mistake in the file, or a file without a server section.
 */
export async function deploymentPlan(file: string, options: ServeDeploymentOptions): Promise<DeploymentPlan> {
  const path = resolve(file);
  const { logger } = options;
  let deployment = applyOverrides(await loadDeployment(path, { check: false }), options.overrides);
  await useAllModulePaths(deployment); // the groups' modulePaths, before the file's modules load
  await deployment.check();
  if (deployment.servers.size === 0) deployment.fail(undefined, undefined, undefined, 'the deploy file declares no server', 'add a [server.main] section with host and port (or use `stackware check` to validate only)');
  const workers = Math.max(0, ...[...deployment.servers.values()].map((s) => s.workers));
  const initial = deployment;
  const servers = [...deployment.servers.values()].map((def): ServerPlan => {
    const app = def.app ?? deployment.main;
    return {
      name: def.name,
      app,
      label: `${basename(path)} [server.${def.name}]`,
      logFields: { server: def.name, file: path },
      start: async (serving) => (await initial.startServers(serving, [def.name]))[0]!.server,
    };
  });
  const served = new Set(servers.map((s) => s.app));
  let serverShape = JSON.stringify([...deployment.servers.values()]);
  // Process groups (issue 23): started by the supervising process (the prefork primary, or the
  // single process) before the fronts fork or listen; stopped after the servers have drained.
  let groups: GroupRunner | undefined;
  const supervisors: Supervisor[] = deployment.groups.size === 0 ? [] : [{
    name: 'process groups',
    start: async ({ logger: log }) => {
      const onRestart = (group: string, cause: RestartCause, pid: number | undefined) => {
        countRestart(cause, group);
        options.onGroupRestart?.(group, cause, pid);
      };
      groups = startGroups(initial, { logger: log, debounceMs: options.debounceMs, onRestart });
      return { close: async () => { const g = groups; groups = undefined; await g?.close(); } };
    },
  }];
  // The metrics listener of `[metrics]` (read at start; the command line's `--metrics` wins): first,
  // so that it counts what the groups and workers do from their start.
  const metrics = { ...deployment.metrics, ...Object.fromEntries(Object.entries(options.metrics ?? {}).filter(([, v]) => v !== undefined)) } as MetricsSettings;
  if (metrics.listen) {
    const reloadGroup = deployment.groups.size === 0 ? undefined : (name: string) => {
      if (!groups) throw new Error('the process groups are not running');
      groups.reloadGroup(name);
    };
    supervisors.unshift(metricsSupervisor(metrics, (error) => initial.fail('metrics', undefined, 'listen', error.message, 'listen on 127.0.0.1, or set public = true in [metrics]'), { reloadGroup }));
  }
  const invalid = (error: unknown) => logger.error({ file: path }, `deploy file is invalid; still serving the previous configuration: ${error instanceof Error ? error.message : String(error)}`);

  const plan: ServePlan = {
    label: basename(path),
    logFields: { file: path },
    logger,
    applications: applicationsOf(deployment),
    servers,
    prefork: workers > 0 ? { workers, shutdownTimeoutMs: options.drainTimeoutMs, maxMemoryMb: Math.max(0, ...[...deployment.servers.values()].map((d) => d.maxMemoryMb)) } : undefined,
    reload: {
      drainTimeoutMs: options.drainTimeoutMs ?? 30_000,
      // Prefork primary: each new worker reads the file afresh; only check it here.
      check: async () => {
        try {
          deployment = applyOverrides(await loadDeployment(path), options.overrides);
        } catch (error) {
          invalid(error);
          return false;
        }
        groups?.apply(deployment);
        logger.info({ file: path }, `configuration valid: replacing ${workers} workers gracefully`);
        return true;
      },
      // One process: rebuild every served application from the edited file.
      rebuild: async () => {
        let next: Deployment;
        let builds;
        try {
          next = applyOverrides(await loadDeployment(path), options.overrides);
          builds = await buildApplications({ applications: applicationsOf(next), servers: [...next.servers.values()].map((def) => ({ name: def.name, app: def.app ?? next.main })) });
        } catch (error) {
          invalid(error);
          return undefined;
        }
        const missing = [...served].filter((n) => !builds.has(n));
        if (missing.length) {
          await Promise.allSettled([...builds.values()].map((b) => b.dispose()));
          logger.error({ file: path }, `deploy file is invalid for this process; still serving the previous configuration: servers serve ${missing.join(', ')}, which the new file does not declare (restart to change what servers serve)`);
          return undefined;
        }
        if (JSON.stringify([...next.servers.values()]) !== serverShape) {
          logger.warn({ file: path }, 'server sections changed: host, port and protocol are read at start; restart (or use workers) to apply them');
          serverShape = JSON.stringify([...next.servers.values()]);
        }
        deployment = next;
        groups?.apply(next);
        return builds;
      },
    },
    // The deploy file (a content edit, a rename-save, a `touch`); under prefork also its directory,
    // since workers import the modules afresh.
    watch: options.watch === false ? undefined : { paths: workers > 0 ? [path, dirname(path)] : [path], debounceMs: options.debounceMs ?? 200 },
    supervisors,
    signals: options.signals ?? true,
  };
  return {
    plan,
    get deployment() { return deployment; },
    reloadGroup: (name) => (groups ? groups.reloadGroup(name) : notPrimary()),
  };
}

/** One application plan per application a server section serves (`threads` → a thread pool). */
function applicationsOf(deployment: Deployment): Map<string, ApplicationPlan> {
  const applications = new Map<string, ApplicationPlan>();
  for (const def of deployment.servers.values()) {
    const name = def.app ?? deployment.main;
    if (applications.has(name)) continue;
    applications.set(name, {
      build: () => (def.threads > 0 ? deployment.buildThreaded(name, def) : deployment.build(name)),
      retryable: isInitFailure,
    });
  }
  return applications;
}

/**
 * `stackware serve site.toml` as a function: {@link deploymentPlan} run by `run`
 * (@stackware/server), without signal handlers unless `signals` is true.
 * @throws ConfigError for a mistake in the file at start, or a server that cannot start.
 */
export async function serveDeployment(file: string, options: ServeDeploymentOptions): Promise<ServingDeployment> {
  // A process of a `[group.NAME]` serves its group and nothing else (the primary started it).
  if (isGroupProcess()) {
    await startOperations({}, options.logger); // its counters, when the primary serves metrics
    const group = await serveGroupProcess(resolve(file), options.logger);
    return { deployment: group.deployment, servers: [], reload: async () => false, close: group.close, done: new Promise(() => {}), reloadGroup: notPrimary };
  }
  const planned = await deploymentPlan(file, { ...options, signals: options.signals ?? false });
  const running = await run(planned.plan);
  return {
    get deployment() { return planned.deployment; },
    servers: running.servers,
    reload: running.reload,
    close: running.close,
    done: running.done,
    reloadGroup: planned.reloadGroup,
  };
}

function notPrimary(): never {
  throw new Error('process groups are reloaded by the primary process');
}

/** A factory that threw while building (not a mistake in the file): retried by later requests. */
function isInitFailure(error: unknown): boolean {
  return error instanceof ConfigError && error.problem.startsWith('the factory failed:');
}

function applyOverrides(deployment: Deployment, overrides: ServeDeploymentOptions['overrides']): Deployment {
  if (overrides?.workers !== undefined) {
    for (const def of deployment.servers.values()) deployment.servers.set(def.name, Object.freeze({ ...def, workers: overrides.workers }));
  }
  if (!overrides || (overrides.host === undefined && overrides.port === undefined)) return deployment;
  if (deployment.servers.size !== 1) deployment.fail(undefined, undefined, undefined, `--host/--port apply to one server, but the file declares ${deployment.servers.size}`, 'drop the flags and set host and port in each [server.NAME] section');
  const [def] = deployment.servers.values();
  const options = { ...def!.options, ...(overrides.host !== undefined ? { host: overrides.host } : {}), ...(overrides.port !== undefined ? { port: overrides.port } : {}) };
  deployment.servers.set(def!.name, Object.freeze({ ...def!, options: Object.freeze(options) }));
  return deployment;
}
