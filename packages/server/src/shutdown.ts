import cluster from 'node:cluster';
import type { Server } from 'node:net';
import type { Logger } from 'pino';

/** Default time given to in-flight requests at shutdown before the remaining connections are destroyed, in ms. */
export const DEFAULT_SHUTDOWN_TIMEOUT_MS = 5000;

/** How a graceful close ended. */
export interface CloseOutcome {
  /** True when the shutdown timeout passed and remaining connections were destroyed. */
  forced: boolean;
}

/** Options of {@link closeGracefully}. */
export interface CloseGracefullyOptions {
  /**
   * node:http only: do not let `server.close()` destroy the connections that are idle at this
   * instant (Node ≥ 19 does); the caller closes them between requests. Default false.
   */
  keepIdle?: boolean;
}

/**
 * Graceful stop of a listening net.Server (node:http or a raw protocol server): stops accepting at
 * once, lets open connections finish, and after `shutdownTimeoutMs` calls `destroyAll()` to destroy
 * what is left. Resolves when the server has closed. For node:http, `server.close()` also closes
 * idle keep-alive connections (Node ≥ 19) unless `keepIdle`; the caller makes busy ones send
 * `Connection: close`. Calling it again returns the same promise.
 */
export function closeGracefully(server: Server, shutdownTimeoutMs: number, destroyAll: () => void, options: CloseGracefullyOptions = {}): Promise<CloseOutcome> {
  const cached = closing.get(server);
  if (cached) return cached;
  const done = new Promise<CloseOutcome>((resolve) => {
    let forced = false;
    const timer = setTimeout(() => {
      forced = true;
      destroyAll();
    }, shutdownTimeoutMs);
    timer.unref();
    const finish = () => {
      clearTimeout(timer);
      resolve({ forced });
    };
    if (!server.listening) {
      // Never listened or already closed: still destroy what is open and wait for it.
      destroyAll();
    }
    if (options.keepIdle && 'closeIdleConnections' in server) {
      // node:http's close() calls this.closeIdleConnections() first (and stops its header-timeout
      // checks): shadow it on the instance for that one call.
      const target = server as Server & { closeIdleConnections(): void };
      target.closeIdleConnections = () => {};
      try {
        server.close(() => finish());
      } finally {
        delete (target as Partial<typeof target>).closeIdleConnections;
      }
    } else {
      server.close(() => finish());
    }
  });
  closing.set(server, done);
  return done;
}

const closing = new WeakMap<Server, Promise<CloseOutcome>>();

/** Options of {@link onShutdownSignals}. */
export interface ShutdownSignalOptions {
  /** Signals that start a graceful stop. Default ["SIGTERM", "SIGINT"]. */
  signals?: NodeJS.Signals[];
  logger?: Logger;
  /** Exit the process after `stop()` settles. Default true (exit code 0, or 1 when stop() threw). */
  exit?: boolean;
}

/**
 * Installs SIGTERM/SIGINT handlers that call `stop()` once (a graceful stop), then exit. A second
 * signal while stopping exits at once with code 1 (the operator insisted). Returns a function that
 * removes the handlers.
 */
export function onShutdownSignals(stop: () => Promise<void>, options: ShutdownSignalOptions = {}): () => void {
  const signals = options.signals ?? ['SIGTERM', 'SIGINT'];
  const exit = options.exit ?? true;
  let stopping = false;
  const handler = (signal: NodeJS.Signals) => {
    if (stopping) {
      options.logger?.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    stopping = true;
    options.logger?.info({ signal }, 'shutting down gracefully');
    stop().then(
      () => {
        if (exit) process.exit(0);
      },
      (error: unknown) => {
        options.logger?.error({ err: error }, 'error during shutdown');
        if (exit) process.exit(1);
      },
    );
  };
  for (const signal of signals) process.on(signal, handler);
  return () => {
    for (const signal of signals) process.off(signal, handler);
  };
}

/**
 * Methods a front server may send to another node after a failure: the idempotent ones
 * (RFC 9110 §9.2.2). nginx's `*_next_upstream` never resends POST, PATCH or LOCK once sent.
 */
const IDEMPOTENT_METHODS = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);

/** The lame-duck phase ends early once no connection has been accepted for this long, in ms. */
export const LAME_DUCK_QUIET_MS = 250;

/** How a lame-duck phase went: for the log line at its end. */
export interface LameDuckOutcome {
  /** How long the listener stayed open after the stop began, in ms. */
  elapsedMs: number;
  /** Idempotent requests on connections accepted during the phase, answered 503. */
  refused: number;
  /** Other requests on those connections, served. */
  served: number;
  /** "quiet": no new connection for {@link LAME_DUCK_QUIET_MS}; "timeout": `lameDuckMs` passed first. */
  ended: 'quiet' | 'timeout';
}

/**
 * The lame-duck phase of a graceful stop, for a node behind a front server with passive health
 * checks (nginx `upstream` + `fastcgi_next_upstream`/`proxy_next_upstream ... http_503`).
 *
 * Closing a listening socket resets the connections the kernel has accepted but the server has not
 * (the listen backlog): the front sees `recv() failed (104: Connection reset by peer)` after it
 * sent the request, and it does not resend a POST then (RFC 9110 §9.2.2), so the client gets a
 * 502. With a lame-duck phase the listener stays open for up to `lameDuckMs` after the stop
 * begins: a connection accepted in that time is served, except that an idempotent request on it
 * (GET, HEAD, OPTIONS, TRACE, PUT, DELETE) is answered `503 Service Unavailable` with
 * `Retry-After: 1`. The front resends that request to another node and takes this one out of its
 * rotation (nginx: `max_fails`/`fail_timeout`), so new connections stop arriving; the phase ends
 * once none has arrived for {@link LAME_DUCK_QUIET_MS} (250 ms), and only then does the listener
 * close, with nothing left in its backlog. Requests on connections accepted before the stop are
 * served as usual. `lameDuckMs` 0 (the default) skips the phase: a server clients reach directly
 * should not answer 503 while it stops. In a prefork worker (node:cluster) the phase is skipped
 * too: the primary holds the listening socket, and a worker also stops to be recycled or
 * reloaded, when its siblings go on serving and a 503 would be wrong.
 */
export class LameDuck {
  private running = false;
  private lastAccept = 0;
  private readonly late = new WeakSet<object>();
  private refused = 0;
  private served = 0;

  /** The longest the phase lasts, in ms (0: no phase). */
  readonly ms: number;

  /** @param ms the longest the phase lasts, in ms (0: none; always 0 in a cluster worker). */
  constructor(ms: number) {
    this.ms = cluster.isWorker ? 0 : ms;
  }

  /** True while the phase runs (a gateway skips {@link refuses} otherwise: no work per request). */
  get active(): boolean {
    return this.running;
  }

  /** Notes an accepted connection (a socket): it is "late" when accepted during the phase. */
  accepted(connection: object): void {
    if (!this.running) return;
    this.late.add(connection);
    this.lastAccept = performance.now();
  }

  /** True when the request (its method, on this connection) is to be answered 503 + `Retry-After: 1`. */
  refuses(connection: object, method: string): boolean {
    if (!this.running || !this.late.has(connection)) return false;
    if (IDEMPOTENT_METHODS.has(method)) {
      this.refused++;
      return true;
    }
    this.served++;
    return false;
  }

  /** Runs the phase (the listener stays open meanwhile); resolves when it is over. Resolves at once when `ms` is 0. */
  async run(): Promise<LameDuckOutcome> {
    const started = performance.now();
    if (this.ms <= 0) return { elapsedMs: 0, refused: 0, served: 0, ended: 'quiet' };
    this.running = true;
    this.lastAccept = started;
    const deadline = started + this.ms;
    let ended: LameDuckOutcome['ended'] = 'timeout';
    for (;;) {
      const now = performance.now();
      if (now >= deadline) break;
      if (now - this.lastAccept >= LAME_DUCK_QUIET_MS) {
        ended = 'quiet';
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, Math.max(1, Math.min(deadline, this.lastAccept + LAME_DUCK_QUIET_MS) - now)));
    }
    this.running = false;
    return { elapsedMs: Math.round(performance.now() - started), refused: this.refused, served: this.served, ended };
  }
}

/** The text of a lame-duck 503 (the body; the status line and `Retry-After: 1` come from the gateway). */
export const LAME_DUCK_MESSAGE = 'This node is shutting down; the request can be sent to another one';

/** The log line at the end of a lame-duck phase (`gateway`: "FastCGI", "SCGI", "HTTP"). */
export function lameDuckLine(gateway: string, outcome: LameDuckOutcome): string {
  const why = outcome.ended === 'quiet' ? `no new connection for ${LAME_DUCK_QUIET_MS} ms` : 'lameDuckMs passed';
  return `${gateway}: lame duck over after ${outcome.elapsedMs} ms (${why}): ${outcome.refused} idempotent requests on new connections answered 503, ${outcome.served} others served; the listener closes\n`;
}
