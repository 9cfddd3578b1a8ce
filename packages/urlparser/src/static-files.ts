import type { Application, Environ } from '@stackware/gateway';
import { staticFactory, urlParser, type ResourceFactory, type URLParserOptions } from './url-parser.js';
import type { StaticFileOptions } from './static-file.js';
import type { HideOption } from './hide.js';

/**
 * Options of {@link staticFiles}. Defaults: `indexNames` ["index.html"], `hide` DEFAULT_HIDE,
 * `listing` false, `allowSymlinksOutside` false, `fallback` a 404 page; static-file options as in
 * {@link StaticFileOptions}.
 */
export interface StaticFilesOptions extends StaticFileOptions {
  /** The directory to serve. Must exist. */
  root: string;
  /** Exact file names tried for a URL ending in "/". */
  indexNames?: readonly string[];
  hide?: HideOption;
  listing?: boolean;
  allowSymlinksOutside?: boolean;
  /** Called, with the untouched environ, for every request no file answers (Werkzeug's SharedDataMiddleware app). */
  fallback?: Application;
}

const ORIGINAL = Symbol('stackware.urlparser.original');
const refuse = null as ResourceFactory | null;

/**
 * A directory of static files (Werkzeug's SharedDataMiddleware, serve-static): exact names only,
 * no modules and no hooks. Browser JavaScript (`.js`, `.mjs`) is served as a file; server-side
 * source (`.ts`, `.mts`, `.cts`, `.tsx`, `.jsx`, `.cjs`) and hidden names answer 404, as do
 * traversal attempts and symlinks leaving the root. Directories redirect to their "/" URL and serve
 * `index.html`. See {@link serveFile} for the HTTP behaviour (ranges, conditional requests).
 * @example
 * const app = staticFiles({ root: './public', cacheControl: 'public, max-age=3600', fallback: myApp });
 */
export function staticFiles(options: StaticFilesOptions): Application {
  const { fallback, indexNames, ...rest } = options;
  const parserOptions: URLParserOptions = {
    ...rest,
    indexNames: indexNames ?? ['index.html'],
    extensionless: false,
    hooks: false,
    factories: { '.js': staticFactory, '.mjs': staticFactory, '.ts': refuse, '.mts': refuse, '.cts': refuse, '.tsx': refuse, '.jsx': refuse, '.cjs': refuse },
    notFound: fallback ? (environ, startResponse) => fallback((environ as Environ & { [ORIGINAL]?: Environ })[ORIGINAL] ?? environ, startResponse) : undefined,
  };
  const parser = urlParser(parserOptions);
  if (!fallback) return parser;
  return (environ, startResponse) => parser({ ...environ, [ORIGINAL]: environ } as Environ, startResponse);
}
