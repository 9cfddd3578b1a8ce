// The worker-thread entry Piscina loads (plain JavaScript: it runs in a fresh thread, before any
// TypeScript loader exists there). Module hooks are per thread, so it registers tsx and the
// "source" export condition, then loads the TypeScript side of the pool and the user's module.
import { workerData } from 'node:worker_threads';
import { registerLoaders } from '@stackware/loader';

registerLoaders();
const { createHandler } = await import('./thread.ts');

export default createHandler(workerData);
