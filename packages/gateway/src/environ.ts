import type { Environ, ErrorStream, InputStream } from './types.js';
import { VERSION } from './types.js';
import { decodePath, unsafePathReason } from './uri.js';
import { emptyInput } from './input.js';
import { fileWrapper } from './file-wrapper.js';

/** What a gateway knows about one request, before it becomes an environ. */
export interface RequestInit extends InterfaceOptions {
  method: string;
  /** The raw request target: "/a%20b?x=1" (origin form). An absolute-form target is reduced to its path. */
  target: string;
  /** Raw request headers in arrival order: [name, value] pairs. */
  headers: Array<[string, string]>;
  /** "HTTP/1.1" by default. */
  protocol?: string;
  /** "http" (default) or "https". */
  scheme?: string;
  serverName?: string;
  serverPort?: string | number;
  remoteAddr?: string;
  remotePort?: string | number;
  /** Mount point, "" by default; must not end with "/". The request path must start with it. */
  scriptName?: string;
}

/**
 * What a gateway knows about its process and the request's streams: the inputs of the
 * `stackware.*` interface keys (see {@link addInterfaceKeys}).
 */
export interface InterfaceOptions {
  /** The request body (`stackware.input`); default an empty input. */
  input?: InputStream;
  /** `stackware.errors`; default {@link stderrErrors}. */
  errors?: ErrorStream;
  /** Default false. */
  multithread?: boolean;
  /** Default false. */
  multiprocess?: boolean;
  /** Default false. */
  runOnce?: boolean;
}

/** The interface keys every environ carries (SPEC.md §2.2). */
export type InterfaceKeys = Pick<Environ, 'stackware.version' | 'stackware.url_scheme' | 'stackware.input' | 'stackware.errors' | 'stackware.multithread' | 'stackware.multiprocess' | 'stackware.run_once' | 'stackware.file_wrapper'>;

/**
 * Adds the `stackware.*` interface keys to an environ under construction, in place, and returns
 * it: `version` ([1, 0]), `url_scheme` ("http" or "https"), `input` (default empty), `errors`
 * (default stderr), `multithread`, `multiprocess`, `run_once` (default false) and `file_wrapper`.
 * The one place these keys are built: the HTTP server (through {@link createEnviron}) and the
 * CGI-family gateways (FastCGI, SCGI, CGI: `environFromCgi` in @stackware/server) both call it.
 */
export function addInterfaceKeys<T extends object>(environ: T, urlScheme: string, options: InterfaceOptions = {}): T & InterfaceKeys {
  const keys = environ as T & InterfaceKeys;
  keys['stackware.version'] = VERSION;
  keys['stackware.url_scheme'] = urlScheme;
  keys['stackware.input'] = options.input ?? emptyInput();
  keys['stackware.errors'] = options.errors ?? stderrErrors;
  keys['stackware.multithread'] = options.multithread ?? false;
  keys['stackware.multiprocess'] = options.multiprocess ?? false;
  keys['stackware.run_once'] = options.runOnce ?? false;
  keys['stackware.file_wrapper'] = fileWrapper;
  return keys;
}

/** Thrown by {@link createEnviron} for a request that cannot become an environ; `status` is the answer (400). */
export class BadRequestError extends Error {
  readonly status = 400;
  constructor(message: string) {
    super(message);
    this.name = 'BadRequestError';
  }
}

/** A `stackware.errors` stream that writes to process.stderr. */
export const stderrErrors: ErrorStream = { write: (text: string) => void process.stderr.write(text) };

/**
 * Builds the environ for one request (RFC 3875 meta-variables + `stackware.*` keys).
 * Header `X-Foo` becomes `HTTP_X_FOO`; repeated headers are joined with ", " (Cookie with "; ");
 * Content-Type and Content-Length become CONTENT_TYPE/CONTENT_LENGTH, never HTTP_*.
 * Headers whose names contain "_" are dropped (they would be indistinguishable from "-" ones;
 * nginx and Apache do the same).
 * With an absolute-form target ("http://example.com/x"), the target's authority is the Host
 * (HTTP_HOST, SERVER_NAME), whatever the Host header said (RFC 9112 §3.2.2).
 * @throws BadRequestError (400) when the path is not valid percent-encoded UTF-8, contains NUL
 * (`%00`) or a dot segment ("/a/../b", "%2e%2e"), is outside `scriptName`, or when the request
 * has more than one Host header (RFC 9112 §3.2).
 */
export function createEnviron(init: RequestInit): Environ {
  let target = init.target;
  let authority: string | undefined;
  if (!target.startsWith('/')) {
    // absolute-form ("http://host/path?q") or "*": keep the path and query; the target's
    // authority replaces the Host header (RFC 9112 §3.2.2).
    const match = /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\/(?:[^/?#@]*@)?([^/?#@]*)([^#]*)/.exec(target);
    if (match) authority = match[1];
    target = match ? match[2] || '/' : target === '*' ? '*' : '/' + target;
  }
  const q = target.indexOf('?');
  const rawPath = q === -1 ? target : target.slice(0, q);
  const query = q === -1 ? '' : target.slice(q + 1);
  const path = decodePath(rawPath);
  if (path === undefined) throw new BadRequestError(`The request path is not valid percent-encoded UTF-8: ${JSON.stringify(rawPath.slice(0, 200))}`);
  const unsafe = unsafePathReason(path);
  if (unsafe !== undefined) throw new BadRequestError(`${unsafe}: ${JSON.stringify(rawPath.slice(0, 200))}`);
  const scriptName = init.scriptName ?? '';
  if (scriptName && path !== scriptName && !path.startsWith(scriptName + '/')) throw new BadRequestError(`The request path ${JSON.stringify(path)} is outside the mount point ${JSON.stringify(scriptName)}`);

  let hostHeader: string | undefined;
  let hosts = 0;
  for (const [name, value] of init.headers) {
    if (name.length === 4 && name.toLowerCase() === 'host') {
      hosts++;
      hostHeader = value;
    }
  }
  // RFC 9112 §3.2: a request with more than one Host header gets 400.
  if (hosts > 1) throw new BadRequestError('More than one Host header');
  let headers = init.headers;
  if (authority !== undefined) {
    hostHeader = authority;
    headers = headers.filter(([name]) => name.toLowerCase() !== 'host');
    if (authority) headers.push(['Host', authority]);
  }
  const scheme = init.scheme ?? 'http';
  const environ: Environ = addInterfaceKeys({
    REQUEST_METHOD: init.method.toUpperCase(),
    SCRIPT_NAME: scriptName,
    PATH_INFO: path.slice(scriptName.length),
    QUERY_STRING: query,
    SERVER_NAME: init.serverName ?? (hostHeader ? serverNameOf(hostHeader) : 'localhost'),
    SERVER_PORT: String(init.serverPort ?? (scheme === 'https' ? 443 : 80)),
    SERVER_PROTOCOL: init.protocol ?? 'HTTP/1.1',
    REQUEST_URI: init.target,
  }, scheme, init);
  if (init.remoteAddr !== undefined) environ.REMOTE_ADDR = init.remoteAddr;
  if (init.remotePort !== undefined) environ.REMOTE_PORT = String(init.remotePort);
  for (const [rawName, value] of headers) {
    const key = headerKey(rawName);
    if (key === undefined) continue;
    const previous = environ[key];
    if (typeof previous === 'string') {
      if (key === 'CONTENT_LENGTH' || key === 'CONTENT_TYPE') {
        if (previous !== value) throw new BadRequestError(`Conflicting ${rawName} headers`);
        continue;
      }
      environ[key] = previous + (key === 'HTTP_COOKIE' ? '; ' : ', ') + value;
    } else {
      environ[key] = value;
    }
  }
  return environ;
}

/**
 * The environ key of each header name seen so far, as the client spelled it ("User-Agent" →
 * "HTTP_USER_AGENT", "content-type" → "CONTENT_TYPE"; "" for a name with "_", which is dropped):
 * a name that comes back on every request is not upper-cased and rewritten every time. At most
 * {@link HEADER_KEYS_MAX} names are kept (clients sending made-up names cannot grow it further).
 */
const headerKeys = new Map<string, string>();
const HEADER_KEYS_MAX = 1024;

/** {@link headerKeys}' key for one header name, undefined when the header is dropped (its name has "_"). */
function headerKey(rawName: string): string | undefined {
  let key = headerKeys.get(rawName);
  if (key === undefined) {
    if (rawName.includes('_')) {
      key = '';
    } else {
      const name = rawName.toUpperCase().replace(/-/g, '_');
      key = name === 'CONTENT_TYPE' || name === 'CONTENT_LENGTH' ? name : `HTTP_${name}`;
    }
    if (headerKeys.size < HEADER_KEYS_MAX) headerKeys.set(rawName, key);
  }
  return key === '' ? undefined : key;
}

let lastHost = '';
let lastServerName = '';

/** SERVER_NAME from a Host value: the port and IPv6 brackets dropped (the last answer is kept: one host serves most requests). */
function serverNameOf(host: string): string {
  if (host !== lastHost) {
    lastServerName = host.replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
    lastHost = host;
  }
  return lastServerName;
}
