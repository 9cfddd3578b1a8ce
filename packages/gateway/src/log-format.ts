/**
 * How Stackware's log records look on a terminal. Every package logs pino JSON lines; when the
 * destination is a terminal, each line goes through {@link prettyLogLine} instead. One formatter,
 * so the servers' records, the access lines and the exception catcher's records read alike.
 */

const LEVELS: Record<number, { name: string; colour: string }> = {
  10: { name: 'TRACE', colour: '\x1b[90m' },
  20: { name: 'DEBUG', colour: '\x1b[90m' },
  30: { name: 'INFO', colour: '\x1b[32m' },
  40: { name: 'WARN', colour: '\x1b[33m' },
  50: { name: 'ERROR', colour: '\x1b[31m' },
  60: { name: 'FATAL', colour: '\x1b[41;97m' },
};
const RESET = '\x1b[0m';
const DIM = '\x1b[2m';
const HIDDEN = new Set(['level', 'time', 'msg', 'pid', 'hostname', 'name']);
/** The access record's fields that its short line already says (or that only a log processor needs). */
const ACCESS_FIELDS = new Set(['req_id', 'remote_addr', 'remote_user', 'method', 'path', 'protocol', 'status', 'bytes', 'duration_ms', 'referer', 'user_agent']);

/** Options of {@link prettyLogLine}. */
export interface PrettyLogOptions {
  /** ANSI colours (level, dimmed details). Default false. */
  colour?: boolean;
}

function size(bytes: number): string {
  return bytes < 1024 ? `${bytes} B` : bytes < 1024 * 1024 ? `${(bytes / 1024).toFixed(1)} KiB` : `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

/**
 * One pino JSON line as one readable line: `HH:MM:SS.mmmZ LEVEL message key=value ...` — the time
 * in UTC, labelled `Z` (ISO 8601). An access record (`method`, `path`, `status`, `duration_ms`)
 * becomes a short line: `GET /guestbook 200 2.5 KiB 3.1 ms`. An `err` with a stack prints the
 * stack under the line. A line that is not JSON passes through unchanged.
 */
export function prettyLogLine(json: string, options: PrettyLogOptions = {}): string {
  let record: Record<string, unknown>;
  try {
    record = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return json;
  }
  const paint = (code: string, text: string) => (options.colour ? `${code}${text}${RESET}` : text);
  const time = `${new Date(typeof record.time === 'number' ? record.time : Date.now()).toISOString().slice(11, 23)}Z`;
  const level = LEVELS[record.level as number];
  const levelText = paint(level?.colour ?? '', (level?.name ?? String(record.level)).padEnd(5));
  const access = typeof record.method === 'string' && typeof record.status === 'number' && typeof record.duration_ms === 'number' && record.path !== undefined;
  let message = typeof record.msg === 'string' ? record.msg : '';
  if (access) {
    message = `${record.method as string} ${String(record.path)} ${record.status as number} ${size(Number(record.bytes ?? 0))} ${record.duration_ms as number} ms`;
  }
  let line = `${paint(DIM, time)} ${levelText} ${message}`;
  let stack = '';
  for (const [key, value] of Object.entries(record)) {
    if (HIDDEN.has(key) || (access && ACCESS_FIELDS.has(key))) continue;
    if (key === 'err' && value && typeof value === 'object' && 'stack' in value) {
      stack = `\n${String((value as { stack: unknown }).stack)}`;
      continue;
    }
    line += ` ${paint(DIM, `${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`)}`;
  }
  return `${line}${stack}\n`;
}

/**
 * The log format for a destination: "pretty" on a terminal (`isTTY`), "json" otherwise (a pipe, a
 * file, journald), so production logs stay machine-readable. Colour on a terminal unless the
 * NO_COLOR environment variable is set (https://no-color.org).
 */
export function logFormatFor(destination: { isTTY?: boolean } | undefined, env: NodeJS.ProcessEnv = process.env): { pretty: boolean; colour: boolean } {
  const pretty = destination?.isTTY === true;
  return { pretty, colour: pretty && !env.NO_COLOR };
}
