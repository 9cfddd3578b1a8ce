import { fileURLToPath } from 'node:url';
import { staticFiles } from '@stackware/urlparser';

/** Browser assets: this directory is served as plain files, so app.js is sent, not executed. */
const files = staticFiles({ root: fileURLToPath(new URL('.', import.meta.url)), cacheControl: 'public, max-age=60' });
export const hook = () => files;
