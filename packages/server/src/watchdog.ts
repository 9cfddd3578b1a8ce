import { Worker } from 'node:worker_threads';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

/**
 * The hung-request watchdog of a prefork worker (mod_wsgi's request-timeout, done for an event
 * loop). A request stuck in a synchronous loop blocks the worker's event loop, so nothing in it can
 * answer; the primary's heartbeat check can only kill the process, which resets every connection it
 * holds. This watchdog runs in a worker thread, which keeps running while the main thread is stuck:
 *
 * - the main thread ticks a shared counter every `tickMs` and records, per connection (by file
 *   descriptor, in shared memory), whether it is open, has a request in progress, or has sent the
 *   response headers;
 * - when the counter has not moved for `timeoutMs`, the thread writes, straight to the sockets:
 *   **504 Gateway Timeout** to every request in progress that has not sent headers (the hung one and
 *   any other request this process can no longer finish), **503 Service Unavailable** with
 *   `Retry-After: 0` to a connection whose next request is already waiting unread (it was never
 *   started: a proxy such as nginx `proxy_next_upstream http_503` retries it elsewhere), all with
 *   `Connection: close`; idle connections are left to close cleanly;
 * - then it writes one log line and kills the process (SIGKILL), and the primary forks a replacement.
 *
 * A response that had already sent its headers is cut short (the client sees a truncated body).
 */
export interface Watchdog {
  /** Stops the thread and the tick (graceful worker stop). */
  stop(): void;
}

/** Connection states in the shared table (one byte per file descriptor). */
const OPEN = 1;
const IN_PROGRESS = 2;
const HEADERS_SENT = 3;
const MAX_FD = 65_536;

const THREAD_SOURCE = String.raw`
const { workerData } = require('node:worker_threads');
const fs = require('node:fs');
const { beat, table, timeoutMs, tickMs, pid } = workerData;
const ticks = new Int32Array(beat);
const states = new Uint8Array(table);
let last = Atomics.load(ticks, 0);
let since = Date.now();
const body504 = 'The application did not respond within ' + timeoutMs + ' ms\n';
const r504 = 'HTTP/1.1 504 Gateway Timeout\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ' + Buffer.byteLength(body504) + '\r\nConnection: close\r\n\r\n' + body504;
const body503 = 'The worker serving this connection was stopped; retry the request\n';
const r503 = 'HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ' + Buffer.byteLength(body503) + '\r\nRetry-After: 0\r\nConnection: close\r\n\r\n' + body503;
const scratch = Buffer.alloc(64 * 1024);
const timer = setInterval(() => {
  const now = Atomics.load(ticks, 0);
  if (now !== last) { last = now; since = Date.now(); return; }
  if (Date.now() - since < timeoutMs) return;
  clearInterval(timer);
  let answered504 = 0, answered503 = 0;
  for (let fd = 0; fd < states.length; fd++) {
    const state = Atomics.load(states, fd);
    if (state === 2) {
      try { fs.writeSync(fd, r504); answered504++; } catch {}
    } else if (state === 1) {
      let waiting = 0;
      try { waiting = fs.readSync(fd, scratch, 0, scratch.length, null); } catch {}
      if (waiting > 0) { try { fs.writeSync(fd, r503); answered503++; } catch {} }
    }
  }
  const line = JSON.stringify({ level: 50, time: Date.now(), pid, worker_pid: pid, timeout_ms: timeoutMs, answered_504: answered504, answered_503: answered503, msg: 'worker timeout: the event loop is stuck (a synchronous loop?); answered 504 and stopping the worker' });
  try { fs.writeSync(2, line + '\n'); } catch {}
  process.kill(pid, 'SIGKILL');
}, Math.max(20, Math.min(250, Math.floor(timeoutMs / 10))));
`;

type Tracked = Socket & { [FD]?: number };
const FD = Symbol('stackware.watchdog.fd');

function fdOf(socket: Socket): number {
  const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
  return typeof fd === 'number' && fd >= 0 && fd < MAX_FD ? fd : -1;
}

/**
 * Starts the watchdog for a node:http server in this process (a prefork worker). `timeoutMs` is the
 * longest the event loop may stay blocked; the thread acts within about `timeoutMs + tickMs` (checks
 * every timeoutMs/10, at most 250 ms). Connections whose descriptor cannot be read (TLS, pipes) are
 * not tracked and are reset with the process.
 */
export function startWatchdog(server: Server, timeoutMs: number, tickMs = 100): Watchdog {
  const beat = new SharedArrayBuffer(4);
  const table = new SharedArrayBuffer(MAX_FD);
  const ticks = new Int32Array(beat);
  const states = new Uint8Array(table);
  const set = (socket: Tracked, state: number) => {
    const fd = socket[FD];
    if (fd !== undefined && fd >= 0) Atomics.store(states, fd, state);
  };
  const onConnection = (socket: Tracked) => {
    const fd = fdOf(socket);
    socket[FD] = fd;
    if (fd < 0) return;
    Atomics.store(states, fd, OPEN);
    socket.once('close', () => {
      Atomics.store(states, fd, 0);
      socket[FD] = -1;
    });
  };
  const onRequest = (req: IncomingMessage, res: ServerResponse) => {
    const socket = req.socket as Tracked;
    set(socket, IN_PROGRESS);
    const writeHead = res.writeHead;
    res.writeHead = function (this: ServerResponse, ...args: unknown[]) {
      set(socket, HEADERS_SENT);
      return (writeHead as (...a: unknown[]) => ServerResponse).apply(this, args);
    } as typeof res.writeHead;
    res.once('finish', () => set(socket, OPEN));
  };
  // First listeners: they must run before the application, which may never return.
  server.prependListener('connection', onConnection);
  server.prependListener('request', onRequest);
  server.prependListener('checkContinue', onRequest);
  const tick = setInterval(() => Atomics.add(ticks, 0, 1), tickMs);
  tick.unref();
  const thread = new Worker(THREAD_SOURCE, { eval: true, workerData: { beat, table, timeoutMs, tickMs, pid: process.pid } });
  thread.unref();
  return {
    stop() {
      clearInterval(tick);
      server.off('connection', onConnection);
      server.off('request', onRequest);
      server.off('checkContinue', onRequest);
      void thread.terminate();
    },
  };
}
