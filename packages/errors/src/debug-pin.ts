import { createHash, createHmac, scryptSync, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { hostname, userInfo } from 'node:os';
import type { Environ } from '@stackware/gateway';

/** The environment variable that sets the debugger PIN ("off" disables it), like Werkzeug's WERKZEUG_DEBUG_PIN. */
export const DEBUG_PIN_ENV = 'STACKWARE_DEBUG_PIN';
/** The cookie a correct PIN sets. */
export const DEBUG_PIN_COOKIE = 'stackware_debug';
/** Failed PIN attempts after which the PIN is refused until the process restarts (Werkzeug's 10). */
export const MAX_PIN_FAILURES = 10;
/** How long the PIN cookie is valid, in seconds (8 hours). */
export const PIN_COOKIE_MAX_AGE_SECONDS = 8 * 3600;

/** What a PIN attempt gave. */
export type PinResult = 'ok' | 'wrong' | 'locked';

function readFirst(paths: string[]): string {
  for (const path of paths) {
    try {
      return readFileSync(path, 'utf8').trim();
    } catch {
      // try the next one
    }
  }
  return '';
}

/**
 * The PIN Stackware makes up when none is set: nine digits (`123-456-789`) derived, as Werkzeug
 * does, from this machine — the machine id, the boot id, the host name, the user and the working
 * directory — so that every worker thread and prefork process of one server shows and accepts the
 * same PIN (a worker thread's `process.argv` differs from the main thread's, so the main script
 * is not part of it), and it changes with a reboot.
 */
export function derivedPin(): string {
  let user = '';
  try {
    user = userInfo().username;
  } catch {
    // no user name (a container without /etc/passwd entry)
  }
  const bits = [
    readFirst(['/etc/machine-id', '/var/lib/dbus/machine-id']),
    readFirst(['/proc/sys/kernel/random/boot_id']),
    hostname(), user, String(process.getuid?.() ?? ''), process.cwd(),
  ];
  const digest = createHash('sha256').update(`stackware-debug-pin\0${bits.join('\0')}`).digest();
  const n = digest.readUInt32BE(0) * 1000 + (digest.readUInt16BE(4) % 1000);
  return String(n % 1_000_000_000).padStart(9, '0').replace(/(\d{3})(?=\d)/g, '$1-');
}

/** "123-456-789", "123 456 789" and "123456789" are the same PIN. */
function normalise(pin: string): string {
  return pin.replace(/[\s-]/g, '');
}

/** @throws TypeError when `pin` has fewer than 6 characters besides spaces and dashes. */
export function assertValidPin(pin: string): void {
  if (normalise(pin).length < 6) throw new TypeError('The debugger PIN must have at least 6 characters besides spaces and dashes (e.g. "123-456-789")');
}

/** The scrypt hash a PIN is kept as (the PIN itself is not kept). */
function hashPin(pin: string): Buffer {
  return scryptSync(normalise(pin), 'stackware debugger pin', 32, { N: 4096 });
}

/** The cookie value for `issued` (seconds since the epoch): `<issued>.<HMAC-SHA256(key, issued)>`. */
function cookieValue(key: Buffer, issued: number): string {
  return `${issued}.${createHmac('sha256', key).update(String(issued)).digest('base64url')}`;
}

/**
 * The debugger PIN (Werkzeug's answer to CVE-2024-34069): debug pages and the report viewer
 * need it besides the trusted-client check. Only its scrypt hash is kept. A correct PIN earns a
 * signed cookie bound to the PIN (`HttpOnly; SameSite=Strict`, 8 hours); after
 * {@link MAX_PIN_FAILURES} wrong PINs every attempt is refused until the process restarts.
 */
export class DebugPin {
  readonly #hash: Buffer;
  readonly #cookieKey: Buffer;
  readonly #now: () => number;
  #failures = 0;

  /** `pin`: the PIN in plain text (it is hashed and dropped). */
  constructor(pin: string, now: () => number = Date.now) {
    assertValidPin(pin);
    this.#hash = hashPin(pin);
    this.#cookieKey = createHmac('sha256', this.#hash).update('cookie').digest();
    this.#now = now;
  }

  /** Failed attempts so far. */
  get failures(): number {
    return this.#failures;
  }

  /** True after {@link MAX_PIN_FAILURES} failures: no attempt is checked any more. */
  get locked(): boolean {
    return this.#failures >= MAX_PIN_FAILURES;
  }

  /** Checks one attempt (constant time); counts a failure. */
  check(attempt: string): PinResult {
    if (this.locked) return 'locked';
    if (timingSafeEqual(hashPin(attempt), this.#hash)) return 'ok';
    this.#failures++;
    return this.locked ? 'locked' : 'wrong';
  }

  /** The Set-Cookie value after a correct PIN; `path` is the application's mount ("/" for ""). */
  setCookie(path: string): string {
    const value = cookieValue(this.#cookieKey, Math.floor(this.#now() / 1000));
    return `${DEBUG_PIN_COOKIE}=${value}; Path=${path || '/'}; Max-Age=${PIN_COOKIE_MAX_AGE_SECONDS}; HttpOnly; SameSite=Strict`;
  }

  /** True when the request carries a PIN cookie this PIN signed, not older than {@link PIN_COOKIE_MAX_AGE_SECONDS}. */
  hasValidCookie(environ: Environ): boolean {
    const header = typeof environ.HTTP_COOKIE === 'string' ? environ.HTTP_COOKIE : '';
    for (const part of header.split(';')) {
      const eq = part.indexOf('=');
      if (eq === -1 || part.slice(0, eq).trim() !== DEBUG_PIN_COOKIE) continue;
      const value = part.slice(eq + 1).trim();
      const issued = Number(value.split('.')[0]);
      if (!Number.isSafeInteger(issued)) continue;
      const age = this.#now() / 1000 - issued;
      if (age < -60 || age > PIN_COOKIE_MAX_AGE_SECONDS) continue;
      const expected = Buffer.from(cookieValue(this.#cookieKey, issued));
      const given = Buffer.from(value);
      if (given.length === expected.length && timingSafeEqual(given, expected)) return true;
    }
    return false;
  }
}
