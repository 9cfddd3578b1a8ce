import { readdir } from 'node:fs/promises';
import { escapeHtml, html, notFound, type Application } from '@stackware/gateway';

/** How a listed name would be served: as a file, as a directory ("name/"), or not at all. */
export type ListingEntryKind = 'file' | 'directory' | undefined;

/** Options of {@link directoryListing}. Default `hide`: nothing hidden; default `entry`: what readdir says. */
export interface DirectoryListingOptions {
  /** Names left out of the listing. */
  hide?: (name: string) => boolean;
  /**
   * How a request for the entry `name` of `dir` would be answered; `undefined` leaves it out. The
   * URL parser passes its own serving check (symlink containment, refused extensions), so the
   * listing names nothing that would then answer 404.
   */
  entry?: (name: string) => ListingEntryKind | Promise<ListingEntryKind>;
}

/**
 * An application answering an HTML list of the entries of `dir` (Apache's mod_autoindex, nginx's
 * autoindex): directories first with a trailing "/", then files, each sorted by name; names are
 * HTML-escaped and links percent-encoded and relative, so the listing works at any mount point
 * (the request URL must end in "/"). GET and HEAD only (405 otherwise); a vanished directory is 404.
 * The URL parser uses it for a directory with no index file when its `listing` option is on.
 */
export function directoryListing(dir: string, options: DirectoryListingOptions = {}): Application {
  const hide = options.hide ?? (() => false);
  return async (environ, startResponse) => {
    if (environ.REQUEST_METHOD !== 'GET' && environ.REQUEST_METHOD !== 'HEAD') {
      return html('<!doctype html>\n<title>405 Method Not Allowed</title>\n<h1>Method Not Allowed</h1>\n', { status: 405, headers: [['Allow', 'GET, HEAD']] })(environ, startResponse);
    }
    let entries;
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch {
      return notFound()(environ, startResponse);
    }
    const dirs: string[] = [];
    const files: string[] = [];
    for (const e of entries) {
      if (hide(e.name)) continue;
      const kind = options.entry ? await options.entry(e.name) : e.isDirectory() ? 'directory' : e.isFile() || e.isSymbolicLink() ? 'file' : undefined;
      if (kind === 'directory') dirs.push(e.name);
      else if (kind === 'file') files.push(e.name);
    }
    dirs.sort();
    files.sort();
    const title = escapeHtml(`Index of ${environ.SCRIPT_NAME}${environ.PATH_INFO}`);
    const items = [
      ...dirs.map((n) => `<li><a href="${escapeHtml(encodeURIComponent(n))}/">${escapeHtml(n)}/</a></li>`),
      ...files.map((n) => `<li><a href="${escapeHtml(encodeURIComponent(n))}">${escapeHtml(n)}</a></li>`),
    ];
    return html(`<!doctype html>\n<meta charset="utf-8">\n<title>${title}</title>\n<h1>${title}</h1>\n<ul>\n<li><a href="../">../</a></li>\n${items.join('\n')}\n</ul>\n`)(environ, startResponse);
  };
}
