/** What {@link interpolate} reports for a variable that is not set and has no default. */
export class MissingVariableError extends Error {
  constructor(readonly variable: string) {
    super(`environment variable ${variable} is not set`);
    this.name = 'MissingVariableError';
  }
}

/**
 * Expands `${VAR}`, `${VAR:-default}` (used when VAR is unset or empty, as in POSIX sh) and
 * `${here}` (the deploy file's directory) in one string. A default may itself contain
 * expansions: `${DATA:-${here}/.data}`. `$${` is a literal `${`.
 * @throws MissingVariableError when `${VAR}` has no value and no default.
 * @throws SyntaxError for an unclosed `${`.
 */
export function interpolate(text: string, env: Record<string, string | undefined>, here: string): string {
  let out = '';
  let i = 0;
  while (i < text.length) {
    const start = text.indexOf('$', i);
    if (start === -1) break;
    out += text.slice(i, start);
    if (text.startsWith('$${', start)) {
      out += '${';
      i = start + 3;
      continue;
    }
    const m = /^\$\{([A-Za-z_][A-Za-z0-9_]*)(:-)?/.exec(text.slice(start));
    if (!m) {
      out += '$';
      i = start + 1;
      continue;
    }
    // Find the matching "}", allowing nested ${...} in the default.
    let depth = 1;
    let j = start + m[0].length;
    for (; j < text.length && depth > 0; j++) {
      if (text.startsWith('${', j)) {
        depth++;
        j++;
      } else if (text[j] === '}') {
        depth--;
      }
    }
    if (depth !== 0) throw new SyntaxError(`unclosed \${ in ${JSON.stringify(text)}`);
    const name = m[1]!;
    const body = text.slice(start + m[0].length, j - 1);
    if (!m[2] && body !== '') {
      // "${NAME" followed by something other than ":-" or "}": not an expansion; keep it literally.
      out += text.slice(start, j);
    } else if (name === 'here') {
      out += here;
    } else {
      const value = env[name];
      if (value !== undefined && value !== '') out += value;
      else if (m[2]) out += interpolate(body, env, here);
      else throw new MissingVariableError(name);
    }
    i = j;
  }
  return out + text.slice(i);
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
    for (const [k, v] of Object.entries(value)) {
      // Keys expand too: users = { "${ADMIN_USER:-admin}" = "..." }.
      const key = k.includes('${') ? (interpolateDeep(k, env, here, onMissing, path ? `${path}.${k}` : k) as string) : k;
      out[key] = interpolateDeep(v, env, here, onMissing, path ? `${path}.${key}` : key);
    }
    return out;
  }
  return value;
}
