/**
 * The module loaders Stackware processes and threads may need. Node's module hooks are per
 * thread: every process and worker thread that imports the user's TypeScript registers again.
 *
 * Production runs compiled JavaScript and registers nothing; tsx (an optional peer dependency) is
 * loaded only by {@link registerTypeScript}, called when the user's own target is TypeScript.
 */
import { register } from 'node:module';
import { fileURLToPath } from 'node:url';

const TYPESCRIPT = /\.(?:[cm]?ts|tsx)$/i;

let typeScript = false;
/** The registration in progress or done (concurrent callers share it). */
let registering;
let sourceCondition = false;

/** True when `pathOrUrl` (a path or file: URL, perhaps with `#export` or `?query`) names a TypeScript module: .ts, .mts, .cts or .tsx. */
export function isTypeScript(pathOrUrl) {
  return TYPESCRIPT.test(String(pathOrUrl).replace(/[?#].*$/, ''));
}

/** True once {@link registerTypeScript} has run in this thread. */
export function typeScriptRegistered() {
  return typeScript;
}

/**
 * Registers tsx in the calling thread, so that `.ts` modules import directly. Idempotent.
 * Resolves once later imports in this thread go through tsx.
 * `what` names the TypeScript module that needs it, for the error message.
 * @throws Error (code `ERR_STACKWARE_NO_TSX`) when tsx is not installed: the message says to
 * install it or build the application to JavaScript.
 */
export function registerTypeScript(what = 'the application') {
  registering ??= import('tsx/esm/api').then(
    (api) => {
      try {
        api.register();
      } catch (error) {
        // A runtime that refuses module hooks (Jest's sandbox) compiles TypeScript its own way.
        registering = undefined;
        error.code ??= 'ERR_STACKWARE_HOOKS_REFUSED';
        throw error;
      }
      typeScript = true;
    },
    (error) => {
      registering = undefined;
      if (error?.code !== 'ERR_MODULE_NOT_FOUND' || !String(error.message).includes("'tsx'")) throw error;
      const missing = new Error(`${what} is TypeScript, and tsx (the TypeScript loader) is not installed: install tsx (npm install tsx) or build your app to JavaScript`, { cause: error });
      missing.code = 'ERR_STACKWARE_NO_TSX';
      throw missing;
    },
  );
  return registering;
}

/**
 * Adds the "source" export condition in the calling thread, so that workspace packages resolve
 * to their TypeScript sources (src/index.ts). For this repository's development flow only.
 */
export function registerSourceCondition() {
  if (sourceCondition) return;
  sourceCondition = true;
  register('./source-condition.js', import.meta.url);
}

/**
 * `import(url)` of a file: URL, registering tsx first when the module is TypeScript (see
 * {@link registerTypeScript}; its error when tsx is missing). The one way Stackware imports a
 * user's module: the CLI's target, deploy-file modules, URL-parser resources, servlets, pool threads.
 */
export async function importModule(url) {
  const href = String(url);
  if (isTypeScript(href)) {
    const bare = href.replace(/[?#].*$/, '');
    try {
      await registerTypeScript(bare.startsWith('file:') ? fileURLToPath(bare) : bare);
    } catch (error) {
      // Without module hooks (Jest), import anyway: that runtime transforms TypeScript itself, or
      // its import fails with its own error.
      if (error?.code === 'ERR_STACKWARE_NO_TSX') throw error;
    }
  }
  return import(href);
}

let modulePaths;

/**
 * Adds extra module resolution roots in the calling thread (mod_wsgi's python-path; NODE_PATH for
 * ES modules): a bare specifier Node cannot resolve from node_modules is looked up under each
 * absolute path in `paths`, in order (ROOT/SPEC, with .js/.mjs/.cjs or /index.js, /index.mjs; then
 * a package in ROOT/node_modules). Once per thread: a second call with other paths throws.
 * @throws Error when called again with different paths, or when a path is not absolute.
 */
export function registerModulePaths(paths) {
  const list = [...paths];
  for (const path of list) if (typeof path !== 'string' || !path.startsWith('/')) throw new Error(`module path ${JSON.stringify(path)} is not an absolute path`);
  if (modulePaths !== undefined) {
    if (JSON.stringify(modulePaths) !== JSON.stringify(list)) throw new Error(`module paths are already registered in this thread (${modulePaths.join(', ')})`);
    return;
  }
  modulePaths = list;
  if (list.length) register('./module-paths.js', import.meta.url, { data: { paths: list } });
}

/** Development in this repository: tsx and the "source" condition (see README). */
export async function registerLoaders() {
  await registerTypeScript('Stackware\'s own source');
  registerSourceCondition();
}
