import { Page } from '@stackware/servlet';

/** /about — a plain page, also the target of forwards. */
export default class About extends Page {
  override title() {
    return 'About';
  }
  override async writeContent() {
    await this.writeln(`<p>about, reached as ${this.request.urlPath()}</p>`);
  }
}
