import { describe, it, expect } from '@jest/globals';
import { TestClient } from '@stackware/gateway';
import { Page, html, servletApp } from '../src/index.js';

// The README's example, as it is printed there (serve() replaced by the TestClient).
class Guestbook extends Page {
  static entries: string[] = [];

  override title() {
    return 'Guestbook';
  }

  override actions() {
    return ['sign']; // the ONLY methods a request may run as actions
  }

  async sign() {
    const name = String(this.request.field('name', '')).trim();
    if (name) Guestbook.entries.push(name);
    this.sendRedirectAndEnd(this.request.urlPath() || '/', 303);
  }

  override async writeContent() {
    await this.writeln(html`<h1>${this.title()}</h1>
<ul>${Guestbook.entries.map((e) => html`<li>${e}</li>`)}</ul>
<form method="post"><input name="name"> <button name="_action_sign">Sign</button></form>`);
  }
}

describe('the README example', () => {
  it('signs through the allow-listed action, redirects, and shows entries as text', async () => {
    const client = new TestClient(servletApp(Guestbook));
    const signed = await client.post('/', { form: { name: '<script>alert(1)</script>', _action_sign: 'Sign' } });
    expect(signed.statusCode).toBe(303);
    expect(signed.header('location')).toBe('/');
    const page = (await client.get('/')).text();
    expect(page).toContain('<li>&lt;script&gt;alert(1)&lt;/script&gt;</li>');
    expect(page).not.toContain('<script>');
  });
});
