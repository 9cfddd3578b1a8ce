/**
 * THE exit codes of the `stackware` command, one table for every command and target kind (a
 * module or a deploy file). `--help` and the README list it. Code 3 is shared with the prefork
 * primary, which exits with it when its workers cannot boot.
 */
export const EXIT_CODES = {
  ok: { code: 0, meaning: 'stopped gracefully (SIGTERM/SIGINT), or the command finished' },
  system: { code: 1, meaning: 'system or runtime error: the port is in use, permission denied, a crash' },
  usage: { code: 2, meaning: 'usage or configuration error: unknown flag, bad value, missing file or export, a mistake in the deploy file' },
  boot: { code: 3, meaning: 'boot failure: the application failed to load (syntax error, it throws at import), or prefork workers failed to boot' },
} as const;

/** The exit-code table as `--help` prints it. */
export function exitCodesHelp(): string {
  return Object.values(EXIT_CODES).map(({ code, meaning }) => `  ${code}  ${meaning}`).join('\n');
}
