import type { OptionType } from '@stackware/gateway';

/** The JavaScript type name of a deploy-file value, for messages: "string", "number", "array", "table"... */
export function typeName(value: unknown): string {
  if (Array.isArray(value)) return 'array';
  if (value === null) return 'null';
  if (value instanceof Date) return 'date';
  if (typeof value === 'object') return 'table';
  return typeof value;
}

/**
 * Checks one option value against its declared type and returns the value to pass to the
 * factory. Strings that spell a number or a boolean are converted for 'number'/'boolean'
 * options, so that `port = "${PORT:-8080}"` works.
 * @returns `{ value }` when it fits, `{ problem }` describing the mismatch otherwise.
 */
export function checkOptionType(value: unknown, type: OptionType): { value: unknown } | { problem: string } {
  switch (type) {
    case 'any':
      return { value };
    case 'string':
      return typeof value === 'string' ? { value } : { problem: `must be a string, got ${typeName(value)} ${preview(value)}` };
    case 'number':
      if (typeof value === 'number' && Number.isFinite(value)) return { value };
      if (typeof value === 'bigint') return { value: Number(value) };
      if (typeof value === 'string' && /^-?\d+(\.\d+)?$/.test(value.trim())) return { value: Number(value) };
      return { problem: `must be a number, got ${typeName(value)} ${preview(value)}` };
    case 'boolean':
      if (typeof value === 'boolean') return { value };
      if (value === 'true' || value === 'false') return { value: value === 'true' };
      return { problem: `must be true or false, got ${typeName(value)} ${preview(value)}` };
    case 'string[]':
      return Array.isArray(value) && value.every((v) => typeof v === 'string') ? { value } : { problem: `must be an array of strings, got ${typeName(value)} ${preview(value)}` };
    case 'table':
      return typeName(value) === 'table' ? { value } : { problem: `must be a table ({ key = value }), got ${typeName(value)} ${preview(value)}` };
  }
}

/** An example of a value of `type` in TOML, for fixes. */
export function exampleOf(type: OptionType): string {
  return { any: '"value"', string: '"text"', number: '30', boolean: 'true', 'string[]': '["a", "b"]', table: '{ key = "value" }' }[type];
}

function preview(value: unknown): string {
  const text = typeof value === 'bigint' ? String(value) : JSON.stringify(value) ?? String(value);
  return text.length > 40 ? `${text.slice(0, 37)}...` : text;
}

/** The known name closest to `name` (edit distance ≤ 2), for "did you mean" fixes. */
export function closest(name: string, known: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestDistance = 3;
  for (const candidate of known) {
    const d = distance(name.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best;
}

function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return row[b.length]!;
}
