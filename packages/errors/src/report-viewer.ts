import { escapeHtml, type Application, type Environ, type StartResponse } from '@stackware/gateway';
import type { ReportStore } from './report-store.js';

const HEADERS_NO_STORE: Array<[string, string]> = [['Cache-Control', 'no-store'], ['X-Content-Type-Options', 'nosniff']];
const CSP: [string, string] = ['Content-Security-Policy', "default-src 'none'; style-src 'unsafe-inline'"];

function send(startResponse: StartResponse, status: string, type: string, body: string | Buffer, extra: Array<[string, string]> = []) {
  const bytes = typeof body === 'string' ? Buffer.from(body) : body;
  startResponse(status, [['Content-Type', type], ['Content-Length', String(bytes.byteLength)], ...HEADERS_NO_STORE, ...extra]);
  return [bytes];
}

/**
 * The post-mortem viewer: `GET <mount>/` lists saved reports (newest first), `GET <mount>/<id>`
 * shows one (the saved debug page) and `GET <mount>/<id>.json` its JSON. Other paths: 404; other
 * methods: 405. `mount` is compared with PATH_INFO. The caller decides who may see it.
 */
export function reportViewer(store: ReportStore | undefined, mount: string): Application {
  return async (environ: Environ, startResponse: StartResponse) => {
    if (environ.REQUEST_METHOD !== 'GET' && environ.REQUEST_METHOD !== 'HEAD') {
      return send(startResponse, '405 Method Not Allowed', 'text/plain; charset=utf-8', 'Method Not Allowed\n', [['Allow', 'GET, HEAD']]);
    }
    const rest = environ.PATH_INFO.slice(mount.length).replace(/^\/+/, '');
    const base = escapeHtml(environ.SCRIPT_NAME + mount);
    if (rest === '') {
      const reports = store ? await store.list() : [];
      const rows = reports.map((r) => `<tr><td>${escapeHtml(r.time)}</td><td>${r.status}</td><td><a href="${base}/${escapeHtml(r.id)}">${escapeHtml(r.title)}</a></td><td>${escapeHtml(r.method)} ${escapeHtml(r.url)}</td><td><a href="${base}/${escapeHtml(r.id)}.json">JSON</a></td></tr>`);
      const empty = store ? '<p>No errors saved yet.</p>' : '<p>No error directory is configured: set the <code>errorDir</code> option to keep reports.</p>';
      const page = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Saved errors</title>
<style>body{font:15px/1.45 system-ui,sans-serif;margin:24px 32px}table{border-collapse:collapse}td,th{border:1px solid #d0d7de;padding:4px 8px;text-align:left}</style></head>
<body><h1>Saved errors</h1>${rows.length ? `<table><tr><th>Time</th><th>Status</th><th>Error</th><th>Request</th><th></th></tr>${rows.join('')}</table>` : empty}</body></html>\n`;
      return send(startResponse, '200 OK', 'text/html; charset=utf-8', page, [CSP]);
    }
    const m = /^([0-9a-f]{16})(\.json)?$/.exec(rest);
    const file = m && store ? await store.read(m[1]!, m[2] ? 'json' : 'html') : undefined;
    if (!file) return send(startResponse, '404 Not Found', 'text/plain; charset=utf-8', 'No saved error with this id.\n');
    return m![2]
      ? send(startResponse, '200 OK', 'application/json; charset=utf-8', file)
      : send(startResponse, '200 OK', 'text/html; charset=utf-8', file, [CSP]);
  };
}
