import { randomBytes } from 'node:crypto';

/** Bytes of randomness in a session id: 192 bits (OWASP asks for at least 64 bits of entropy; we take 128+). */
export const SESSION_ID_BYTES = 24;

const ID_RE = /^[A-Za-z0-9_-]{32}$/;

/** A new session id: 24 bytes from the CSPRNG (`crypto.randomBytes`), base64url — 32 characters `[A-Za-z0-9_-]`. */
export function newSessionId(): string {
  return randomBytes(SESSION_ID_BYTES).toString('base64url');
}

/**
 * True when `id` has the exact shape {@link newSessionId} produces. Stores check this before an id
 * becomes a key or a file name, so no input can name a path ("../x") or another key space.
 */
export function isValidSessionId(id: unknown): id is string {
  return typeof id === 'string' && ID_RE.test(id);
}
