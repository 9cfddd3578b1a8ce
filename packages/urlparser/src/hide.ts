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

function globToRegExp(pattern: string): RegExp {
  let source = '';
  for (const c of pattern) {
    if (c === '*') source += '.*';
    else if (c === '?') source += '.';
    else source += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${source}$`, 'is');
}

/** A predicate for hidden names, or a list of glob patterns (see {@link DEFAULT_HIDE}). */
export type HideOption = readonly (string | RegExp)[] | ((name: string) => boolean);

/**
 * Compiles a {@link HideOption} into `(name) => boolean`.
 * @throws TypeError when a pattern is neither a string nor a RegExp.
 */
export function compileHide(hide: HideOption = DEFAULT_HIDE): (name: string) => boolean {
  if (typeof hide === 'function') return hide;
  const patterns = hide.map((p) => {
    if (typeof p === 'string') return globToRegExp(p);
    if (p instanceof RegExp) return p;
    throw new TypeError(`hide: each pattern must be a glob string or a RegExp, got ${typeof p}`);
  });
  return (name) => patterns.some((p) => p.test(name));
}
