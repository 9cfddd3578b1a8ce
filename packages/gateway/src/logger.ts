import cluster from 'node:cluster';
import { pino, type DestinationStream, type Logger, type LevelWithSilent } from 'pino';
import { logFormatFor, prettyLogLine, type PrettyLogOptions } from './log-format.js';

export type { Logger } from 'pino';

/** Options of {@link createLogger}. Defaults: level "info", pretty when stdout is a TTY, destination stdout. */
export interface LoggerOptions {
  /** "fatal" | "error" | "warn" | "info" | "debug" | "trace" | "silent". Default "info". */
  level?: LevelWithSilent;
  /**
   * One short human-readable line per record instead of JSON (for terminals; coloured unless
   * NO_COLOR is set; times in UTC, labelled Z; access records as `GET /path 200 1.2 KiB 3.1 ms`).
   * Default: true when `destination` is a TTY (process.stdout by default), false otherwise,
   * so that production logs (a pipe, a file, journald) are always JSON.
   */
  pretty?: boolean;
  /**
   * Where lines go. Default: standard output — through pino's asynchronous destination
   * (sonic-boom: lines written while a write is in flight are coalesced into one system call;
   * pending lines are flushed when the process exits) unless it is a terminal.
   */
  destination?: DestinationStream & { isTTY?: boolean };
  /** Append lines to this file instead of standard output. */
  file?: string;
  /**
   * For standard output and `file`: one system call per line. Default true in a cluster worker
   * (several processes share one stdout: a line written whole is never interleaved with another
   * process's), false otherwise (lines written while a write is in flight are coalesced).
   */
  sync?: boolean;
  /** Fields added to every record (e.g. `{ worker: 3 }`). */
  base?: Record<string, unknown>;
}

/**
 * Formats one pino JSON line for a terminal (the `pretty` mode): `HH:MM:SS.mmmZ INFO  message key=value`,
 * access records as `GET /path 200 1.2 KiB 3.1 ms`; see `prettyLogLine` in @stackware/gateway.
 */
export function prettyLine(json: string, options: PrettyLogOptions = {}): string {
  return prettyLogLine(json, options);
}

/**
 * Creates the pino logger used by Stackware servers (HTTP, FastCGI, SCGI, prefork primary).
 * JSON lines by default (one record per line, pino's format); `pretty` gives one readable line per
 * record, on by default only when the destination is a terminal.
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  const format = logFormatFor(options.destination ?? (options.file === undefined ? process.stdout : undefined));
  const pretty = options.pretty ?? format.pretty;
  const colour = pretty && format.colour;
  const destination = options.destination ?? (options.file === undefined && pretty ? process.stdout : pino.destination({ dest: options.file ?? 1, sync: options.sync ?? cluster.isWorker }));
  const stream: DestinationStream = pretty ? { write: (line: string) => void destination.write(prettyLine(line, { colour })) } : destination;
  return pino({ level: options.level ?? 'info', base: { pid: process.pid, ...options.base } }, stream);
}
