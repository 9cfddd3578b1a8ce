/**
 * @stackware/urlparser — the URL parser / resource finder (Paste's URLParser, Webware's
 * URLParser) and static files done completely (send / serve-static, nginx).
 */
export { urlParser, moduleFactory, staticFactory, getResourcePath, type URLParserOptions, type Resource, type ResourceFactory } from './url-parser.js';
export { staticFile, serveFile, contentTypeFor, type StaticFileOptions } from './static-file.js';
export { staticFiles, type StaticFilesOptions } from './static-files.js';
export { directoryListing, type DirectoryListingOptions, type ListingEntryKind } from './listing.js';
export { DEFAULT_HIDE, SOURCE_EXTENSIONS, compileHide, type HideOption } from './hide.js';
export { HOOK_NAME, HOOK_EXTENSIONS, type DirectoryHook } from './hook.js';
export { ModuleCache, type ImportModule } from './module-cache.js';
export { factories, URL_PARSER_OPTIONS, STATIC_FILES_OPTIONS } from './factories.js';
