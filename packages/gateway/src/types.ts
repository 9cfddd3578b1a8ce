/**
 * The Stackware gateway interface: the types of the contract in packages/gateway/SPEC.md.
 * It follows PEP 3333 (WSGI 1.0.1), adapted to TypeScript and to Node's async I/O.
 */

/** One response or request header: `[name, value]`. Order is kept; names may repeat (Set-Cookie). */
export type Header = [name: string, value: string];

/** An ordered list of headers, as given to `startResponse`. */
export type Headers = Header[];

/**
 * `stackware.input`: the request body as bytes. It ends at CONTENT_LENGTH (or at the end of a
 * chunked body). It has a single consumer: iterate it once.
 */
export type InputStream = AsyncIterable<Uint8Array>;

/** `stackware.errors`: where an application writes diagnostic text (the server's log). */
export interface ErrorStream {
  /** Writes `text` (a string, not bytes) to the error log. */
  write(text: string): void;
}

/** Options for {@link FileWrapperFactory}: a byte range of the file, in bytes. */
export interface FileWrapperOptions {
  /** First byte to send (default 0). */
  offset?: number;
  /** Number of bytes to send (default: to the end of the file). */
  length?: number;
}

/**
 * What `stackware.file_wrapper` returns: a response body that is also a description of a file
 * region, so that a server can stream it from disk without reading it into memory.
 * Iterating it yields the bytes (for gateways that cannot do better).
 */
export interface FileWrapper extends AsyncIterable<Uint8Array> {
  readonly fileWrapper: true;
  /** The path given, or undefined when a file descriptor was given. */
  readonly path: string | undefined;
  /** The file descriptor given, or undefined when a path was given. */
  readonly fd: number | undefined;
  readonly offset: number;
  /** Bytes to send; undefined until known (a path whose size has not been read yet). */
  readonly length: number | undefined;
  close(): Promise<void>;
}

/** `stackware.file_wrapper(pathOrFd, { offset, length })`. */
export type FileWrapperFactory = (file: string | number, options?: FileWrapperOptions) => FileWrapper;

/**
 * The environ: one request, as a plain object. CGI keys (RFC 3875) plus `stackware.*` keys.
 * Packages keep their own keys under `stackware.<package>.` and offer accessor functions.
 */
export interface Environ {
  REQUEST_METHOD: string;
  /** "" or "/mount": where the application is mounted. Never ends with "/". */
  SCRIPT_NAME: string;
  /** The rest of the path, percent-decoded, UTF-8. "" or starts with "/". */
  PATH_INFO: string;
  /** The raw query string, without "?"; "" when absent. */
  QUERY_STRING: string;
  CONTENT_TYPE?: string;
  /** Decimal digits; absent when unknown (chunked request body). */
  CONTENT_LENGTH?: string;
  SERVER_NAME: string;
  SERVER_PORT: string;
  /** "HTTP/1.1", "HTTP/1.0". */
  SERVER_PROTOCOL: string;
  REMOTE_ADDR?: string;
  REMOTE_PORT?: string;
  /** The raw request target as received ("/a%20b?x=1"). */
  REQUEST_URI?: string;
  /** Set by an authentication layer. */
  REMOTE_USER?: string;
  'stackware.version': readonly [number, number];
  /** "http" or "https". */
  'stackware.url_scheme': string;
  'stackware.input': InputStream;
  'stackware.errors': ErrorStream;
  'stackware.multithread': boolean;
  'stackware.multiprocess': boolean;
  'stackware.run_once': boolean;
  'stackware.file_wrapper'?: FileWrapperFactory;
  [key: string]: unknown;
}

/**
 * The legacy `write()` returned by `startResponse`: sends `chunk` at once (headers first) and
 * resolves when the transport has accepted it (backpressure).
 */
export type WriteFunction = (chunk: Uint8Array) => Promise<void>;

/**
 * `startResponse(status, headers, error?)`.
 * - `status`: "404 Not Found" (three digits, a space, a reason phrase).
 * - `headers`: ordered `[name, value]` pairs; no hop-by-hop headers.
 * - `error`: pass the caught error when calling a second time. Before anything is sent the new
 *   status and headers replace the old ones; after, `startResponse` rethrows `error`.
 */
export type StartResponse = (status: string, headers: Headers, error?: unknown) => WriteFunction;

/**
 * A response body: bytes, synchronously or asynchronously iterable. The server calls `close()`
 * once on every body (success, error, client gone) and `return()` on an iterator it stops early.
 */
export type ResponseBody = (Iterable<Uint8Array> | AsyncIterable<Uint8Array>) & {
  close?(): void | Promise<void>;
};

/** An application: `(environ, startResponse) => body`. */
export type Application = (environ: Environ, startResponse: StartResponse) => ResponseBody | Promise<ResponseBody>;

/** A middleware: wraps an application and returns an application. */
export type Middleware = (app: Application) => Application;

/** The interface version this package implements: `stackware.version`. */
export const VERSION: readonly [number, number] = Object.freeze([1, 0] as const);
