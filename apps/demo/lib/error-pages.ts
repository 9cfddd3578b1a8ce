/**
 * `use = "./lib/error-pages.ts#errorPages"`: the site's own pages for the errors a visitor meets —
 * 401 (the admin login), 403, 404, 405 and 413 (an upload over the limit) — inside the site's
 * layout and navigation (Paste's errordocument, Apache's ErrorDocument). Whatever answered the
 * error (the URL parser's 404, Basic auth's 401, the servlet's 413), its status and its
 * WWW-Authenticate / Allow headers are kept; only the page changes. 5xx pages belong to the
 * exception catcher. A response that starts after the application returned passes unchanged.
 */
import { emptyInput, formatBytes, statusCode, type Application, type Environ, type FilterFactory, type Headers } from '@stackware/gateway';
import { html, servletApp } from '@stackware/servlet';
import { SitePage } from './layout.js';
import { MAX_UPLOAD_BYTES } from './limits.js';

/** Statuses that get the site's page. */
export const ERROR_PAGE_STATUSES: ReadonlySet<number> = new Set([401, 403, 404, 405, 413]);
/** Headers of the original answer that the site's page keeps (they are part of the status's meaning). */
const KEPT_HEADERS = new Set(['www-authenticate', 'allow', 'retry-after']);
const ERROR_KEY = 'stackware.demo.error';

interface ErrorInfo { status: number; statusLine: string; headers: Headers; path: string }

const TEXT: Record<number, { title: string; explain(info: ErrorInfo): unknown }> = {
  401: { title: 'Sign-in required', explain: () => html`<p>The admin area needs the admin login (set by <code>ADMIN_USER</code> and <code>ADMIN_PASSWORD</code> when the site starts).
Open <a href="/admin/">the admin area</a> again to sign in.</p>` },
  403: { title: 'Not allowed', explain: (info) => html`<p>You may not open <code>${info.path}</code>.</p>` },
  404: { title: 'Page not found', explain: (info) => html`<p>There is no page at <code>${info.path}</code>. The menu above lists every page of the site.</p>` },
  405: { title: 'Method not allowed', explain: (info) => html`<p><code>${info.path}</code> does not answer this method${info.headers.some(([n]) => n.toLowerCase() === 'allow') ? html`; it answers ${info.headers.find(([n]) => n.toLowerCase() === 'allow')![1]}` : ''}.</p>` },
  413: { title: 'File too large', explain: () => html`<p>Uploads may be at most ${formatBytes(MAX_UPLOAD_BYTES)}. <a href="/upload">Choose a smaller file</a>.</p>` },
};

/** The page: the site's layout around the status's explanation. */
export class ErrorPage extends SitePage {
  private info(): ErrorInfo {
    return this.request.environ[ERROR_KEY] as ErrorInfo;
  }

  override title(): string {
    return TEXT[this.info().status]?.title ?? 'Error';
  }

  override async respondToGet(): Promise<void> {
    const info = this.info();
    this.response.setStatus(info.status, info.statusLine.slice(4));
    for (const [name, value] of info.headers) this.response.addHeader(name, value);
    await this.writeHTML();
  }

  override async writeContent(): Promise<void> {
    const info = this.info();
    await this.writeln(html`<div class="card error-page" data-status="${info.status}">
${TEXT[info.status]?.explain(info) ?? ''}
<p class="note">HTTP status ${info.status}.</p>
</div>`);
  }
}

/**
 * The middleware: `withErrorPages(app)` answers {@link ERROR_PAGE_STATUSES} with {@link ErrorPage}
 * (rendered for a GET — or HEAD — of the same URL, with no body), keeping the status line and the
 * headers in KEPT_HEADERS; the original body is closed unread.
 */
export function withErrorPages(app: Application): Application {
  const page = servletApp(ErrorPage);
  return async (environ, startResponse) => {
    let replaced: { statusLine: string; headers: Headers } | undefined;
    let started = false;
    const body = await app(environ, (status, headers, error) => {
      if (!started && error === undefined && ERROR_PAGE_STATUSES.has(statusCode(status))) {
        replaced = { statusLine: status, headers };
        return async () => {};
      }
      started = true;
      return startResponse(status, headers, error);
    });
    if (!replaced) return body;
    await body.close?.();
    const pageEnviron: Environ = {
      ...environ,
      REQUEST_METHOD: environ.REQUEST_METHOD === 'HEAD' ? 'HEAD' : 'GET',
      CONTENT_LENGTH: '',
      CONTENT_TYPE: '',
      'stackware.input': emptyInput(),
      [ERROR_KEY]: {
        status: statusCode(replaced.statusLine),
        statusLine: replaced.statusLine,
        headers: replaced.headers.filter(([name]) => KEPT_HEADERS.has(name.toLowerCase())),
        path: `${environ.SCRIPT_NAME}${environ.PATH_INFO}`,
      } satisfies ErrorInfo,
    };
    return page(pageEnviron, startResponse);
  };
}

/** The deploy file's factory: `[filter.errorPages] use = "./lib/error-pages.ts#errorPages"` (no options). */
export const errorPages: FilterFactory = Object.assign(() => withErrorPages, { description: 'the site\'s own 401/403/404/405/413 pages, in its layout', optionTypes: {} } as const);
