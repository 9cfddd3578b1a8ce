import { escapeHtml } from '@stackware/gateway';

/**
 * Markup that is already safe to send: the result of {@link html} or {@link raw}.
 * Interpolating it into {@link html} inserts it as it is; every other value is escaped.
 */
export class SafeHtml {
  readonly #markup: string;

  constructor(markup: string) {
    this.#markup = markup;
  }

  /** The markup, as a string. */
  toString(): string {
    return this.#markup;
  }
}

/**
 * Marks `markup` as trusted HTML, to be inserted by {@link html} without escaping.
 * Use it only for markup you wrote or sanitised yourself, never for user input.
 * @example html`<div>${raw(renderedMarkdown)}</div>`
 */
export function raw(markup: string): SafeHtml {
  return new SafeHtml(String(markup));
}

/** True when `value` is trusted markup ({@link SafeHtml}). */
export function isSafeHtml(value: unknown): value is SafeHtml {
  return value instanceof SafeHtml;
}

function render(value: unknown): string {
  if (value === null || value === undefined || value === false) return '';
  if (value instanceof SafeHtml) return value.toString();
  if (Array.isArray(value)) return value.map(render).join('');
  return escapeHtml(String(value));
}

/**
 * The HTML tagged template: every interpolated value is escaped (`& < > " '`, so it is safe in
 * text and in quoted attribute values), except {@link SafeHtml} values (nested `html` results
 * and {@link raw} markup). Arrays are rendered item by item (each escaped unless safe) and
 * joined without a separator; `null`, `undefined` and `false` render as nothing.
 *
 * Not made safe by escaping: values placed in unquoted attributes, in `<script>`/`<style>`,
 * or in URL attributes (`href="${userUrl}"` can still be `javascript:`). Validate those.
 *
 * @example
 * this.write(html`<p>Hello ${name}</p><ul>${items.map((i) => html`<li>${i}</li>`)}</ul>`);
 */
export function html(strings: TemplateStringsArray, ...values: unknown[]): SafeHtml {
  let out = strings[0] ?? '';
  for (let i = 0; i < values.length; i++) out += render(values[i]) + (strings[i + 1] ?? '');
  return new SafeHtml(out);
}
