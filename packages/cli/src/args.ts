import { parseArgs } from 'node:util';
import { OPTIONS, camelCase, type CliOption, type CommandName, type OptionValue } from './options.js';
import { UsageError } from './usage-error.js';

/** The parsed command line of one command. */
export interface ParsedCommand {
  command: CommandName;
  /** Positional arguments after the command ("apps/hello/app.ts"). */
  positionals: string[];
  /** Every option of the command, camelCase, with defaults applied. */
  options: Record<string, OptionValue>;
  /** Options the user gave explicitly (camelCase names), for config files that must not override them. */
  given: Set<string>;
}

function optionsOf(command: CommandName): CliOption[] {
  return OPTIONS.filter((o) => o.commands.includes(command));
}

/**
 * Parses `argv` (after the command name) against the option table with node's util.parseArgs.
 * @throws UsageError for an unknown flag, a missing value, a number that is not one or is out of
 *   its range (every number ≥ 0; `max` when set), a value not in `choices`.
 */
export function parseCommandLine(command: CommandName, argv: string[]): ParsedCommand {
  const table = optionsOf(command);
  const config: Record<string, { type: 'string' | 'boolean'; short?: string }> = {};
  for (const option of table) config[option.name] = option.short ? { type: option.type === 'boolean' ? 'boolean' : 'string', short: option.short } : { type: option.type === 'boolean' ? 'boolean' : 'string' };
  let parsed: { values: Record<string, string | boolean | undefined>; positionals: string[] };
  try {
    parsed = parseArgs({ args: attachNegativeNumbers(argv, table), options: config, allowPositionals: true, strict: true, allowNegative: true }) as typeof parsed;
  } catch (error) {
    const message = (error instanceof Error ? error.message : String(error)).split(/\n|\. To specify/)[0]!;
    throw new UsageError(`${message.replace(/^Unknown option/, 'unknown option')} (stackware ${command} --help lists the options)`);
  }
  const options: Record<string, OptionValue> = {};
  const given = new Set<string>();
  for (const option of table) {
    const key = camelCase(option.name);
    const raw = parsed.values[option.name];
    if (raw === undefined) {
      options[key] = option.default;
      continue;
    }
    given.add(key);
    options[key] = convert(option, raw);
  }
  return { command, positionals: parsed.positionals, options, given };
}

/**
 * `--workers -1` / `-w -1` → `--workers=-1`: util.parseArgs takes a value that starts with "-" for
 * an option ("argument is ambiguous"); a negative number after a value option is that option's
 * value, which {@link convert} then refuses with the option's range.
 */
function attachNegativeNumbers(argv: string[], table: CliOption[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i]!;
    const next = argv[i + 1];
    const option = token.startsWith('--') ? table.find((o) => `--${o.name}` === token) : table.find((o) => o.short !== undefined && `-${o.short}` === token);
    if (option && option.type !== 'boolean' && next !== undefined && /^-(\d|\.\d)/.test(next)) {
      out.push(`--${option.name}=${next}`);
      i++;
    } else {
      out.push(token);
    }
  }
  return out;
}

/** What a number option accepts, for its error message: "an integer from 0 to 65535". */
function numberRange(option: CliOption): string {
  if (option.max !== undefined) return `${option.integer ? 'an integer' : 'a number'} from 0 to ${option.max}`;
  return option.integer ? 'a non-negative integer' : 'a non-negative number';
}

function convert(option: CliOption, raw: string | boolean): OptionValue {
  if (option.type === 'boolean') return raw === true;
  const text = String(raw);
  if (option.type === 'number') {
    const value = text.trim() === '' ? NaN : Number(text);
    if (!Number.isFinite(value) || value < 0 || (option.integer && !Number.isInteger(value)) || (option.max !== undefined && value > option.max)) {
      throw new UsageError(`--${option.name} must be ${numberRange(option)}, got ${JSON.stringify(text)}`);
    }
    return value;
  }
  if (option.choices && !option.choices.includes(text)) throw new UsageError(`--${option.name} must be one of ${option.choices.join(', ')}; got ${JSON.stringify(text)}`);
  return text;
}

/** The option table of a command as help text: `  -p, --port PORT  TCP port ... (default: 8080)`. */
export function optionsHelp(command: CommandName): string {
  const rows = optionsOf(command).map((o) => {
    const flag = `${o.short ? `-${o.short}, ` : '    '}--${o.type === 'boolean' && o.default === true ? `[no-]${o.name}` : o.name}${o.placeholder ? ` ${o.placeholder}` : ''}`;
    const shown = o.defaultText ?? (o.default === undefined || o.default === false || o.name === 'help' ? undefined : String(o.default));
    return [flag, `${o.help}${shown !== undefined ? ` (default: ${shown})` : ''}`] as const;
  });
  const width = Math.max(...rows.map(([flag]) => flag.length)) + 2;
  return rows.map(([flag, help]) => `  ${flag.padEnd(width)}${help}`).join('\n');
}
