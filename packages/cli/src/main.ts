/**
 * The `stackware` command: `stackware <command> [arguments] [options]`. bin/stackware.js registers
 * the TypeScript loader and calls {@link main}; prefork workers run it again with the same argv.
 */
import { readFileSync } from 'node:fs';
import { parseCommandLine, optionsHelp } from './args.js';
import { COMMANDS } from './commands.js';
import type { CommandName } from './options.js';
import { UsageError } from './usage-error.js';
import { reportBootFailure } from '@stackware/server';

import { EXIT_CODES, exitCodesHelp } from './exit-codes.js';
import { LoadError } from './load-error.js';

/** The version of @stackware/cli (its package.json, one directory above src/ and dist/). */
export function version(): string {
  return (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
}

/** `stackware --help`: the commands and their options. */
export function helpText(only?: CommandName): string {
  const names = (only ? [only] : Object.keys(COMMANDS)) as CommandName[];
  const parts = [only ? '' : 'usage: stackware <command> [arguments] [options]\n       stackware --version | -V\n\ncommands:\n' + names.map((n) => `  ${n.padEnd(8)}${COMMANDS[n]!.summary}`).join('\n') + '\n'];
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

/** The code (EADDRINUSE, EACCES, ...) of the first failed system call among `error` and its causes. */
function systemCode(error: unknown): string | undefined {
  for (let e = error, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++) {
    if (typeof (e as NodeJS.ErrnoException).syscall === 'string') return (e as NodeJS.ErrnoException).code;
  }
  return undefined;
}

/**
 * Runs the command line (`--help`/`-h`, `--version`/`-V` print and return); exits with a code
 * from {@link EXIT_CODES}, whatever the target (a module or a deploy file): usage and configuration
 * errors (unknown command or flag, bad value, missing module or export, a mistake in the deploy
 * file) print one line to stderr and exit 2; system errors at start-up (port in use, permission
 * denied) print one line and exit 1; an application that fails to load exits 3 (a syntax error:
 * one `file:line:col` line and the code; a throw at import: its stack); any other error prints its
 * stack and exits 1. In a prefork worker the same one-line cause is also sent to the primary, whose
 * boot-failure policy exits with code 3.
 */
export async function main(argv: string[]): Promise<void> {
  try {
    const [name, ...rest] = argv;
    if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
      process.stdout.write(helpText());
      if (name === undefined) process.exitCode = 2;
      return;
    }
    if (name === '--version' || name === '-V') {
      process.stdout.write(`${version()}\n`);
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
      await reportBootFailure(error.message);
      process.stderr.write(`stackware: ${error.message}\n`);
      process.exit(EXIT_CODES.usage.code);
    }
    if (error instanceof LoadError) {
      await reportBootFailure(error.message.split('\n')[0]!);
      process.stderr.write(`stackware: ${error.complete || !(error.cause instanceof Error) ? error.message : `${error.message}\n${error.cause.stack}`}\n`);
      process.exit(EXIT_CODES.boot.code);
    }
    // A system error (port in use, permission denied) is the environment's, not a bug: its message says it all.
    const systemError = isSystemError(error);
    // node:cluster workers get a bare "bind EADDRINUSE host:port" from the primary: say what it means.
    const portInUse = systemError && error instanceof Error && systemCode(error) === 'EADDRINUSE' && !error.message.includes('already in use') ? ' (the port is in use: stop what listens there or choose another --port)' : '';
    // A prefork worker tells the primary why it cannot boot (its boot-failure policy prints one line).
    await reportBootFailure(error instanceof Error ? `${error.message.split('\n')[0]!}${portInUse}` : String(error));
    const text = !(error instanceof Error) ? String(error) : systemError ? `${error.message}${portInUse}` : error.cause instanceof Error ? `${error.message}\n${error.cause.stack}` : error.stack;
    process.stderr.write(`stackware: ${text}\n`);
    process.exit(EXIT_CODES.system.code);
  }
}
