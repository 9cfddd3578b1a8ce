import { escapeHtml } from '@stackware/gateway';
import { HTTPContent } from './http-content.js';
import { html, type SafeHtml } from './html.js';

/**
 * An HTML page (Webware's Page). `defaultAction()` runs {@link writeHTML}:
 *
 * ```
 * writeHTML → writeDocType, <html>, writeHead → (writeHeadParts → writeTitle, writeMetaData,
 *             writeStyleSheet), writeBody → (<body>, writeBodyParts → writeContent, </body>), </html>
 * ```
 * Override `writeContent()` for most pages; `title()` for the title; `styleSheets()` for links.
 * With actions, `preAction` writes the doctype, `<html>` and the head, the action writes the
 * body (usually by calling `writeBody()`), and `postAction` writes `</html>` (as in Webware).
 * Every method may be async.
 */
export class Page extends HTTPContent {
  override defaultAction(): Promise<void> {
    return this.writeHTML();
  }

  /** Writes the whole page. */
  async writeHTML(): Promise<void> {
    await this.writeDocType();
    await this.writeln('<html>');
    await this.writeHead();
    await this.writeBody();
    await this.writeln('</html>');
  }

  /** Writes `<!DOCTYPE html>`. */
  async writeDocType(): Promise<void> {
    await this.writeln('<!DOCTYPE html>');
  }

  /** Writes the `<head>` element. */
  async writeHead(): Promise<void> {
    await this.writeln('<head>');
    await this.writeHeadParts();
    await this.writeln('</head>');
  }

  /** Writes the head's content: title, meta data, style sheets. */
  async writeHeadParts(): Promise<void> {
    await this.writeTitle();
    await this.writeMetaData();
    await this.writeStyleSheet();
  }

  /** Writes `<title>` with {@link htTitle}. */
  async writeTitle(): Promise<void> {
    await this.writeln(html`<title>${this.htTitle()}</title>`);
  }

  /** Writes `<meta charset="utf-8">`. */
  async writeMetaData(): Promise<void> {
    await this.writeln('<meta charset="utf-8">');
  }

  /** Writes a `<link rel="stylesheet">` for each of {@link styleSheets}. */
  async writeStyleSheet(): Promise<void> {
    for (const href of this.styleSheets()) await this.writeln(html`<link rel="stylesheet" href="${href}">`);
  }

  /** URLs of the page's style sheets. Default: none. */
  styleSheets(): string[] {
    return [];
  }

  /** The page title, as text. Default: the class name. */
  title(): string {
    return this.name();
  }

  /** The title as HTML: {@link title} escaped. Override to return markup (`html` or `raw`). */
  htTitle(): string | SafeHtml {
    return this.title();
  }

  /** Attributes of `<body>` as HTML (" class=\"x\""), default none. */
  htBodyArgs(): string | SafeHtml {
    return '';
  }

  /** Writes the `<body>` element. */
  async writeBody(): Promise<void> {
    const args = this.htBodyArgs().toString();
    await this.writeln(`<body${args && !args.startsWith(' ') ? ' ' : ''}${args}>`);
    await this.writeBodyParts();
    await this.writeln('</body>');
  }

  /** Writes the body's content: {@link writeContent}. */
  async writeBodyParts(): Promise<void> {
    await this.writeContent();
  }

  /** Writes the page's content. Override it. */
  async writeContent(): Promise<void> {
    await this.writeln(`<p>${escapeHtml(this.name())} has not customized its content.</p>`);
  }

  override async preAction(_name: string): Promise<void> {
    await this.writeDocType();
    await this.writeln('<html>');
    await this.writeHead();
  }

  override async postAction(_name: string): Promise<void> {
    await this.writeln('</html>');
  }
}
