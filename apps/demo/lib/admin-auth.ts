/**
 * `use = "./lib/admin-auth.ts#adminAuth"`: @stackware/middleware's Basic auth for one user whose
 * name and password come from the environment (ADMIN_USER / ADMIN_PASSWORD). The deploy file's
 * own `basicAuth` factory takes a `users` table, whose keys (user names) cannot be `${VAR}`s.
 * Warns at start, once per process, when the default admin/admin is in use.
 */
import { isMainThread } from 'node:worker_threads';
import type { Application } from '@stackware/gateway';
import { defineOptions, filterFactory, option } from '@stackware/gateway/options';
import { basicAuth, passwordTable } from '@stackware/middleware';
import { createLogger } from '@stackware/server';

let warned = false;

/** The options of {@link adminAuth}. */
export const ADMIN_AUTH_OPTIONS = defineOptions({
  realm: option.string('the realm shown by the browser', { default: 'Restricted' }),
  user: option.string('the one user name (no ":")', { default: 'admin' }),
  password: option.string('its password', { default: 'admin' }),
});

/** Basic auth (RFC 7617) for `user`/`password` (defaults admin/admin), realm `realm`. */
export const adminAuth = filterFactory(
  ADMIN_AUTH_OPTIONS,
  ({ user = 'admin', password = 'admin', realm = 'Restricted' }) => {
    if (!user || user.includes(':')) throw new Error('user must be a non-empty name without ":" (RFC 7617): set ADMIN_USER');
    if (!password) throw new Error('password must not be empty: set ADMIN_PASSWORD');
    if (user === 'admin' && password === 'admin' && isMainThread && !warned) {
      warned = true;
      createLogger().warn('the /admin area uses the default login admin / admin: set ADMIN_USER and ADMIN_PASSWORD before exposing this site');
    }
    return (app: Application) => basicAuth(app, {
      realm,
      // passwordTable compares the password for an unknown user too (against a dummy), so the
      // time of a 401 does not tell which user names exist.
      checkPassword: passwordTable({ [user]: password }),
    });
  },
  { description: 'Basic auth for one user (ADMIN_USER / ADMIN_PASSWORD)' },
);
