/** The representations an error answer comes in. */
export type ErrorFormat = 'html' | 'json' | 'text';

/**
 * Picks the error page's format from an Accept header (RFC 9110 §12.5.1): HTML when `text/html`
 * (or `application/xhtml+xml`) is listed with q > 0, JSON when `application/json` or `*\/*+json` is,
 * the higher q winning when both are (HTML on a tie); otherwise plain text — so a browser gets
 * HTML, `fetch` with `Accept: application/json` gets JSON, and curl (`*\/*`) gets text.
 */
export function negotiateFormat(accept: string | undefined): ErrorFormat {
  if (!accept) return 'text';
  let html = 0;
  let json = 0;
  for (const part of accept.split(',')) {
    const [type = '', ...params] = part.trim().toLowerCase().split(';');
    const qParam = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
    const q = qParam ? Number(qParam.slice(2)) : 1;
    if (!Number.isFinite(q) || q <= 0) continue;
    const t = type.trim();
    if (t === 'text/html' || t === 'application/xhtml+xml') html = Math.max(html, q);
    else if (t === 'application/json' || /^application\/[\w.-]+\+json$/.test(t)) json = Math.max(json, q);
  }
  if (html === 0 && json === 0) return 'text';
  return html >= json ? 'html' : 'json';
}
