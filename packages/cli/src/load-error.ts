import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { EXIT_CODES } from './exit-codes.js';

/**
 * The application could not be loaded: its module (or one it imports) has a syntax error or
 * throws while it is imported. `main` prints the message — for a syntax error one
 * `file:line:col: SyntaxError: …` line and the code under it, for a throw the module's stack —
 * and exits with {@link EXIT_CODES}.boot (3).
 */
export class LoadError extends Error {
  readonly exitCode = EXIT_CODES.boot.code;
  /** True when `message` is all there is to say (a syntax error); false: the cause's stack follows. */
  readonly complete: boolean;
  constructor(message: string, options: { cause?: unknown; complete: boolean }) {
    super(message, { cause: options.cause });
    this.name = 'LoadError';
    this.complete = options.complete;
  }
}

/** A source location: 1-based line and column. */
interface Location { file: string; line: number; column: number; problem: string }

/** esbuild (through tsx): "Transform failed with 1 error:\n/x/app.ts:3:12: ERROR: Unexpected \";\"" (0-based column). */
function esbuildLocation(message: string): Location | undefined {
  const match = /^(.+?):(\d+):(\d+): ERROR: (.+)$/m.exec(message);
  if (!match || !/Transform failed|Build failed/.test(message)) return undefined;
  return { file: match[1]!, line: Number(match[2]), column: Number(match[3]) + 1, problem: match[4]! };
}

/**
 * Node's SyntaxError for an ES module carries no location in its stack: `node --check FILE`
 * prints it ("FILE:2\n<code>\n<caret>\n\nSyntaxError: …"). Only runs after the import failed.
 */
function nodeCheckLocation(file: string, message: string): Location | undefined {
  const check = spawnSync(process.execPath, ['--check', file], { encoding: 'utf8', timeout: 10_000, env: { ...process.env, NODE_OPTIONS: '' } });
  const match = /^(.+):(\d+)\n(.*)\n(\s*)\^/m.exec(check.stderr ?? '');
  if (check.status === 0 || !match) return undefined;
  return { file: match[1]!, line: Number(match[2]), column: match[4]!.length + 1, problem: message };
}

/** "    3 |   const x = ;\n      |             ^" — the line and a caret under the column. */
function codeFrame({ file, line, column }: Location): string {
  let text: string | undefined;
  try {
    text = readFileSync(file, 'utf8').split(/\r?\n/)[line - 1];
  } catch {
    return '';
  }
  if (text === undefined) return '';
  const number = String(line);
  return `\n  ${number} | ${text}\n  ${' '.repeat(number.length)} | ${' '.repeat(Math.max(0, column - 1))}^`;
}

/**
 * Turns the error of `import(file)` into a {@link LoadError} whose message a user reads once:
 * `file:line:col: SyntaxError: problem` and the code frame for a syntax error (without the
 * loader's internals), `spec failed to load: message` otherwise (the stack follows).
 */
export function loadError(error: unknown, spec: string, file: string): LoadError {
  const message = error instanceof Error ? error.message : String(error);
  const location = esbuildLocation(message) ?? (error instanceof SyntaxError && /\.(m|c)?js$/.test(file) ? nodeCheckLocation(file, message) : undefined);
  if (location) {
    return new LoadError(`${location.file}:${location.line}:${location.column}: SyntaxError: ${location.problem}${codeFrame(location)}`, { cause: error, complete: true });
  }
  return new LoadError(`${spec} failed to load: ${message.split('\n')[0]!}${thrownAt(error)}`, { cause: error, complete: false });
}

/**
 * ` (thrown at FILE:LINE:COLUMN)`: the first frame of the error's stack outside Node's internals and
 * node_modules, so the one-line cause (the prefork primary's boot-failure line) names the place.
 */
function thrownAt(error: unknown): string {
  if (!(error instanceof Error)) return '';
  const place = (error.stack ?? '').split('\n').slice(1)
    .map((line) => /\(?((?:file:\/\/)?\/[^()\s]+:\d+(?::\d+)?)\)?$/.exec(line.trim())?.[1])
    .find((found) => found !== undefined && !found.includes('/node_modules/'));
  if (place === undefined) return '';
  if (!place.startsWith('file:')) return ` (thrown at ${place})`;
  const position = /(:\d+)+$/.exec(place)?.[0] ?? '';
  return ` (thrown at ${fileURLToPath(place.slice(0, place.length - position.length))}${position})`;
}
