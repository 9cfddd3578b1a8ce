import { existsSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { asApplication, type Application } from '@stackware/gateway';
import { importModule } from '@stackware/loader';
import { UsageError } from './usage-error.js';
import { loadError } from './load-error.js';

/**
 * What `stackware serve <target>` names. Resolving a target only checks it (no module is
 * imported): the prefork primary resolves, its workers build. Other target kinds (a deploy file)
 * add a variant here and a branch in {@link resolveTarget} / `buildApplication`.
 */
export type Target = ModuleTarget;

/** `path/to/module.ts[#export]`: an ES module (.js, .mjs; .ts/.mts/.cts through tsx, registered on import) and one of its exports. */
export interface ModuleTarget {
  kind: 'module';
  /** As given on the command line. */
  spec: string;
  /** Absolute path of the module. */
  file: string;
  /** The export to serve ("default" when no `#export` was given). */
  exportName: string;
  /** Directories watched by --reload. */
  watchPaths: string[];
}

/** True when the serve target is a deploy file (`.toml`). */
export function isDeployFile(spec: string | undefined): boolean {
  return typeof spec === 'string' && /\.toml$/i.test(spec);
}

/**
 * Resolves the command line's target.
 * @throws UsageError when no target is given or the file does not exist.
 */
export function resolveTarget(spec: string | undefined): Target {
  if (!spec) throw new UsageError('missing the application to serve: stackware serve path/to/module.ts[#export]');
  const hash = spec.lastIndexOf('#');
  const path = hash === -1 ? spec : spec.slice(0, hash);
  const exportName = hash === -1 ? 'default' : spec.slice(hash + 1);
  if (!path) throw new UsageError(`${JSON.stringify(spec)} names no module: use path/to/module.ts[#export]`);
  if (!exportName) throw new UsageError(`${JSON.stringify(spec)} has an empty export name after "#"`);
  const file = resolve(path);
  if (!existsSync(file)) throw new UsageError(`${path}: no such file`);
  if (!statSync(file).isFile()) throw new UsageError(`${path} is not a file`);
  return { kind: 'module', spec, file, exportName, watchPaths: [dirname(file)] };
}

/**
 * Imports a module target and returns its export as an Application (through `asApplication`, so a
 * class with a static `[TO_APPLICATION]()` works too).
 * @throws UsageError when the export is missing or is not an application; LoadError (exit code 3)
 * when importing it fails: a syntax error (file:line:col) or the module throws (its stack).
 */
export async function loadApplication(target: ModuleTarget): Promise<Application> {
  let mod: Record<string, unknown>;
  try {
    mod = await importModule(pathToFileURL(target.file));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ERR_STACKWARE_NO_TSX') throw new UsageError((error as Error).message);
    throw loadError(error, target.spec, target.file);
  }
  if (!(target.exportName in mod)) {
    const names = Object.keys(mod);
    throw new UsageError(`${target.spec}: the module has no export named "${target.exportName}" (its exports: ${names.length ? names.join(', ') : 'none'})`);
  }
  const value = mod[target.exportName];
  const app = await asApplication(value);
  if (!app) throw new UsageError(`${target.spec}: the export "${target.exportName}" is ${value === null ? 'null' : typeof value}, not an Application (a function (environ, startResponse) => body)`);
  return app;
}
