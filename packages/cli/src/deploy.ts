/**
 * Deploy files in the CLI (@stackware/config): `stackware serve site.toml` and
 * `stackware check site.toml`.
 */
import { ConfigError, deploymentPlan, describeDeployment, loadDeployment, serveDeployment } from '@stackware/config';
import { isGroupProcess, run } from '@stackware/server';
import type { ParsedCommand } from './args.js';
import { cliLogger } from './serve.js';
import { UsageError } from './usage-error.js';

import { isDeployFile } from './target.js';

export { isDeployFile };

/** True when a cause of `error` is a failed system call (EADDRINUSE, EACCES). */
function hasSystemCause(error: Error): boolean {
  for (let e: unknown = error.cause, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++) {
    if (typeof (e as NodeJS.ErrnoException).syscall === 'string') return true;
  }
  return false;
}

/**
 * `stackware serve site.toml`: the file's plan (config's deploymentPlan) run by `run`: serves every
 * `[server.NAME]` of the file and reloads it live. `--host`/`--port` given on the command line override a single server
 * section; `--workers N` sets `workers` of every server section (prefork). A mistake in the file
 * prints its one-line ConfigError and exits with code 2; a server that cannot listen (port in use)
 * exits 1, as for a module.
 */
export async function serveDeployFileCommand(command: ParsedCommand): Promise<void> {
  const [file, ...extra] = command.positionals;
  if (extra.length) throw new UsageError(`serve takes one deploy file, got ${command.positionals.length}: ${command.positionals.join(' ')}`);
  const logger = cliLogger(command.options);
  const overrides = {
    host: command.given.has('host') ? (command.options.host as string) : undefined,
    port: command.given.has('port') ? (command.options.port as number) : undefined,
    workers: command.given.has('workers') ? (command.options.workers as number) : undefined,
  };
  try {
    // A process of a `[group.NAME]` (forked by the primary with STACKWARE_GROUP set) serves its group only.
    if (isGroupProcess()) await serveDeployment(file!, { logger });
    else {
      const metrics = { listen: command.options.metrics as string | undefined, public: command.given.has('metricsPublic') ? (command.options.metricsPublic as boolean) : undefined };
      await run((await deploymentPlan(file!, { logger, overrides, metrics })).plan);
    }
  } catch (error) {
    // A server that cannot listen (port in use) is a system error (exit 1), as for a module.
    if (error instanceof ConfigError && !hasSystemCause(error)) throw new UsageError(error.message);
    throw error;
  }
}

/**
 * `stackware check site.toml`: loads and checks the file (every factory loaded, every option
 * type-checked) without serving it, and prints the resolved stack: applications with pipeline
 * order and mounts, locations, thread-pool groups, servers. Exit code 2 and the one-line
 * ConfigError on a mistake; exit code 2 too for a file that is not `.toml` (a module: use `serve`).
 */
export async function checkCommand(command: ParsedCommand): Promise<void> {
  const [file, ...extra] = command.positionals;
  if (!file) throw new UsageError('missing the deploy file: stackware check site.toml');
  if (extra.length) throw new UsageError(`check takes one deploy file, got ${command.positionals.length}`);
  if (!isDeployFile(file)) throw new UsageError(`check expects a .toml deploy file, got ${file} (to try a module, run stackware serve ${file})`);
  try {
    const deployment = await loadDeployment(file);
    process.stdout.write(describeDeployment(deployment));
    process.stdout.write(`\n${file}: OK\n`);
  } catch (error) {
    if (error instanceof ConfigError) throw new UsageError(error.message);
    throw error;
  }
}
