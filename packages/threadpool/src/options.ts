import { availableParallelism } from 'node:os';
import type { ResourceLimits } from 'node:worker_threads';

/**
 * Options of {@link threadPool}. Defaults:
 *
 * | option | default |
 * |---|---|
 * | `export` | `"default"` |
 * | `factory` | `false` |
 * | `threads` | `os.availableParallelism()` |
 * | `timeoutMs` | `30000` (0: none) |
 * | `initTimeoutMs` | `30000` |
 * | `maxRequestsPerThread` | `0` (never recycle) |
 * | `maxQueue` | `256` |
 * | `retryAfterSeconds` | `1` |
 * | `maxOldGenerationSizeMb` | `512` |
 * | `windowBytes` | `262144` (256 KiB) |
 * | `watch` | `false` |
 * | `shutdownTimeoutMs` | `5000` |
 */
export interface ThreadPoolOptions {
  /** The application module: a path (relative to the current directory) or a file: URL. TypeScript is fine. */
  module: string;
  /** The export that holds the application (default `"default"`). */
  export?: string;
  /**
   * The export is a factory: each thread calls it once, with `factoryOptions`, and uses what it
   * returns (an Application, a promise of one, or anything `asApplication` accepts). Default false:
   * the export is the application itself (a function `(environ, startResponse)` or a value with
   * `[TO_APPLICATION]`).
   */
  factory?: boolean;
  /** The argument given to a factory (structured-cloneable). */
  factoryOptions?: unknown;
  /** Worker threads, all started at once (default: the number of CPUs, `os.availableParallelism()`). */
  threads?: number;
  /**
   * Per-request timeout, in ms (default 30000; 0: none). It runs while the thread works: from the
   * start of the request in the thread to its first response event, and between events; time
   * spent waiting for the server (reading the request body, a slow client) does not count. Past it
   * the thread is terminated and replaced, and the request gets 504 Gateway Timeout (or a
   * broken-off body when it had started).
   */
  timeoutMs?: number;
  /** Extra time a request may wait for its thread to initialise the application, in ms (default 30000). */
  initTimeoutMs?: number;
  /** Replace a thread after it has served this many requests (default 0: never). No request is dropped. */
  maxRequestsPerThread?: number;
  /** Requests that may wait for a thread (default 256). When full: 503 with Retry-After. */
  maxQueue?: number;
  /** The Retry-After value of the pool's 503 answers, in seconds (default 1). */
  retryAfterSeconds?: number;
  /** Per-thread V8 limits (node:worker_threads ResourceLimits). A thread that exceeds them is replaced and its request gets 503. */
  resourceLimits?: ResourceLimits;
  /** Shorthand for `resourceLimits.maxOldGenerationSizeMb` (default 512, at least 16: a thread needs about that much to load its loaders). */
  maxOldGenerationSizeMb?: number;
  /** Response bytes a thread may send ahead of the server (flow-control window, default 256 KiB). */
  windowBytes?: number;
  /**
   * Reload when files change (default false): `true` watches the module file; a list watches those
   * files and directories (recursively). New threads take new requests; old ones finish theirs.
   */
  watch?: boolean | string[];
  /** How long `close()` waits for requests in progress before terminating threads, in ms (default 5000). */
  shutdownTimeoutMs?: number;
  /** A name for log lines (default: the module's file name). */
  name?: string;
  /** Where pool events are logged (thread start failures, reloads); default process.stderr. Request failures go to the request's `stackware.errors`. */
  log?: (text: string) => void;
}

/** Options with every default applied. */
export interface ResolvedOptions {
  moduleUrl: string;
  modulePath: string;
  export: string;
  factory: boolean;
  factoryOptions: unknown;
  threads: number;
  timeoutMs: number;
  initTimeoutMs: number;
  maxRequestsPerThread: number;
  maxQueue: number;
  retryAfterSeconds: number;
  resourceLimits: ResourceLimits;
  windowBytes: number;
  watch: string[];
  shutdownTimeoutMs: number;
  name: string;
  log: (text: string) => void;
}

/** Thrown by {@link threadPool} for options it cannot use; the message names the option and the fix. */
export class ThreadPoolOptionError extends TypeError {
  constructor(message: string) {
    super(message);
    this.name = 'ThreadPoolOptionError';
  }
}

function count(name: string, value: unknown, fallback: number, min: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
    throw new ThreadPoolOptionError(`threadPool option "${name}" must be an integer >= ${min}, got ${JSON.stringify(value)}`);
  }
  return value;
}

export const DEFAULTS = {
  timeoutMs: 30_000,
  initTimeoutMs: 30_000,
  maxQueue: 256,
  retryAfterSeconds: 1,
  maxOldGenerationSizeMb: 512,
  windowBytes: 256 * 1024,
  shutdownTimeoutMs: 5_000,
} as const;

/** Applies defaults and checks types. */
export function resolveOptions(options: ThreadPoolOptions, resolvePath: (path: string) => { url: string; path: string }): ResolvedOptions {
  if (!options || typeof options.module !== 'string' || options.module === '') {
    throw new ThreadPoolOptionError('threadPool needs a "module" option: the path of the module that exports the application');
  }
  const { url, path } = resolvePath(options.module);
  if (options.export !== undefined && (typeof options.export !== 'string' || !options.export)) throw new ThreadPoolOptionError('threadPool option "export" must be a non-empty string');
  const limits: ResourceLimits = { ...options.resourceLimits };
  limits.maxOldGenerationSizeMb ??= count('maxOldGenerationSizeMb', options.maxOldGenerationSizeMb, DEFAULTS.maxOldGenerationSizeMb, 16);
  const watch = options.watch === true ? [path] : Array.isArray(options.watch) ? options.watch.map((p) => resolvePath(p).path) : [];
  return {
    moduleUrl: url,
    modulePath: path,
    export: options.export ?? 'default',
    factory: options.factory ?? false,
    factoryOptions: options.factoryOptions,
    threads: count('threads', options.threads, availableParallelism(), 1),
    timeoutMs: count('timeoutMs', options.timeoutMs, DEFAULTS.timeoutMs, 0),
    initTimeoutMs: count('initTimeoutMs', options.initTimeoutMs, DEFAULTS.initTimeoutMs, 0),
    maxRequestsPerThread: count('maxRequestsPerThread', options.maxRequestsPerThread, 0, 0),
    maxQueue: count('maxQueue', options.maxQueue, DEFAULTS.maxQueue, 0),
    retryAfterSeconds: count('retryAfterSeconds', options.retryAfterSeconds, DEFAULTS.retryAfterSeconds, 0),
    resourceLimits: limits,
    windowBytes: count('windowBytes', options.windowBytes, DEFAULTS.windowBytes, 1),
    watch,
    shutdownTimeoutMs: count('shutdownTimeoutMs', options.shutdownTimeoutMs, DEFAULTS.shutdownTimeoutMs, 0),
    name: options.name ?? path.split('/').pop()!,
    log: options.log ?? ((text: string) => void process.stderr.write(text)),
  };
}
