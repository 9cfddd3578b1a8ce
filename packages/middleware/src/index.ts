/**
 * @stackware/middleware — small reusable middleware the seeds name: URL map, auth, proxy,
 * access log, compression, forwarded headers, global lock.
 */
import type { StackwareFactories } from '@stackware/gateway';
import { urlMapFactory } from './url-map.js';
import { globalLockFactory } from './global-lock.js';
import { forwardedFactory } from './forwarded.js';
import { compressionFactory } from './compression.js';
import { accessLogFactory } from './access-log.js';
import { basicAuthFactory } from './auth.js';
import { formLoginFactory } from './form-login.js';
import { proxyFactory } from './proxy.js';

export { urlMap, urlMapFactory, URL_MAP_OPTIONS, type UrlMapOptions, type UrlMapEntry, type UrlMapApplication } from './url-map.js';
export { globalLock, globalLockFactory, GLOBAL_LOCK_OPTIONS, type GlobalLockOptions, type GlobalLockApplication } from './global-lock.js';
export { forwardedHeaders, forwardedFactory, FORWARDED_OPTIONS, parseForwarded, getOriginalRemote, FORWARDED_ORIGINAL_KEY, type ForwardedOptions } from './forwarded.js';
export { compression, compressionFactory, COMPRESSION_OPTIONS, negotiateEncoding, type CompressionOptions, type Encoding } from './compression.js';
export { accessLog, accessLogFactory, ACCESS_LOG_OPTIONS, type AccessLogOptions } from './access-log.js';
export { basicAuth, digestAuth, digestRealmHash, parseDigestParams, safeEqual, passwordTable, basicAuthFactory, BASIC_AUTH_OPTIONS, type BasicAuthOptions, type DigestAuthOptions, type DigestAlgorithm, type CheckPassword } from './auth.js';
export { formLogin, formLoginFactory, FORM_LOGIN_OPTIONS, type FormLoginOptions } from './form-login.js';
export { proxy, proxyFactory, PROXY_OPTIONS, type ProxyOptions, type ProxyApplication } from './proxy.js';

/** Config factories (see @stackware/config): `use = "@stackware/middleware#urlMap"`. */
export const factories: StackwareFactories = {
  apps: {
    urlMap: urlMapFactory,
    proxy: proxyFactory,
  },
  filters: {
    globalLock: globalLockFactory,
    forwarded: forwardedFactory,
    compression: compressionFactory,
    accessLog: accessLogFactory,
    basicAuth: basicAuthFactory,
    formLogin: formLoginFactory,
  },
};
