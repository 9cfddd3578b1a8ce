/**
 * The group-process side of daemon mode: serves the group's application over SCGI on the Unix
 * socket the supervisor gave it, reports to the supervisor, and stops gracefully when told.
 */
import cluster from 'node:cluster';
import { randomInt } from 'node:crypto';
import { onBodyClose, type Application, type ResponseBody, type RunningServer } from '@stackware/gateway';
import type { Logger } from 'pino';
import { serveSCGI } from '../scgi.js';
import { onShutdownSignals } from '../shutdown.js';
import { GROUP_ENV, GROUP_HEARTBEAT_ENV, GROUP_SOCKET_ENV, isMessage, type GroupProcessMessage, type GroupStopMessage } from './messages.js';

/** Options of {@link runGroupProcess}. */
export interface GroupProcessOptions {
  /** The group's application (built from the group's configuration in this process). */
  app: Application;
  logger: Logger;
  /** Ask the supervisor for a replacement after this many requests, plus a random 0..maxRequests/10 (0: never; mod_wsgi's maximum-requests). */
  maxRequests?: number;
  /** How long a stopping process lets its requests in flight finish, in ms (default 15000, mod_wsgi's graceful-timeout). */
  gracefulTimeoutMs?: number;
  /** Environ flag `stackware.multithread` (true when the group runs threads). Default false. */
  multithread?: boolean;
}

/** True in a process the supervisor started for a group (`STACKWARE_GROUP` set in a cluster worker). */
export function isGroupProcess(): boolean {
  return cluster.isWorker && typeof process.env[GROUP_ENV] === 'string' && typeof process.env[GROUP_SOCKET_ENV] === 'string';
}

/**
 * Runs this cluster worker as one process of its group: listens with {@link serveSCGI} on the
 * socket named by `STACKWARE_GROUP_SOCKET` (`stackware.multiprocess` true), tells the supervisor it
 * is ready, reports every `STACKWARE_GROUP_HEARTBEAT_MS` (requests in flight, the age of the
 * oldest, the time since the last request — a blocked event loop stops the reports, which is how
 * the supervisor sees a hung process), asks to be replaced after `maxRequests`, and on the
 * supervisor's stop (or SIGTERM, or the supervisor going away) stops accepting (the socket file
 * goes away), finishes the requests in flight within `gracefulTimeoutMs` and exits 0.
 * @throws Error outside a group process.
 */
export async function runGroupProcess(options: GroupProcessOptions): Promise<RunningServer> {
  if (!isGroupProcess() || !process.send) throw new Error(`runGroupProcess must run in a group process (a cluster worker with ${GROUP_ENV} and ${GROUP_SOCKET_ENV} set)`);
  const send = (message: GroupProcessMessage) => {
    if (process.connected) process.send!(message);
  };
  const logger = options.logger;
  const maxRequests = options.maxRequests ?? 0;
  const budget = maxRequests > 0 ? maxRequests + randomInt(Math.floor(maxRequests / 10) + 1) : 0;
  const started = new Set<number>();
  let count = 0;
  let lastActivity = Date.now();
  const inner = options.app;
  const app: Application = async (environ, startResponse) => {
    const at = performance.now() + Math.random() * 1e-6;
    started.add(at);
    lastActivity = Date.now();
    if (budget > 0 && ++count === budget) {
      logger.info({ requests: count }, 'max-requests reached: asking for a replacement');
      send({ stackware: 'group-retire', cause: 'max-requests' });
    }
    const done = () => {
      started.delete(at);
      lastActivity = Date.now();
    };
    let body: ResponseBody;
    try {
      body = await inner(environ, startResponse);
    } catch (error) {
      done();
      throw error;
    }
    return onBodyClose(body, done);
  };
  const socket = process.env[GROUP_SOCKET_ENV]!;
  const gracefulTimeoutMs = options.gracefulTimeoutMs ?? 15_000;
  const running = await serveSCGI(app, { socket, multiprocess: true, multithread: options.multithread ?? false, timeoutMs: 0, shutdownTimeoutMs: gracefulTimeoutMs, log: { write: (text: string) => { const m = String(text).trimEnd(); if (m) logger.error(m); } } });
  const heartbeatMs = Number(process.env[GROUP_HEARTBEAT_ENV]) || 1000;
  const beat = setInterval(() => {
    const now = performance.now();
    let oldest = now;
    for (const at of started) if (at < oldest) oldest = at;
    send({ stackware: 'group-beat', inFlight: started.size, oldestMs: Math.round(now - oldest), idleMs: started.size ? 0 : Date.now() - lastActivity });
  }, heartbeatMs);
  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      clearInterval(beat);
      await running.close();
      process.exit(0);
    })();
    return stopping;
  };
  process.on('message', (message: unknown) => {
    if (isMessage<GroupStopMessage>(message, 'group-stop')) void stop();
  });
  process.on('disconnect', () => void stop());
  onShutdownSignals(stop, { logger, exit: false });
  send({ stackware: 'group-ready' });
  logger.info({ group: process.env[GROUP_ENV], socket, uid: process.getuid?.(), max_requests: budget || undefined }, 'group process listening');
  return running;
}
