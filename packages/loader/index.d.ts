/**
 * True when `pathOrUrl` (a path or file: URL, perhaps with `#export` or `?query`) names a
 * TypeScript module: `.ts`, `.mts`, `.cts` or `.tsx`.
 */
export function isTypeScript(pathOrUrl: string | URL): boolean;

/** True once {@link registerTypeScript} has run in this thread. */
export function typeScriptRegistered(): boolean;

/**
 * Registers tsx in the calling thread, so that `.ts` modules import directly. Idempotent. Call
 * it only when the user's own code is TypeScript; compiled JavaScript needs no loader.
 * @param what names the TypeScript module that needs it, for the error message.
 * @throws Error with code `ERR_STACKWARE_NO_TSX` when tsx is not installed: "install tsx (npm
 * install tsx) or build your app to JavaScript"; the runtime's own error (code
 * `ERR_STACKWARE_HOOKS_REFUSED` unless it has one) when the runtime refuses module hooks (Jest).
 */
export function registerTypeScript(what?: string): Promise<void>;

/**
 * Adds the "source" export condition in the calling thread, so that workspace packages resolve
 * to their TypeScript sources (src/index.ts). For this repository's development flow only.
 */
export function registerSourceCondition(): void;

/**
 * `import(url)` of a file: URL, registering tsx first when the module is TypeScript (see
 * {@link registerTypeScript}, whose error it throws when tsx is missing). The one way Stackware
 * imports a user's module: the CLI's target, deploy-file modules, URL-parser resources, servlets,
 * pool threads.
 */
export function importModule(url: string | URL): Promise<Record<string, unknown>>;

/**
 * Adds extra module resolution roots in the calling thread (mod_wsgi's python-path; NODE_PATH for
 * ES modules): a bare specifier Node cannot resolve from node_modules is looked up under each
 * absolute path in `paths`, in order (ROOT/SPEC, with .js/.mjs/.cjs or /index.js, /index.mjs; then
 * a package in ROOT/node_modules). Once per thread: a second call with other paths throws.
 * @throws Error when called again with different paths, or when a path is not absolute.
 */
export function registerModulePaths(paths: Iterable<string>): void;

/** Development in this repository: {@link registerTypeScript} and {@link registerSourceCondition}. */
export function registerLoaders(): Promise<void>;
