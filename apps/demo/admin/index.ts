/**
 * GET /admin/ — behind Basic auth (ADMIN_USER / ADMIN_PASSWORD) and served by the "admin"
 * process group (its own process): what the site has stored in its data directory.
 */
import { readdir } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { html } from '@stackware/servlet';
import { dataDir } from '../lib/data-dir.js';
import { readEntries } from '../lib/guestbook-store.js';
import { SitePage } from '../lib/layout.js';

/** The files of `dir` ending in `suffix`, newest name first; [] when the directory does not exist yet, undefined when this process's user may not read it. */
async function list(dir: string, suffix: string): Promise<string[] | undefined> {
  try {
    return (await readdir(dir)).filter((n) => n.endsWith(suffix)).sort().toReversed();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EACCES') return undefined;
    return [];
  }
}

/** A count, or what stops this process from counting (a group running as another user: ADMIN_GROUP_USER). */
const count = (items: unknown[] | undefined) => (items ? String(items.length) : 'not readable by this user');

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
      readEntries(dir).catch((error: NodeJS.ErrnoException) => { if (error.code === 'EACCES') return undefined; throw error; }),
      list(join(dir, 'uploads'), '.bin'), list(join(dir, 'errors'), '.json'), list(join(dir, 'mail'), '.eml'),
    ]);
    const user = userInfo();
    await this.writeln(html`<p class="lead">Signed in as <strong id="user">${String(this.request.environ.REMOTE_USER ?? '')}</strong>.
This page runs in the <code>admin</code> process group (process <span id="pid">${String(process.pid)}</span>, user <span id="process-user">${user.username} (uid ${String(user.uid)})</span>), apart from the rest of the site.</p>
<table class="stats">
  <tr><th>Data directory</th><td><code>${dir}</code></td></tr>
  <tr><th>Guestbook entries</th><td>${count(entries)}</td></tr>
  <tr><th>Uploaded files</th><td>${count(uploads)}</td></tr>
  <tr><th>Error reports</th><td>${count(reports)}</td></tr>
  <tr><th>Error mails (.eml)</th><td>${count(mails)}</td></tr>
</table>
${mails?.length ? html`<h2>Latest error mails</h2><ul>${mails.slice(0, 10).map((m) => html`<li><code>mail/${m}</code></li>`)}</ul>` : ''}
<p class="note">In debug mode, loopback clients can browse the saved error reports at <a href="/_debug/errors">/_debug/errors</a>.</p>`);
  }
}
