/**
 * GET /admin/ — behind Basic auth (ADMIN_USER / ADMIN_PASSWORD) and served by the one-thread
 * "admin" thread-pool group: what the site has stored in its data directory.
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { html } from '@stackware/servlet';
import { dataDir } from '../lib/data-dir.js';
import { readEntries } from '../lib/guestbook-store.js';
import { SitePage } from '../lib/layout.js';

async function list(dir: string, suffix: string): Promise<string[]> {
  try {
    return (await readdir(dir)).filter((n) => n.endsWith(suffix)).sort().toReversed();
  } catch {
    return [];
  }
}

/** The admin dashboard. */
export default class Admin extends SitePage {
  override title(): string {
    return 'Admin';
  }

  override navPath(): string {
    return '/admin/';
  }

  override async writeContent(): Promise<void> {
    const dir = dataDir(this.request.environ);
    const [entries, uploads, reports, mails] = await Promise.all([
      readEntries(dir), list(join(dir, 'uploads'), '.bin'), list(join(dir, 'errors'), '.json'), list(join(dir, 'mail'), '.eml'),
    ]);
    await this.writeln(html`<p class="lead">Signed in as <strong id="user">${String(this.request.environ.REMOTE_USER ?? '')}</strong>.
This page runs in the <code>admin</code> thread-pool group (one thread), apart from the rest of the site.</p>
<table class="stats">
  <tr><th>Data directory</th><td><code>${dir}</code></td></tr>
  <tr><th>Guestbook entries</th><td>${entries.length}</td></tr>
  <tr><th>Uploaded files</th><td>${uploads.length}</td></tr>
  <tr><th>Error reports</th><td>${reports.length}</td></tr>
  <tr><th>Error mails (.eml)</th><td>${mails.length}</td></tr>
</table>
${mails.length ? html`<h2>Latest error mails</h2><ul>${mails.slice(0, 10).map((m) => html`<li><code>mail/${m}</code></li>`)}</ul>` : ''}
<p class="note">In debug mode, loopback clients can browse the saved error reports at <a href="/_debug/errors">/_debug/errors</a>.</p>`);
  }
}
