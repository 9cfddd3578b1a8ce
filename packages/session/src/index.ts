/**
 * @stackware/session — sessions for Stackware: a signed session-id cookie (HMAC-SHA256, RFC 6265),
 * a server-side store (memory, file, Redis), lazy loading, merge-on-save and optional locking.
 */
export type { Session, SessionStore, FlashMessage } from './types.js';
export { SessionLockTimeoutError } from './types.js';
export { getSession, hasSession, loadSession, SESSION_KEY } from './environ.js';
