/** GET / — the home page: what the demo shows and the stack that serves it. */
import { html } from '@stackware/servlet';
import { SitePage } from '../lib/layout.js';

const LAYERS: ReadonlyArray<readonly [string, string]> = [
  ['@stackware/server', 'accepts the connection (HTTP here, FastCGI behind nginx) and builds the environ'],
  ['@stackware/config', 'site.toml: builds this whole stack and gives each request its settings (getConfig)'],
  ['@stackware/threadpool', 'runs the site in worker threads; /admin has its own one-thread group'],
  ['@stackware/errors', 'the exception catcher: debug page on loopback, safe page elsewhere, .eml mails'],
  ['@stackware/session', 'signed session cookie, sessions in files (or Redis)'],
  ['@stackware/middleware', 'urlMap sends /admin to Basic auth; the rest to the URL parser'],
  ['@stackware/urlparser', 'maps the URL onto apps/demo/site: these pages and the static files'],
  ['@stackware/servlet', 'Webware-style pages: Page, forms, uploads, the html`` template'],
];

/** The home page. */
export default class Home extends SitePage {
  override title(): string {
    return 'Welcome';
  }

  override navPath(): string {
    return '/';
  }

  override async writeContent(): Promise<void> {
    await this.writeln(html`<p class="lead">This small site is served by the whole Stackware stack, composed from one deploy file
(<code>apps/demo/site.toml</code>). Try each page:</p>
<ul class="cards">
  <li><a href="/counter"><strong>Session counter</strong><span>a number that rises with each visit, kept in your session</span></a></li>
  <li><a href="/guestbook"><strong>Guestbook</strong><span>a form with validation, redirect-after-post, stored on disk</span></a></li>
  <li><a href="/upload"><strong>Upload</strong><span>send a file; see its size, type and SHA-256</span></a></li>
  <li><a href="/boom"><strong>Error page</strong><span>a page that throws, caught by the exception catcher</span></a></li>
  <li><a href="/admin/"><strong>Admin</strong><span>behind Basic auth, in its own thread-pool group</span></a></li>
</ul>
<h2>The stack, from the socket inward</h2>
<ol class="stack">${LAYERS.map(([name, what]) => html`<li><code>${name}</code> ${what}</li>`)}</ol>`);
  }
}
