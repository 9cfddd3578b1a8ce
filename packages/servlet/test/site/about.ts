import { html, Page } from '@stackware/servlet';

/** /about — a plain page, also the target of forwards. */
export default class About extends Page {
  override title() {
    return 'About';
  }
  override async writeContent() {
    await this.writeln(`<p>about, reached as ${this.request.urlPath()}</p>`);
    await this.writeln(html`<p id="file">${this.request.serverSidePath()}</p>`);
  }
}
