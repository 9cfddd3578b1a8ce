/**
 * @stackware/middleware — small reusable middleware the seeds name: URL map, auth, proxy,
 * access log, compression, forwarded headers, global lock.
 */
import type { StackwareFactories } from '@stackware/gateway';
import { urlMapFactory } from './url-map.js';

export { urlMap, urlMapFactory, type UrlMapOptions, type UrlMapEntry, type UrlMapApplication } from './url-map.js';

/** Config factories (see @stackware/config): `use = "@stackware/middleware#urlMap"`. */
export const factories: StackwareFactories = {
  apps: {
    urlMap: urlMapFactory,
  },
  filters: {},
};
