import { resolve } from 'node:path';
import type { AppFactory, FactoryContext, FactoryOptions, OptionType, StackwareFactories } from '@stackware/gateway';
import { urlParser, type URLParserOptions } from './url-parser.js';
import { staticFiles, type StaticFilesOptions } from './static-files.js';

const staticOptionTypes: Record<string, OptionType> = {
  root: 'string', hide: 'string[]', indexNames: 'string[]', listing: 'boolean', allowSymlinksOutside: 'boolean',
  cacheControl: 'string', etag: 'boolean', lastModified: 'boolean', ranges: 'boolean', maxRanges: 'number', mimeTypes: 'table',
};

function rootOf(options: FactoryOptions, context: FactoryContext): string {
  if (typeof options.root !== 'string' || !options.root) throw new TypeError(`[app:${context.name}] needs root = "<directory>" (relative to the deploy file)`);
  return resolve(context.here, options.root);
}

/** `use = "@stackware/urlparser"`: a URL parser over `root` (relative to the deploy file's directory). */
const urlParserFactory: AppFactory = Object.assign(
  (options: FactoryOptions, context: FactoryContext) => urlParser({ ...(options as Partial<URLParserOptions>), root: rootOf(options, context) }),
  {
    description: 'URL parser / resource finder: maps the URL onto a directory of static files and modules',
    optionTypes: { ...staticOptionTypes, extensionless: 'boolean', reload: 'boolean', hooks: 'boolean' } as Record<string, OptionType>,
  },
);

/** `use = "@stackware/urlparser#static"`: static files from `root`. */
const staticFilesFactory: AppFactory = Object.assign(
  (options: FactoryOptions, context: FactoryContext) => staticFiles({ ...(options as Partial<StaticFilesOptions>), root: rootOf(options, context) }),
  { description: 'Static files from a directory (ranges, conditional requests, no modules)', optionTypes: staticOptionTypes },
);

/** Config factories: `default` (urlParser) and `static` (staticFiles). */
export const factories: StackwareFactories = { apps: { default: urlParserFactory, static: staticFilesFactory } };
