/**
 * What the process-group pieces share: the environment a group process is started with, and the
 * messages between it, the fronts and the supervisor (over node:cluster's IPC channel).
 */

/** The group a process serves (unset in the front and the primary): the name of its `[group.NAME]`. */
export const GROUP_ENV = 'STACKWARE_GROUP';
/** The Unix-domain socket a group process listens on. */
export const GROUP_SOCKET_ENV = 'STACKWARE_GROUP_SOCKET';
/** How often a group process reports to the supervisor, in ms. */
export const GROUP_HEARTBEAT_ENV = 'STACKWARE_GROUP_HEARTBEAT_MS';
/** The runtime directory of every group (one 0700 subdirectory per group), given to prefork fronts. */
export const GROUPS_DIR_ENV = 'STACKWARE_GROUPS_DIR';

/** Why a group process was restarted (the `cause` field of the log record, and GroupSupervisorOptions.onRestart): the metrics' restart causes, one list in metrics/hooks.ts. */
export type { RestartCause } from '../metrics/hooks.js';

/** Group process → supervisor. */
export type GroupProcessMessage =
  | { stackware: 'group-ready' }
  | { stackware: 'group-beat'; inFlight: number; oldestMs: number; idleMs: number }
  | { stackware: 'group-retire'; cause: 'max-requests' };

/** Supervisor → group process: stop taking requests, finish the ones in flight, exit. */
export interface GroupStopMessage { stackware: 'group-stop' }

/** A front (prefork worker) → supervisor: a request is waiting for a group whose processes are stopped (inactivity). */
export interface GroupWakeMessage { stackware: 'group-wake'; group: string }

/** True for a message object whose `stackware` field is `kind`. */
export function isMessage<T extends { stackware: string }>(message: unknown, kind: T['stackware']): message is T {
  return typeof message === 'object' && message !== null && (message as { stackware?: unknown }).stackware === kind;
}
