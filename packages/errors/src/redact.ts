/** What {@link Redactor} hides, and how. */
export interface RedactOptions {
  /** Request headers whose values are hidden (case-insensitive). Default: {@link DEFAULT_REDACTED_HEADERS}. */
  headers?: string[];
  /** Field names (query, form, JSON keys, environ keys) whose values are hidden. Default: {@link DEFAULT_REDACTED_FIELDS}. */
  fields?: RegExp;
  /** What a hidden value becomes (default "[redacted]"). */
  replacement?: string;
}

/** Headers hidden by default: credentials and session cookies. */
export const DEFAULT_REDACTED_HEADERS = ['Cookie', 'Authorization', 'Proxy-Authorization', 'Set-Cookie', 'X-Api-Key', 'X-Auth-Token', 'X-CSRF-Token'];

/** Field names hidden by default: anything that looks like a credential. */
export const DEFAULT_REDACTED_FIELDS = /passw|passphrase|^pass$|pwd|secret|token|api[-_]?key|authoriz|credential|session|cookie|csrf|xsrf|card|cvv|ssn|private[-_]?key/i;

/**
 * Hides secrets in what an error report shows: header values by name, fields by a name pattern.
 * Used for the debug page, the saved report, the log record and the email alike.
 */
export class Redactor {
  readonly headers: Set<string>;
  readonly fields: RegExp;
  readonly replacement: string;

  constructor(options: RedactOptions = {}) {
    this.headers = new Set((options.headers ?? DEFAULT_REDACTED_HEADERS).map((h) => h.toLowerCase()));
    this.fields = new RegExp(options.fields ?? DEFAULT_REDACTED_FIELDS, (options.fields ?? DEFAULT_REDACTED_FIELDS).flags.replace(/[gy]/g, ''));
    this.replacement = options.replacement ?? '[redacted]';
  }

  /** True when a header named `name` ("Cookie", "HTTP_COOKIE" or "cookie") is hidden. */
  isSecretHeader(name: string): boolean {
    const plain = name.replace(/^HTTP_/, '').replace(/_/g, '-').toLowerCase();
    return this.headers.has(plain) || this.fields.test(plain);
  }

  /** `value`, or the replacement when `name` is a secret field. */
  field(name: string, value: string): string {
    return this.fields.test(name) ? this.replacement : value;
  }

  /** A copy of `pairs` with secret values replaced. */
  pairs(pairs: Array<[string, string]>, kind: 'header' | 'field'): Array<[string, string]> {
    return pairs.map(([n, v]) => [n, (kind === 'header' ? this.isSecretHeader(n) : this.fields.test(n)) ? this.replacement : v]);
  }

  /** A deep copy of a JSON value with secret keys' values replaced (depth-bounded). */
  json(value: unknown, depth = 0): unknown {
    if (depth > 20) return '[too deep]';
    if (Array.isArray(value)) return value.map((v) => this.json(v, depth + 1));
    if (value && typeof value === 'object') {
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(value)) out[k] = this.fields.test(k) ? this.replacement : this.json(v, depth + 1);
      return out;
    }
    return value;
  }
}
