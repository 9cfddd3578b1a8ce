/** Thrown at save time when a session value is not JSON data. */
export class SessionDataError extends TypeError {
  constructor(message: string) {
    super(message);
    this.name = 'SessionDataError';
  }
}

function kind(value: unknown): string {
  if (typeof value === 'object' && value !== null) return `an instance of ${(value as object).constructor?.name ?? 'a class'}`;
  if (typeof value === 'number') return String(value);
  if (value === undefined) return 'undefined (delete the key instead)';
  return `a ${typeof value}`;
}

/**
 * Checks that `value` survives `JSON.stringify` → `JSON.parse` unchanged: null, strings, booleans,
 * finite numbers, arrays and plain objects (prototype Object.prototype or null) of those.
 * Rejected, because they would not come back as they went in: undefined (inside objects and
 * arrays), functions, symbols, BigInt, NaN/Infinity, cycles, class instances (Date, Map, Set,
 * Buffer, your own classes — store `date.toISOString()` or a plain object instead), and objects with
 * a `toJSON` method.
 * @throws SessionDataError naming the path of the first bad value (`session key "cart" → items[2].price`).
 */
export function assertJsonData(value: unknown, where: string): void {
  const ancestors = new Set<object>();
  const visit = (v: unknown, path: string): void => {
    switch (typeof v) {
      case 'string':
      case 'boolean':
        return;
      case 'number':
        if (!Number.isFinite(v)) throw new SessionDataError(`${where}${path} is ${v}, which JSON cannot hold (sessions store JSON data)`);
        return;
      case 'object': {
        if (v === null) return;
        if (ancestors.has(v)) throw new SessionDataError(`${where}${path} refers back to itself (a cycle); sessions store JSON data, which has no cycles`);
        const proto = Object.getPrototypeOf(v) as unknown;
        const isArray = Array.isArray(v);
        if (!isArray && proto !== Object.prototype && proto !== null) {
          throw new SessionDataError(`${where}${path} is ${kind(v)}, which does not come back from JSON as it went in; store plain data (for a Date, its toISOString())`);
        }
        if (!isArray && typeof (v as { toJSON?: unknown }).toJSON === 'function') throw new SessionDataError(`${where}${path} has a toJSON method; store the plain data it returns instead`);
        ancestors.add(v);
        if (isArray) {
          for (let i = 0; i < v.length; i++) visit(v[i], `${path}[${i}]`);
        } else {
          for (const key of Object.keys(v)) visit((v as Record<string, unknown>)[key], `${path}.${key}`);
        }
        ancestors.delete(v);
        return;
      }
      default:
        throw new SessionDataError(`${where}${path} is ${kind(v)}, which JSON cannot hold (sessions store JSON data: strings, numbers, booleans, null, arrays, plain objects)`);
    }
  };
  visit(value, '');
}
