import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { StackwareFactories } from '@stackware/gateway';
import { importModule } from '@stackware/loader';

/** The kind of factory a section needs: `[app.*]` → apps, `[filter.*]` → filters, `[server.*]` → servers. */
export type FactoryKind = 'apps' | 'filters' | 'servers';

/** A parsed `use` string: a package ("@stackware/session#name") or a module path ("./lib/site.ts#factory"). */
export interface UseSpec {
  kind: 'package' | 'module';
  /** Package name or the module path as written. */
  target: string;
  /** The entry or export named after "#", or undefined. */
  name: string | undefined;
}

/** Splits `use` into package/module and name. Paths start with "./", "../" or "/". */
export function parseUse(use: string): UseSpec {
  const hash = use.lastIndexOf('#');
  const target = hash === -1 ? use : use.slice(0, hash);
  const name = hash === -1 ? undefined : use.slice(hash + 1) || undefined;
  const kind = target.startsWith('./') || target.startsWith('../') || isAbsolute(target) || target.startsWith('file:') ? 'module' : 'package';
  return { kind, target, name };
}

/** True when this module runs from its TypeScript source (then workspace packages load from "source"). */
const fromSource = import.meta.url.endsWith('.ts');
const ownDir = dirname(fileURLToPath(import.meta.url));

/** Thrown by {@link importUse} with a message the caller turns into a ConfigError. */
export class UseError extends Error {
  constructor(message: string, readonly fix: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'UseError';
  }
}

function findPackageDir(name: string, starts: string[]): string | undefined {
  for (const start of starts) {
    let dir = resolve(start);
    for (;;) {
      const candidate = join(dir, 'node_modules', name);
      if (existsSync(join(candidate, 'package.json'))) return candidate;
      const parent = dirname(dir);
      if (parent === dir) break;
      dir = parent;
    }
  }
  return undefined;
}

type ExportTarget = string | { [condition: string]: ExportTarget } | null;

function pickEntry(pkgDir: string): string | undefined {
  const pkg = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8')) as { exports?: ExportTarget | Record<string, ExportTarget>; module?: string; main?: string };
  let entry: ExportTarget | undefined = pkg.exports as ExportTarget | undefined;
  if (entry && typeof entry === 'object' && '.' in entry) entry = (entry as Record<string, ExportTarget>)['.'];
  const conditions = fromSource ? ['source', 'import', 'node', 'default'] : ['import', 'node', 'default'];
  while (entry && typeof entry === 'object') {
    const key: string | undefined = conditions.find((c) => c in (entry as object) && (c !== 'source' || existsSync(join(pkgDir, String((entry as Record<string, ExportTarget>)[c])))));
    if (!key) return undefined;
    entry = (entry as Record<string, ExportTarget>)[key];
  }
  const file = typeof entry === 'string' ? entry : (pkg.module ?? pkg.main ?? 'index.js');
  return join(pkgDir, file);
}

/**
 * Imports what `use` names, searching packages in node_modules from `here`, then the current
 * directory, then beside @stackware/config itself. Module paths are relative to `here`.
 * @throws UseError when the package or module cannot be found or fails to load.
 */
export async function importUse(spec: UseSpec, here: string): Promise<Record<string, unknown>> {
  let file: string;
  if (spec.kind === 'module') {
    file = spec.target.startsWith('file:') ? fileURLToPath(spec.target) : resolve(here, spec.target);
    if (!existsSync(file)) throw new UseError(`module ${spec.target} does not exist (looked for ${file})`, 'fix the path; module paths are relative to the deploy file\'s directory');
  } else {
    const pkgDir = findPackageDir(spec.target, [here, process.cwd(), ownDir]);
    if (!pkgDir) throw new UseError(`package ${spec.target} is not installed where the deploy file can see it`, `install it (pnpm add ${spec.target}) in the project that holds the deploy file, or check the spelling`);
    const entry = pickEntry(pkgDir);
    if (!entry || !existsSync(entry)) throw new UseError(`package ${spec.target} has no loadable entry point (${entry ?? 'no "exports"'})`, `build the package, or run from source with the "source" condition`);
    file = entry;
  }
  try {
    return await importModule(pathToFileURL(realpathSync(file)));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ERR_STACKWARE_NO_TSX') throw new UseError((error as Error).message.replace(/: install tsx.*$/, ''), 'install tsx (npm install tsx) or build your app to JavaScript', { cause: error });
    throw new UseError(`${spec.target} failed to load: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}`, 'fix the error in that module (run it on its own to see the full stack)', { cause: error });
  }
}

/** Reads a package's `factories` export and picks the entry of `kind` named `name` (default "default"). */
export function pickFactory(mod: Record<string, unknown>, spec: UseSpec, kind: FactoryKind): unknown {
  const factories = mod.factories as StackwareFactories | undefined;
  const label = { apps: 'app', filters: 'filter', servers: 'server' }[kind];
  if (!factories || typeof factories !== 'object') {
    throw new UseError(`package ${spec.target} does not export "factories", so it cannot be used from a deploy file`, `use a module path ("./lib/x.ts#factory"), or ask its authors to export factories (see @stackware/config README)`);
  }
  const table = factories[kind] ?? {};
  const name = spec.name ?? 'default';
  const factory = (table as Record<string, unknown>)[name];
  if (typeof factory !== 'function') {
    const known = Object.keys(table);
    const otherKinds = (['apps', 'filters', 'servers'] as const).filter((k) => k !== kind && typeof (factories[k] as Record<string, unknown> | undefined)?.[name] === 'function');
    const hint = otherKinds.length ? ` (it is a ${otherKinds.map((k) => ({ apps: 'app', filters: 'filter', servers: 'server' })[k]).join('/')} factory: move it to that section type)` : '';
    throw new UseError(
      `package ${spec.target} has no ${label} factory named "${name}"${hint}`,
      known.length ? `use one of: ${known.map((k) => (k === 'default' ? spec.target : `${spec.target}#${k}`)).join(', ')}` : `it registers no ${label} factories`,
    );
  }
  return factory;
}

/** Reads the export `name` (default "default") of a module loaded by path. */
export function pickExport(mod: Record<string, unknown>, spec: UseSpec): unknown {
  const name = spec.name ?? 'default';
  if (!(name in mod) || mod[name] === undefined) {
    const known = Object.keys(mod).filter((k) => k !== '__esModule');
    throw new UseError(`module ${spec.target} has no export "${name}"`, known.length ? `export it, or name one of: ${known.join(', ')} (write "${spec.target}#NAME")` : `export it from ${spec.target}`);
  }
  return mod[name];
}
