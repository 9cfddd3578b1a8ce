import cluster from 'node:cluster';
import { pino, type DestinationStream, type Logger, type LevelWithSilent } from 'pino';

export type { Logger } from 'pino';

/** Options of {@link createLogger}. Defaults: level "info", pretty when stdout is a TTY, destination stdout. */
export interface LoggerOptions {
  /** "fatal" | "error" | "warn" | "info" | "debug" | "trace" | "silent". Default "info". */
  level?: LevelWithSilent;
  /**
   * One short human-readable line per record instead of JSON (for terminals).
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

const LEVEL_NAMES: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };
const HIDDEN = new Set(['level', 'time', 'msg', 'pid', 'hostname']);

/** Formats one pino JSON line as `HH:MM:SS.mmm INFO  message key=value ...` (the `pretty` mode). */
export function prettyLine(json: string): string {
  let record: Record<string, unknown>;
  try {
    record = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return json;
  }
  const time = new Date(typeof record.time === 'number' ? record.time : Date.now()).toISOString().slice(11, 23);
  const level = (LEVEL_NAMES[record.level as number] ?? String(record.level)).padEnd(5);
  let line = `${time} ${level} ${typeof record.msg === 'string' ? record.msg : ''}`;
  for (const [key, value] of Object.entries(record)) {
    if (HIDDEN.has(key)) continue;
    if (key === 'err' && value && typeof value === 'object' && 'stack' in value) {
      line += `\n${String((value as { stack: unknown }).stack)}`;
      continue;
    }
    line += ` ${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`;
  }
  return line + '\n';
}

/**
 * Creates the pino logger used by Stackware servers (HTTP, FastCGI, SCGI, prefork primary).
 * JSON lines by default (one record per line, pino's format); `pretty` gives one readable line per
 * record, on by default only when the destination is a terminal.
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  const pretty = options.pretty ?? (options.destination ? options.destination.isTTY === true : options.file === undefined && process.stdout.isTTY === true);
  const destination = options.destination ?? (options.file === undefined && pretty ? process.stdout : pino.destination({ dest: options.file ?? 1, sync: options.sync ?? cluster.isWorker }));
  const stream: DestinationStream = pretty ? { write: (line: string) => void destination.write(prettyLine(line)) } : destination;
  return pino({ level: options.level ?? 'info', base: { pid: process.pid, ...options.base } }, stream);
}
