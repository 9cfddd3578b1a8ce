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
