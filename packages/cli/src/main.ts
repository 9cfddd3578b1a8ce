/**
 * The `stackware` command: `stackware <command> [arguments] [options]`. bin/stackware.js registers
 * the TypeScript loader and calls {@link main}; prefork workers run it again with the same argv.
 */
import { parseCommandLine, optionsHelp } from './args.js';
import { COMMANDS } from './commands.js';
import type { CommandName } from './options.js';
import { UsageError } from './usage-error.js';
import { EXIT_CODES, exitCodesHelp } from './exit-codes.js';
import { LoadError } from './load-error.js';

/** `stackware --help`: the commands and their options. */
export function helpText(only?: CommandName): string {
  const names = (only ? [only] : Object.keys(COMMANDS)) as CommandName[];
  const parts = [only ? '' : 'usage: stackware <command> [arguments] [options]\n\ncommands:\n' + names.map((n) => `  ${n.padEnd(8)}${COMMANDS[n]!.summary}`).join('\n') + '\n'];
  for (const name of names) parts.push(`${COMMANDS[name]!.usage}\n\noptions:\n${optionsHelp(name)}\n`);
  parts.push(`exit codes:\n${exitCodesHelp()}\n`);
  return parts.filter(Boolean).join('\n');
}

/** True when `error` or one of its causes is a system call's failure (EADDRINUSE, EACCES, ...). */
function isSystemError(error: unknown): boolean {
  for (let e = error, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++) {
    if (typeof (e as NodeJS.ErrnoException).syscall === 'string') return true;
  }
  return false;
}

/**
 * Runs the command line; exits with a code from {@link EXIT_CODES}, whatever the target (a
 * module or a deploy file): usage and configuration errors (unknown command or flag, bad value,
 * missing module or export, a mistake in the deploy file) print one line to stderr and exit 2;
 * system errors at start-up (port in use, permission denied) print one line and exit 1; an
 * application that fails to load exits 3 (a syntax error: one `file:line:col` line and the code;
 * a throw at import: its stack); any other error prints its stack and exits 1.
 */
export async function main(argv: string[]): Promise<void> {
  try {
    const [name, ...rest] = argv;
    if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
      process.stdout.write(helpText());
      if (name === undefined) process.exitCode = 2;
      return;
    }
    const command = COMMANDS[name as CommandName];
    if (!command) throw new UsageError(`unknown command ${JSON.stringify(name)}: try ${Object.keys(COMMANDS).join(', ')} (stackware --help)`);
    const parsed = parseCommandLine(name as CommandName, rest);
    if (parsed.options.help) {
      process.stdout.write(helpText(name as CommandName));
      return;
    }
    await command.run(parsed);
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`stackware: ${error.message}\n`);
      process.exit(EXIT_CODES.usage.code);
    }
    if (error instanceof LoadError) {
      process.stderr.write(`stackware: ${error.complete || !(error.cause instanceof Error) ? error.message : `${error.message}\n${error.cause.stack}`}\n`);
      process.exit(EXIT_CODES.boot.code);
    }
    // A system error (port in use, permission denied) is the environment's, not a bug: its message says it all.
    const text = !(error instanceof Error) ? String(error) : isSystemError(error) ? error.message : error.cause instanceof Error ? `${error.message}\n${error.cause.stack}` : error.stack;
    process.stderr.write(`stackware: ${text}\n`);
    process.exit(EXIT_CODES.system.code);
  }
}
