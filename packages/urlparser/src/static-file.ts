import { randomBytes } from 'node:crypto';
import { stat } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import { extname } from 'node:path';
import etag from 'etag';
import fresh from 'fresh';
import mime from 'mime-types';
import rangeParser from 'range-parser';
import { fileWrapper, html, statusLine, type Application, type Environ, type FileWrapperFactory, type Headers, type ResponseBody, type StartResponse } from '@stackware/gateway';
import { multipartByteranges, multipartLength } from './byte-ranges.js';
import { CACHE_MAX_FILE_BYTES, cacheEntryOf, type CacheEntry } from './file-cache.js';

/**
 * Options of {@link staticFile}, {@link staticFiles} and the URL parser's static factory.
 * Defaults: `cacheControl` none, `etag` true, `lastModified` true, `ranges` true, `maxRanges` 100,
 * `mimeTypes` {}, `headers` [].
 */
export interface StaticFileOptions {
  /** A `Cache-Control` value for 200/206/304 answers ("public, max-age=3600"); default none (as nginx). */
  cacheControl?: string;
  /** Send a strong `ETag` built from size and mtime (as nginx and send do). Default true. */
  etag?: boolean;
  /** Send `Last-Modified` (the file's mtime, whole seconds). Default true. */
  lastModified?: boolean;
  /** Honour `Range` (and send `Accept-Ranges: bytes`). Default true. */
  ranges?: boolean;
  /** More ranges than this (after merging overlaps) and the Range header is ignored: 200 with the whole file (Apache's MaxRanges). Default 100. */
  maxRanges?: number;
  /** Extra extension → media type mappings (".gmi": "text/gemini"); text types get "; charset=utf-8". */
  mimeTypes?: Record<string, string>;
  /** Extra headers on every 200/206/304 answer. */
  headers?: Headers;
}

/** The Content-Type for a file name: mime-types' table plus `extra`, with charset=utf-8 for text; application/octet-stream when unknown. */
export function contentTypeFor(name: string, extra: Record<string, string> = {}): string {
  const ext = extname(name).toLowerCase();
  const declared = extra[ext] ?? extra[ext.slice(1)];
  if (declared) return declared.includes(';') ? declared : (mime.contentType(declared) || declared);
  return mime.contentType(ext) || 'application/octet-stream';
}

function errorPage(code: number, headers: Headers = []): Application {
  return html(`<!doctype html>\n<title>${statusLine(code)}</title>\n<h1>${statusLine(code).slice(4)}</h1>\n`, { status: code, headers });
}

/** HTTP-date whole seconds of a Date, in ms (Last-Modified cannot carry milliseconds). */
function seconds(ms: number): number {
  return Math.floor(ms / 1000) * 1000;
}

function parseDate(value: string | undefined): number | undefined {
  if (!value) return undefined;
  const time = Date.parse(value);
  return Number.isNaN(time) ? undefined : time;
}

/** A request header's environ value, when it is a string. */
function header(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

function listTokens(value: string): string[] {
  return value.split(',').map((t) => t.trim()).filter(Boolean);
}

/**
 * Sends one file the way a careful static server does (RFC 9110 §8.8, §13, §14; RFC 9111 for
 * Cache-Control), given its path and `fs.stat` result:
 * - GET and HEAD only; other methods get 405 with `Allow: GET, HEAD`.
 * - `ETag` (strong, from size and mtime), `Last-Modified`, `Content-Type` with charset for text,
 *   `Accept-Ranges: bytes`, optional `Cache-Control`.
 * - Preconditions in RFC 9110 §13.2.2 order: If-Match (strong comparison, `*`) → 412;
 *   else If-Unmodified-Since → 412; If-None-Match (weak comparison) → 304; else
 *   If-Modified-Since → 304 (the last two by `fresh`, which also treats a request's
 *   `Cache-Control: no-cache` as "send it all").
 * - Range (range-parser, overlapping ranges merged): one range → 206 with Content-Range;
 *   several → 206 multipart/byteranges; none satisfiable → 416 with `Content-Range: bytes *\/size`;
 *   malformed, non-bytes units, or more than `maxRanges` → ignored (200). `If-Range` with an
 *   entity tag (strong match) or a date (exact match with Last-Modified) gates the range.
 * - The body is `environ['stackware.file_wrapper']` (or the gateway's portable one), so the
 *   server streams from disk; a small file the URL parser's cache holds (see `FileCache`: at most
 *   64 KiB, kept true by a directory watcher) is sent from memory. HEAD gets the same headers and
 *   no body.
 */
export function serveFile(environ: Environ, startResponse: StartResponse, path: string, stats: Stats, options: StaticFileOptions = {}): ResponseBody | Promise<ResponseBody> {
  const method = environ.REQUEST_METHOD;
  if (method !== 'GET' && method !== 'HEAD') return errorPage(405, [['Allow', 'GET, HEAD']])(environ, startResponse);

  // A file the URL parser's cache holds: its headers are built once, and a small file's bytes are kept.
  const entry = cacheEntryOf(stats);
  let prepared = entry?.headers?.get(options) as Prepared | undefined;
  if (!prepared) {
    prepared = prepare(path, stats, options);
    if (entry) (entry.headers ??= new WeakMap()).set(options, prepared);
  }
  const { tag, modified, validators, type } = prepared;
  const size = stats.size;

  // 1-2: If-Match / If-Unmodified-Since.
  const ifMatch = header(environ.HTTP_IF_MATCH);
  if (ifMatch !== undefined) {
    const tokens = listTokens(ifMatch);
    if (!tokens.includes('*') && !(tag && tokens.includes(tag))) return errorPage(412)(environ, startResponse);
  } else {
    const since = parseDate(header(environ.HTTP_IF_UNMODIFIED_SINCE));
    if (since !== undefined && seconds(stats.mtimeMs) > since) return errorPage(412)(environ, startResponse);
  }
  // 3-4: If-None-Match / If-Modified-Since.
  const ifNoneMatch = header(environ.HTTP_IF_NONE_MATCH);
  const ifModifiedSince = header(environ.HTTP_IF_MODIFIED_SINCE);
  if (ifNoneMatch !== undefined || ifModifiedSince !== undefined) {
    const request = { 'if-none-match': ifNoneMatch, 'if-modified-since': ifModifiedSince, 'cache-control': header(environ.HTTP_CACHE_CONTROL) };
    if (fresh(request, { etag: tag, 'last-modified': modified })) {
      startResponse('304 Not Modified', validators.slice());
      return [];
    }
  }

  const wrap: FileWrapperFactory = environ['stackware.file_wrapper'] ?? fileWrapper;
  const ranges = options.ranges !== false;
  const rangeHeader = ranges ? header(environ.HTTP_RANGE) : undefined;
  if (rangeHeader !== undefined && rangeApplies(header(environ.HTTP_IF_RANGE), tag, modified)) {
    const parsed = rangeParser(size, rangeHeader, { combine: true });
    if (parsed === -1) {
      return errorPage(416, [['Content-Range', `bytes */${size}`]])(environ, startResponse);
    }
    if (parsed !== -2 && parsed.type === 'bytes' && parsed.length <= (options.maxRanges ?? 100)) {
      if (parsed.length === 1) {
        const { start, end } = parsed[0]!;
        startResponse('206 Partial Content', [
          ['Content-Type', type],
          ['Content-Length', String(end - start + 1)],
          ['Content-Range', `bytes ${start}-${end}/${size}`],
          ['Accept-Ranges', 'bytes'],
          ...validators,
        ]);
        return body(entry, method, path, start, end - start + 1, wrap);
      }
      const boundary = `stackware-${randomBytes(12).toString('hex')}`;
      startResponse('206 Partial Content', [
        ['Content-Type', `multipart/byteranges; boundary=${boundary}`],
        ['Content-Length', String(multipartLength(parsed, size, type, boundary))],
        ['Accept-Ranges', 'bytes'],
        ...validators,
      ]);
      return multipartByteranges(path, parsed, size, type, boundary, wrap);
    }
  }

  startResponse('200 OK', prepared.ok.slice());
  return body(entry, method, path, 0, size, wrap);
}

/** The headers of one file for one set of options, built once per cached file. */
interface Prepared {
  tag: string | undefined;
  modified: string | undefined;
  /** ETag, Last-Modified, Cache-Control and the extra headers: on 200, 206 and 304. */
  validators: Headers;
  type: string;
  /** The whole 200 answer's headers. */
  ok: Headers;
}

function prepare(path: string, stats: Stats, options: StaticFileOptions): Prepared {
  const tag = options.etag === false ? undefined : etag(stats, { weak: false });
  const modified = options.lastModified === false ? undefined : new Date(seconds(stats.mtimeMs)).toUTCString();
  const validators: Headers = [];
  if (tag) validators.push(['ETag', tag]);
  if (modified) validators.push(['Last-Modified', modified]);
  if (options.cacheControl) validators.push(['Cache-Control', options.cacheControl]);
  validators.push(...(options.headers ?? []));
  const type = contentTypeFor(path, options.mimeTypes);
  const ok: Headers = [
    ['Content-Type', type],
    ['Content-Length', String(stats.size)],
    ...(options.ranges !== false ? [['Accept-Ranges', 'bytes'] as [string, string]] : []),
    ...validators,
  ];
  return { tag, modified, validators, type, ok };
}

/**
 * The body of a 200 or single-range 206: a small cached file's bytes from memory (read once, on
 * the first GET), else a file wrapper that the server streams from disk. HEAD never reads.
 */
function body(entry: CacheEntry | undefined, method: string, path: string, offset: number, length: number, wrap: FileWrapperFactory): ResponseBody | Promise<ResponseBody> {
  if (entry && method === 'GET' && entry.stats.size <= CACHE_MAX_FILE_BYTES) {
    const content = entry.content;
    if (content) return [offset === 0 && length === content.length ? content : content.subarray(offset, offset + length)];
    return entry.cache.content(entry).then(
      (bytes) => bytes ? [bytes.subarray(offset, offset + length)] : wrap(path, { offset, length }),
      () => wrap(path, { offset, length }),
    );
  }
  return wrap(path, { offset, length });
}

/**
 * If-Range (RFC 9110 §13.1.5): with no If-Range, the Range applies; with an entity tag, only when
 * it is strong and equals ours; with a date, only when it equals Last-Modified exactly.
 */
function rangeApplies(ifRange: string | undefined, tag: string | undefined, modified: string | undefined): boolean {
  if (ifRange === undefined) return true;
  const value = ifRange.trim();
  if (value.startsWith('"') || value.startsWith('W/')) return tag !== undefined && value === tag;
  const date = parseDate(value);
  return date !== undefined && modified !== undefined && date === Date.parse(modified);
}

/**
 * An application that serves one file (Paste's FileApp): the file is stat'ed on every request, so
 * changes are seen at once; a missing file or a non-file answers 404. See {@link serveFile} for the
 * HTTP behaviour.
 * @example
 * const favicon = staticFile(new URL('./favicon.ico', import.meta.url).pathname, { cacheControl: 'public, max-age=86400' });
 */
export function staticFile(path: string, options: StaticFileOptions = {}): Application {
  return async (environ, startResponse) => {
    let stats: Stats;
    try {
      stats = await stat(path);
    } catch {
      return errorPage(404)(environ, startResponse);
    }
    if (!stats.isFile()) return errorPage(404)(environ, startResponse);
    return serveFile(environ, startResponse, path, stats, options);
  };
}
