import { randomBytes } from 'node:crypto';
import { getRequestId, requestUri, type Environ } from '@stackware/gateway';
import { resolveStack, formatStack, type StackFrame } from './stack.js';
import type { Redactor } from './redact.js';
import { getCapturedInput } from './request-capture.js';

/** Where in the response an error was caught. */
export type CatchPoint = 'application' | 'body' | 'close';

/** One error of a cause chain, with its source-mapped frames. */
export interface ReportedError {
  /** `error.name` ("TypeError"), or the type of a thrown non-Error ("string"). */
  name: string;
  message: string;
  /** The stack rebuilt from source-mapped frames (TypeScript lines). */
  stack: string;
  frames: StackFrame[];
  /** Own enumerable properties (`code`, `errno`, `status`...), as strings. */
  properties: Array<[string, string]>;
}

/** Everything known about one caught error: what the debug page, log, email and saved report show. */
export interface ErrorReport {
  /** 16 hex digits, shown on the production page, in the log and in the email. */
  id: string;
  /** ISO 8601 time the error was caught. */
  time: string;
  requestId: string;
  /** The status answered (500, or the error's own) — or that was already sent when `headersSent`. */
  status: number;
  catchPoint: CatchPoint;
  /** True when the response had started: the client got a broken response instead of an error page. */
  headersSent: boolean;
  /** Signature for de-duplication: name, message with digits folded, first application frame. */
  signature: string;
  request: {
    method: string;
    url: string;
    remoteAddr: string;
    /** Query parameters, secrets redacted. */
    query: Array<[string, string]>;
    /** Request headers ("Content-Type", "User-Agent"...), secrets redacted. */
    headers: Array<[string, string]>;
    /** Form fields the application read (urlencoded), secrets redacted. */
    form?: Array<[string, string]>;
    /** A JSON body the application read, secret keys redacted. */
    json?: unknown;
    /** Why the body is not shown, when it is not. */
    bodyNote?: string;
  };
  /** The environ, one `[key, value]` per key; secrets redacted; non-string values summarised. */
  environ: Array<[string, string]>;
  /** The error and its causes, outermost first (at most 10). */
  errors: ReportedError[];
}

let pool = Buffer.alloc(0);
let poolOffset = 0;

/** A new error id: 16 hex digits from the CSPRNG (drawn from a small pool: one syscall per 512 ids). */
export function newErrorId(): string {
  if (poolOffset + 8 > pool.length) {
    pool = randomBytes(4096);
    poolOffset = 0;
  }
  poolOffset += 8;
  return pool.toString('hex', poolOffset - 8, poolOffset);
}

const SAFE_ID = /^[\w.:@+-]{1,128}$/;

/**
 * The request id for logs: the one the gateway or accessLog() put in the environ (`getRequestId`,
 * @stackware/gateway), else a well-formed `X-Request-Id` header (set by nginx or a load balancer),
 * else `fallback`.
 */
export function requestIdOf(environ: Environ, fallback: string): string {
  const id = getRequestId(environ);
  if (id) return id;
  const header = environ.HTTP_X_REQUEST_ID;
  if (typeof header === 'string' && SAFE_ID.test(header)) return header;
  return fallback;
}

function describeValue(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  if (value === null || value === undefined) return String(value);
  if (typeof value === 'function') return `[function ${value.name || 'anonymous'}]`;
  if (Array.isArray(value)) return value.length <= 4 && value.every((v) => typeof v !== 'object') ? `[${value.map(String).join(', ')}]` : `[array of ${value.length}]`;
  const name = (value as object).constructor?.name;
  return `[${name && name !== 'Object' ? name : 'object'}]`;
}

function errorChain(error: unknown): unknown[] {
  const chain: unknown[] = [];
  const seen = new Set<unknown>();
  let current: unknown = error;
  while (current !== undefined && chain.length < 10 && !seen.has(current)) {
    chain.push(current);
    seen.add(current);
    current = current instanceof Error ? current.cause : undefined;
  }
  return chain;
}

/** Describes one error (or a thrown non-Error value) with its source-mapped stack. */
export function describeError(error: unknown): ReportedError {
  if (!(error instanceof Error)) {
    return { name: error === null ? 'null' : typeof error, message: describeValue(error), stack: '', frames: [], properties: [] };
  }
  const name = error.name || error.constructor?.name || 'Error';
  const message = String(error.message ?? '');
  const frames = typeof error.stack === 'string' ? resolveStack(error.stack) : [];
  const properties: Array<[string, string]> = [];
  for (const [key, value] of Object.entries(error)) {
    if (key === 'cause' || key === 'stack' || key === 'message' || key === 'name') continue;
    properties.push([key, describeValue(value).slice(0, 500)]);
  }
  return { name, message, stack: formatStack(message ? `${name}: ${message}` : name, frames), frames, properties };
}

function signatureOf(first: ReportedError): string {
  const frame = first.frames.find((f) => !f.internal) ?? first.frames[0];
  const where = frame ? `${frame.file}:${frame.line}` : '';
  return `${first.name}: ${first.message.replace(/\d+/g, '#').slice(0, 200)} @ ${where}`;
}

function headerPairs(environ: Environ): Array<[string, string]> {
  const pairs: Array<[string, string]> = [];
  for (const [key, value] of Object.entries(environ)) {
    if (typeof value !== 'string') continue;
    if (key.startsWith('HTTP_')) pairs.push([key.slice(5).toLowerCase().replace(/(^|_)([a-z])/g, (_m, sep: string, c: string) => (sep ? '-' : '') + c.toUpperCase()), value]);
    else if (key === 'CONTENT_TYPE' || key === 'CONTENT_LENGTH') pairs.push([key === 'CONTENT_TYPE' ? 'Content-Type' : 'Content-Length', value]);
  }
  return pairs;
}

/** Options of {@link buildReport}. */
export interface BuildReportOptions {
  error: unknown;
  environ: Environ;
  status: number;
  catchPoint: CatchPoint;
  headersSent: boolean;
  redactor: Redactor;
  id?: string;
  /** Clock (for tests): milliseconds since the epoch. Default Date.now. */
  now?: () => number;
}

/**
 * Builds the report of one caught error: the cause chain with source-mapped frames and source
 * lines, and the request with secrets redacted (headers by name, fields by pattern).
 */
export function buildReport(options: BuildReportOptions): ErrorReport {
  const { environ, redactor } = options;
  const id = options.id ?? newErrorId();
  const errors = errorChain(options.error).map(describeError);
  const query = [...new URLSearchParams(environ.QUERY_STRING ?? '')] as Array<[string, string]>;
  const request: ErrorReport['request'] = {
    method: environ.REQUEST_METHOD,
    url: redactQueryIn(safeUrl(environ), redactor, true),
    remoteAddr: environ.REMOTE_ADDR ?? '',
    query: redactor.pairs(query, 'field'),
    headers: redactor.pairs(headerPairs(environ), 'header'),
  };
  const captured = getCapturedInput(environ);
  if (captured) {
    const text = Buffer.concat(captured.chunks).toString('utf8');
    const note = captured.truncated ? `Only the first ${text.length} of ${captured.bytesRead} bytes read are shown.` : undefined;
    if (/json/i.test(environ.CONTENT_TYPE ?? '')) {
      try {
        request.json = redactor.json(JSON.parse(text));
      } catch {
        request.bodyNote = `A JSON body of ${captured.bytesRead} bytes was read; it is not shown because it could not be parsed${captured.truncated ? ' (truncated)' : ''}.`;
      }
    } else {
      request.form = redactor.pairs([...new URLSearchParams(text)] as Array<[string, string]>, 'field');
    }
    if (note && !request.bodyNote) request.bodyNote = note;
  } else if (environ.CONTENT_LENGTH && environ.CONTENT_LENGTH !== '0') {
    request.bodyNote = /^(application\/x-www-form-urlencoded|application\/json)/i.test(environ.CONTENT_TYPE ?? '')
      ? 'The application did not read the request body.'
      : `A ${environ.CONTENT_TYPE || 'untyped'} body of ${environ.CONTENT_LENGTH} bytes (not shown).`;
  }
  const environPairs: Array<[string, string]> = Object.keys(environ).sort().map((key) => {
    const value = environ[key];
    if (key === 'QUERY_STRING' || key === 'REQUEST_URI') return [key, redactQueryIn(String(value ?? ''), redactor, key === 'REQUEST_URI')];
    if (key.startsWith('HTTP_') && redactor.isSecretHeader(key)) return [key, redactor.replacement];
    if (!key.startsWith('HTTP_') && redactor.fields.test(key) && typeof value !== 'function' && !(value && typeof value === 'object')) return [key, redactor.replacement];
    return [key, describeValue(value).slice(0, 2000)];
  });
  return {
    id,
    time: new Date((options.now ?? Date.now)()).toISOString(),
    requestId: requestIdOf(environ, id),
    status: options.status,
    catchPoint: options.catchPoint,
    headersSent: options.headersSent,
    signature: signatureOf(errors[0]!),
    request,
    environ: environPairs,
    errors,
  };
}

function redactQueryIn(text: string, redactor: Redactor, isUri: boolean): string {
  const q = isUri ? text.indexOf('?') : -1;
  const query = isUri ? (q === -1 ? '' : text.slice(q + 1)) : text;
  if (!query) return text;
  const redacted = query.split('&').map((part) => {
    const eq = part.indexOf('=');
    if (eq === -1) return part;
    let name = part.slice(0, eq);
    try {
      name = decodeURIComponent(name.replace(/\+/g, ' '));
    } catch {
      // keep the raw name
    }
    return redactor.fields.test(name) ? `${part.slice(0, eq)}=${encodeURIComponent(redactor.replacement)}` : part;
  }).join('&');
  return isUri ? `${text.slice(0, q + 1)}${redacted}` : redacted;
}

function safeUrl(environ: Environ): string {
  try {
    const url = requestUri(environ, false);
    return environ.QUERY_STRING ? `${url}?${environ.QUERY_STRING}` : url;
  } catch {
    return String(environ.REQUEST_URI ?? environ.PATH_INFO ?? '');
  }
}
