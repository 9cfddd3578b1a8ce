import { registerLoaders } from '@stackware/loader';
registerLoaders();
await import('./dbg.tmp.ts');
