import { STATUS_CODES } from 'node:http';
import { escapeHtml } from '@stackware/gateway';
import type { ErrorReport, ReportedError } from './report.js';
import type { StackFrame } from './stack.js';

const e = escapeHtml;

function reason(status: number): string {
  return STATUS_CODES[status] ?? 'Error';
}

function frameLocation(frame: StackFrame): string {
  return `${frame.file}:${frame.line}:${frame.column}`;
}

function sourceText(frame: StackFrame, indent: string): string[] {
  if (!frame.context) return [];
  const width = String(frame.context.start + frame.context.lines.length - 1).length;
  return frame.context.lines.map((text, i) => {
    const n = frame.context!.start + i;
    return `${indent}${n === frame.line ? '>' : ' '} ${String(n).padStart(width)} | ${text}`;
  });
}

/**
 * The plain-text report: the stacks (TypeScript lines) with the source around the first
 * application frame, then the request. For curl, the email body and the debug page's "copy" box.
 */
export function renderText(report: ErrorReport): string {
  const out: string[] = [];
  report.errors.forEach((error, i) => {
    out.push(i === 0 ? (error.stack || `${error.name}: ${error.message}`) : `Caused by: ${error.stack || `${error.name}: ${error.message}`}`);
    for (const [k, v] of error.properties) out.push(`    ${k}: ${v}`);
    const first = error.frames.find((f) => !f.internal && f.context);
    if (first) out.push('', `  ${frameLocation(first)}`, ...sourceText(first, '    '), '');
  });
  out.push(
    '',
    `Error id:   ${report.id}`,
    `Request id: ${report.requestId}`,
    `Time:       ${report.time}`,
    `Request:    ${report.request.method} ${report.request.url}`,
    `Client:     ${report.request.remoteAddr}`,
    `Status:     ${report.status} (caught in ${report.catchPoint}${report.headersSent ? '; the response had started and was broken off' : ''})`,
  );
  const section = (title: string, pairs: Array<[string, string]> | undefined) => {
    if (!pairs || pairs.length === 0) return;
    out.push('', `${title}:`, ...pairs.map(([k, v]) => `  ${k}: ${v}`));
  };
  section('Headers', report.request.headers);
  section('Query', report.request.query);
  section('Form', report.request.form);
  if (report.request.json !== undefined) out.push('', 'JSON body:', JSON.stringify(report.request.json, null, 2));
  if (report.request.bodyNote) out.push('', `Body: ${report.request.bodyNote}`);
  return out.join('\n') + '\n';
}

/** The JSON report (`Accept: application/json`): the report object itself. */
export function renderJson(report: ErrorReport): string {
  return JSON.stringify(report, null, 2);
}

const STYLE = `
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#1f2328;background:#f6f8fa}
header{background:#b42318;color:#fff;padding:20px 32px}
header h1{margin:0 0 4px;font-size:24px;word-break:break-word}
header p{margin:0;opacity:.9}
main{padding:16px 32px 40px;max-width:1200px}
h2{font-size:18px;margin:28px 0 8px}
h3{font-size:16px;margin:18px 0 6px}
code,pre,textarea{font:13px/1.45 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
.meta{display:grid;grid-template-columns:max-content 1fr;gap:2px 16px;margin:12px 0}
.meta dt{color:#57606a}.meta dd{margin:0;word-break:break-all}
ol.frames{list-style:none;padding:0;margin:0}
.frame{background:#fff;border:1px solid #d0d7de;border-radius:6px;margin:8px 0;overflow:hidden}
.frame .where{padding:6px 10px;background:#eaeef2;word-break:break-all}
.frame .fn{font-weight:600}
.frame.internal .where{background:#f6f8fa;color:#57606a}
.frame pre{margin:0;padding:6px 0;overflow-x:auto}
.frame pre span{display:block;padding:0 10px;white-space:pre}
.frame pre span.hit{background:#ffebe9;font-weight:600}
.frame pre i{font-style:normal;color:#8c959f;user-select:none}
.cause{border-left:4px solid #d0d7de;padding-left:12px}
table{border-collapse:collapse;background:#fff;width:100%}
td,th{border:1px solid #d0d7de;padding:3px 8px;text-align:left;vertical-align:top;word-break:break-all}
th{width:28%;font-weight:600;background:#f6f8fa}
textarea{width:100%;height:240px;box-sizing:border-box}
details summary{cursor:pointer;color:#0969da}
.note{color:#57606a}
`;

function htmlFrame(frame: StackFrame): string {
  const fn = frame.functionName ? `<span class="fn">${e(frame.functionName)}</span> ` : '';
  const where = `<div class="where">${fn}<code>${e(frameLocation(frame))}</code></div>`;
  let source = '';
  if (frame.context) {
    const width = String(frame.context.start + frame.context.lines.length - 1).length;
    source = '<pre>' + frame.context.lines.map((text, i) => {
      const n = frame.context!.start + i;
      return `<span${n === frame.line ? ' class="hit"' : ''}><i>${String(n).padStart(width)}  </i>${e(text)}</span>`;
    }).join('') + '</pre>';
  }
  return `<li class="frame${frame.internal ? ' internal' : ''}">${where}${source}</li>`;
}

const frameKey = (f: StackFrame) => `${f.functionName}@${f.file}:${f.line}:${f.column}`;

function htmlError(error: ReportedError, index: number, all: ReportedError[]): string {
  // A cause's frames that the error above also has (the shared tail of the stack) are folded.
  const above = index > 0 ? new Set(all[index - 1]!.frames.map(frameKey)) : new Set<string>();
  const shared = error.frames.filter((f) => above.has(frameKey(f)));
  const own = error.frames.filter((f) => !above.has(frameKey(f)));
  const app = own.filter((f) => !f.internal);
  const internal = own.filter((f) => f.internal);
  const props = error.properties.length ? table(error.properties) : '';
  const frames = app.length
    ? `<ol class="frames">${app.map(htmlFrame).join('')}</ol>`
    : shared.length ? '' : '<p class="note">No application frames.</p>';
  const fold = (frames: StackFrame[], what: string) => frames.length
    ? `<details><summary>${frames.length} ${frames.length === 1 ? 'frame' : 'frames'} ${what}</summary><ol class="frames">${frames.map(htmlFrame).join('')}</ol></details>`
    : '';
  const more = fold(internal, 'in Node.js, dependencies and Stackware') + fold(shared, 'shared with the error above');
  const title = `${e(error.name)}: ${e(error.message)}`;
  return index === 0
    ? `<h2>Stack trace</h2>${props}${frames}${more}`
    : `<section class="cause"><h3>Caused by ${title}</h3>${props}${frames}${more}</section>`;
}

function table(pairs: Array<[string, string]>): string {
  return `<table>${pairs.map(([k, v]) => `<tr><th>${e(k)}</th><td><code>${e(v)}</code></td></tr>`).join('')}</table>`;
}

/**
 * The debug page (`debug: true`): error, cause chain, every frame with its source lines, the
 * request (headers, query, form — redacted), the environ and a plain-text copy. Every value is
 * HTML-escaped; the page runs no script.
 */
export function renderDebugHtml(report: ErrorReport): string {
  const first = report.errors[0]!;
  const title = `${first.name}: ${first.message}`;
  const sections: string[] = [];
  sections.push(report.errors.map(htmlError).join(''));
  sections.push(`<h2>Request</h2>${table([['Method', report.request.method], ['URL', report.request.url], ['Client', report.request.remoteAddr]])}`);
  if (report.request.headers.length) sections.push(`<h3>Headers</h3>${table(report.request.headers)}`);
  if (report.request.query.length) sections.push(`<h3>Query</h3>${table(report.request.query)}`);
  if (report.request.form) sections.push(`<h3>Form data</h3>${report.request.form.length ? table(report.request.form) : '<p class="note">Empty.</p>'}`);
  if (report.request.json !== undefined) sections.push(`<h3>JSON body</h3><pre>${e(JSON.stringify(report.request.json, null, 2))}</pre>`);
  if (report.request.bodyNote) sections.push(`<p class="note">${e(report.request.bodyNote)}</p>`);
  sections.push(`<h2>Environ</h2><details><summary>${report.environ.length} keys</summary>${table(report.environ)}</details>`);
  sections.push(`<h2>Plain text</h2><p class="note">For pasting into an issue.</p><textarea readonly aria-label="Plain-text report">${e(renderText(report))}</textarea>`);
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<meta name="robots" content="noindex">
<title>${e(title)}</title><style>${STYLE}</style></head>
<body><header><h1>${e(title)}</h1><p>${report.status} ${e(reason(report.status))} · ${e(report.request.method)} ${e(report.request.url)}</p></header>
<main><dl class="meta"><dt>Error id</dt><dd><code>${e(report.id)}</code></dd><dt>Request id</dt><dd><code>${e(report.requestId)}</code></dd>
<dt>Time</dt><dd>${e(report.time)}</dd><dt>Caught in</dt><dd>${e(report.catchPoint)}${report.headersSent ? ' (the response had started and was broken off)' : ''}</dd></dl>
${sections.join('\n')}
</main></body></html>
`;
}

/** Options of {@link renderPublicPage}. */
export interface PublicPageOptions {
  status: number;
  /** Shown on 5xx pages so that a user can quote it. */
  errorId?: string;
  /** The error's message, only when the error is marked `expose`. */
  message?: string;
  /** For a trusted client without the debugger PIN cookie: where to enter the PIN. */
  pinUrl?: string;
}

/**
 * The production page: status, reason, the exposed message (if any) and the error id — no
 * stack, no paths, no environ. Every value is HTML-escaped.
 */
export function renderPublicHtml(options: PublicPageOptions): string {
  const r = reason(options.status);
  const message = options.message !== undefined && options.message !== r
    ? `<p>${e(options.message)}</p>`
    : options.status >= 500 ? '<p>Sorry, something went wrong on our side. The error has been logged.</p>' : '';
  const id = options.errorId ? `<p>Error id: <code>${e(options.errorId)}</code></p>` : '';
  const pin = options.pinUrl ? `\n<p>Debug output is locked: <a href="${e(options.pinUrl)}">enter the debugger PIN</a> (printed in the server's log at start).</p>` : '';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width"><title>${options.status} ${e(r)}</title>
<style>body{font:16px/1.5 system-ui,sans-serif;margin:48px auto;max-width:640px;padding:0 16px;color:#1f2328}h1{font-size:28px}code{font-size:15px}</style></head>
<body><h1>${e(r)}</h1>
${message}
${id}${pin}
</body></html>
`;
}

/** The production answer as plain text (for clients that do not accept HTML). */
export function renderPublicText(options: PublicPageOptions): string {
  const r = reason(options.status);
  const lines = [`${options.status} ${r}`];
  if (options.message !== undefined && options.message !== r) lines.push(options.message);
  if (options.errorId) lines.push(`Error id: ${options.errorId}`);
  if (options.pinUrl) lines.push(`Debug output is locked: POST pin=<the PIN from the server's log> to ${options.pinUrl} and send back the cookie it sets`);
  return lines.join('\n') + '\n';
}

/** The production answer as JSON: `{ "error": reason, "status": 500, "message"?, "errorId"? }`. */
export function renderPublicJson(options: PublicPageOptions): string {
  const body: Record<string, unknown> = { error: reason(options.status), status: options.status };
  if (options.message !== undefined) body.message = options.message;
  if (options.errorId) body.errorId = options.errorId;
  if (options.pinUrl) body.debugPin = options.pinUrl;
  return JSON.stringify(body);
}
