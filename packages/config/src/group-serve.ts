/**
 * Serving `[group.NAME]` process groups: the primary's side (start the supervisor, watch each
 * group's files, reload on SIGHUP) and the group process's side (build the application, serve it on
 * the group's socket). serve.ts calls these two functions and nothing else of groups.
 */
import { GROUP_ENV, GROUPS_DIR_ENV, GroupSupervisor, isGroupProcess, runGroupProcess, watchFiles, type FileWatcher, type Logger, type RestartCause } from '@stackware/server';
import type { Application } from '@stackware/gateway';
import type { Deployment } from './build.js';
import type { DeploymentDefinition } from './deployment.js';
import { MODULE_PATHS_ENV, useModulePaths, type GroupDef } from './groups.js';
import { loadDeployment } from './load.js';
import { startThreadPool } from './pools.js';

/** The running process groups of a served deployment (in the cluster primary). */
export interface GroupRunner {
  /** Replaces the processes of group `name` gracefully (new ones listen first). @throws Error for an unknown group. */
  reloadGroup(name: string): void;
  /** Applies a reloaded deployment: a group whose section changed is reloaded; added or removed groups need a restart (logged). */
  apply(next: DeploymentDefinition): void;
  /** Graceful stop of every group's processes. */
  close(): Promise<void>;
}

/** Options of {@link startGroups}. */
export interface StartGroupsOptions {
  logger: Logger;
  /** Called once per group-process restart, with its cause (for metrics). */
  onRestart?: (group: string, cause: RestartCause, pid: number | undefined) => void;
  /** Debounce of the groups' `watch` files, in ms (default 200). */
  debounceMs?: number;
}

/**
 * In the cluster primary: starts every `[group.NAME]`'s processes (@stackware/server's
 * GroupSupervisor), sets `STACKWARE_GROUPS_DIR` so that fronts — this process and prefork workers
 * forked after — route to them, reloads a group alone when a file of its `watch` changes, and
 * every group on **SIGHUP**. Returns undefined when the deployment declares no group.
 */
export function startGroups(deployment: DeploymentDefinition, options: StartGroupsOptions): GroupRunner | undefined {
  if (deployment.groups.size === 0) return undefined;
  const logger = options.logger;
  let current = new Map(deployment.groups);
  const supervisor = new GroupSupervisor({ groups: [...current.values()].map((def) => specOf(def, deployment.file)), logger, onRestart: options.onRestart });
  process.env[GROUPS_DIR_ENV] = supervisor.runtimeDir;
  const watchers: FileWatcher[] = [];
  for (const def of current.values()) {
    if (def.watch.length === 0) continue;
    watchers.push(watchFiles([...def.watch], (path) => {
      logger.info({ group: def.name, path }, `group "${def.name}": ${path} changed`);
      supervisor.reloadGroup(def.name);
    }, { debounceMs: options.debounceMs ?? 200, logger }));
  }
  const onHangup = () => {
    logger.info('SIGHUP: reloading every process group');
    for (const name of current.keys()) supervisor.reloadGroup(name);
  };
  process.on('SIGHUP', onHangup);
  return {
    reloadGroup: (name) => supervisor.reloadGroup(name),
    apply(next) {
      for (const [name, def] of next.groups) {
        const before = current.get(name);
        if (!before) logger.warn({ group: name }, `[group.${name}] added: restart the server to start it`);
        else if (JSON.stringify(before) !== JSON.stringify(def)) {
          if (before.processes !== def.processes || before.uid !== def.uid || before.gid !== def.gid || JSON.stringify(before.watch) !== JSON.stringify(def.watch)) {
            logger.warn({ group: name }, `[group.${name}] changed processes, user, group or watch: restart the server to apply them (the other keys apply on this reload)`);
          }
          supervisor.reloadGroup(name);
        }
      }
      for (const name of current.keys()) if (!next.groups.has(name)) logger.warn({ group: name }, `[group.${name}] removed: restart the server to stop it`);
      current = new Map([...current].map(([name, def]) => [name, next.groups.get(name) ?? def]));
    },
    async close() {
      process.off('SIGHUP', onHangup);
      await Promise.allSettled(watchers.map((w) => w.close()));
      await supervisor.close();
    },
  };
}

function specOf(def: GroupDef, file: string) {
  return {
    name: def.name,
    paths: [file],
    processes: def.processes,
    uid: def.uid,
    gid: def.gid,
    env: { ...def.env, ...(def.modulePaths.length ? { [MODULE_PATHS_ENV]: def.modulePaths.join(':') } : {}) },
    memoryLimitMb: def.memoryLimitMb,
    timeoutMs: def.timeoutMs,
    inactivityTimeoutMs: def.inactivityTimeoutMs,
    gracefulTimeoutMs: def.gracefulTimeoutMs,
  };
}

export { isGroupProcess };

/**
 * In the front (the primary, or a prefork worker): registers every group's `modulePaths`, since the
 * front builds the whole application too (the groups' modules included). Nothing when none.
 * @throws Error when they differ from paths registered already (a reload that changed them: restart).
 */
export async function useAllModulePaths(deployment: DeploymentDefinition): Promise<void> {
  const all = [...new Set([...deployment.groups.values()].flatMap((g) => g.modulePaths))];
  await useModulePaths(all);
}

/**
 * In a group process: loads the deploy file afresh, builds the application the servers serve
 * (without group routing or location pools; in `threads` worker threads when the group has them)
 * and serves it on the group's socket until the supervisor stops it.
 * @throws ConfigError for a mistake in the file (the process exits; the supervisor retries with back-off).
 */
export async function serveGroupProcess(path: string, logger: Logger): Promise<{ deployment: Deployment; close(): Promise<void> }> {
  const name = process.env[GROUP_ENV]!;
  // The group's modulePaths (passed in the environment: the file's modules load as it is read).
  await useModulePaths();
  const deployment = await loadDeployment(path);
  const def = deployment.groups.get(name);
  if (!def) return deployment.fail('group', name, undefined, `this process serves group "${name}", which the deploy file no longer declares`, 'restart the server after removing a group');
  const appName = [...deployment.servers.values()][0]?.app ?? deployment.main;
  let app: Application;
  let dispose: () => Promise<void>;
  if (def.threads > 0) {
    const pool = await startThreadPool(deployment, appName, `group.${name}`, def.threads, def.timeoutMs, ['group', name, 'threads']);
    app = pool.app;
    dispose = () => pool.close();
  } else {
    const built = await deployment.build(appName, { pools: false, groups: false });
    app = built.app;
    dispose = built.dispose;
  }
  const running = await runGroupProcess({ app, logger, maxRequests: def.maxRequests, gracefulTimeoutMs: def.gracefulTimeoutMs, multithread: def.threads > 0 });
  return { deployment, close: async () => { await running.close(); await dispose(); } };
}
