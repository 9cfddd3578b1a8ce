import { resolve } from 'node:path';
import type { StackwareFactories } from '@stackware/gateway';
import { appFactory, defineOptions, option } from '@stackware/gateway/options';
import { urlParser } from './url-parser.js';
import { staticFiles } from './static-files.js';

/** The options both factories take: the root and the static-file options ({@link StaticFileOptions}). */
const FILE_OPTIONS = {
  root: option.required(option.string('the directory to serve (relative to the deploy file); must exist', { example: '"public"' })),
  hide: option.strings('names never served or walked into, per path segment (globs)', { defaultText: 'DEFAULT_HIDE (dot files, node_modules, …)' }),
  listing: option.boolean('answer a directory without an index with an HTML listing', { default: false }),
  allowSymlinksOutside: option.boolean('serve symlinks whose target lies outside the root (else 404)', { default: false }),
  cacheControl: option.string('a Cache-Control value for 200/206/304 answers', { defaultText: 'none' }),
  etag: option.boolean('send a strong ETag built from size and mtime', { default: true }),
  lastModified: option.boolean('send Last-Modified (the file\'s mtime)', { default: true }),
  ranges: option.boolean('honour Range and send Accept-Ranges: bytes', { default: true }),
  maxRanges: option.number('more ranges than this and the Range header is ignored (200, whole file)', { integer: true, min: 1, default: 100 }),
  mimeTypes: option.table<Record<string, string>>('extra extension → media type mappings', { type: 'table of strings', example: '{ ".gmi" = "text/gemini" }' }),
} as const;

/** The deploy-file options of {@link urlParser} (code-only options — factories, notFound, importModule — excepted). */
export const URL_PARSER_OPTIONS = defineOptions({
  ...FILE_OPTIONS,
  indexNames: option.strings('names tried, in order, for a URL ending in "/" (with or without extension)', { default: ['index', 'main'] }),
  extensionless: option.boolean('find "about.html" or "about.ts" for "/about"', { default: false }),
  reload: option.boolean('re-import a module when its file changes', { default: true }),
  hooks: option.boolean('run directories\' _hook.ts modules', { default: true }),
});

/** The deploy-file options of {@link staticFiles}. */
export const STATIC_FILES_OPTIONS = defineOptions({
  ...FILE_OPTIONS,
  indexNames: option.strings('exact file names tried for a URL ending in "/"', { default: ['index.html'] }),
});

/** `use = "@stackware/urlparser"`: a URL parser over `root` (relative to the deploy file's directory); options: {@link URL_PARSER_OPTIONS}. */
const urlParserFactory = appFactory(
  URL_PARSER_OPTIONS,
  ({ root, ...options }, context) => urlParser({ ...options, root: resolve(context.here, root) }),
  { description: 'URL parser / resource finder: maps the URL onto a directory of static files and modules' },
);

/** `use = "@stackware/urlparser#static"`: static files from `root`; options: {@link STATIC_FILES_OPTIONS}. */
const staticFilesFactory = appFactory(
  STATIC_FILES_OPTIONS,
  ({ root, ...options }, context) => staticFiles({ ...options, root: resolve(context.here, root) }),
  { description: 'Static files from a directory (ranges, conditional requests, no modules)' },
);

/** Config factories: `default` (urlParser) and `static` (staticFiles). */
export const factories: StackwareFactories = { apps: { default: urlParserFactory, static: staticFilesFactory } };
