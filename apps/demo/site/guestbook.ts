/**
 * /guestbook — sign with a name and a message. POST validates; errors are shown next to the fields
 * with what was typed kept (422); a valid entry is stored and answered with 303 See Other back to
 * the page (redirect-after-post), with a flash message from the session.
 */
import { html, type MaybePromise, type Transaction } from '@stackware/servlet';
import { dataDir } from '../lib/data-dir.js';
import { addEntry, readEntries } from '../lib/guestbook-store.js';
import { SitePage } from '../lib/layout.js';

const MAX_NAME = 60;
const MAX_MESSAGE = 1000;

interface FormState {
  values: { name: string; message: string };
  errors: { name?: string; message?: string };
}

/** The guestbook page. */
export default class Guestbook extends SitePage {
  private form: FormState = { values: { name: '', message: '' }, errors: {} };

  override title(): string {
    return 'Guestbook';
  }

  override navPath(): string {
    return '/guestbook';
  }

  override awake(transaction: Transaction): MaybePromise {
    this.form = { values: { name: '', message: '' }, errors: {} };
    return super.awake(transaction);
  }

  override async respondToPost(): Promise<void> {
    const name = String(this.request.field('name', '')).trim();
    const message = String(this.request.field('message', '')).trim();
    const errors: FormState['errors'] = {};
    if (!name) errors.name = 'Please give your name.';
    else if (name.length > MAX_NAME) errors.name = `At most ${MAX_NAME} characters, please.`;
    if (!message) errors.message = 'Please write a message.';
    else if (message.length > MAX_MESSAGE) errors.message = `At most ${MAX_MESSAGE} characters, please (you wrote ${message.length}).`;
    this.form = { values: { name, message }, errors };
    if (errors.name || errors.message) {
      this.response.setStatus(422, 'Unprocessable Content');
      await this.writeHTML();
      return;
    }
    await addEntry(dataDir(this.request.environ), { name, message, at: new Date().toISOString() });
    (await this.session()).flash('Thank you for signing the guestbook!');
    this.sendRedirectAndEnd('/guestbook', 303);
  }

  override async writeContent(): Promise<void> {
    const session = await this.session();
    const flashes = session.consumeFlashes();
    const entries = await readEntries(dataDir(this.request.environ));
    const { values, errors } = this.form;
    const invalid = (field: keyof FormState['errors']) => (errors[field] ? html` aria-invalid="true" aria-describedby="${field}-error"` : '');
    const error = (field: keyof FormState['errors']) => (errors[field] ? html`<p class="error" id="${field}-error">${errors[field]}</p>` : '');
    await this.writeln(html`${flashes.map((f) => html`<p class="flash">${f.message}</p>`)}
<form method="post" class="card" novalidate>
  ${errors.name || errors.message ? html`<p class="error-summary">Please correct the fields marked below.</p>` : ''}
  <label for="name">Your name</label>
  <input id="name" name="name" maxlength="${MAX_NAME * 2}" value="${values.name}"${invalid('name')}>
  ${error('name')}
  <label for="message">Message</label>
  <textarea id="message" name="message" rows="4"${invalid('message')}>${values.message}</textarea>
  ${error('message')}
  <button type="submit">Sign the guestbook</button>
</form>
<h2>${entries.length ? `${entries.length} ${entries.length === 1 ? 'entry' : 'entries'}` : 'No entries yet — be the first.'}</h2>
<ul class="entries">${entries.map((e) => html`<li><p>${e.message}</p><p class="meta">— ${e.name}, <time datetime="${e.at}">${e.at.slice(0, 16).replace('T', ' ')} UTC</time></p></li>`)}</ul>`);
  }
}
