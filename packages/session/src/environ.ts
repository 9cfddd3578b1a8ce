import { SESSION_KEY, type Environ } from '@stackware/gateway';
import type { Session } from './types.js';

// The key and hasSession() are owned by @stackware/gateway (src/keys.ts); re-exported here for users of this package.
export { SESSION_KEY, hasSession } from '@stackware/gateway';

/**
 * The request's lazy {@link Session} (nothing is read until `await session.load()`).
 * @throws Error when no `session()` middleware is in the stack above this application — the
 *   message says to add it (`session(app, { secret, store })`, or a `[filter.session]` with
 *   `use = "@stackware/session"` in the deploy file).
 */
export function getSession(environ: Environ): Session {
  const session = environ[SESSION_KEY] as Session | undefined;
  if (session === undefined) {
    throw new Error(
      'No session on this request: add session() to the stack above this application ' +
        '(session(app, { secret, store }) in code, or a filter with use = "@stackware/session" in the deploy file)',
    );
  }
  return session;
}

/** `getSession(environ).load()`: the request's session, read from the store. Same errors as {@link getSession}. */
export function loadSession(environ: Environ): Promise<Session> {
  return getSession(environ).load();
}
