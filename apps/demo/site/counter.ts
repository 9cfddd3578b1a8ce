/** GET /counter — a number kept in the session; each visit adds one (POST /counter resets it). */
import { html } from '@stackware/servlet';
import { SitePage } from '../lib/layout.js';

/** The session counter. */
export default class Counter extends SitePage {
  override title(): string {
    return 'Session counter';
  }

  override navPath(): string {
    return '/counter';
  }

  override async respondToPost(): Promise<void> {
    const session = await this.session();
    session.delete('count');
    this.sendRedirectAndEnd('/counter', 303);
  }

  override async writeContent(): Promise<void> {
    const session = await this.session();
    const count = (session.get<number>('count') ?? 0) + 1;
    session.set('count', count);
    await this.writeln(html`<p class="big">You have visited this page <strong id="count">${count}</strong> ${count === 1 ? 'time' : 'times'}.</p>
<p>The count lives in your session (a signed cookie holds only its id; the data is in the session store), so it keeps rising
across requests, threads and — behind nginx with Redis — processes. Reload the page to count again.</p>
<form method="post"><button type="submit">Reset</button></form>`);
  }
}
