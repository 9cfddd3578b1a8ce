/**
 * @stackware/session — sessions for Stackware: a signed session-id cookie (HMAC-SHA256, RFC 6265),
 * a server-side store (memory, file, Redis), lazy loading, merge-on-save and optional locking.
 */
export type { Session, SessionStore, FlashMessage } from './types.js';
export { SessionLockTimeoutError } from './types.js';
export { getSession, hasSession, loadSession, SESSION_KEY } from './environ.js';
export { session, type SessionOptions, type SessionCookieOptions } from './middleware.js';
export { SessionDataError, assertJsonData } from './json-data.js';
export { newSessionId, isValidSessionId } from './ids.js';
export { signSessionId, unsignSessionId, SessionIdSigner } from './signing.js';
export { MemoryStore, type MemoryStoreOptions } from './stores/memory.js';
export { FileStore, type FileStoreOptions } from './stores/file.js';
export { RedisStore, type RedisStoreOptions } from './stores/redis.js';
export { factories, sessionFilterFactory, SESSION_OPTIONS } from './factories.js';
