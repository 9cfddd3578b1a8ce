/** One cookie held by a {@link CookieJar}. */
export interface StoredCookie {
  name: string;
  value: string;
  path: string;
  /** Expiry time in ms since the epoch; undefined for a session cookie. */
  expires?: number;
  attributes: Record<string, string | true>;
}

/**
 * A minimal browser-like cookie jar for the TestClient (RFC 6265 §5.3, one host): keeps the
 * cookies of `Set-Cookie` response headers, drops expired ones (Max-Age ≤ 0, past Expires),
 * and builds the `Cookie` request header for a path (path-match, §5.1.4).
 */
export class CookieJar {
  readonly #cookies = new Map<string, StoredCookie>();

  /** Stores the cookie of one `Set-Cookie` header value. Malformed values are ignored, as browsers do. */
  setCookie(header: string, requestPath = '/'): void {
    const [pair, ...attrs] = header.split(';');
    const eq = pair!.indexOf('=');
    if (eq <= 0) return;
    const name = pair!.slice(0, eq).trim();
    let value = pair!.slice(eq + 1).trim();
    if (value.startsWith('"') && value.endsWith('"') && value.length >= 2) value = value.slice(1, -1);
    const attributes: Record<string, string | true> = {};
    for (const attr of attrs) {
      const i = attr.indexOf('=');
      const key = (i === -1 ? attr : attr.slice(0, i)).trim().toLowerCase();
      if (key) attributes[key] = i === -1 ? true : attr.slice(i + 1).trim();
    }
    const defaultPath = requestPath.slice(0, requestPath.lastIndexOf('/')) || '/';
    const path = typeof attributes.path === 'string' && attributes.path.startsWith('/') ? attributes.path : defaultPath;
    let expires: number | undefined;
    if (typeof attributes['max-age'] === 'string') expires = Date.now() + Number(attributes['max-age']) * 1000;
    else if (typeof attributes.expires === 'string') expires = Date.parse(attributes.expires);
    const key = `${name};${path}`;
    if (expires !== undefined && !(expires > Date.now())) {
      this.#cookies.delete(key);
      return;
    }
    this.#cookies.set(key, { name, value, path, expires, attributes });
  }

  /** The `Cookie` header value for a request to `path`, or undefined when no cookie applies. */
  cookieHeader(path = '/'): string | undefined {
    const now = Date.now();
    const matching = [...this.#cookies.values()]
      .filter((c) => (c.expires === undefined || c.expires > now) && pathMatches(path, c.path))
      .sort((a, b) => b.path.length - a.path.length);
    return matching.length ? matching.map((c) => `${c.name}=${c.value}`).join('; ') : undefined;
  }

  /** The value of cookie `name` (the longest path wins), or undefined. */
  get(name: string): string | undefined {
    return this.all().filter((c) => c.name === name).sort((a, b) => b.path.length - a.path.length)[0]?.value;
  }

  /** Every unexpired cookie. */
  all(): StoredCookie[] {
    const now = Date.now();
    return [...this.#cookies.values()].filter((c) => c.expires === undefined || c.expires > now);
  }

  /** Sets a cookie directly (as if a script had set it). */
  set(name: string, value: string, path = '/'): void {
    this.#cookies.set(`${name};${path}`, { name, value, path, attributes: {} });
  }

  /** Forgets every cookie (a fresh browser profile). */
  clear(): void {
    this.#cookies.clear();
  }
}

function pathMatches(requestPath: string, cookiePath: string): boolean {
  if (requestPath === cookiePath) return true;
  if (!requestPath.startsWith(cookiePath)) return false;
  return cookiePath.endsWith('/') || requestPath[cookiePath.length] === '/';
}
