/**
 * Names that are never served: hidden files, editor and backup leftovers, source maps
 * (Webware's `FilesToHide`, nginx's usual `location ~ /\.` deny). Patterns are matched against
 * every path segment (a file or directory name), not against the whole path, with `*` (any run of
 * characters) and `?` (one character) as the only wildcards; matching is case-insensitive.
 */
export const DEFAULT_HIDE: readonly string[] = Object.freeze([
  '.*', // dotfiles and dot-directories: .env, .git/, .htpasswd, .DS_Store
  '*~', // editor backups
  '#*#', // Emacs autosave
  '*.bak', '*.old', '*.orig', '*.tmp', '*.swp', '*.swo', '*.rej',
  '*.map', // source maps reveal the original sources
  '_hook.*', // the per-directory hook module (see urlParser)
  'node_modules',
  // project metadata that sits beside modules (a site directory needs a package.json with "type": "module")
  'package.json', 'package-lock.json', 'npm-shrinkwrap.json', 'pnpm-lock.yaml', 'yarn.lock', 'tsconfig*.json', '*.tsbuildinfo',
]);

/** Server-side source that is executed, never sent as text (by `staticFiles`, or when a module factory is removed). */
export const SOURCE_EXTENSIONS: readonly string[] = Object.freeze(['.ts', '.mts', '.cts', '.tsx', '.jsx', '.js', '.mjs', '.cjs']);

function globSource(pattern: string): string {
  let source = '';
  for (const c of pattern) {
    if (c === '*') source += '.*';
    else if (c === '?') source += '.';
    else source += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return source;
}

/** A predicate for hidden names, or a list of glob patterns (see {@link DEFAULT_HIDE}). */
export type HideOption = readonly (string | RegExp)[] | ((name: string) => boolean);

/**
 * Compiles a {@link HideOption} into `(name) => boolean`.
 * @throws TypeError when a pattern is neither a string nor a RegExp.
 */
export function compileHide(hide: HideOption = DEFAULT_HIDE): (name: string) => boolean {
  if (typeof hide === 'function') return hide;
  const globs: string[] = [];
  const regExps: RegExp[] = [];
  for (const p of hide) {
    if (typeof p === 'string') globs.push(globSource(p));
    else if (p instanceof RegExp) regExps.push(p);
    else throw new TypeError(`hide: each pattern must be a glob string or a RegExp, got ${typeof p}`);
  }
  // Every glob in one alternation: one match per segment, however many patterns.
  const glob = globs.length > 0 ? new RegExp(`^(?:${globs.join('|')})$`, 'is') : undefined;
  if (regExps.length === 0) return glob ? (name) => glob.test(name) : () => false;
  return (name) => (glob?.test(name) ?? false) || regExps.some((p) => p.test(name));
}
