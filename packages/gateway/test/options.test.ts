import { describe, it, expect } from '@jest/globals';
import { defineOptions, filterFactory, option, optionsTable, OptionsError } from '../src/options.js';
import type { FactoryContext } from '../src/factories.js';

const SCHEMA = defineOptions({
  port: option.number('TCP port', { integer: true, min: 0, max: 65535, default: 8080 }),
  timeoutMs: option.number('per request', { unit: 'ms', greaterThan: 0, default: 30_000 }),
  debug: option.boolean('debug pages', { default: false }),
  sameSite: option.oneOf(['lax', 'strict', 'none'], 'SameSite', { default: 'lax' }),
  secure: option.switch(['auto'], 'Secure', { default: 'auto' }),
  hosts: option.strings('trusted hosts', { commaSeparated: true }),
  watch: option.either(option.boolean(''), option.strings(''), 'reload on change'),
  pattern: option.parsed('a regular expression', 'string (RegExp)', (text) => new RegExp(text)),
  name: option.required(option.string('a name')),
  thresholdBytes: option.number('smallest body compressed', { unit: 'bytes', default: 1024 }),
}, { renamed: { threshold: 'thresholdBytes' } });

const context: FactoryContext = { name: 'f', here: '/tmp', defaults: {}, loadApp: async () => () => [] };

describe('defineOptions().parse', () => {
  it('converts strings from ${ENV} to numbers and booleans, and splits comma lists', () => {
    const result = SCHEMA.parse({ name: 'x', port: '8081', debug: 'true', hosts: 'a.test, b.test', secure: 'false', watch: ['lib'], pattern: '^a' });
    expect(result.ok && result.value).toEqual({ name: 'x', port: 8081, debug: true, hosts: ['a.test', 'b.test'], secure: false, watch: ['lib'], pattern: /^a/ });
  });

  it('names the key, the problem and a fix for each kind of mistake', () => {
    const issues = (input: Record<string, unknown>) => { const r = SCHEMA.parse({ name: 'x', ...input }); return r.ok ? [] : r.issues.map((i) => `${i.key}: ${i.problem} — ${i.fix}`); };
    expect(issues({ port: 70000 })).toEqual(['port: option "port" must be ≤ 65535, got 70000 — write port = 8080']);
    expect(issues({ port: 80.5 })).toEqual(['port: option "port" must be a whole number, got 80.5 — write port = 8080']);
    expect(issues({ port: 'eighty' })).toEqual(['port: option "port" must be a number, got string "eighty" — write port = 8080']);
    expect(issues({ timeoutMs: 0 })).toEqual(['timeoutMs: option "timeoutMs" must be > 0, got 0 — write timeoutMs = 30000']);
    expect(issues({ sameSite: 'loose' })).toEqual(['sameSite: option "sameSite" must be "lax", "strict" or "none", got string "loose" — write sameSite = "lax"']);
    expect(issues({ secure: 'maybe' })).toEqual(['secure: option "secure" must be true, false or "auto", got string "maybe" — write secure = "auto"']);
    expect(issues({ watch: 3 })).toEqual(['watch: option "watch" must be boolean or string[], got number 3 — write watch = true']);
    expect(issues({ pattern: '(' })[0]).toMatch(/^pattern: option "pattern" Invalid regular expression/);
    expect(issues({ prot: 1 })).toEqual(['prot: unknown option "prot" — did you mean "port"? it accepts: port, timeoutMs, debug, sameSite, secure, hosts, watch, pattern, name, thresholdBytes']);
    const missing = SCHEMA.parse({});
    expect(!missing.ok && missing.issues).toEqual([{ key: 'name', kind: 'missing', problem: 'option "name" is required: a name', fix: 'write name = "text"' }]);
  });

  it('reads a renamed key with a warning; the new name wins when both are given', () => {
    const old = SCHEMA.parse({ name: 'x', threshold: 512 });
    expect(old).toEqual({ ok: true, value: { name: 'x', thresholdBytes: 512 }, warnings: [{ key: 'threshold', message: 'option "threshold" is deprecated: write thresholdBytes (same value and unit)' }] });
    const both = SCHEMA.parse({ name: 'x', threshold: 512, thresholdBytes: 256 });
    expect(both.ok && both.value.thresholdBytes).toBe(256);
  });
});

describe('filterFactory', () => {
  it('gives the build function typed, converted options and carries the schema', () => {
    let seen: unknown;
    const factory = filterFactory(SCHEMA, (options) => { seen = options.port; return (app) => app; }, { description: 'test' });
    factory({ name: 'x', port: '9000' }, context);
    expect(seen).toBe(9000);
    expect(factory.options).toBe(SCHEMA);
    expect(factory.optionTypes).toMatchObject({ port: 'number', debug: 'boolean', hosts: 'string[]' });
  });

  it('throws OptionsError naming the section when called from code with bad options', () => {
    const factory = filterFactory(SCHEMA, () => (app) => app, { description: 'test' });
    expect(() => factory({ name: 'x', port: -1 }, context)).toThrow(OptionsError);
    expect(() => factory({ name: 'x', port: -1 }, context)).toThrow('[filter.f] option "port" must be ≥ 0, got -1 — write port = 8080');
  });
});

describe('optionsTable', () => {
  it('renders name, type, default, unit and meaning, escaping "|", and lists renamed keys', () => {
    const table = optionsTable(SCHEMA).split('\n');
    expect(table[0]).toBe('| option | type | default | unit | meaning |');
    expect(table).toContain('| `port` | integer | `8080` | — | TCP port |');
    expect(table).toContain('| `timeoutMs` | number | `30000` | ms | per request |');
    expect(table).toContain('| `sameSite` | "lax" \\| "strict" \\| "none" | `"lax"` | — | SameSite |');
    expect(table).toContain('| `name` (required) | string | — | — | a name |');
    expect(table.at(-1)).toBe('| `threshold` | | | | deprecated: the old name of `thresholdBytes` (still read, with a warning) |');
  });
});
