import { escapeHtml, readBody, type Application, type Environ, type StartResponse } from '@stackware/gateway';
import { MAX_PIN_FAILURES, type DebugPin } from './debug-pin.js';

/** A local path to go back to after the PIN, or undefined: "/x?y" yes; "//host", "/\\host", control characters no. */
function localPath(next: string | null | undefined): string | undefined {
  if (!next || !next.startsWith('/') || next.startsWith('//') || /[\u0000-\u0020\u007f\\]/.test(next)) return undefined;
  return next;
}

function send(startResponse: StartResponse, status: string, body: string, extra: Array<[string, string]> = []): Uint8Array[] {
  const bytes = Buffer.from(body);
  startResponse(status, [
    ['Content-Type', 'text/html; charset=utf-8'], ['Content-Length', String(bytes.byteLength)],
    ['Cache-Control', 'no-store'], ['X-Content-Type-Options', 'nosniff'],
    ['Content-Security-Policy', "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'"],
    ...extra,
  ]);
  return [bytes];
}

function form(action: string, next: string, message: string | undefined, locked: boolean): string {
  const body = locked
    ? `<p role="alert">The debugger is locked after ${MAX_PIN_FAILURES} wrong PINs. Restart the server to try again.</p>`
    : `${message ? `<p role="alert">${escapeHtml(message)}</p>\n` : ''}<p>Debug pages and saved error reports need the debugger PIN, printed in the server's log at start.</p>
<form method="post" action="${escapeHtml(action)}">
<input type="hidden" name="next" value="${escapeHtml(next)}">
<p><label>PIN <input name="pin" autocomplete="off" inputmode="numeric" required autofocus></label> <button type="submit">Unlock</button></p>
</form>`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Debugger PIN</title>
<style>body{font:16px/1.5 system-ui,sans-serif;margin:48px auto;max-width:640px;padding:0 16px}</style></head>
<body><h1>Debugger PIN</h1>
${body}
</body></html>
`;
}

/**
 * The PIN page at `<mount>/pin` (PATH_INFO `pinPath`): GET shows the form; POST `pin=…&next=…`
 * (urlencoded, at most 1 KiB) checks the PIN — correct: 303 to `next` (a local path; default the
 * report viewer) with the PIN cookie; wrong: 403 and the form again; after 10 failures: 403,
 * locked until restart. Other methods: 405. The caller decides who may reach it.
 */
export function pinPage(pin: DebugPin, pinPath: string, viewerPath: string): Application {
  return async (environ: Environ, startResponse: StartResponse) => {
    const action = environ.SCRIPT_NAME + pinPath;
    const fallback = environ.SCRIPT_NAME + viewerPath;
    if (environ.REQUEST_METHOD === 'GET' || environ.REQUEST_METHOD === 'HEAD') {
      const next = localPath(new URLSearchParams(environ.QUERY_STRING).get('next')) ?? fallback;
      return send(startResponse, pin.locked ? '403 Forbidden' : '200 OK', form(action, next, undefined, pin.locked));
    }
    if (environ.REQUEST_METHOD !== 'POST') {
      return send(startResponse, '405 Method Not Allowed', form(action, fallback, 'Use the form.', pin.locked), [['Allow', 'GET, HEAD, POST']]);
    }
    const body = await readBody(environ, { maxBytes: 1024 }).catch(() => undefined);
    if (!body) return send(startResponse, '413 Content Too Large', form(action, fallback, 'The form is too large.', pin.locked));
    const fields = new URLSearchParams(body.toString('utf8'));
    const next = localPath(fields.get('next')) ?? fallback;
    const result = pin.check(fields.get('pin') ?? '');
    if (result === 'ok') {
      startResponse('303 See Other', [['Location', next], ['Set-Cookie', pin.setCookie(environ.SCRIPT_NAME)], ['Content-Type', 'text/plain; charset=utf-8'], ['Cache-Control', 'no-store'], ['Content-Length', '0']]);
      return [];
    }
    return send(startResponse, '403 Forbidden', form(action, next, 'Wrong PIN.', result === 'locked'));
  };
}
