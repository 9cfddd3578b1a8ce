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
   * (sonic-boom) unless it is a terminal: lines are gathered in memory and written in one system
   * call once {@link LOG_BUFFER_BYTES} have gathered or `flushIntervalMs` has passed, so the
   * request path never waits for the disk or the pipe; pending lines are written synchronously
   * when the process exits (process.exit, the end of the event loop; `stackware serve` exits that
   * way on SIGTERM/SIGINT) and by {@link flushLogger} (a server's graceful `close()` calls it).
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
  /**
   * Asynchronous destination only: the longest a line waits in memory before it is written, in ms.
   * Default 100 (a quiet server's line shows in the file or the terminal within 0.1 s).
   */
  flushIntervalMs?: number;
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
 * Bytes of log lines the asynchronous destination gathers before it writes them in one system call
 * (an asynchronous write costs tens of µs of CPU in libuv's thread pool: 16 KiB of ~300-byte access
 * lines make it under 1 µs a line).
 */
export const LOG_BUFFER_BYTES = 16 * 1024;

/**
 * pino's asynchronous destination (sonic-boom) with a write buffer of {@link LOG_BUFFER_BYTES},
 * flushed at least every `flushIntervalMs` by one unref'd timer (never one per line) when it holds
 * lines: sonic-boom's own `periodicFlush` writes even an empty buffer, a system call every interval
 * that shows in the profile of a server with its access log off. pino registers its exit handler
 * on the destination: pending lines are written synchronously at exit.
 */
function bufferedDestination(dest: string | number, flushIntervalMs: number): DestinationStream {
  const destination = pino.destination({ dest, sync: false, minLength: LOG_BUFFER_BYTES, maxWrite: 4 * LOG_BUFFER_BYTES });
  const timer = setInterval(() => {
    // `_len`: the bytes sonic-boom holds (flush() on an empty buffer would still write).
    if ((destination as { _len?: number })._len === 0) return;
    try {
      destination.flush();
    } catch {
      // Destroyed: nothing more can be written (the exit handler has nothing to do either).
    }
  }, flushIntervalMs);
  timer.unref();
  destination.once('close', () => clearInterval(timer));
  // Only access lines ("msg":"request", one per request) wait for the buffer or the timer: any
  // other line (start-up, warnings, errors: rare) is written at the end of this event-loop turn, so
  // "serving … on URL" and a failure's reason appear when they happen, not up to an interval later.
  const write = destination.write.bind(destination);
  let flushSoon = false;
  destination.write = (line: string): boolean => {
    const written = write(line);
    if (!flushSoon && !line.includes('"msg":"request"')) {
      flushSoon = true;
      setImmediate(() => {
        flushSoon = false;
        if ((destination as { _len?: number })._len === 0) return;
        try {
          destination.flush();
        } catch {
          // Destroyed: see the timer above.
        }
      });
    }
    return written;
  };
  return destination;
}

/**
 * Creates the pino logger used by Stackware servers (HTTP, FastCGI, SCGI, prefork primary).
 * JSON lines by default (one record per line, pino's format); `pretty` gives one readable line per
 * record, on by default only when the destination is a terminal. Lines to standard output or
 * `file` are written asynchronously (see {@link LoggerOptions.destination}) unless `sync`.
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  const format = logFormatFor(options.destination ?? (options.file === undefined ? process.stdout : undefined));
  const pretty = options.pretty ?? format.pretty;
  const colour = pretty && format.colour;
  const sync = options.sync ?? cluster.isWorker;
  const dest = options.file ?? 1;
  const destination = options.destination
    ?? (options.file === undefined && pretty ? process.stdout : sync ? pino.destination({ dest, sync: true }) : bufferedDestination(dest, options.flushIntervalMs ?? 100));
  const stream: DestinationStream = pretty ? { write: (line: string) => void destination.write(prettyLine(line, { colour })) } : destination;
  return pino({ level: options.level ?? 'info', base: { pid: process.pid, ...options.base } }, stream);
}

/**
 * Writes the lines a logger still holds in memory (its asynchronous destination's buffer) and
 * resolves once they are written. Resolves at once for a destination with nothing pending or no
 * `flush`; never rejects (a destination that cannot write any more has nothing left to save).
 */
export function flushLogger(logger: Logger): Promise<void> {
  return new Promise((resolve) => {
    try {
      logger.flush(() => resolve());
    } catch {
      resolve();
    }
  });
}
