/**
 * Registers the loaders the `stackware` command needs in this thread: tsx (TypeScript modules)
 * and the "source" export condition. Worker threads call this again in their bootstrap.
 */
import { register } from 'node:module';
import { register as registerTsx } from 'tsx/esm/api';

let done = false;
export function registerLoaders() {
  if (done) return;
  done = true;
  registerTsx();
  register('./source-condition.js', import.meta.url);
}
