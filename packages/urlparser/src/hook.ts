import type { Application, Environ, Middleware } from '@stackware/gateway';

/**
 * The base name of a directory's hook module: `_hook.ts` (or `.mts`, `.js`, `.mjs`), Paste's
 * `__init__.py` with `urlparser_hook` / `urlparser_wrap`. It is never served (it is in
 * `DEFAULT_HIDE`, and refused even when `hide` is replaced).
 */
export const HOOK_NAME = '_hook';

/** Extensions tried for the hook module, in order. */
export const HOOK_EXTENSIONS: readonly string[] = ['.ts', '.mts', '.js', '.mjs'];

/**
 * What a directory's `_hook.ts` may export (all optional, named exports):
 *
 * ```ts
 * // site/admin/_hook.ts — everything under /admin/ requires a login
 * export const wrap = (app) => requireUser(app);
 * // rewrite the environ before the next segment is looked up, or answer at once
 * export function hook(environ) { if (environ.PATH_INFO === '/old') environ.PATH_INFO = '/new'; }
 * export const notFound = myNotFoundPage;
 * ```
 */
export interface DirectoryHook {
  /**
   * Called on every request that enters the directory, before its next path segment is looked up
   * (SCRIPT_NAME is the directory's URL, PATH_INFO the rest). It may rewrite `environ` (a copy owned
   * by this parser) or return an Application that answers the request instead (not wrapped).
   */
  hook?(environ: Environ): void | Application | undefined | Promise<void | Application | undefined>;
  /**
   * Wraps every application this directory answers with — its files, sub-directories, redirects and
   * not-found answers. Called once per loaded hook module (again after a reload), so state it
   * creates (a session store, a counter) is shared by all requests.
   */
  wrap?: Middleware;
  /** Answers when nothing in the directory (or below it, unless a deeper hook says otherwise) matches. */
  notFound?: Application;
}

/**
 * Reads a hook module's exports, checking their types.
 * @throws TypeError naming the file and the export when one has the wrong type.
 */
export function toDirectoryHook(module: Record<string, unknown>, path: string): DirectoryHook {
  const hook: DirectoryHook = {};
  for (const name of ['hook', 'wrap', 'notFound'] as const) {
    const value = module[name];
    if (value === undefined) continue;
    if (typeof value !== 'function') throw new TypeError(`${path}: the export "${name}" must be a function, got ${typeof value}`);
    (hook as Record<string, unknown>)[name] = value;
  }
  return hook;
}
