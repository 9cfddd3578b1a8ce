/**
 * THE option table of the `stackware` command: every flag, its type, default and help text.
 * The server's flags take their defaults from the server's (HTTP_DEFAULTS, the same values its
 * deploy-file schema shows); durations are in seconds on the command line (gunicorn's
 * convention, said in each flag's placeholder) and in milliseconds everywhere else.
 * `--help` prints it; the parser (args.ts) is built from it. To add a flag, add one row here
 * (with the commands that accept it) and read it as `options.<camelCaseName>` in your command.
 */

import { HTTP_DEFAULTS } from '@stackware/server';

/** A command name. Add yours here and in commands.ts. */
export type CommandName = 'serve' | 'check' | 'cgi';

export type OptionValue = string | number | boolean | undefined;

/** One flag of the command line. */
export interface CliOption {
  /** Long name, kebab-case, without dashes: "max-requests" (read as `options.maxRequests`). */
  readonly name: string;
  /** "number" values are parsed as decimal numbers (fractions allowed unless `integer`). */
  readonly type: 'string' | 'number' | 'boolean';
  /** The value when the flag is absent (undefined: absent). */
  readonly default: OptionValue;
  /** One line of help; units and meaning of 0 spelled out. */
  readonly help: string;
  /** Commands that accept the flag. */
  readonly commands: readonly CommandName[];
  /** Single-letter alias: "p" for -p. */
  readonly short?: string;
  /** The value's placeholder in --help ("N", "SECONDS", "PATH"). */
  readonly placeholder?: string;
  /** Allowed values of a string flag. */
  readonly choices?: readonly string[];
  /** A number flag that must be a whole number. */
  readonly integer?: boolean;
  /** The largest value of a number flag (every number flag is ≥ 0). */
  readonly max?: number;
  /** Shown instead of the default value in --help (for computed defaults). */
  readonly defaultText?: string;
}

export const OPTIONS: readonly CliOption[] = [
  { name: 'host', type: 'string', default: HTTP_DEFAULTS.host, placeholder: 'HOST', commands: ['serve'], help: 'interface to listen on (0.0.0.0 or :: for every interface)' },
  { name: 'port', short: 'p', type: 'number', integer: true, max: 65535, default: HTTP_DEFAULTS.port, placeholder: 'PORT', commands: ['serve'], help: 'TCP port to listen on (0: a free port)' },
  { name: 'protocol', type: 'string', default: 'http', placeholder: 'NAME', commands: ['serve'], help: 'what the server speaks: http, fastcgi (behind nginx fastcgi_pass, Apache mod_proxy_fcgi) or scgi (nginx scgi_pass)' },
  { name: 'socket', type: 'string', default: undefined, placeholder: 'PATH', commands: ['serve'], help: 'listen on this Unix socket instead of --host/--port (fastcgi and scgi)' },
  { name: 'workers', short: 'w', type: 'number', integer: true, default: 0, placeholder: 'N', commands: ['serve'], help: 'prefork N worker processes (node:cluster); 0: serve in this process' },
  { name: 'threads', type: 'number', integer: true, default: 0, placeholder: 'N', commands: ['serve'], help: 'run the application in N worker threads (@stackware/threadpool): a request past --timeout gets 504 and its thread is replaced, a thread over its memory limit is replaced (503); 0: on the server\'s thread' },
  { name: 'max-requests', type: 'number', integer: true, default: 0, placeholder: 'N', commands: ['serve'], help: 'replace a worker after it has handled N requests, without dropping any (0: never; needs --workers)' },
  { name: 'max-requests-jitter', type: 'number', integer: true, default: undefined, defaultText: 'max-requests / 10', placeholder: 'N', commands: ['serve'], help: 'add a random 0..N to each worker\'s --max-requests so that workers do not restart together' },
  { name: 'max-memory-mb', type: 'number', integer: true, default: 0, placeholder: 'MIB', commands: ['serve'], help: 'replace a worker whose resident memory (RSS: heap, Buffers, native) passes this many MiB; it finishes its requests first (0: no limit; needs --workers)' },
  { name: 'timeout', short: 't', type: 'number', default: HTTP_DEFAULTS.timeoutMs / 1000, placeholder: 'SECONDS', commands: ['serve'], help: 'per request: no progress from the application within this → 504. A request stuck in a synchronous loop: with --threads its thread is terminated and replaced (504); with --workers (HTTP) its worker answers 504 (503 + Retry-After to requests waiting on its connections) and is replaced; needs --workers or --threads when given (0: none)' },
  { name: 'shutdown-timeout', type: 'number', default: HTTP_DEFAULTS.shutdownTimeoutMs / 1000, placeholder: 'SECONDS', commands: ['serve'], help: 'on SIGTERM/SIGINT, in-flight requests get this long before connections are closed' },
  { name: 'lame-duck', type: 'number', default: 0, placeholder: 'SECONDS', commands: ['serve'], help: 'behind a load balancer (nginx upstream with *_next_upstream http_503): on SIGTERM/SIGINT keep listening up to this long first, answering GET/HEAD on new connections 503 so the balancer resends them elsewhere and stops sending here; no connection waiting in the listen backlog is reset (one process; 0: off)' },
  { name: 'max-body-bytes', type: 'number', integer: true, default: HTTP_DEFAULTS.maxBodyBytes, placeholder: 'BYTES', commands: ['serve'], help: 'largest request body accepted (larger: 413)' },
  { name: 'reload', type: 'boolean', default: false, commands: ['serve'], help: 'replace the workers gracefully when a file in the application\'s directory changes (development)' },
  { name: 'log-level', short: 'l', type: 'string', default: 'info', placeholder: 'LEVEL', choices: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], commands: ['serve'], help: 'log records at this level and above (pino); JSON lines unless stdout is a terminal' },
  { name: 'access-log', type: 'boolean', default: HTTP_DEFAULTS.accessLog, commands: ['serve'], help: 'one log record per request (--no-access-log to turn off)' },
  { name: 'metrics', type: 'string', default: undefined, placeholder: 'HOST:PORT', commands: ['serve'], help: 'serve /metrics (Prometheus), /healthz, /readyz and /status on this separate listener (e.g. 127.0.0.1:9100; port 0: a free one); loopback only unless --metrics-public. Off by default: no metrics code runs' },
  { name: 'metrics-public', type: 'boolean', default: false, commands: ['serve'], help: 'allow --metrics on a non-loopback address (/status stays loopback-only)' },
  { name: 'help', short: 'h', type: 'boolean', default: false, commands: ['serve', 'check', 'cgi'], help: 'print this help' },
];

/** "max-requests" → "maxRequests". */
export function camelCase(name: string): string {
  return name.replace(/-([a-z])/g, (_, letter: string) => letter.toUpperCase());
}
