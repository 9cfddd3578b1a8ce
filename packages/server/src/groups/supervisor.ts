/**
 * The process-group supervisor (mod_wsgi's daemon mode, WSGIDaemonProcess): runs in the cluster
 * primary, forks each group's processes with node:cluster (as the group's user, with its
 * environment) and keeps them healthy.
 */
import cluster, { type Worker } from 'node:cluster';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readFileSync, rmSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { setLocalWake } from './front.js';
import { GROUP_ENV, GROUP_HEARTBEAT_ENV, GROUP_SOCKET_ENV, isMessage, type GroupProcessMessage, type GroupStopMessage, type GroupWakeMessage, type RestartCause } from './messages.js';
import { unreachable } from './reach.js';

/** One group to supervise. Units in the names; 0 disables a limit. */
export interface GroupSpec {
  /** The group's name: `STACKWARE_GROUP` in its processes. */
  name: string;
  /** Processes (≥ 1). */
  processes: number;
  /** Numeric user and group id the processes run as (only honoured when the primary runs as root). */
  uid?: number;
  gid?: number;
  /** Extra environment variables of the group's processes. */
  env?: Record<string, string>;
  /**
   * Files the processes read at start (the deploy file), besides the program itself: when they run
   * as another user, the supervisor checks before forking that this user can reach them, and logs
   * which directory stops it (the processes would fail with "Cannot find module").
   */
  paths?: string[];
  /** A process whose resident memory (VmRSS) passes this many MiB is replaced gracefully. */
  memoryLimitMb?: number;
  /** A request running longer than this (or a process whose event loop stops reporting this long) gets its process killed (SIGKILL) and replaced. */
  timeoutMs?: number;
  /** The group's processes are stopped after this long without a request; the next request starts them. */
  inactivityTimeoutMs?: number;
  /** How long a replaced or stopping process may finish its requests before it is killed, in ms (default 15000). */
  gracefulTimeoutMs?: number;
}

/** Options of {@link GroupSupervisor}. */
export interface GroupSupervisorOptions {
  groups: GroupSpec[];
  logger: Logger;
  /** Called once per restart with its cause (the metrics counter plugs in here); also logged as `cause`. */
  onRestart?: (group: string, cause: RestartCause, pid: number | undefined) => void;
  /** A process must report ready within this after fork, or it is killed and counts as a crash. Default 60000. */
  bootTimeoutMs?: number;
  /** How often limits are checked, in ms. Default 250. */
  checkIntervalMs?: number;
  /** First back-off delay after a process died young (under 5 s), doubling up to 10 s. Default 100. */
  initialBackoffMs?: number;
}

interface ProcessState {
  worker: Worker;
  group: GroupRun;
  slot: Slot;
  socket: string;
  forkedAt: number;
  readyAt?: number;
  lastBeat: number;
  inFlight: number;
  oldestMs: number;
  idleMs: number;
  stopping: boolean;
  stopDeadline?: number;
  killedFor?: RestartCause;
}

interface Slot {
  index: number;
  current?: ProcessState;
  next?: ProcessState;
  failures: number;
  timer?: NodeJS.Timeout;
}

interface GroupRun {
  spec: GroupSpec;
  dir: string;
  slots: Slot[];
  asleep: boolean;
}

const MIN_UPTIME_MS = 5000;
const MAX_BACKOFF_MS = 10_000;
/** The supervisor's kill waits this much beyond `timeoutMs`, so the front answers 504 first. */
const TIMEOUT_GRACE_MS = 1000;

/**
 * Supervises process groups. Per group it forks `processes` cluster workers (each runs the
 * program's entry again with `STACKWARE_GROUP`, `STACKWARE_GROUP_SOCKET` and the group's `env`;
 * it must call `runGroupProcess`), each listening on its own Unix socket in the group's private
 * runtime directory (0700, owned by the group's user, inside a 0711 directory of the primary). It:
 * - replaces a process that exits unexpectedly (cause `crash`), with back-off when processes keep
 *   dying young (100 ms doubling to 10 s);
 * - reads each process's VmRSS from /proc/PID/status (so a process stuck in a loop is still
 *   measured) and replaces one over `memoryLimitMb` gracefully (cause `memory`);
 * - kills (SIGKILL) and replaces a process with a request older than `timeoutMs` + 1 s, or whose
 *   reports stopped that long (a blocked event loop) (cause `timeout`);
 * - replaces a process that served its `maxRequests` (cause `max-requests`);
 * - stops a group idle for `inactivityTimeoutMs` (cause `inactivity`) and starts it again on
 *   {@link wake} (a front's request, or a `group-wake` message from a prefork worker);
 * - {@link reloadGroup} replaces one group's processes gracefully (cause `reload`): each new
 *   process listens first, then the old one stops accepting and finishes within `gracefulTimeoutMs`.
 * Every restart is logged (`group`, `cause`, `worker_pid`) and passed to `onRestart`.
 */
export class GroupSupervisor {
  /** The runtime directory (one subdirectory per group); fronts in other processes get it as `STACKWARE_GROUPS_DIR`. */
  readonly runtimeDir: string;
  private readonly groups = new Map<string, GroupRun>();
  private readonly states = new Map<Worker, ProcessState>();
  private readonly logger: Logger;
  private readonly bootTimeoutMs: number;
  private readonly initialBackoffMs: number;
  private readonly check: NodeJS.Timeout;
  private readonly onClusterMessage = (worker: Worker, message: unknown) => {
    if (isMessage<GroupWakeMessage>(message, 'group-wake') && typeof message.group === 'string') this.wake(message.group);
  };
  private serial = 0;
  private closing: Promise<void> | undefined;
  private allExited: (() => void) | undefined;

  /** Creates the runtime directories and forks every group's processes. @throws Error when not in the cluster primary. */
  constructor(private readonly options: GroupSupervisorOptions) {
    if (!cluster.isPrimary) throw new Error('GroupSupervisor must run in the cluster primary');
    this.logger = options.logger;
    this.bootTimeoutMs = options.bootTimeoutMs ?? 60_000;
    this.initialBackoffMs = options.initialBackoffMs ?? 100;
    this.runtimeDir = mkdtempSync(join(tmpdir(), 'stackware-groups-'));
    chmodSync(this.runtimeDir, 0o711);
    const root = process.getuid?.() === 0;
    for (const given of options.groups) {
      let spec = given;
      if ((spec.uid !== undefined || spec.gid !== undefined) && !root) {
        // mod_wsgi does the same when Apache is not started as root.
        this.logger.warn({ group: spec.name, uid: spec.uid, gid: spec.gid }, `group "${spec.name}": user/group ignored, the server does not run as root (its processes run as this user)`);
        spec = { ...spec, uid: undefined, gid: undefined };
      }
      if (root && spec.uid !== undefined && spec.uid !== 0) this.preflight(spec);
      const dir = join(this.runtimeDir, spec.name);
      mkdirSync(dir, { mode: 0o700 });
      if (spec.uid !== undefined || spec.gid !== undefined) chownSync(dir, spec.uid ?? -1, spec.gid ?? -1);
      const run: GroupRun = { spec, dir, slots: Array.from({ length: Math.max(1, spec.processes) }, (_, index) => ({ index, failures: 0 })), asleep: false };
      this.groups.set(spec.name, run);
    }
    cluster.on('message', this.onClusterMessage);
    setLocalWake((name) => this.wake(name));
    this.check = setInterval(() => this.checkProcesses(), options.checkIntervalMs ?? 250);
    for (const run of this.groups.values()) for (const slot of run.slots) this.spawn(run, slot);
  }

  /** Logs an error for each file the group's user cannot reach: the program (the entry cluster forks) and `paths`. */
  private preflight(spec: GroupSpec): void {
    for (const path of [process.argv[1], ...(spec.paths ?? [])]) {
      if (!path) continue;
      const why = unreachable(path, spec.uid!, spec.gid ?? 0);
      if (why) this.logger.error({ group: spec.name, uid: spec.uid, gid: spec.gid, path }, `group "${spec.name}" runs as uid ${spec.uid}, which cannot read ${path}: ${why}; its processes will fail to start`);
    }
  }

  /** The socket directory of group `name` (what {@link groupApplication} reads). */
  socketDir(name: string): string {
    const run = this.groups.get(name);
    if (!run) throw new Error(`no process group named "${name}"`);
    return run.dir;
  }

  /** Process ids of the group's live processes (serving, starting or draining). */
  pids(name: string): number[] {
    return [...this.states.values()].filter((s) => s.group.spec.name === name).map((s) => s.worker.process.pid!).filter(Boolean);
  }

  /** Starts the processes of a group stopped for inactivity (nothing when it runs). */
  wake(name: string): void {
    const run = this.groups.get(name);
    if (!run || !run.asleep || this.closing) return;
    run.asleep = false;
    this.logger.info({ group: name }, `group "${name}" woken by a request: starting its processes`);
    for (const slot of run.slots) if (!slot.current && !slot.timer) this.spawn(run, slot);
  }

  /**
   * Replaces every process of group `name` gracefully (cause `reload`): the new processes read the
   * configuration and modules afresh. Other groups are not touched.
   * @throws Error for an unknown group.
   */
  reloadGroup(name: string): void {
    const run = this.groups.get(name);
    if (!run) throw new Error(`no process group named "${name}"`);
    if (run.asleep) return;
    this.logger.info({ group: name }, `reloading group "${name}"`);
    for (const slot of run.slots) if (slot.current) this.replace(slot.current, 'reload');
  }

  /** Graceful stop of every group's processes; resolves once all exited (each killed after its gracefulTimeoutMs). */
  close(): Promise<void> {
    this.closing ??= (async () => {
      cluster.off('message', this.onClusterMessage);
      setLocalWake(undefined);
      for (const run of this.groups.values()) for (const slot of run.slots) clearTimeout(slot.timer);
      const exited = new Promise<void>((resolve) => (this.allExited = resolve));
      for (const state of this.states.values()) this.stop(state);
      if (this.states.size) await exited;
      clearInterval(this.check);
      rmSync(this.runtimeDir, { recursive: true, force: true });
    })();
    return this.closing;
  }

  private spawn(run: GroupRun, slot: Slot): void {
    if (this.closing) return;
    slot.timer = undefined;
    const spec = run.spec;
    const socket = join(run.dir, `${slot.index}.${++this.serial}.sock`);
    const heartbeatMs = Math.max(100, Math.min(1000, Math.floor((spec.timeoutMs || 4000) / 4)));
    // The uid/gid apply to this fork only: cluster.settings are read synchronously by fork().
    cluster.setupPrimary({ uid: spec.uid, gid: spec.gid });
    let worker: Worker;
    try {
      worker = cluster.fork({ ...spec.env, [GROUP_ENV]: spec.name, [GROUP_SOCKET_ENV]: socket, [GROUP_HEARTBEAT_ENV]: String(heartbeatMs) });
    } finally {
      cluster.setupPrimary({ uid: undefined, gid: undefined });
    }
    const now = Date.now();
    const state: ProcessState = { worker, group: run, slot, socket, forkedAt: now, lastBeat: now, inFlight: 0, oldestMs: 0, idleMs: 0, stopping: false };
    this.states.set(worker, state);
    if (slot.current && !slot.current.stopping) slot.next = state;
    else slot.current = state;
    worker.on('message', (message: unknown) => this.onMessage(state, message as GroupProcessMessage));
    worker.on('exit', (code, signal) => this.onExit(state, code, signal));
    worker.on('error', (error) => this.logger.warn({ err: error, group: spec.name, worker_pid: worker.process.pid }, 'group process IPC error'));
    this.logger.info({ group: spec.name, worker_pid: worker.process.pid, slot: slot.index, uid: spec.uid }, `group "${spec.name}" process started`);
  }

  private onMessage(state: ProcessState, message: GroupProcessMessage): void {
    if (!message || typeof message !== 'object') return;
    state.lastBeat = Date.now();
    if (message.stackware === 'group-beat') {
      state.inFlight = Number(message.inFlight) || 0;
      state.oldestMs = Number(message.oldestMs) || 0;
      state.idleMs = Number(message.idleMs) || 0;
    } else if (message.stackware === 'group-ready') {
      state.readyAt = state.lastBeat;
      state.idleMs = 0;
      const slot = state.slot;
      if (slot.next === state) {
        const old = slot.current;
        slot.current = state;
        slot.next = undefined;
        if (old) this.stop(old);
      }
      this.logger.info({ group: state.group.spec.name, worker_pid: state.worker.process.pid, slot: slot.index }, `group "${state.group.spec.name}" process ready`);
    } else if (message.stackware === 'group-retire') {
      this.replace(state, 'max-requests');
    }
  }

  /** Records one restart: the log record with its cause, and the hook. */
  private restarted(state: ProcessState, cause: RestartCause, detail: Record<string, unknown> = {}): void {
    const group = state.group.spec.name;
    const pid = state.worker.process.pid;
    this.logger.warn({ group, cause, worker_pid: pid, ...detail }, `group "${group}" process ${pid} restarted: ${cause}`);
    try {
      this.options.onRestart?.(group, cause, pid);
    } catch (error) {
      this.logger.warn({ err: error }, 'onRestart hook failed');
    }
  }

  /** Starts a replacement in the process's slot; the old one stops once the new one is ready. */
  private replace(state: ProcessState, cause: RestartCause, detail?: Record<string, unknown>): void {
    const slot = state.slot;
    if (this.closing || state.stopping || slot.current !== state || slot.next) return;
    this.restarted(state, cause, detail);
    this.spawn(state.group, slot);
  }

  /** Asks a process to stop gracefully; it is killed after the group's gracefulTimeoutMs. */
  private stop(state: ProcessState): void {
    if (state.stopping) return;
    state.stopping = true;
    state.stopDeadline = Date.now() + (state.group.spec.gracefulTimeoutMs ?? 15_000) + 1000;
    if (state.readyAt !== undefined && state.worker.isConnected()) {
      state.worker.send({ stackware: 'group-stop' } satisfies GroupStopMessage, (error: Error | null) => error && state.worker.process.kill('SIGTERM'));
    } else {
      state.worker.process.kill('SIGTERM');
    }
  }

  private onExit(state: ProcessState, code: number | null, signal: string | null): void {
    this.states.delete(state.worker);
    try {
      unlinkSync(state.socket);
    } catch {
      /* removed by the process itself */
    }
    const slot = state.slot;
    const wasNext = slot.next === state;
    if (slot.current === state) {
      slot.current = slot.next;
      slot.next = undefined;
    } else if (wasNext) {
      slot.next = undefined;
    }
    if (this.closing) {
      if (this.states.size === 0) this.allExited?.();
      return;
    }
    const run = state.group;
    const pid = state.worker.process.pid;
    if (state.stopping) {
      this.logger.info({ group: run.spec.name, worker_pid: pid, code, signal }, `group "${run.spec.name}" process stopped`);
      if (!slot.current && !slot.timer && !run.asleep) this.spawn(run, slot);
      return;
    }
    const cause = state.killedFor ?? 'crash';
    if (cause === 'crash') this.restarted(state, 'crash', { code, signal });
    let delay = 0;
    if (cause === 'crash' && (state.readyAt === undefined || Date.now() - state.forkedAt < MIN_UPTIME_MS)) {
      slot.failures++;
      delay = Math.min(MAX_BACKOFF_MS, this.initialBackoffMs * 2 ** (slot.failures - 1));
    } else {
      slot.failures = 0;
    }
    if (slot.current || slot.timer || run.asleep) return;
    slot.timer = setTimeout(() => this.spawn(run, slot), delay);
  }

  /** The periodic check: boot timeout, request timeout, memory, graceful-stop deadline, inactivity. */
  private checkProcesses(): void {
    const now = Date.now();
    for (const state of this.states.values()) {
      const spec = state.group.spec;
      const pid = state.worker.process.pid;
      if (state.stopping) {
        if (state.stopDeadline !== undefined && now > state.stopDeadline) state.worker.process.kill('SIGKILL');
        continue;
      }
      if (state.killedFor) continue;
      if (state.readyAt === undefined) {
        if (now - state.forkedAt > this.bootTimeoutMs) {
          this.logger.error({ group: spec.name, worker_pid: pid }, `group "${spec.name}" process did not become ready within ${this.bootTimeoutMs} ms: killing it`);
          state.worker.process.kill('SIGKILL');
        }
        continue;
      }
      const timeoutMs = spec.timeoutMs ?? 0;
      if (timeoutMs > 0) {
        const silentMs = now - state.lastBeat;
        const oldest = state.inFlight > 0 ? state.oldestMs + silentMs : 0;
        if (silentMs > timeoutMs + TIMEOUT_GRACE_MS || oldest > timeoutMs + TIMEOUT_GRACE_MS) {
          state.killedFor = 'timeout';
          this.restarted(state, 'timeout', { silent_ms: silentMs, oldest_request_ms: oldest });
          state.worker.process.kill('SIGKILL');
          continue;
        }
      }
      const limitMb = spec.memoryLimitMb ?? 0;
      if (limitMb > 0 && pid && state.slot.current === state && !state.slot.next) {
        const rssMb = residentMb(pid);
        if (rssMb !== undefined && rssMb > limitMb) this.replace(state, 'memory', { rss_mb: Math.round(rssMb), memory_limit_mb: limitMb });
      }
    }
    for (const run of this.groups.values()) this.checkInactivity(run, now);
  }

  private checkInactivity(run: GroupRun, now: number): void {
    const limit = run.spec.inactivityTimeoutMs ?? 0;
    if (limit <= 0 || run.asleep) return;
    const current = run.slots.map((s) => s.current);
    if (current.some((s) => !s || s.readyAt === undefined || s.stopping || s.inFlight > 0 || s.slot.next)) return;
    const idle = Math.min(...current.map((s) => s!.idleMs + (now - s!.lastBeat)), ...current.map((s) => now - s!.readyAt!));
    if (idle <= limit) return;
    run.asleep = true;
    this.logger.info({ group: run.spec.name, idle_ms: idle }, `group "${run.spec.name}" idle for ${limit} ms (inactivityTimeoutMs): stopping its processes`);
    for (const state of current) {
      this.restarted(state!, 'inactivity');
      this.stop(state!);
    }
  }
}

/** Resident set size of a process in MiB, from /proc/PID/status (VmRSS); undefined when unreadable (not Linux, or gone). */
export function residentMb(pid: number): number | undefined {
  try {
    const match = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'latin1'));
    return match ? Number(match[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}
