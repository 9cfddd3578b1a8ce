import { pino, type Logger } from 'pino';
import {
  ClientDisconnectedError, isHTTPError, isIterableBody, logFormatFor, prettyLogLine, requestHeader, statusLine,
  type Application, type Environ, type ResponseBody, type StartResponse, type WriteFunction,
} from '@stackware/gateway';
import { buildReport, requestIdOf, type CatchPoint, type ErrorReport, type ReportedError } from './report.js';
import { Redactor, type RedactOptions } from './redact.js';
import { ErrorMailer, type EmailOptions } from './mailer.js';
import { ReportStore } from './report-store.js';
import { reportViewer } from './report-viewer.js';
import { isDebugClient, isLoopbackHost } from './debug-access.js';
import { DebugPin, DEBUG_PIN_ENV, derivedPin } from './debug-pin.js';
import { pinPage } from './pin-page.js';
import { negotiateFormat } from './negotiate.js';
import { captureInput } from './request-capture.js';
import { renderDebugHtml, renderJson, renderText, renderPublicHtml, renderPublicJson, renderPublicText } from './render.js';

/**
 * The catcher's own logger (when none is given): pino to stderr, JSON lines — or, when stderr is a
 * terminal, the same readable lines as the servers' (prettyLogLine), so its records do not stay
 * raw JSON among them.
 */
function defaultLogger(): Logger {
  const format = logFormatFor(process.stderr);
  if (!format.pretty) return pino({ name: 'stackware-errors' }, pino.destination({ dest: 2, sync: true }));
  return pino({ name: 'stackware-errors' }, { write: (line: string) => void process.stderr.write(prettyLogLine(line, { colour: format.colour })) });
}

/**
 * Options of {@link errorCatcher}. Defaults:
 * `debug` false · `logger` pino to stderr · `email` none · `errorDir` none · `maxReports` 500 ·
 * `viewerPath` "/_debug/errors" · `trustedHosts` ["localhost", "127.0.0.1", "::1"] ·
 * `trustedAddresses` [] (loopback is always trusted) · `pin` $STACKWARE_DEBUG_PIN, else one derived
 * from the machine and logged at start · `listenHost` none · `redact` Cookie/Authorization headers
 * and password/token/secret-like fields · `maxFormBytes` 65536.
 */
export interface ErrorCatcherOptions {
  /** Show the debug page (stack, source, request, environ) to trusted clients (Paste's `debug`). */
  debug?: boolean;
  /** Where the one structured record per error goes. */
  logger?: Logger;
  /** Mail each error (throttled, de-duplicated) — see {@link EmailOptions}. */
  email?: EmailOptions;
  /** Save every caught error as `<id>.html` + `<id>.json` here (cgitb's `logdir`). */
  errorDir?: string;
  /** Keep at most this many saved reports (oldest removed). */
  maxReports?: number;
  /** Where the saved-report viewer answers, relative to the mount (PATH_INFO), in debug mode only. */
  viewerPath?: string;
  /** Host header names that may see debug output (Werkzeug's trusted hosts). */
  trustedHosts?: string[];
  /** Client addresses, besides loopback, that may see debug output. */
  trustedAddresses?: string[];
  /**
   * The debugger PIN (Werkzeug's, after CVE-2024-34069): debug output needs it besides the trusted
   * client check. Default: the `STACKWARE_DEBUG_PIN` environment variable, else a nine-digit PIN
   * derived from this machine (the same in every worker), logged at start. Only its
   * hash is kept. `false` (or `STACKWARE_DEBUG_PIN=off`) disables it, with a warning: then every
   * client a local reverse proxy forwards counts as trusted.
   */
  pin?: string | false;
  /**
   * The address the server listens on (a deploy file passes its `host`): when it is not a
   * loopback address (`0.0.0.0`, a public address), `debug` is turned off, with a warning at start.
   */
  listenHost?: string;
  /** What reports, logs and mails hide. */
  redact?: RedactOptions;
  /** Bytes of a urlencoded or JSON request body kept for the report, as the application reads it. */
  maxFormBytes?: number;
  /** Clock in milliseconds (tests). Default Date.now. */
  now?: () => number;
}

/** The application {@link errorCatcher} returns, with handles for tests and shutdown. */
export interface ErrorCatcherApplication extends Application {
  /** The mailer, when `email` is set. */
  readonly mailer: ErrorMailer | undefined;
  /** The post-mortem store, when `errorDir` is set. */
  readonly store: ReportStore | undefined;
  /** Resolves when the background work queued so far (saved reports, mails) is done. */
  idle(): Promise<void>;
  /** Waits for background work, stops timers and closes the mail transport. */
  close(): Promise<void>;
}

const REPORT_KEY = 'stackware.errors.report';

/** The report of the error caught during this request, if any (for an outer access log). */
export function getErrorReport(environ: Environ): ErrorReport | undefined {
  return environ[REPORT_KEY] as ErrorReport | undefined;
}

function logError(error: ReportedError[], index = 0): Record<string, unknown> | undefined {
  const e = error[index];
  if (!e) return undefined;
  const record: Record<string, unknown> = { type: e.name, message: e.message, stack: e.stack };
  for (const [k, v] of e.properties) if (!(k in record)) record[k] = v;
  const cause = logError(error, index + 1);
  if (cause) record.cause = cause;
  return record;
}

/** The pino record of one report: ids, request, status and the error with its cause chain and mapped stacks. */
export function logRecord(report: ErrorReport): Record<string, unknown> {
  return {
    error_id: report.id,
    req_id: report.requestId,
    method: report.request.method,
    url: report.request.url,
    status: report.status,
    catch_point: report.catchPoint,
    headers_sent: report.headersSent,
    err: logError(report.errors),
  };
}

function isBytes(chunk: unknown): chunk is Uint8Array {
  return chunk instanceof Uint8Array;
}

/**
 * The exception catcher (Paste's ErrorMiddleware + EvalException, Werkzeug's debugger, cgitb).
 * Wraps `app` and catches every failure: a synchronous throw, a rejected promise, an error while
 * iterating the body, an error from the body's `close()`, and a body that is not iterable.
 *
 * - Before the response has started it answers instead: an {@link HTTPError} (or any error with an
 *   integer `status` 400–599 and a boolean `expose`) as its own status and page; anything else as
 *   500 — the debug page (`debug: true`, trusted clients only) or the safe production page with the
 *   error id. HTML, JSON (`Accept: application/json`) or text (curl) by content negotiation.
 * - After the response has started it logs the error and rethrows it from the body, so the server
 *   breaks the connection: the client sees a truncated response, never a complete-looking 200.
 * - Each non-HTTP error gets one pino record (error id, request id, method, URL, status, the cause
 *   chain with source-mapped TypeScript stacks), a saved report (`errorDir`) and a throttled mail
 *   (`email`), both in the background.
 *
 * The body is wrapped lazily (streaming, no buffering); the inner body's `close()` is called
 * exactly once — when it ends (so that a `close()` failure can still break the response) or when
 * the server closes the wrapper. Array bodies keep their known length; file wrappers pass through.
 *
 * @example
 * const app = errorCatcher(myApp, { debug: process.env.NODE_ENV !== 'production', errorDir: './var/errors',
 *   email: { to: 'ops@example.com' } });
 */
export function errorCatcher(app: Application, options: ErrorCatcherOptions = {}): ErrorCatcherApplication {
  const ctx = catcherContext(options);

  const catcher = (environ: Environ, startResponse: StartResponse): ResponseBody | Promise<ResponseBody> => {
    const debugResponse = serveDebugPaths(ctx, environ, startResponse);
    if (debugResponse) return debugResponse;
    captureInput(environ, ctx.maxFormBytes);
    const state: ResponseState = { started: false, sentStatus: 200 };
    const trackedStart = trackingStartResponse(startResponse, state);
    const handle = (error: unknown, catchPoint: CatchPoint): Uint8Array[] => handleError(ctx, state, error, environ, startResponse, catchPoint);
    const wrapBody = (body: ResponseBody): ResponseBody => wrapResponseBody(ctx, state, body, environ, handle);

    // No await on the fast path: a synchronous application stays synchronous.
    let result: ResponseBody | Promise<ResponseBody>;
    try {
      result = app(environ, trackedStart);
    } catch (error) {
      return handle(error, 'application');
    }
    if (typeof (result as Promise<ResponseBody> | null)?.then === 'function') {
      return (result as Promise<ResponseBody>).then(wrapBody, (error: unknown) => handle(error, 'application'));
    }
    return wrapBody(result as ResponseBody);
  };

  const { mailer, store, pending } = ctx;
  return Object.assign(catcher, {
    mailer,
    store,
    async idle() {
      while (pending.size) await Promise.all(pending);
      await mailer?.idle();
    },
    async close() {
      while (pending.size) await Promise.all(pending);
      await mailer?.close();
    },
  });
}

/** What one catcher shares across its requests: resolved options, logger, store, mailer, pages and pending work. */
interface CatcherContext {
  readonly logger: Logger;
  readonly debug: boolean;
  readonly pin: DebugPin | undefined;
  readonly redactor: Redactor;
  readonly store: ReportStore | undefined;
  readonly mailer: ErrorMailer | undefined;
  readonly viewerPath: string;
  readonly viewer: Application | undefined;
  readonly pinPath: string;
  readonly pinForm: Application | undefined;
  readonly access: { trustedHosts: string[] | undefined; trustedAddresses: string[] | undefined };
  readonly maxFormBytes: number;
  readonly pending: Set<Promise<unknown>>;
  readonly now: (() => number) | undefined;
}

/** One request's response progress: whether a body byte may have gone out, and the status sent. */
interface ResponseState {
  /** true once a body byte may have been sent (headers are out) */
  started: boolean;
  sentStatus: number;
}

/** Resolves {@link ErrorCatcherOptions} into a {@link CatcherContext}; throws a TypeError on a bad `viewerPath`. */
function catcherContext(options: ErrorCatcherOptions): CatcherContext {
  const baseLogger = options.logger ?? defaultLogger();
  let debug = options.debug ?? false;
  if (debug && options.listenHost !== undefined && !isLoopbackHost(options.listenHost)) {
    debug = false;
    baseLogger.warn({ listen_host: options.listenHost }, `debug is turned off: the server listens on ${options.listenHost}, not a loopback address (debug pages are for a developer's own machine; listen on 127.0.0.1 to use them)`);
  }
  const pin = debug ? debugPin(options.pin, baseLogger, options.now) : undefined;
  // Our `err` is already a plain, source-mapped record: keep it as it is (pino's err serializer would re-read the stack).
  const logger = baseLogger.child({}, { serializers: { err: (value: unknown) => (value instanceof Error ? pino.stdSerializers.err(value) : value) } });
  const redactor = new Redactor(options.redact);
  const store = options.errorDir ? new ReportStore(options.errorDir, options.maxReports ?? 500) : undefined;
  const mailer = options.email
    ? new ErrorMailer({ ...options.email, now: options.email.now ?? options.now, onError: (error) => logger.warn({ err: error }, 'error mail could not be sent') }, options.errorDir)
    : undefined;
  const viewerPath = (options.viewerPath ?? '/_debug/errors').replace(/\/+$/, '');
  if (!viewerPath.startsWith('/')) throw new TypeError(`errorCatcher viewerPath must start with "/", got ${JSON.stringify(options.viewerPath)}`);
  const viewer = debug ? reportViewer(store, viewerPath) : undefined;
  const pinPath = `${viewerPath}/pin`;
  const pinForm = pin ? pinPage(pin, pinPath, viewerPath) : undefined;
  return {
    logger, debug, pin, redactor, store, mailer, viewerPath, viewer, pinPath, pinForm,
    access: { trustedHosts: options.trustedHosts, trustedAddresses: options.trustedAddresses },
    maxFormBytes: options.maxFormBytes ?? 64 * 1024,
    pending: new Set<Promise<unknown>>(),
    now: options.now,
  };
}

/** 'debug': show debug output; 'pin': a trusted client without the PIN cookie; 'public': anyone else. */
function clientAccess(ctx: CatcherContext, environ: Environ): 'debug' | 'pin' | 'public' {
  if (!isDebugClient(environ, ctx.access)) return 'public';
  return !ctx.pin || ctx.pin.hasValidCookie(environ) ? 'debug' : 'pin';
}

/** The saved-report viewer or the PIN form when the request is for them (debug mode), else undefined. */
function serveDebugPaths(ctx: CatcherContext, environ: Environ, startResponse: StartResponse): ResponseBody | Promise<ResponseBody> | undefined {
  const { viewer, viewerPath, pinForm, pinPath } = ctx;
  if (!viewer || !(environ.PATH_INFO === viewerPath || environ.PATH_INFO.startsWith(viewerPath + '/'))) return undefined;
  const who = clientAccess(ctx, environ);
  if (who === 'debug' && !(pinForm && environ.PATH_INFO === pinPath)) return viewer(environ, startResponse);
  // The PIN form: asked for, or in place of the viewer for a trusted client without the cookie.
  if (who !== 'public' && pinForm) {
    if (environ.PATH_INFO === pinPath) return pinForm(environ, startResponse);
    return pinForm({ ...environ, REQUEST_METHOD: 'GET', QUERY_STRING: new URLSearchParams({ next: environ.SCRIPT_NAME + environ.PATH_INFO }).toString() }, startResponse);
  }
  return undefined;
}

/** Logs, saves and mails one error; returns its report. Never throws. */
function reportError(ctx: CatcherContext, error: unknown, environ: Environ, catchPoint: CatchPoint, headersSent: boolean, status: number): ErrorReport | undefined {
  const { logger, store, mailer, pending } = ctx;
  try {
    const built = buildReport({ error, environ, status, catchPoint, headersSent, redactor: ctx.redactor, now: ctx.now });
    environ[REPORT_KEY] ??= built;
    const first = built.errors[0]!;
    logger.error(logRecord(built), `${first.name}: ${first.message}${headersSent ? ' (response broken off)' : ''}`);
    if (store) {
      const job = store.save(built).catch((saveError: unknown) => logger.warn({ err: saveError, error_id: built.id }, 'error report could not be saved'));
      pending.add(job);
      void job.finally(() => pending.delete(job));
    }
    mailer?.notify(built);
    return built;
  } catch (reportError) {
    // The catcher must never fail: fall back to a bare record.
    try {
      logger.error({ err: error, reportError: String(reportError) }, 'error (the report could not be built)');
    } catch {
      // nothing left to do
    }
    return undefined;
  }
}

/** The replacement response for `error`, sent with `startResponse(..., error)`. Throws when the response has started. */
function replacementResponse(ctx: CatcherContext, error: unknown, environ: Environ, startResponse: StartResponse, catchPoint: CatchPoint): Uint8Array[] {
  if (isHTTPError(error)) {
    if (error.status >= 500) ctx.logger.warn({ req_id: requestIdOf(environ, ''), method: environ.REQUEST_METHOD, status: error.status, err: { type: error.name, message: error.message } }, `HTTPError ${error.status}`);
    const page = renderPublic(environ, error.status, undefined, error.expose ? error.message : undefined);
    startResponse(statusLine(error.status), [...page.headers, ...(error.headers ?? [])], error);
    return [page.body];
  }
  const built = reportError(ctx, error, environ, catchPoint, false, 500);
  const exposed = (error as { expose?: unknown } | null)?.expose === true ? String((error as Error).message) : undefined;
  let page: { headers: Array<[string, string]>; body: Buffer };
  const who = ctx.debug && built ? clientAccess(ctx, environ) : 'public';
  if (who === 'debug' && built) {
    const format = negotiateFormat(requestHeader(environ, 'Accept'));
    const [type, text] = format === 'html'
      ? ['text/html; charset=utf-8', renderDebugHtml(built)]
      : format === 'json' ? ['application/json; charset=utf-8', renderJson(built)] : ['text/plain; charset=utf-8', renderText(built)];
    page = pageOf(type, text, format === 'html');
  } else {
    // A trusted client without the PIN cookie: the production page, with the way to the PIN.
    const pinUrl = who === 'pin' ? pinLink(ctx, environ, built?.id) : undefined;
    page = renderPublic(environ, 500, built?.id, exposed, pinUrl);
  }
  startResponse(statusLine(500), page.headers, error);
  return [page.body];
}

/** The PIN form's URL, coming back to the saved report (or this page when there is no store). */
function pinLink(ctx: CatcherContext, environ: Environ, errorId: string | undefined): string {
  const back = ctx.store && errorId ? `${environ.SCRIPT_NAME}${ctx.viewerPath}/${errorId}` : environ.SCRIPT_NAME + environ.PATH_INFO;
  return `${environ.SCRIPT_NAME}${ctx.pinPath}?${new URLSearchParams({ next: back }).toString()}`;
}

/** `startResponse` wrapped to record the status sent and whether a body byte was written into `state`. */
function trackingStartResponse(startResponse: StartResponse, state: ResponseState): StartResponse {
  return (status, headers, error) => {
    const write = startResponse(status, headers, error);
    if (typeof status === 'string') state.sentStatus = parseInt(status, 10) || state.sentStatus;
    const tracked: WriteFunction = (chunk) => {
      if (chunk instanceof Uint8Array && chunk.byteLength > 0) state.started = true;
      return write(chunk);
    };
    return tracked;
  };
}

/** Handles an error: the replacement body, or rethrows (after logging) when the response has started. */
function handleError(ctx: CatcherContext, state: ResponseState, error: unknown, environ: Environ, startResponse: StartResponse, catchPoint: CatchPoint): Uint8Array[] {
  if (error instanceof ClientDisconnectedError) throw error;
  if (!state.started) {
    try {
      return replacementResponse(ctx, error, environ, startResponse, catchPoint);
    } catch (replaceError) {
      if (replaceError !== error) throw replaceError;
      // startResponse rethrew: the server had sent the headers after all (already reported).
      throw error;
    }
  }
  reportError(ctx, error, environ, catchPoint, true, state.sentStatus);
  throw error;
}

/** Wraps the application's body so its failures are caught: file wrappers pass through, arrays keep their length. */
function wrapResponseBody(ctx: CatcherContext, state: ResponseState, body: ResponseBody, environ: Environ, handle: (error: unknown, catchPoint: CatchPoint) => Uint8Array[]): ResponseBody {
  if (!isIterableBody(body)) return handle(new TypeError(`The application returned ${body === null ? 'null' : typeof body === 'string' ? 'a string (encode it and return [bytes])' : typeof body}, not an iterable of Uint8Array chunks`), 'application');
  if ((body as { fileWrapper?: unknown }).fileWrapper === true) return body;
  if (Array.isArray(body)) return wrapArrayBody(ctx, body as ResponseBody & Uint8Array[], environ);
  return wrapStreamingBody(ctx, state, body, environ, handle);
}

/** An array body as it is, or (when it has `close()`) a copy whose close reports a failure instead of throwing. */
function wrapArrayBody(ctx: CatcherContext, inner: ResponseBody & Uint8Array[], environ: Environ): ResponseBody {
  if (typeof inner.close !== 'function') return inner;
  const copy: Uint8Array[] & { close?(): Promise<void> } = [...(inner as Uint8Array[])];
  copy.close = async () => {
    try {
      await inner.close!();
    } catch (error) {
      reportError(ctx, error, environ, 'close', true, 500);
    }
  };
  return copy;
}

/** A lazy wrapper of a streaming body: checks each chunk, closes the inner body once, and replaces or breaks the response on failure. */
function wrapStreamingBody(ctx: CatcherContext, state: ResponseState, inner: ResponseBody, environ: Environ, handle: (error: unknown, catchPoint: CatchPoint) => Uint8Array[]): ResponseBody {
  let closed = false;
  const closeInner = async () => {
    if (closed) return;
    closed = true;
    await inner.close?.();
  };
  return {
    [Symbol.asyncIterator]: () => streamingIterator(state, inner, closeInner, handle),
    async close() {
      try {
        await closeInner();
      } catch (error) {
        // Reached only when iteration stopped early (client gone, or an error already handled).
        reportError(ctx, error, environ, 'close', state.started, 500);
      }
    },
  };
}

/** The iterator of {@link wrapStreamingBody}: hand-written rather than an async generator, one promise per chunk. */
function streamingIterator(state: ResponseState, inner: ResponseBody, closeInner: () => Promise<void>, handle: (error: unknown, catchPoint: CatchPoint) => Uint8Array[]): AsyncIterator<Uint8Array> {
  const done: IteratorReturnResult<undefined> = { value: undefined, done: true };
  const source = inner as Partial<AsyncIterable<unknown>> & Partial<Iterable<unknown>>;
  const iterator: Iterator<unknown> | AsyncIterator<unknown> = source[Symbol.asyncIterator] ? source[Symbol.asyncIterator]!() : source[Symbol.iterator]!();
  let replacement: Uint8Array[] | undefined;
  let index = 0;
  let finished = false;
  const nextReplacement = (): IteratorResult<Uint8Array> => {
    if (index < replacement!.length) return { value: replacement![index++]!, done: false };
    finished = true;
    return done;
  };
  /** Before the response started: switch to the error page. After: log and rethrow (the server cuts the connection). */
  const fail = (error: unknown, catchPoint: CatchPoint): IteratorResult<Uint8Array> => {
    replacement = handle(error, catchPoint);
    return nextReplacement();
  };
  return {
    async next(): Promise<IteratorResult<Uint8Array>> {
      if (finished) return done;
      if (replacement) return nextReplacement();
      let step: IteratorResult<unknown>;
      try {
        step = await iterator.next();
      } catch (error) {
        return fail(error, 'body');
      }
      if (!step.done) {
        const chunk = step.value;
        if (isBytes(chunk)) {
          if (chunk.byteLength > 0) state.started = true;
          return step as IteratorResult<Uint8Array>;
        }
        try {
          await iterator.return?.();
        } catch {
          // the type error below is the one to report
        }
        return fail(new TypeError(`The response body yielded ${typeof chunk === 'string' ? 'a string (encode it: chunks are Uint8Array)' : chunk === null ? 'null' : typeof chunk}; chunks must be Uint8Array`), 'body');
      }
      // The end: close now, so that a failing close() can still replace or break the response.
      try {
        await closeInner();
      } catch (error) {
        return fail(error, 'close');
      }
      finished = true;
      return done;
    },
    async return(): Promise<IteratorResult<Uint8Array>> {
      const open = !finished && !replacement;
      finished = true;
      if (open) await iterator.return?.();
      return done;
    },
  };
}

function pageOf(type: string, text: string, isHtml: boolean): { headers: Array<[string, string]>; body: Buffer } {
  const body = Buffer.from(text, 'utf8');
  const headers: Array<[string, string]> = [
    ['Content-Type', type],
    ['Content-Length', String(body.byteLength)],
    ['Cache-Control', 'no-store'],
    ['X-Content-Type-Options', 'nosniff'],
  ];
  if (isHtml) headers.push(['Content-Security-Policy', "default-src 'none'; style-src 'unsafe-inline'"]);
  return { headers, body };
}

/**
 * The debugger PIN for debug mode: `option` (a string, or false = none), else $STACKWARE_DEBUG_PIN
 * ("off" = none), else {@link derivedPin}. Logs one warning line at start: the PIN when it was made
 * up, or that there is none.
 */
function debugPin(option: string | false | undefined, logger: Logger, now: (() => number) | undefined): DebugPin | undefined {
  const fromEnv = process.env[DEBUG_PIN_ENV]?.trim();
  const setting = option !== undefined ? option : fromEnv || undefined;
  if (setting === false || (typeof setting === 'string' && setting.toLowerCase() === 'off')) {
    logger.warn('DEBUGGER PIN DISABLED: debug pages and saved reports are shown to every trusted client without a PIN, including everyone a reverse proxy on this machine forwards (nginx proxy_pass connects from 127.0.0.1). Never do this on a machine others can reach.');
    return undefined;
  }
  if (typeof setting === 'string') {
    logger.warn(`debug mode is on: debug pages and saved reports need the debugger PIN (set by ${option !== undefined ? 'the pin option' : DEBUG_PIN_ENV})`);
    return new DebugPin(setting, now);
  }
  const made = derivedPin();
  logger.warn(`debug mode is on: debug pages and saved reports need the debugger PIN: ${made} (set ${DEBUG_PIN_ENV} to choose it)`);
  return new DebugPin(made, now);
}

function renderPublic(environ: Environ, status: number, errorId: string | undefined, message: string | undefined, pinUrl?: string) {
  const format = negotiateFormat(requestHeader(environ, 'Accept'));
  const page = { status, errorId, message, pinUrl };
  if (format === 'html') return pageOf('text/html; charset=utf-8', renderPublicHtml(page), true);
  if (format === 'json') return pageOf('application/json; charset=utf-8', renderPublicJson(page), false);
  return pageOf('text/plain; charset=utf-8', renderPublicText(page), false);
}
