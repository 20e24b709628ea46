/**
 * Markup built with an auto-escaping tagged template: every `${}` in {@link html} is escaped unless it is already
 * {@link SafeHtml}, so a key or message holding markup can never become markup by a forgotten call.
 */

/** Markup that is already safe: made by {@link html}, or by {@link trustedHtml} for text known to be markup. */
export class SafeHtml {
  constructor(readonly markup: string) {}

  toString(): string {
    return this.markup;
  }
}

/** What may stand in a `${}` of {@link html}: text and numbers are escaped, lists are joined, nothing is dropped. */
export type HtmlValue = SafeHtml | string | number | boolean | null | undefined | readonly HtmlValue[];

/** Escapes text for HTML element content and quoted attribute values. */
export function escapeHtml(value: string): string {
  return value
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&#39;');
}

function render(value: HtmlValue): string {
  if (value instanceof SafeHtml) return value.markup;
  if (value === null || value === undefined || value === false) return '';
  if (Array.isArray(value)) return value.map(render).join('');
  return escapeHtml(String(value));
}

/** The tagged template: `html\`<td>${key}</td>\`` escapes `key`. */
export function html(strings: TemplateStringsArray, ...values: readonly HtmlValue[]): SafeHtml {
  let markup = strings[0] ?? '';
  values.forEach((value, index) => {
    markup += render(value) + (strings[index + 1] ?? '');
  });
  return new SafeHtml(markup);
}

/** Marks markup made elsewhere as safe: only for constants of this package, never for data. */
export function trustedHtml(markup: string): SafeHtml {
  return new SafeHtml(markup);
}
