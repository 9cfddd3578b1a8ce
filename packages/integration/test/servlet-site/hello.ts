import { Page } from '@stackware/servlet';

/** A Webware-style page found by the URL parser: /hello runs it. */
export default class Hello extends Page {
  override title(): string {
    return 'Hello servlet';
  }

  override async writeContent(): Promise<void> {
    await this.writeln(`<p>Hello from a servlet at ${this.request.environ.SCRIPT_NAME}</p>`);
  }
}
