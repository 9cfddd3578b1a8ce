/**
 * Listening for the CGI-style protocols (FastCGI, SCGI): TCP or a Unix socket, connection
 * tracking, and graceful close. Shared by {@link serveFastCGI} and {@link serveSCGI}.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';
import { unlink } from 'node:fs/promises';
import { LameDuck, type LameDuckOutcome } from '../shutdown.js';

/** Where a gateway listens: a TCP address or a Unix socket path. */
export type ListenTarget = { host?: string; port?: number; socket?: undefined } | { socket: string; host?: undefined; port?: undefined };

/** One accepted connection, as the listener sees it. */
export interface TrackedConnection {
  /** Stop taking new requests; end the connection as soon as it is idle. */
  drain(): void;
  /** Break the connection off now. */
  destroy(): void;
  /** True when no request is in progress (nothing sent yet, or between keep-alive requests): the first to go when connections run out. */
  readonly idle: boolean;
  /** Applies the timeouts at `now` (performance.now() ms): called by the listener's single sweep timer. */
  sweep(now: number): void;
}

/** Options of {@link listenGateway}. */
export interface ListenOptions {
  /** Connections the gateway serves at once (default 1024): over it, the oldest idle connection is closed to make room, else the new one is refused. */
  maxConnections: number;
  /** How long `close()` waits for busy connections before breaking them off, in ms (default 5000). */
  shutdownTimeoutMs: number;
  /** The lame-duck phase of `close()`, in ms ({@link LameDuck}; 0: none). */
  lameDuckMs?: number;
  /** Told how the lame-duck phase went (when there was one), before the listener closes. */
  onLameDuckOver?(outcome: LameDuckOutcome): void;
  /** How often the connections' timeouts are checked, in ms ({@link sweepIntervalMs}). */
  sweepMs: number;
  /**
   * A connection over maxConnections when none is idle: refuse it gracefully (FastCGI answers
   * FCGI_OVERLOADED, SCGI 503) and close it. At most {@link MAX_REFUSING} are refused at once;
   * beyond that they are closed at once.
   */
  refuse(socket: Socket): void;
}

/** Connections being refused at once (over maxConnections); more are closed without an answer. */
export const MAX_REFUSING = 64;

/** A listening gateway: `url`, and a graceful `close()`. */
export interface ListeningGateway {
  url: string;
  server: Server;
  close(): Promise<void>;
}

async function socketInUse(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = connect(path);
    probe.once('connect', () => { probe.destroy(); resolve(true); });
    probe.once('error', () => resolve(false));
  });
}

/**
 * Listens on `target` (default 127.0.0.1:9000) and hands each connection to `onConnection`.
 * A stale Unix socket file (nothing accepts on it) is replaced; a live one is an error.
 * `close()` runs the lame-duck phase when `lameDuckMs` is set (the listener stays open; the
 * connection's gateway asks `lameDuck.refuses()` per request), then stops accepting, lets busy
 * connections finish, and breaks off what is left after `shutdownTimeoutMs`.
 * @throws Error naming the address when it cannot listen (EADDRINUSE, EACCES).
 */
export async function listenGateway(
  scheme: string,
  target: ListenTarget,
  options: ListenOptions,
  onConnection: (socket: Socket, lameDuck: LameDuck) => TrackedConnection,
): Promise<ListeningGateway> {
  const connections = new Set<TrackedConnection>();
  const lameDuck = new LameDuck(options.lameDuckMs ?? 0);
  let refusing = 0;
  const server = createServer({ noDelay: true, allowHalfOpen: true }, (socket) => {
    if (connections.size >= options.maxConnections) {
      // Make room by closing the oldest idle connection (an idle flood must not lock out a good client).
      let evicted: TrackedConnection | undefined;
      for (const connection of connections) {
        if (connection.idle) {
          evicted = connection;
          break;
        }
      }
      if (evicted) {
        connections.delete(evicted);
        evicted.destroy();
      } else if (refusing < MAX_REFUSING) {
        refusing++;
        socket.once('close', () => refusing--);
        socket.on('error', () => socket.destroy());
        const timer = setTimeout(() => socket.destroy(), Math.max(1000, options.sweepMs * 4));
        timer.unref();
        socket.once('close', () => clearTimeout(timer));
        options.refuse(socket);
        return;
      } else {
        socket.destroy();
        return;
      }
    }
    lameDuck.accepted(socket);
    const tracked = onConnection(socket, lameDuck);
    connections.add(tracked);
    socket.once('close', () => connections.delete(tracked));
  });
  const path = target.socket;
  const host = target.host ?? '127.0.0.1';
  const port = target.port ?? 9000;
  const listen = () => new Promise<void>((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException) => reject(error);
    server.once('error', onError);
    const done = () => { server.off('error', onError); resolve(); };
    if (path !== undefined) server.listen(path, done);
    else server.listen(port, host, done);
  });
  try {
    try {
      await listen();
    } catch (error) {
      // A socket file left behind by a process that died: remove it and try again. (Listening
      // first keeps prefork workers, which share the primary's socket, out of this branch.)
      if (path === undefined || (error as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw error;
      if (await socketInUse(path)) throw new Error('another process accepts connections on it', { cause: error });
      await unlink(path).catch(() => undefined);
      await listen();
    }
  } catch (error) {
    throw new Error(`Cannot listen on ${path ?? `${host}:${port}`}: ${(error as Error).message}`, { cause: error });
  }
  const sweeper = setInterval(() => {
    const now = performance.now();
    for (const connection of connections) connection.sweep(now);
  }, options.sweepMs);
  sweeper.unref();
  server.once('close', () => clearInterval(sweeper));
  const address = server.address();
  const url = path !== undefined ? `unix:${path}` : `${scheme}://${host.includes(':') ? `[${host}]` : host}:${typeof address === 'object' && address ? address.port : port}`;

  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      if (lameDuck.ms > 0 && server.listening) options.onLameDuckOver?.(await lameDuck.run());
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const connection of connections) connection.drain();
        const timer = setTimeout(() => {
          for (const connection of connections) connection.destroy();
        }, options.shutdownTimeoutMs);
        timer.unref();
        server.once('close', () => clearTimeout(timer));
      });
    })();
    return closing;
  };
  return { url, server, close };
}
