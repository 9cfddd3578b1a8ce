/**
 * The shared layout of every demo page (Webware style: subclasses override `title()` and
 * `writeContent()`; the header, navigation and footer come from here).
 */
import { threadId } from 'node:worker_threads';
import { getConfig } from '@stackware/config';
import { html, Page } from '@stackware/servlet';

const NAV: ReadonlyArray<readonly [string, string]> = [
  ['/', 'Home'],
  ['/counter', 'Session counter'],
  ['/guestbook', 'Guestbook'],
  ['/upload', 'Upload'],
  ['/boom', 'Error page'],
  ['/admin/', 'Admin'],
];

/** A page of the demo site: the layout around {@link writeContent}. */
export class SitePage extends Page {
  /** The navigation entry this page highlights (a path from the menu). */
  navPath(): string {
    return '';
  }

  override styleSheets(): string[] {
    return ['/static/style.css'];
  }

  override title(): string {
    return this.name();
  }

  override htTitle(): string {
    return `${this.title()} · ${String(getConfig(this.request.environ).siteName ?? 'Stackware demo')}`;
  }

  override async writeMetaData(): Promise<void> {
    await super.writeMetaData();
    await this.writeln('<meta name="viewport" content="width=device-width, initial-scale=1">');
    await this.writeln('<link rel="icon" href="/static/logo.svg" type="image/svg+xml">');
  }

  override async writeBodyParts(): Promise<void> {
    const current = this.navPath();
    await this.writeln(html`<header class="top">
  <a class="brand" href="/"><img src="/static/logo.svg" alt="" width="36" height="36"> <span>Stackware demo</span></a>
  <nav>${NAV.map(([href, label]) => html`<a href="${href}"${href === current ? html` aria-current="page"` : ''}>${label}</a>`)}</nav>
</header>
<main>
<h1>${this.title()}</h1>`);
    await this.writeContent();
    const area = String(getConfig(this.request.environ).area ?? 'site');
    await this.writeln(html`</main>
<footer>Served by Stackware · ${area} thread #${threadId} · process ${process.pid}</footer>`);
  }
}
