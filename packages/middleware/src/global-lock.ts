import { onBodyClose, type Application } from '@stackware/gateway';
import { defineOptions, filterFactory, option } from '@stackware/gateway/options';

/** Options of {@link globalLock}. Defaults: `maxQueue` 100, `waitTimeoutMs` 30000, `retryAfterSeconds` 1. */
export interface GlobalLockOptions {
  /** Requests allowed to wait for the lock; one more is answered 503 at once [100]. */
  maxQueue?: number;
  /** Longest wait for the lock, in ms; then 503 [30000]. 0 waits forever. */
  waitTimeoutMs?: number;
  /** The Retry-After value sent with a 503, in seconds [1]. */
  retryAfterSeconds?: number;
}

/** What a {@link globalLock} application also tells: how busy the lock is. */
export interface GlobalLockApplication extends Application {
  /** Requests waiting now. */
  readonly waiting: number;
  /** True while a request holds the lock. */
  readonly held: boolean;
}

function unavailable(retryAfterSeconds: number, reason: string): Application {
  return (_environ, startResponse) => {
    const body = Buffer.from(`Service Unavailable: ${reason}\n`);
    startResponse('503 Service Unavailable', [
      ['Content-Type', 'text/plain; charset=utf-8'],
      ['Content-Length', String(body.length)],
      ['Retry-After', String(retryAfterSeconds)],
    ]);
    return [body];
  };
}

/**
 * Serialises calls into an application that is not safe to run concurrently (the seeds' "run an
 * LRSP-single app in an LRSP-multi gateway by acquiring and releasing a global lock at entry and
 * exit"). The lock is held from the call until the response body is closed — across every await,
 * through the whole streamed response — and released on errors too. Waiters are served in order
 * (FIFO). A full queue, or a wait past `waitTimeoutMs`, answers 503 with Retry-After.
 * The lock is per process (per thread): run one process, or it serialises each separately.
 *
 * @example
 * const app = globalLock(legacyApp, { maxQueue: 20 });
 */
export function globalLock(app: Application, options: GlobalLockOptions = {}): GlobalLockApplication {
  const maxQueue = options.maxQueue ?? 100;
  const waitTimeoutMs = options.waitTimeoutMs ?? 30_000;
  const retryAfter = options.retryAfterSeconds ?? 1;
  let held = false;
  const queue: Array<(granted: boolean) => void> = [];

  const release = () => {
    const next = queue.shift();
    if (next) next(true);
    else held = false;
  };

  const acquire = (): Promise<boolean> => {
    if (!held) {
      held = true;
      return Promise.resolve(true);
    }
    return new Promise<boolean>((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const waiter = (granted: boolean) => {
        if (timer) clearTimeout(timer);
        resolve(granted);
      };
      queue.push(waiter);
      if (waitTimeoutMs > 0) {
        timer = setTimeout(() => {
          const i = queue.indexOf(waiter);
          if (i !== -1) {
            queue.splice(i, 1);
            resolve(false);
          }
        }, waitTimeoutMs);
      }
    });
  };

  const locked = (async (environ, startResponse) => {
    if (held && queue.length >= maxQueue) return unavailable(retryAfter, 'too many requests are waiting')(environ, startResponse);
    if (!(await acquire())) return unavailable(retryAfter, `waited more than ${waitTimeoutMs} ms`)(environ, startResponse);
    let body;
    try {
      body = await app(environ, startResponse);
    } catch (error) {
      release();
      throw error;
    }
    return onBodyClose(body, release);
  }) as GlobalLockApplication;
  Object.defineProperties(locked, {
    waiting: { get: () => queue.length },
    held: { get: () => held },
  });
  return locked;
}

/** The deploy-file options of {@link globalLock} ({@link GlobalLockOptions}). */
export const GLOBAL_LOCK_OPTIONS = defineOptions({
  maxQueue: option.number('requests allowed to wait for the lock; one more is answered 503 at once', { integer: true, min: 0, default: 100 }),
  waitTimeoutMs: option.number('longest wait for the lock, then 503 (0: forever)', { unit: 'ms', integer: true, min: 0, default: 30_000 }),
  retryAfterSeconds: option.number('the Retry-After of the 503 answers', { unit: 's', integer: true, min: 0, default: 1 }),
});

/** Deploy-file factory: `[filter.lock] use = "@stackware/middleware#globalLock"`; options: {@link GLOBAL_LOCK_OPTIONS}. */
export const globalLockFactory = filterFactory(
  GLOBAL_LOCK_OPTIONS,
  (options) => (app: Application) => globalLock(app, options),
  { description: 'serialises requests into the application (one at a time, FIFO, bounded queue)' },
);
