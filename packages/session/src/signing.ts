import { createHmac, timingSafeEqual } from 'node:crypto';
import { isValidSessionId } from './ids.js';

/** The shortest secret accepted, in characters. */
export const MIN_SECRET_LENGTH = 32;

/**
 * Checks and normalises the `secret` option: one string or a list (the first signs, all verify —
 * rotate by putting the new secret first and dropping the old one once old cookies have expired).
 * @throws Error naming the fix when absent, empty or shorter than 32 characters.
 */
export function normaliseSecrets(secret: string | readonly string[] | undefined): string[] {
  const list = typeof secret === 'string' ? [secret] : Array.isArray(secret) ? [...secret] : [];
  const how = 'generate one with: node -e "console.log(require(\'node:crypto\').randomBytes(32).toString(\'base64url\'))"';
  if (list.length === 0) throw new Error(`session(): the "secret" option is required (a string or a list, the first signs); ${how}`);
  for (const [i, s] of list.entries()) {
    if (typeof s !== 'string' || s.length < MIN_SECRET_LENGTH) {
      throw new Error(`session(): secret #${i + 1} is ${typeof s === 'string' ? `${s.length} characters` : `a ${typeof s}`}; secrets must be strings of at least ${MIN_SECRET_LENGTH} characters; ${how}`);
    }
  }
  return list;
}

const SIGNATURE_RE = /^[A-Za-z0-9_-]{43}$/;

function mac(secret: string, id: string): Buffer {
  return createHmac('sha256', secret).update(id).digest();
}

/** The cookie value for `id`: `<id>.<base64url HMAC-SHA256(secret, id)>`. */
export function signSessionId(id: string, secret: string): string {
  return `${id}.${mac(secret, id).toString('base64url')}`;
}

/**
 * The session id inside a cookie value, when its signature verifies under one of `secrets`
 * (compared in constant time) and the id has the expected format; otherwise undefined.
 * Never throws, whatever the input.
 */
export function unsignSessionId(value: string | undefined, secrets: readonly string[]): string | undefined {
  if (typeof value !== 'string' || value.length > 200) return undefined;
  const dot = value.lastIndexOf('.');
  if (dot <= 0) return undefined;
  const id = value.slice(0, dot);
  if (!isValidSessionId(id)) return undefined;
  const signature = value.slice(dot + 1);
  if (!SIGNATURE_RE.test(signature)) return undefined;
  const given = Buffer.from(signature, 'base64url');
  let ok = false;
  // Check every secret (no early exit) so timing does not reveal which one matched.
  for (const secret of secrets) if (timingSafeEqual(given, mac(secret, id))) ok = true;
  return ok ? id : undefined;
}

/**
 * {@link signSessionId} and {@link unsignSessionId} for one set of secrets, remembering the last
 * `maxEntries` [1000] results of each (least recently used first out): a returning visitor's cookie
 * is verified, and its rolling cookie signed, once, not on every request (an HMAC-SHA256 each).
 * Only cookie values that verified are remembered, so a flood of forged cookies evicts nothing
 * and costs what it did before.
 */
export class SessionIdSigner {
  readonly #secrets: readonly string[];
  readonly #maxEntries: number;
  readonly #verified = new Map<string, string>();
  readonly #signed = new Map<string, string>();

  constructor(secrets: readonly string[], maxEntries = 1000) {
    this.#secrets = secrets;
    this.#maxEntries = maxEntries;
  }

  /** The cookie value for `id`, signed with the first secret. */
  sign(id: string): string {
    let value = this.#signed.get(id);
    if (value === undefined) value = signSessionId(id, this.#secrets[0]!);
    else this.#signed.delete(id);
    this.#remember(this.#signed, id, value);
    return value;
  }

  /** The session id inside `value` when its signature verifies (see {@link unsignSessionId}); never throws. */
  unsign(value: string | undefined): string | undefined {
    if (typeof value !== 'string') return undefined;
    let id = this.#verified.get(value);
    if (id === undefined) {
      id = unsignSessionId(value, this.#secrets);
      if (id === undefined) return undefined;
    } else {
      this.#verified.delete(value);
    }
    this.#remember(this.#verified, value, id);
    return id;
  }

  #remember(map: Map<string, string>, key: string, value: string): void {
    map.set(key, value);
    if (map.size > this.#maxEntries) map.delete(map.keys().next().value!);
  }
}
