/** What {@link interpolate} reports for a variable that is not set and has no default. */
export class MissingVariableError extends Error {
  constructor(readonly variable: string) {
    super(`environment variable ${variable} is not set`);
    this.name = 'MissingVariableError';
  }
}

/**
 * Expands `${VAR}`, `${VAR:-default}` (used when VAR is unset or empty, as in POSIX sh) and
 * `${here}` (the deploy file's directory) in one string. `$${` is a literal `${`.
 * @throws MissingVariableError when `${VAR}` has no value and no default.
 */
export function interpolate(text: string, env: Record<string, string | undefined>, here: string): string {
  return text.replace(/\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g, (match, name: string | undefined, fallback: string | undefined) => {
    if (match === '$${') return '${';
    if (name === 'here') return here;
    const value = env[name!];
    if (value !== undefined && value !== '') return value;
    if (fallback !== undefined) return fallback;
    throw new MissingVariableError(name!);
  });
}

/**
 * Expands every string inside `value` (strings, arrays, tables), returning a new value.
 * `onMissing(path, variable)` is called for a missing variable with the key path ("a.b[0]").
 */
export function interpolateDeep(value: unknown, env: Record<string, string | undefined>, here: string, onMissing: (path: string, variable: string) => never, path = ''): unknown {
  if (typeof value === 'string') {
    try {
      return interpolate(value, env, here);
    } catch (error) {
      if (error instanceof MissingVariableError) onMissing(path, error.variable);
      throw error;
    }
  }
  if (Array.isArray(value)) return value.map((item, i) => interpolateDeep(item, env, here, onMissing, `${path}[${i}]`));
  if (value !== null && typeof value === 'object' && (Object.getPrototypeOf(value) === Object.prototype || Object.getPrototypeOf(value) === null)) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = interpolateDeep(v, env, here, onMissing, path ? `${path}.${k}` : k);
    return out;
  }
  return value;
}
