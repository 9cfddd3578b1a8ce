import * as v from 'valibot';
import type { AppFactory, FactoryContext, FactoryOptions, FilterFactory, OptionType, ServerFactory, RunningServer } from './factories.js';
import type { Application, Middleware } from './types.js';

/**
 * One options schema per factory (issue 20). A package declares the options of its deploy-file
 * factory once, with {@link option} and {@link defineOptions}; from that one declaration come
 *
 * - the TypeScript type of the options the factory receives ({@link OptionsOf}),
 * - the deploy-file validation (@stackware/config turns each problem into a ConfigError with the
 *   file, line, key and fix),
 * - the README option table ({@link optionsTable}; a test keeps each README in step).
 *
 * The rule for units: an option's name carries its unit (`timeoutMs`, `maxBodyBytes`,
 * `idleTimeoutSeconds`, `maxOldGenerationSizeMb`); the deploy file uses the same names and
 * units as the code. Counts (`threads`, `maxQueue`) have no unit.
 *
 * Validation runs when the stack is built, never per request. Built on valibot: every option is
 * a valibot schema from `unknown` to its type, so a value that arrives as a string from
 * `${ENV}` interpolation (`port = "${PORT:-8080}"`) is converted where the type allows it.
 */

/** One declared option: its valibot schema and what the README table and messages show. */
export interface Option<T> {
  /** Validates and converts a deploy-file value (unknown → T); issue messages read "must be …, got …". */
  readonly schema: v.GenericSchema<unknown, T>;
  /** The type as the README shows it: "number", "string", "boolean", "string[]", "table", `"lax" \| "strict"`. */
  readonly type: string;
  /** The coarse type @stackware/config reported before schemas (kept for `optionTypes`). */
  readonly optionType: OptionType;
  /** A TOML value for fixes: `write timeoutMs = 30000`. */
  readonly example: string;
  /** What the option means, one sentence. */
  readonly doc: string;
  /** The default value as TOML ("30000", "\"lax\""); undefined: none, or see {@link defaultText}. */
  readonly default?: string;
  /** A default that is not one value ("os.tmpdir()", "true in a prefork worker"), in words. */
  readonly defaultText?: string;
  /** The unit of a number ("ms", "s", "bytes", "MiB"), or undefined. */
  readonly unit?: string;
  /** True when the factory refuses to build without it ({@link option.required}). */
  readonly required?: boolean;
}

/** Options common to every {@link option} builder. */
export interface OptionInit<T> {
  /** The default the middleware applies when the option is absent (shown in the README). */
  default?: T;
  /** Shown instead of `default` when the default is computed ("max-requests / 10", "os.tmpdir()"). */
  defaultText?: string;
  /** A TOML example value for fixes (defaults from the type). */
  example?: string;
}

/** Options of a number option. */
export interface NumberInit extends OptionInit<number> {
  /** The unit (also in the option's name): "ms", "s", "bytes", "MiB". */
  unit?: 'ms' | 's' | 'bytes' | 'MiB' | 'KiB';
  /** Must be a whole number. */
  integer?: boolean;
  /** Smallest allowed value (inclusive). */
  min?: number;
  /** The value must be greater than this (exclusive: `greaterThan: 0` is "> 0"). */
  greaterThan?: number;
  /** Largest allowed value (inclusive). */
  max?: number;
}

/** The JavaScript type name of a deploy-file value, for messages: "string", "number", "array", "table"... */
export function typeName(value: unknown): string {
  if (Array.isArray(value)) return 'array';
  if (value === null) return 'null';
  if (value instanceof Date) return 'date';
  if (typeof value === 'object') return 'table';
  return typeof value;
}

/** A short JSON preview of a value for messages (at most 40 characters). */
export function preview(value: unknown): string {
  const text = typeof value === 'bigint' ? String(value) : JSON.stringify(value) ?? String(value);
  return text.length > 40 ? `${text.slice(0, 37)}...` : text;
}

const got = (issue: { input: unknown }) => `got ${typeName(issue.input)} ${preview(issue.input)}`;

/** Numbers spelled as strings (from `${ENV}`) and TOML integers that arrive as bigint become numbers. */
function toNumber(value: unknown): unknown {
  if (typeof value === 'bigint') return Number(value);
  if (typeof value === 'string' && /^-?\d+(\.\d+)?$/.test(value.trim())) return Number(value);
  return value;
}

function toBoolean(value: unknown): unknown {
  return value === 'true' ? true : value === 'false' ? false : value;
}

function shown(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  return typeof value === 'string' ? JSON.stringify(value) : Array.isArray(value) ? JSON.stringify(value).replaceAll(',', ', ') : String(value);
}

function make<T>(schema: v.GenericSchema<unknown, T>, type: string, optionType: OptionType, example: string, doc: string, init: OptionInit<unknown> & { unit?: string }): Option<T> {
  return Object.freeze({
    schema, type, optionType, doc, example: init.example ?? example,
    default: shown(init.default), defaultText: init.defaultText, unit: init.unit,
  });
}

/** Builders of {@link Option}s, one per type a deploy file can hold. */
export const option = {
  /** A string. */
  string(doc: string, init: OptionInit<string> = {}): Option<string> {
    return make(v.pipe(v.unknown(), v.string((i) => `must be a string, ${got(i)}`)), 'string', 'string', '"text"', doc, init);
  },
  /** A finite number; strings that spell a number are converted. */
  number(doc: string, init: NumberInit = {}): Option<number> {
    // The first rule a number breaks, or undefined: "a whole number", "≥ 1", "≤ 65535".
    const broken = (n: number): string | undefined => {
      if (!Number.isFinite(n)) return 'a finite number';
      if (init.integer && !Number.isInteger(n)) return 'a whole number';
      if (init.min !== undefined && n < init.min) return `≥ ${init.min}`;
      if (init.greaterThan !== undefined && !(n > init.greaterThan)) return `> ${init.greaterThan}`;
      if (init.max !== undefined && n > init.max) return `≤ ${init.max}`;
      return undefined;
    };
    const schema = v.pipe(
      v.unknown(),
      v.transform(toNumber),
      v.number((i) => `must be a number, ${got(i)}`),
      v.check((n) => broken(n) === undefined, (i) => `must be ${broken(i.input as number) ?? 'valid'}, got ${preview(i.input)}`),
    );
    const example = init.example ?? String(init.default ?? init.min ?? 30);
    return make(schema, init.integer ? 'integer' : 'number', 'number', example, doc, init);
  },
  /** true or false; the strings "true" and "false" are converted. */
  boolean(doc: string, init: OptionInit<boolean> = {}): Option<boolean> {
    const schema = v.pipe(v.unknown(), v.transform(toBoolean), v.boolean((i) => `must be true or false, ${got(i)}`));
    return make(schema, 'boolean', 'boolean', 'true', doc, init);
  },
  /** true, false, or one of a few words (`cookieSecure = "auto"`). */
  switch<const T extends readonly [string, ...string[]]>(words: T, doc: string, init: OptionInit<boolean | T[number]> = {}): Option<boolean | T[number]> {
    const list = ['true', 'false', ...words.map((x) => JSON.stringify(x))];
    const schema = v.pipe(v.unknown(), v.transform(toBoolean), v.union([v.boolean(), v.picklist(words)], (i) => `must be ${list.slice(0, -1).join(', ')} or ${list.at(-1)}, ${got(i)}`));
    return make(schema, `boolean | ${words.map((x) => JSON.stringify(x)).join(' | ')}`, 'any', list.at(-1)!, doc, init);
  },
  /** One of a fixed set of strings. */
  oneOf<const T extends readonly [string, ...string[]]>(values: T, doc: string, init: OptionInit<T[number]> = {}): Option<T[number]> {
    const list = values.map((x) => JSON.stringify(x));
    const schema = v.pipe(v.unknown(), v.picklist(values, (i) => `must be ${list.slice(0, -1).join(', ')} or ${list.at(-1)}, ${got(i)}`));
    return make(schema, list.join(' | '), 'string', list[0]!, doc, init);
  },
  /** An array of strings; with `commaSeparated`, one string "a, b" is split too (for `${ENV}` values). */
  strings(doc: string, init: OptionInit<string[]> & { commaSeparated?: boolean; single?: boolean } = {}): Option<string[]> {
    // commaSeparated: "a, b" → ["a", "b"]; single: "a" → ["a"] (a secret may hold commas).
    const split = (value: unknown) => (typeof value !== 'string' ? value : init.commaSeparated ? value.split(',').map((s) => s.trim()).filter(Boolean) : init.single ? [value] : value);
    const schema = v.pipe(v.unknown(), v.transform(split), v.array(v.string(), (i) => `must be an array of strings, ${got(i)}`));
    return make(schema as v.GenericSchema<unknown, string[]>, init.commaSeparated ? 'string[] or "a, b"' : init.single ? 'string or string[]' : 'string[]', 'string[]', '["a", "b"]', doc, init);
  },
  /** An array whose items are each one of a fixed set of strings (`encodings = ["br", "gzip"]`). */
  listOf<const T extends readonly [string, ...string[]]>(values: T, doc: string, init: OptionInit<T[number][]> = {}): Option<T[number][]> {
    const list = values.map((x) => JSON.stringify(x));
    const schema = v.pipe(v.unknown(), v.array(v.picklist(values, (i) => `must hold only ${list.join(', ')}, got ${preview(i.input)}`), (i) => `must be an array of ${list.join(', ')}, ${got(i)}`));
    return make(schema, `array of ${list.join(' | ')}`, 'string[]', `[${list[0]}]`, doc, init);
  },
  /** A TOML table ({ key = value }) whose values the factory checks itself. */
  table<T = Record<string, unknown>>(doc: string, init: OptionInit<T> & { type?: string } = {}): Option<T> {
    const schema = v.pipe(v.unknown(), v.check((value) => typeName(value) === 'table', (i) => `must be a table ({ key = value }), ${got(i)}`));
    return make(schema as v.GenericSchema<unknown, T>, init.type ?? 'table', 'table', '{ key = "value" }', doc, init);
  },
  /**
   * A string converted by `parse` at load time (a regular expression, a PIN); `parse` throws an
   * Error whose message completes "option "x" …" ("is not a valid regular expression: …").
   */
  parsed<T>(doc: string, type: string, parse: (text: string) => T, init: OptionInit<string> = {}): Option<T> {
    const schema = v.pipe(
      v.unknown(),
      v.string((i) => `must be a string, ${got(i)}`),
      v.rawTransform<string, T>(({ dataset, addIssue, NEVER }) => {
        try {
          return parse(dataset.value);
        } catch (error) {
          addIssue({ message: error instanceof Error ? error.message : String(error) });
          return NEVER;
        }
      }),
    );
    return make(schema, type, 'string', '"text"', doc, init);
  },
  /** Either of two options' values (`watch = true` or `watch = ["lib"]`); the first that fits wins. */
  either<A, B>(first: Option<A>, second: Option<B>, doc: string, init: OptionInit<A | B> = {}): Option<A | B> {
    const type = `${first.type} or ${second.type}`;
    const schema = v.pipe(v.unknown(), v.union([first.schema, second.schema], (i) => `must be ${type}, ${got(i)}`));
    return make(schema, type, 'any', first.example, doc, init);
  },
  /** Any value, passed to the factory as it is (its type is the factory's business). */
  any(doc: string, init: OptionInit<unknown> & { type?: string } = {}): Option<unknown> {
    return make(v.unknown(), init.type ?? 'any', 'any', '"value"', doc, init);
  },
  /** The same option, required: the factory refuses to build without it, and its key is not optional in {@link OptionsOf}. */
  required<T>(declared: Option<T>): Option<T> & { readonly required: true } {
    return Object.freeze({ ...declared, required: true as const });
  },
  /** A value the factory checks itself (`type` says what it takes, for the README). */
  custom<T>(schema: v.GenericSchema<unknown, T>, type: string, doc: string, init: OptionInit<T> = {}): Option<T> {
    return make(schema, type, 'any', init.example ?? '"value"', doc, init);
  },
} as const;

/** A table of declared options: option name → {@link Option}. */
export type OptionShape = Record<string, Option<unknown>>;

type ValueOf<O> = O extends Option<infer T> ? T : never;
type RequiredKeys<S> = { [K in keyof S]: S[K] extends { readonly required: true } ? K : never }[keyof S];

/** The options a factory built from `S` receives: the keys declared `required: true` are present, the others optional. */
export type OptionsOf<S extends OptionShape> =
  & { -readonly [K in Exclude<keyof S, RequiredKeys<S>>]?: ValueOf<S[K]> }
  & { -readonly [K in RequiredKeys<S>]: ValueOf<S[K]> };

/** One problem {@link OptionsSchema.parse} found: the key, what is wrong and a fix. */
export interface OptionIssue {
  key: string;
  /** "unknown": a key the factory does not take; "invalid": a value of the wrong type or out of range; "missing": a required key is absent. */
  kind: 'unknown' | 'invalid' | 'missing';
  /** "unknown option …", "option "port" must be ≤ 65535, got 70000". */
  problem: string;
  /** "did you mean …? it accepts: …", "write port = 8080". */
  fix: string;
}

/** A key that still works but is deprecated (a renamed option). */
export interface OptionWarning {
  key: string;
  /** "option "threshold" is deprecated: write thresholdBytes (same value and unit)". */
  message: string;
}

/** What {@link OptionsSchema.parse} returns. */
export type ParseResult<S extends OptionShape> =
  | { ok: true; value: OptionsOf<S>; warnings: OptionWarning[] }
  | { ok: false; issues: OptionIssue[]; warnings: OptionWarning[] };

/** The declared options of one factory; see {@link defineOptions}. */
export interface OptionsSchema<S extends OptionShape = OptionShape> {
  readonly shape: S;
  /** Old name → new name: the old key still works, with a deprecation warning. */
  readonly renamed: Readonly<Record<string, keyof S & string>>;
  /** The coarse types (the pre-schema `optionTypes`), derived. */
  readonly optionTypes: Record<string, OptionType>;
  /** Checks and converts options as read from a deploy file (or given in code). Never throws. */
  parse(input: Readonly<Record<string, unknown>>): ParseResult<S>;
}

/**
 * Declares the options of one factory.
 * @param shape option name → {@link option}.* builder result
 * @param init.renamed old deploy-file key → new key (the old one keeps working, with a warning)
 */
export function defineOptions<S extends OptionShape>(shape: S, init: { renamed?: Record<string, keyof S & string> } = {}): OptionsSchema<S> {
  const renamed = Object.freeze({ ...init.renamed });
  const optionTypes = Object.fromEntries(Object.entries(shape).map(([k, o]) => [k, o.optionType]));
  return Object.freeze({
    shape, renamed, optionTypes,
    parse(input: Readonly<Record<string, unknown>>): ParseResult<S> {
      const issues: OptionIssue[] = [];
      const warnings: OptionWarning[] = [];
      const out: Record<string, unknown> = {};
      const known = Object.keys(shape);
      for (const [given, value] of Object.entries(input)) {
        if (value === undefined) continue;
        const key = renamed[given] ?? given;
        if (key !== given) {
          warnings.push({ key: given, message: `option "${given}" is deprecated: write ${key} (same value and unit)` });
          if (given in input && key in input) continue; // the new name wins
        }
        const declared = shape[key];
        if (declared === undefined) {
          const near = closest(key, known);
          issues.push({ key: given, kind: 'unknown', problem: `unknown option "${given}"`, fix: `${near ? `did you mean "${near}"? ` : ''}${known.length ? `it accepts: ${known.join(', ')}` : 'it takes no options'}` });
          continue;
        }
        const result = v.safeParse(declared.schema, value);
        if (result.success) out[key] = result.output;
        else issues.push({ key: given, kind: 'invalid', problem: `option "${given}" ${result.issues[0].message}`, fix: `write ${key} = ${declared.example}` });
      }
      for (const [key, declared] of Object.entries(shape)) {
        if (declared.required && out[key] === undefined && !issues.some((i) => i.key === key)) {
          issues.push({ key, kind: 'missing', problem: `option "${key}" is required: ${declared.doc}`, fix: `write ${key} = ${declared.example}` });
        }
      }
      return issues.length ? { ok: false, issues, warnings } : { ok: true, value: out as OptionsOf<S>, warnings };
    },
  });
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

/**
 * The README table of a schema (GitHub Markdown): one row per option with its type, default,
 * unit and meaning, in declaration order. READMEs hold it between
 * `<!-- options:<package>#<entry>:start -->` and `<!-- options:…:end -->`; a test regenerates it
 * and fails when the README differs.
 */
export function optionsTable(schema: OptionsSchema): string {
  const rows = Object.entries(schema.shape).map(([name, o]) => {
    const cells = [`\`${name}\`${o.required ? ' (required)' : ''}`, o.type, o.default !== undefined ? `\`${o.default}\`` : (o.defaultText ?? '—'), o.unit ?? '—', o.doc];
    return `| ${cells.map((c) => c.replaceAll('|', '\\|')).join(' | ')} |`;
  });
  const renamed = Object.entries(schema.renamed).map(([from, to]) => `| \`${from}\` | | | | deprecated: the old name of \`${to}\` (still read, with a warning) |`);
  return ['| option | type | default | unit | meaning |', '|---|---|---|---|---|', ...rows, ...renamed].join('\n');
}

/** Thrown by a factory built with {@link appFactory} & co. when called with options its schema rejects. */
export class OptionsError extends TypeError {
  constructor(readonly section: string, readonly issues: OptionIssue[]) {
    super(issues.map((i) => `[${section}] ${i.problem} — ${i.fix}`).join('\n'));
    this.name = 'OptionsError';
  }
}

function checked<S extends OptionShape>(schema: OptionsSchema<S>, section: string, options: FactoryOptions): OptionsOf<S> {
  const result = schema.parse(options);
  if (!result.ok) throw new OptionsError(section, result.issues);
  return result.value;
}

interface FactoryInit {
  /** One line on what the factory builds, shown by `stackware check`. */
  description: string;
}

/**
 * An application factory whose options come from `schema`: `build` receives them checked,
 * converted and typed. @stackware/config checks them first (ConfigError with file and line);
 * called from code with bad options, the factory throws {@link OptionsError}.
 */
export function appFactory<S extends OptionShape>(schema: OptionsSchema<S>, build: (options: OptionsOf<S>, context: FactoryContext) => Application | Promise<Application>, init: FactoryInit): AppFactory {
  return Object.assign((options: FactoryOptions, context: FactoryContext) => build(checked(schema, `app.${context.name}`, options), context), { ...init, options: schema, optionTypes: schema.optionTypes });
}

/** A filter (middleware) factory whose options come from `schema`; see {@link appFactory}. */
export function filterFactory<S extends OptionShape>(schema: OptionsSchema<S>, build: (options: OptionsOf<S>, context: FactoryContext) => Middleware | Promise<Middleware>, init: FactoryInit): FilterFactory {
  return Object.assign((options: FactoryOptions, context: FactoryContext) => build(checked(schema, `filter.${context.name}`, options), context), { ...init, options: schema, optionTypes: schema.optionTypes });
}

/** A server factory whose options come from `schema`; see {@link appFactory}. */
export function serverFactory<S extends OptionShape>(schema: OptionsSchema<S>, build: (options: OptionsOf<S>, context: FactoryContext) => (app: Application) => Promise<RunningServer>, init: FactoryInit): ServerFactory {
  return Object.assign((options: FactoryOptions, context: FactoryContext) => build(checked(schema, `server.${context.name}`, options), context), { ...init, options: schema, optionTypes: schema.optionTypes });
}
