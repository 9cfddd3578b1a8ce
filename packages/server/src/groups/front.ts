/**
 * The front side of a process group: an application that hands each request to an idle process of
 * the group over its Unix-domain socket (SCGI), as mod_wsgi's Apache child hands a request to the
 * daemon processes of its WSGIProcessGroup.
 */
import { markForwarded } from '../metrics/hooks.js';
import cluster from 'node:cluster';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { onBodyClose, type Application, type Environ, type StartResponse } from '@stackware/gateway';
import type { GroupWakeMessage } from './messages.js';
import { scgiRequest, SCGIForwardError, type SCGIResponse } from './scgi-client.js';

/** Options of {@link groupApplication}. */
export interface GroupFrontOptions {
  /** The group's name (for messages and wake-ups). */
  name: string;
  /** The group's runtime directory: each of its processes listens on one `*.sock` file in it. */
  socketDir: string;
  /** A request handed to a process that has not answered completely after this many ms gets 504 Gateway Timeout (0: no limit). Default 30000. */
  timeoutMs?: number;
  /** How long a request waits for a process of the group to accept it (the group starting, restarting or woken from inactivity), in ms; then 503 with Retry-After. Default 15000 (mod_wsgi's connect-timeout). */
  connectTimeoutMs?: number;
  /**
   * Asks for the group's processes to be started (they were stopped for inactivity). Default: the
   * supervisor of this process (the primary), else a `group-wake` message to the primary.
   */
  wake?: (group: string) => void;
}

/** How long the socket list is trusted before the directory is read again, in ms. */
const LIST_TTL_MS = 1000;

/**
 * An application that forwards every request — the environ as is, its body streamed — to one
 * process of the group `options.name`, over SCGI on the process's Unix-domain socket, and streams
 * the answer back. It picks the process with the fewest requests in flight from this front.
 * Statuses it answers itself:
 * - **503 Service Unavailable** with `Retry-After: 1` when no process accepts within
 *   `connectTimeoutMs` (the group is down or booting);
 * - **504 Gateway Timeout** when the process has not answered within `timeoutMs` (the supervisor
 *   kills and replaces that process);
 * - **502 Bad Gateway** when the process went away (crashed) before answering, or answered with a
 *   malformed head.
 */
export function groupApplication(options: GroupFrontOptions): Application {
  const timeoutMs = options.timeoutMs ?? 30_000;
  const connectTimeoutMs = options.connectTimeoutMs ?? 15_000;
  const wake = options.wake ?? defaultWake;
  const inFlight = new Map<string, number>();
  let sockets: string[] = [];
  let listedAt = 0;
  let next = 0;

  const list = (force: boolean): string[] => {
    const now = Date.now();
    if (!force && now - listedAt < LIST_TTL_MS && sockets.length) return sockets;
    listedAt = now;
    try {
      sockets = readdirSync(options.socketDir).filter((f) => f.endsWith('.sock')).sort().map((f) => join(options.socketDir, f));
    } catch {
      sockets = [];
    }
    return sockets;
  };
  const pick = (tried: Set<string>): string | undefined => {
    let best: string | undefined;
    let bestLoad = Infinity;
    const all = list(false);
    for (let i = 0; i < all.length; i++) {
      const path = all[(next + i) % all.length]!;
      if (tried.has(path)) continue;
      const load = inFlight.get(path) ?? 0;
      if (load < bestLoad) {
        best = path;
        bestLoad = load;
      }
    }
    next++;
    return best;
  };

  return async (environ: Environ, startResponse: StartResponse) => {
    // The group process counts this request under its group's label (metrics); the front does not count it again.
    markForwarded(environ);
    const deadline = Date.now() + connectTimeoutMs;
    const tried = new Set<string>();
    const controller = new AbortController();
    let timedOut = false;
    let timer: NodeJS.Timeout | undefined;
    for (;;) {
      let path = pick(tried);
      if (path === undefined) {
        tried.clear();
        if (list(true).length === 0) wake(options.name);
        if (Date.now() >= deadline) return answer(startResponse, '503 Service Unavailable', `Service Unavailable: no process of group "${options.name}" accepted the request within ${connectTimeoutMs} ms (connectTimeoutMs)`, [['Retry-After', '1']]);
        await new Promise((resolve) => setTimeout(resolve, 50));
        continue;
      }
      inFlight.set(path, (inFlight.get(path) ?? 0) + 1);
      const release = () => {
        const n = (inFlight.get(path!) ?? 1) - 1;
        if (n > 0) inFlight.set(path!, n);
        else inFlight.delete(path!);
        clearTimeout(timer);
      };
      if (timeoutMs > 0) {
        timer = setTimeout(() => {
          timedOut = true;
          controller.abort();
        }, timeoutMs);
      }
      let response: SCGIResponse;
      try {
        response = await scgiRequest(environ, { socket: path, signal: controller.signal });
      } catch (error) {
        release();
        if (error instanceof SCGIForwardError && error.phase === 'connect') {
          tried.add(path);
          listedAt = 0;
          path = undefined;
          continue;
        }
        if (timedOut) return answer(startResponse, '504 Gateway Timeout', `Gateway Timeout: the process of group "${options.name}" did not answer within ${timeoutMs} ms (timeoutMs)`);
        return answer(startResponse, '502 Bad Gateway', `Bad Gateway: the process of group "${options.name}" ${error instanceof SCGIForwardError && error.phase === 'protocol' ? `sent a malformed answer (${error.message})` : 'went away before answering'}`);
      }
      startResponse(response.status, response.headers);
      return onBodyClose(response.body, () => {
        release();
        response.destroy();
      });
    }
  };
}

function answer(startResponse: StartResponse, status: string, message: string, extra: Array<[string, string]> = []): Uint8Array[] {
  const body = Buffer.from(`${message}\n`);
  startResponse(status, [['Content-Type', 'text/plain; charset=utf-8'], ['Content-Length', String(body.length)], ...extra]);
  return [body];
}

/** The supervisor of this process, when it is the primary (set by GroupSupervisor). */
let localWake: ((group: string) => void) | undefined;

/** Registers the wake-up of the supervisor running in this process (the front in the primary calls it directly). */
export function setLocalWake(wake: ((group: string) => void) | undefined): void {
  localWake = wake;
}

function defaultWake(group: string): void {
  if (localWake) localWake(group);
  else if (cluster.isWorker && process.connected) process.send!({ stackware: 'group-wake', group } satisfies GroupWakeMessage);
}
