import { SessionLockTimeoutError } from '../types.js';

/**
 * Calls `tryOnce` until it returns a release function or `waitMs` has passed, sleeping between
 * tries (2 ms doubling to 25 ms, with jitter so waiters do not move in lockstep).
 * @throws SessionLockTimeoutError when the lock is not acquired in time.
 */
export async function acquireWithRetry<R>(tryOnce: () => Promise<R | undefined> | R | undefined, waitMs: number): Promise<R> {
  const deadline = Date.now() + waitMs;
  let delay = 2;
  for (;;) {
    const got = await tryOnce();
    if (got !== undefined) return got;
    const left = deadline - Date.now();
    if (left <= 0) throw new SessionLockTimeoutError(waitMs);
    await new Promise((resolve) => setTimeout(resolve, Math.min(left, delay * (0.5 + Math.random()))));
    delay = Math.min(25, delay * 2);
  }
}
