import type { OptionType } from '@stackware/gateway';
import { closest, preview, typeName } from '@stackware/gateway/options';

// The option helpers every factory's schema uses (one copy, in gateway).
export { closest, typeName };

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
