import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { asApplication, type Application } from '@stackware/gateway';
import { importModule } from '@stackware/loader';
import { UsageError } from './usage-error.js';

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
 * @throws UsageError when the export is missing or is not an application; the module's own error
 * (with its stack) when importing it throws.
 */
export async function loadApplication(target: ModuleTarget): Promise<Application> {
  let mod: Record<string, unknown>;
  try {
    mod = await importModule(pathToFileURL(target.file));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ERR_STACKWARE_NO_TSX') throw new UsageError((error as Error).message);
    throw new Error(`${target.spec} failed to load: ${describeLoadError(error, target.file)}`, { cause: error });
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

/**
 * One line that says why importing a module failed, with the place to look:
 * - a TypeScript syntax error (the loader's transform error): `syntax error at FILE:LINE:COLUMN: MESSAGE`;
 * - a JavaScript syntax error: `syntax error at FILE:LINE: MESSAGE` (Node does not put the place in an
 *   ES module's SyntaxError, so `node --check` is asked for the target file; nothing is run);
 * - an error thrown while the module loads: its message and ` (thrown at FILE:LINE:COLUMN)`, the first
 *   frame outside Node's internals and node_modules.
 */
export function describeLoadError(error: unknown, file: string): string {
  if (!(error instanceof Error)) return String(error);
  const transform = /^(.+?:\d+:\d+): ERROR: (.*)$/m.exec(error.message);
  if (transform) return `syntax error at ${transform[1]}: ${transform[2]}`;
  if (error instanceof SyntaxError) {
    const where = /\.(m|c)?js$/.test(file) ? syntaxErrorPlace(file) : undefined;
    return where ? `syntax error at ${where}: ${error.message}` : `SyntaxError: ${error.message}`;
  }
  const frame = (error.stack ?? '').split('\n').slice(1).map((line) => /\(?((?:file:\/\/)?\/[^()\s]+:\d+(?::\d+)?)\)?$/.exec(line.trim())?.[1])
    .find((place) => place !== undefined && !place.includes('/node_modules/'));
  const message = error.message.split('\n')[0]!;
  return frame ? `${message} (thrown at ${pathOfPlace(frame)})` : message;
}

/** `file:///a/b.ts:2:7` → `/a/b.ts:2:7` (a path stays as it is). */
function pathOfPlace(place: string): string {
  if (!place.startsWith('file:')) return place;
  const position = /(:\d+)+$/.exec(place)?.[0] ?? '';
  return fileURLToPath(place.slice(0, place.length - position.length)) + position;
}

/** `FILE:LINE` of a JavaScript file's syntax error, from `node --check` (which parses, never runs). */
function syntaxErrorPlace(file: string): string | undefined {
  const check = spawnSync(process.execPath, ['--check', file], { encoding: 'utf8', timeout: 10_000 });
  const first = /^(.+:\d+)$/m.exec(check.stderr ?? '')?.[1];
  return first === undefined ? undefined : pathOfPlace(first);
}
