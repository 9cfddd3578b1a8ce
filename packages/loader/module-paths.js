// Module resolve hook: extra module resolution roots (mod_wsgi's python-path, Node's NODE_PATH for
// ES modules). A bare specifier ("greeting", "admin/tools") that Node cannot resolve the usual way
// (node_modules) is looked up under each root in order: ROOT/SPEC, ROOT/SPEC.js, .mjs, .cjs,
// ROOT/SPEC/index.js, .mjs; then as a package in ROOT/node_modules.
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

let roots = [];

export function initialize(data) {
  roots = Array.isArray(data?.paths) ? data.paths.filter((p) => typeof p === 'string') : [];
}

const BARE = /^(?![./]|[a-z][a-z0-9+.-]*:)/i;
const SUFFIXES = ['', '.js', '.mjs', '.cjs', '/index.js', '/index.mjs'];

export async function resolve(specifier, context, nextResolve) {
  try {
    return await nextResolve(specifier, context);
  } catch (error) {
    if (error?.code !== 'ERR_MODULE_NOT_FOUND' || !BARE.test(specifier) || roots.length === 0) throw error;
    for (const root of roots) {
      for (const suffix of SUFFIXES) {
        const file = join(root, specifier + suffix);
        if (existsSync(file) && statSync(file).isFile()) return { url: pathToFileURL(file).href, shortCircuit: true };
      }
      try {
        return await nextResolve(specifier, { ...context, parentURL: pathToFileURL(join(root, 'index.js')).href });
      } catch {
        /* not a package there either */
      }
    }
    throw error;
  }
}
