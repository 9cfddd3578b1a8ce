// The worker-thread entry Piscina loads. It is plain JavaScript, copied as is into dist/ by the
// build, because a new thread starts with no TypeScript loader. Compiled (dist/bootstrap.mjs) it
// loads dist/thread.js and nothing else: the thread registers tsx only if it imports the user's
// TypeScript (@stackware/loader's importModule). From the sources (src/bootstrap.mjs: Jest, and
// STACKWARE_SOURCE=1) module hooks are per thread, so it registers tsx and the "source" export
// condition here, then loads thread.ts.
import { workerData } from 'node:worker_threads';

const fromSource = new URL(import.meta.url).pathname.endsWith('/src/bootstrap.mjs');
if (fromSource) {
  const { registerLoaders } = await import('@stackware/loader');
  await registerLoaders();
}
const { createHandler } = await import(fromSource ? './thread.ts' : './thread.js');

export default createHandler(workerData);
