/** Limits the demo's pages share with the pages that explain them (the upload form, the 413 page). */

/** Largest uploaded file, in bytes: 5 MiB. */
export const MAX_UPLOAD_BYTES = 5 * 1024 * 1024;
