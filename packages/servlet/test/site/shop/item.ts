import { html, Page } from '@stackware/servlet';

/** /shop/item/<id> — reads its id from the extra path info; `?gone` forwards to /about. */
export default class Item extends Page {
  override async respondToGet() {
    if (this.request.hasField('gone')) return this.forward('/about');
    return super.respondToGet(this.transaction);
  }
  override async writeContent() {
    await this.writeln(html`<p id="item">item ${this.request.extraURLPath().slice(1)}</p>`);
    await this.writeln(html`<p id="file">${this.request.serverSidePath()}</p>`);
    await this.writeln(html`<p id="sibling">${this.request.serverSidePath('../about.ts')}</p>`);
    await this.includeURL('/shop/banner');
  }
}
