import { escapeHtml, readBody, redirect, type Application, type Environ } from '@stackware/gateway';
import { defineOptions, filterFactory, option } from '@stackware/gateway/options';
import { loadSession } from '@stackware/session';
import type { CheckPassword } from './auth.js';

/** Options of {@link formLogin}. Defaults: loginPath "/login", logoutPath "/logout", userKey "user", every path protected. */
export interface FormLoginOptions {
  checkPassword: CheckPassword;
  /** The login page and form target, relative to the mount ["/login"]. */
  loginPath?: string;
  /** POST here to log out ["/logout"]. */
  logoutPath?: string;
  /** The session key that holds the logged-in user ["user"]. */
  userKey?: string;
  /** Which requests need a logged-in user [all]: a predicate, or path prefixes relative to the mount. */
  protect?: ((environ: Environ) => boolean) | string[];
  /** A page title for the built-in login form ["Log in"]. */
  title?: string;
}

/**
 * A local redirect target from the `next` field, or `fallback`. Browsers strip tabs and newlines
 * from URLs and read `\` as `/` (WHATWG URL), so `/\t/evil.example` or `/\\evil.example` would
 * leave the site: any control character, space or backslash is refused, as is `//`. Non-ASCII is
 * percent-encoded (UTF-8) so the Location header stays ASCII.
 */
function safeNext(next: string | null | undefined, fallback: string): string {
  if (!next || !next.startsWith('/') || next.startsWith('//') || /[\u0000-\u0020\u007f\\]/.test(next)) return fallback;
  return next.replace(/[^\u0021-\u007e]+/g, (s) => Array.from(Buffer.from(s, 'utf8'), (b) => `%${b.toString(16).toUpperCase().padStart(2, '0')}`).join(''));
}

/** The path of this request as a URL path (each segment percent-encoded again), plus its query. */
function requestPath(environ: Environ): string {
  const path = (environ.SCRIPT_NAME + (environ.PATH_INFO || '/')).split('/').map(encodeURIComponent).join('/');
  return path + (environ.QUERY_STRING ? `?${environ.QUERY_STRING}` : '');
}

function loginForm(action: string, next: string, title: string, error: string | undefined, status: number): Application {
  const page = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title></head>
<body><h1>${escapeHtml(title)}</h1>
${error ? `<p class="error" role="alert">${escapeHtml(error)}</p>\n` : ''}<form method="post" action="${escapeHtml(action)}">
<input type="hidden" name="next" value="${escapeHtml(next)}">
<p><label>User <input name="username" autocomplete="username" required></label></p>
<p><label>Password <input name="password" type="password" autocomplete="current-password" required></label></p>
<p><button type="submit">Log in</button></p>
</form></body></html>
`;
  const body = Buffer.from(page);
  return (_environ, startResponse) => {
    startResponse(status === 200 ? '200 OK' : '401 Unauthorized', [['Content-Type', 'text/html; charset=utf-8'], ['Content-Length', String(body.length)], ['Cache-Control', 'no-store']]);
    return [body];
  };
}

/**
 * Form and cookie login (Paste's auth.form + auth.cookie, done with @stackware/session, which must
 * wrap this middleware): GET `loginPath` shows a form; POST checks the user and password with
 * `checkPassword`, then regenerates the session id (session-fixation defence), stores the user
 * and redirects (303) to the `next` field when it is a local path. POST `logoutPath` destroys the
 * session. On other requests a logged-in user becomes REMOTE_USER (AUTH_TYPE "Form"); a
 * protected request without one is redirected to the form (GET/HEAD) or answered 401.
 */
export function formLogin(app: Application, options: FormLoginOptions): Application {
  const loginPath = options.loginPath ?? '/login';
  const logoutPath = options.logoutPath ?? '/logout';
  const userKey = options.userKey ?? 'user';
  const title = options.title ?? 'Log in';
  const protect = options.protect;
  const isProtected = (environ: Environ): boolean => {
    if (protect === undefined) return true;
    if (typeof protect === 'function') return protect(environ);
    return protect.some((p) => environ.PATH_INFO === p || environ.PATH_INFO.startsWith(p.endsWith('/') ? p : `${p}/`));
  };

  return async (environ, startResponse) => {
    const path = environ.PATH_INFO || '/';
    const base = environ.SCRIPT_NAME;
    const method = environ.REQUEST_METHOD;
    if (path === loginPath) {
      if (method === 'POST') {
        const form = new URLSearchParams((await readBody(environ, { maxBytes: 64 * 1024 })).toString('utf8'));
        const user = form.get('username') ?? '';
        const next = safeNext(form.get('next'), `${base}/`);
        if (user && (await options.checkPassword(user, form.get('password') ?? '', environ))) {
          const session = await loadSession(environ);
          await session.regenerate();
          session.set(userKey, user);
          return redirect(next, 303)(environ, startResponse);
        }
        return loginForm(base + loginPath, next, title, 'Unknown user or wrong password.', 401)(environ, startResponse);
      }
      const next = safeNext(new URLSearchParams(environ.QUERY_STRING).get('next'), `${base}/`);
      return loginForm(base + loginPath, next, title, undefined, 200)(environ, startResponse);
    }
    if (path === logoutPath && method === 'POST') {
      const session = await loadSession(environ);
      await session.destroy();
      return redirect(`${base}/`, 303)(environ, startResponse);
    }
    const session = await loadSession(environ);
    const user = session.get<string>(userKey);
    if (typeof user === 'string' && user) return app({ ...environ, REMOTE_USER: user, AUTH_TYPE: 'Form' }, startResponse);
    if (!isProtected(environ)) return app(environ, startResponse);
    if (method === 'GET' || method === 'HEAD') {
      return redirect(`${base}${loginPath}?next=${encodeURIComponent(requestPath(environ))}`, 303)(environ, startResponse);
    }
    const body = Buffer.from('401 Unauthorized: log in first.\n');
    startResponse('401 Unauthorized', [['Content-Type', 'text/plain; charset=utf-8'], ['Content-Length', String(body.length)]]);
    return [body];
  };
}

/** The deploy-file options of {@link formLoginFactory}. */
export const FORM_LOGIN_OPTIONS = defineOptions({
  users: option.table<Record<string, string>>('user name → password (plain: development only)', { type: 'table of strings', example: '{ alice = "secret" }' }),
  loginPath: option.string('the login page and form target, relative to the mount', { default: '/login' }),
  logoutPath: option.string('POST here to log out', { default: '/logout' }),
  protect: option.strings('path prefixes (relative to the mount) that need a logged-in user', { defaultText: 'everything' }),
});

/** Deploy-file factory for form login with users from the file (development only: plain passwords). */
export const formLoginFactory = filterFactory(
  FORM_LOGIN_OPTIONS,
  async ({ users = {}, ...options }) => {
    const { passwordTable } = await import('./auth.js');
    const checkPassword = passwordTable(users);
    return (app: Application) => formLogin(app, { ...options, checkPassword });
  },
  { description: 'form + session login (needs @stackware/session outside it)' },
);
