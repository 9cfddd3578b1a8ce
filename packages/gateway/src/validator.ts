import type { Application, Environ, ErrorStream, FileWrapper, Headers, InputStream, ResponseBody, StartResponse, WriteFunction } from './types.js';
import { isFileWrapper } from './file-wrapper.js';
import { HOP_BY_HOP_HEADERS as HOP_BY_HOP } from './headers.js';
import { unsafePathReason } from './uri.js';

/**
 * Every rule the validator enforces, by name. Each violation throws a {@link ValidationError}
 * whose `rule` is one of these keys; SPEC.md §"Validator rules" lists them with their tests.
 */
export const RULES = {
  'environ-not-object': 'The environ must be a plain object.',
  'environ-missing-key': 'A required environ key is missing.',
  'environ-key-type': 'CGI environ keys (REQUEST_METHOD, HTTP_*, ...) must be strings.',
  'environ-http-content-type': 'HTTP_CONTENT_TYPE must not exist: the header is CONTENT_TYPE.',
  'environ-http-content-length': 'HTTP_CONTENT_LENGTH must not exist: the header is CONTENT_LENGTH.',
  'environ-request-method': 'REQUEST_METHOD must be an HTTP token (RFC 9110 §9).',
  'environ-script-name': 'SCRIPT_NAME must be "" or start with "/", and must not end with "/".',
  'environ-path-info': 'PATH_INFO must be "" or start with "/" ("*" only for OPTIONS *).',
  'environ-path-empty': 'SCRIPT_NAME and PATH_INFO must not both be empty (PATH_INFO is at least "/").',
  'environ-path-unsafe': 'SCRIPT_NAME and PATH_INFO must not contain NUL or a dot segment ("." or ".."): the gateway answers 400.',
  'environ-query-string': 'QUERY_STRING must not start with "?" or contain "#".',
  'environ-content-length': 'CONTENT_LENGTH, when present, must be decimal digits.',
  'environ-server-port': 'SERVER_PORT must be decimal digits.',
  'environ-protocol': 'SERVER_PROTOCOL must look like "HTTP/1.1".',
  'environ-version': 'stackware.version must be [1, 0].',
  'environ-url-scheme': 'stackware.url_scheme must be "http" or "https".',
  'environ-flag-type': 'stackware.multithread, multiprocess and run_once must be booleans.',
  'environ-input': 'stackware.input must be an AsyncIterable of Uint8Array.',
  'environ-errors': 'stackware.errors must have a write(text) method.',
  'environ-changed-in-place': 'An inner layer changed a request key (REQUEST_METHOD, QUERY_STRING, SERVER_*, REMOTE_*, AUTH_TYPE, HTTP_HOST, stackware.url_scheme) of the environ it was given: pass the application a copy, { ...environ, KEY: value } (SPEC.md §2.4).',
  'input-second-consumer': 'stackware.input has a single consumer: it was iterated twice.',
  'input-read-after-end': 'stackware.input was read again after it reported its end.',
  'input-read-after-response': 'stackware.input was read after the response was finished.',
  'errors-write-type': 'stackware.errors.write() takes a string.',
  'status-type': 'The status must be a string.',
  'status-format': 'The status must be three digits, a space and a reason phrase ("200 OK").',
  'status-code': 'The status code must be 100-599.',
  'headers-type': 'The headers must be an array of [name, value] pairs.',
  'header-pair': 'Each header must be a [name, value] pair of two strings.',
  'header-name': 'A header name must be an HTTP token (RFC 9110 §5.1).',
  'header-value': 'A header value must not contain CR, LF, NUL or other control characters (RFC 9110 §5.5), nor characters above U+00FF (percent-encode URLs: iriToUri).',
  'header-hop-by-hop': 'Hop-by-hop headers (Connection, Keep-Alive, Transfer-Encoding, TE, Trailer, Upgrade, Proxy-*) belong to the server.',
  'header-status': 'A "Status" header is not allowed: the status goes in the status argument.',
  'header-content-length': 'A Content-Length header must be decimal digits.',
  'content-type-missing': 'A Content-Type header is required except for 1xx, 204 and 304 responses.',
  'content-type-forbidden': 'A 204 or 304 response must not have a Content-Type header (it has no content).',
  'start-response-twice': 'startResponse was called a second time without an error argument.',
  'start-response-after-end': 'startResponse was called after the body was finished.',
  'write-not-bytes': 'The write() function takes a Uint8Array.',
  'write-after-close': 'write() was called after the body was closed.',
  'body-is-string': 'The body must be an iterable of Uint8Array chunks, not a string.',
  'body-not-iterable': 'The body must be an Iterable or AsyncIterable of Uint8Array.',
  'body-before-start-response': 'The body produced a chunk (or was returned complete) before startResponse was called.',
  'chunk-not-bytes': 'Every body chunk must be a Uint8Array.',
  'content-length-mismatch': 'The body length differs from the Content-Length header.',
  'body-iterated-twice': 'The gateway iterated the body twice.',
  'body-iterated-after-close': 'The gateway iterated the body after closing it.',
  'body-not-closed': 'The body was not closed: close() must be called on every body, even after an error.',
} as const;

/** A rule name: a key of {@link RULES}. */
export type ValidationRule = keyof typeof RULES;

/** A violation of the gateway contract, named by `rule`. */
export class ValidationError extends Error {
  readonly rule: ValidationRule;
  constructor(rule: ValidationRule, detail: string) {
    super(`${rule}: ${RULES[rule]} ${detail}`.trim());
    this.name = 'ValidationError';
    this.rule = rule;
  }
}

function fail(rule: ValidationRule, detail = ''): never {
  throw new ValidationError(rule, detail);
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** Control characters (HTAB allowed), and characters above U+00FF, which no HTTP/1.1 server can send. */
const CONTROL = /[\0-\x08\x0a-\x1f\x7f\u0100-\uffff]/;
const REQUIRED = ['REQUEST_METHOD', 'SCRIPT_NAME', 'PATH_INFO', 'QUERY_STRING', 'SERVER_NAME', 'SERVER_PORT', 'SERVER_PROTOCOL',
  'stackware.version', 'stackware.url_scheme', 'stackware.input', 'stackware.errors', 'stackware.multithread', 'stackware.multiprocess', 'stackware.run_once'] as const;
const OPEN_BODIES = 'stackware.validator.open_bodies';
/**
 * The keys that describe the request as the gateway received it: a layer that changes one for the
 * application it calls passes a copy (SPEC.md §2.4), so they must read the same after the call.
 * SCRIPT_NAME/PATH_INFO are left out (shiftPathInfo and urlParser's walk change them in place, as
 * §2.4 allows), and so are stackware.input/errors (wrappers that yield the same bytes, §8).
 */
const REQUEST_KEYS = ['REQUEST_METHOD', 'QUERY_STRING', 'SERVER_NAME', 'SERVER_PORT', 'SERVER_PROTOCOL', 'REMOTE_ADDR', 'REMOTE_PORT', 'REMOTE_USER', 'AUTH_TYPE', 'HTTP_HOST', 'stackware.url_scheme'] as const;

/** Checks the environ of one request; throws the first violation found. */
export function checkEnviron(environ: unknown): asserts environ is Environ {
  if (typeof environ !== 'object' || environ === null || Array.isArray(environ)) fail('environ-not-object', `Got ${environ === null ? 'null' : typeof environ}.`);
  const env = environ as Record<string, unknown>;
  for (const key of REQUIRED) if (!(key in env)) fail('environ-missing-key', `Missing ${key}.`);
  for (const [key, value] of Object.entries(env)) {
    if (key.includes('.')) continue;
    if (typeof value !== 'string' && /^[A-Z][A-Z0-9_]*$/.test(key)) fail('environ-key-type', `${key} is ${typeof value}.`);
  }
  if ('HTTP_CONTENT_TYPE' in env) fail('environ-http-content-type');
  if ('HTTP_CONTENT_LENGTH' in env) fail('environ-http-content-length');
  const e = env as Environ;
  if (!TOKEN.test(e.REQUEST_METHOD)) fail('environ-request-method', `Got ${JSON.stringify(e.REQUEST_METHOD)}.`);
  if (e.SCRIPT_NAME && (!e.SCRIPT_NAME.startsWith('/') || e.SCRIPT_NAME.endsWith('/'))) fail('environ-script-name', `Got ${JSON.stringify(e.SCRIPT_NAME)}.`);
  if (e.PATH_INFO && !e.PATH_INFO.startsWith('/') && !(e.PATH_INFO === '*' && e.REQUEST_METHOD === 'OPTIONS')) fail('environ-path-info', `Got ${JSON.stringify(e.PATH_INFO)}.`);
  if (!e.SCRIPT_NAME && !e.PATH_INFO) fail('environ-path-empty');
  const unsafe = unsafePathReason(e.SCRIPT_NAME + e.PATH_INFO);
  if (unsafe !== undefined) fail('environ-path-unsafe', `${unsafe.replace('The request path', 'SCRIPT_NAME + PATH_INFO')}: ${JSON.stringify(e.SCRIPT_NAME + e.PATH_INFO)}.`);
  if (e.QUERY_STRING.startsWith('?') || e.QUERY_STRING.includes('#')) fail('environ-query-string', `Got ${JSON.stringify(e.QUERY_STRING)}.`);
  if (e.CONTENT_LENGTH !== undefined && !/^\d+$/.test(e.CONTENT_LENGTH)) fail('environ-content-length', `Got ${JSON.stringify(e.CONTENT_LENGTH)}.`);
  if (!/^\d+$/.test(e.SERVER_PORT)) fail('environ-server-port', `Got ${JSON.stringify(e.SERVER_PORT)}.`);
  if (!/^HTTP\/\d(\.\d)?$/.test(e.SERVER_PROTOCOL)) fail('environ-protocol', `Got ${JSON.stringify(e.SERVER_PROTOCOL)}.`);
  const version = e['stackware.version'];
  if (!Array.isArray(version) || version[0] !== 1 || version[1] !== 0) fail('environ-version', `Got ${JSON.stringify(version)}.`);
  if (e['stackware.url_scheme'] !== 'http' && e['stackware.url_scheme'] !== 'https') fail('environ-url-scheme', `Got ${JSON.stringify(e['stackware.url_scheme'])}.`);
  for (const flag of ['stackware.multithread', 'stackware.multiprocess', 'stackware.run_once'] as const) {
    if (typeof e[flag] !== 'boolean') fail('environ-flag-type', `${flag} is ${typeof e[flag]}.`);
  }
  const input = e['stackware.input'] as unknown as { [Symbol.asyncIterator]?: unknown } | null;
  if (typeof input !== 'object' || input === null || typeof input[Symbol.asyncIterator] !== 'function') fail('environ-input');
  const errors = e['stackware.errors'] as unknown as { write?: unknown } | null;
  if (typeof errors !== 'object' || errors === null || typeof errors.write !== 'function') fail('environ-errors');
}

/** Checks a status and header list as given to startResponse; throws the first violation found. */
export function checkResponseStart(status: unknown, headers: unknown): void {
  if (typeof status !== 'string') fail('status-type', `Got ${typeof status}.`);
  if (!/^\d{3} [^\r\n\0]+$/.test(status)) fail('status-format', `Got ${JSON.stringify(status)}.`);
  const code = parseInt(status, 10);
  if (code < 100 || code > 599) fail('status-code', `Got ${code}.`);
  if (!Array.isArray(headers)) fail('headers-type', `Got ${typeof headers}.`);
  let contentType = false;
  for (const pair of headers as unknown[]) {
    if (!Array.isArray(pair) || pair.length !== 2 || typeof pair[0] !== 'string' || typeof pair[1] !== 'string') fail('header-pair', `Got ${JSON.stringify(pair)}.`);
    const [name, value] = pair as [string, string];
    if (!TOKEN.test(name)) fail('header-name', `Got ${JSON.stringify(name)}.`);
    if (CONTROL.test(value)) fail('header-value', `Header ${name} is ${JSON.stringify(value)}.`);
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower)) fail('header-hop-by-hop', `Got ${name}.`);
    if (lower === 'status') fail('header-status');
    if (lower === 'content-length' && !/^\d+$/.test(value)) fail('header-content-length', `Got ${JSON.stringify(value)}.`);
    if (lower === 'content-type') contentType = true;
  }
  const noContent = code === 204 || code === 304;
  if (noContent && contentType) fail('content-type-forbidden', `Status ${code}.`);
  if (!contentType && !noContent && code >= 200) fail('content-type-missing', `Status ${status}.`);
}

function isBytes(value: unknown): value is Uint8Array {
  return value instanceof Uint8Array;
}

/**
 * Throws `body-not-closed` when a body that passed through a {@link validator} during this
 * request was never closed. A gateway calls it after the response is finished (the TestClient does).
 */
export function checkBodiesClosed(environ: Environ): void {
  const open = environ[OPEN_BODIES] as Set<string> | undefined;
  if (open && open.size > 0) {
    const which = [...open].join(', ');
    open.clear();
    fail('body-not-closed', `Unclosed: ${which}.`);
  }
}

interface RequestState {
  started: boolean;
  finished: boolean;
  closed: boolean;
  status: number;
  declaredLength: number | undefined;
  bytes: number;
}

function wrapInput(input: InputStream, state: RequestState): InputStream {
  let consumers = 0;
  return {
    [Symbol.asyncIterator]() {
      consumers++;
      if (consumers > 1) fail('input-second-consumer');
      const inner = input[Symbol.asyncIterator]();
      let ended = false;
      return {
        async next() {
          if (state.finished) fail('input-read-after-response');
          if (ended) fail('input-read-after-end');
          const step = await inner.next();
          if (step.done) ended = true;
          return step;
        },
        async return(value?: unknown) {
          ended = true;
          return (await inner.return?.(value)) ?? { done: true, value: undefined };
        },
      };
    },
  };
}

function wrapErrors(errors: ErrorStream): ErrorStream {
  return {
    write(text: string) {
      if (typeof text !== 'string') fail('errors-write-type', `Got ${typeof text}.`);
      errors.write(text);
    },
  };
}

let bodyCounter = 0;

function wrapBody(body: ResponseBody, state: RequestState, environ: Environ, method: string): ResponseBody {
  const open = (environ[OPEN_BODIES] ??= new Set<string>()) as Set<string>;
  const id = `body #${++bodyCounter} (${method} ${environ.SCRIPT_NAME}${environ.PATH_INFO})`;
  const checkLength = () => {
    if (state.declaredLength !== undefined && method !== 'HEAD' && state.status !== 304 && state.status !== 204 && state.bytes !== state.declaredLength) {
      fail('content-length-mismatch', `Content-Length ${state.declaredLength}, body ${state.bytes} bytes.`);
    }
  };
  const close = async () => {
    if (!state.closed) {
      state.closed = true;
      state.finished = true;
      open.delete(id);
    }
    await body.close?.();
  };

  if (Array.isArray(body) || isFileWrapper(body)) {
    // Complete bodies: startResponse must already have been called; keep their shape so the
    // gateway still knows their length.
    if (!state.started) fail('body-before-start-response', 'A complete body was returned before startResponse.');
    if (isFileWrapper(body)) {
      const wrapper = Object.create(body) as FileWrapper & { close(): Promise<void> };
      Object.defineProperty(wrapper, 'close', { value: close });
      open.add(id);
      return wrapper;
    }
    const chunks = body as unknown[];
    chunks.forEach((chunk, i) => { if (!isBytes(chunk)) fail('chunk-not-bytes', `Chunk ${i} is ${typeof chunk}.`); });
    state.bytes = chunks.reduce<number>((n, c) => n + (c as Uint8Array).byteLength, 0);
    checkLength();
    // Registered only once it passed: a body refused here is closed by the validator itself.
    open.add(id);
    const copy = [...(chunks as Uint8Array[])] as Uint8Array[] & { close(): Promise<void> };
    Object.defineProperty(copy, 'close', { value: close });
    return copy;
  }

  open.add(id);

  let iterations = 0;
  const iterable = body as Partial<AsyncIterable<Uint8Array>> & Partial<Iterable<Uint8Array>>;
  return {
    [Symbol.asyncIterator]() {
      if (state.closed) fail('body-iterated-after-close');
      iterations++;
      if (iterations > 1) fail('body-iterated-twice');
      const inner: AsyncIterator<Uint8Array> | Iterator<Uint8Array> = iterable[Symbol.asyncIterator] ? iterable[Symbol.asyncIterator]!() : iterable[Symbol.iterator]!();
      return {
        async next() {
          if (state.closed) fail('body-iterated-after-close');
          const step = await inner.next();
          if (step.done) {
            checkLength();
            return step;
          }
          if (!isBytes(step.value)) fail('chunk-not-bytes', `Got ${typeof step.value}.`);
          if (step.value.byteLength > 0 && !state.started) fail('body-before-start-response');
          state.bytes += step.value.byteLength;
          return step;
        },
        async return(value?: unknown) {
          return (await inner.return?.(value)) ?? { done: true as const, value: undefined };
        },
      };
    },
    close,
  };
}

/**
 * The validator middleware (wsgiref.validate, Rack::Lint): checks both sides of the gateway
 * contract on every call and throws a {@link ValidationError} naming the {@link RULES rule}
 * broken — by the gateway or outer middleware (environ, input use, body iteration and closing) and
 * by the application (status, headers, startResponse use, body and chunks, Content-Length).
 * Place it anywhere in a stack: `validator(session(validator(app)))`.
 * Costs a few checks per header and chunk; the TestClient always uses it, servers do not.
 */
export function validator(app: Application): Application {
  return async (environ: Environ, startResponse: StartResponse) => {
    checkEnviron(environ);
    const state: RequestState = { started: false, finished: false, closed: false, status: 0, declaredLength: undefined, bytes: 0 };
    const method = environ.REQUEST_METHOD;
    environ[OPEN_BODIES] ??= new Set<string>();
    environ['stackware.input'] = wrapInput(environ['stackware.input'], state);
    environ['stackware.errors'] = wrapErrors(environ['stackware.errors']);
    const checkedStartResponse: StartResponse = (status, headers, error) => {
      if (state.finished) fail('start-response-after-end');
      if (state.started && error === undefined) fail('start-response-twice');
      checkResponseStart(status, headers);
      state.started = true;
      state.status = parseInt(status, 10);
      const length = (headers as Headers).find(([n]) => n.toLowerCase() === 'content-length')?.[1];
      state.declaredLength = length === undefined ? undefined : Number(length);
      const write = startResponse(status, headers, error);
      const checkedWrite: WriteFunction = async (chunk) => {
        if (state.closed) fail('write-after-close');
        if (!isBytes(chunk)) fail('write-not-bytes', `Got ${typeof chunk}.`);
        state.bytes += chunk.byteLength;
        await write(chunk);
      };
      return checkedWrite;
    };
    const before = REQUEST_KEYS.map((key) => environ[key]);
    const body = await app(environ, checkedStartResponse);
    const changed = REQUEST_KEYS.filter((key, i) => environ[key] !== before[i]);
    if (changed.length > 0) fail('environ-changed-in-place', `Changed: ${changed.map((key) => `${key} ${JSON.stringify(before[REQUEST_KEYS.indexOf(key)])} → ${JSON.stringify(environ[key])}`).join(', ')}.`);
    if (typeof body === 'string') fail('body-is-string');
    if (typeof body !== 'object' || body === null || (typeof (body as AsyncIterable<unknown>)[Symbol.asyncIterator] !== 'function' && typeof (body as Iterable<unknown>)[Symbol.iterator] !== 'function')) {
      fail('body-not-iterable', `Got ${body === null ? 'null' : typeof body}.`);
    }
    try {
      return wrapBody(body, state, environ, method);
    } catch (error) {
      // The gateway never sees a body the validator refused: close it here, as the contract asks.
      state.closed = true;
      state.finished = true;
      await body.close?.();
      throw error;
    }
  };
}
