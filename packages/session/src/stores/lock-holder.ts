import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';

/** Who holds a store lock: a random token (the proof of ownership), the process id and the host name. */
export interface LockHolder {
  token: string;
  pid: number;
  host: string;
}

/** A new holder for this process: a fresh random token, `process.pid`, `os.hostname()`. */
export function newLockHolder(): LockHolder {
  return { token: randomUUID(), pid: process.pid, host: hostname() };
}

/**
 * True when the holder is a process on this host that no longer exists (it crashed or was
 * killed): `kill(pid, 0)` fails with ESRCH. A holder on another host, this very process (another
 * request or thread), or a live process (EPERM: alive, owned by another user) is not dead.
 * A recycled pid makes a dead holder look alive: the lock's TTL still frees it then.
 */
export function isDeadHolder(holder: { pid: number; host: string }): boolean {
  if (holder.host !== hostname() || !Number.isInteger(holder.pid) || holder.pid <= 0 || holder.pid === process.pid) return false;
  try {
    process.kill(holder.pid, 0);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ESRCH';
  }
}
