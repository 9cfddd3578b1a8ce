/**
 * One set of limits and timeouts for every gateway (HTTP, FastCGI, SCGI, and CGI where it
 * applies), and the one place that renders the answers a gateway gives by itself when a limit
 * trips: 400, 408, 413, 431, 503, 504. Each gateway resolves its options with
 * {@link resolveLimits}, checks a request's progress with {@link checkProgress} from its single
 * sweep timer, and renders refusals with {@link limitAnswer}.
 */

import { option } from '@stackware/gateway/options';

/** Checks a numeric option: a finite number ≥ `min` (an integer when `integer`). @throws RangeError naming the option. */
export function checkNumberOption(name: string, value: unknown, min = 0, integer = true): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || (integer && !Number.isInteger(value))) {
    throw new RangeError(`Option ${name} must be ${integer ? 'an integer' : 'a number'} ≥ ${min}, got ${JSON.stringify(value)}`);
  }
  return value;
}
/**
 * The limits every gateway enforces. Units are in the names; 0 disables a timeout.
 *
 * | option | unit | default | answer | gateways |
 * |---|---|---|---|---|
 * | maxBodyBytes | bytes | 1073741824 (1 GiB) | 413 | HTTP, FastCGI, SCGI, CGI |
 * | maxHeaderBytes | bytes | 16384 | 431 | HTTP (request line + headers), FastCGI/SCGI (REQUEST_URI + HTTP_* variables) |
 * | headersTimeoutMs | ms | 20000 | 408 (HTTP); connection closed (FastCGI/SCGI: PARAMS / header netstring, or a half-sent record) | HTTP, FastCGI, SCGI |
 * | clientTimeoutMs | ms | 60000 | 408, or the connection closed once headers were sent | HTTP, FastCGI, SCGI |
 * | requestTimeoutMs | ms | 300000 | 408 | HTTP, FastCGI, SCGI |
 * | timeoutMs | ms | 30000 | 504, or the connection closed once headers were sent | HTTP, FastCGI, SCGI |
 * | keepAliveTimeoutMs | ms | 5000 | idle connection closed | HTTP, FastCGI, SCGI |
 * | maxConnections | connections | 1024 | idle connections closed first; then HTTP/SCGI 503, FastCGI FCGI_OVERLOADED | HTTP, FastCGI, SCGI |
 *
 * - `clientTimeoutMs` is the body-progress timeout (nginx's client_body_timeout and send_timeout):
 *   while the gateway waits on the client — body bytes the application reads, response bytes
 *   the client must take — the client must make progress within it.
 * - `timeoutMs` is the application's: it must make progress (headers, a chunk) within it.
 * - `requestTimeoutMs` bounds the whole request (headers and body) however it trickles in.
 */
export interface LimitOptions {
  maxBodyBytes?: number;
  maxHeaderBytes?: number;
  headersTimeoutMs?: number;
  clientTimeoutMs?: number;
  requestTimeoutMs?: number;
  timeoutMs?: number;
  keepAliveTimeoutMs?: number;
  maxConnections?: number;
}

/** Resolved {@link LimitOptions}: every limit set. */
export type Limits = Required<LimitOptions>;

/** The defaults of {@link LimitOptions}, shared by every gateway. */
export const LIMIT_DEFAULTS: Readonly<Limits> = Object.freeze({
  maxBodyBytes: 1024 * 1024 * 1024,
  maxHeaderBytes: 16 * 1024,
  headersTimeoutMs: 20_000,
  clientTimeoutMs: 60_000,
  requestTimeoutMs: 300_000,
  timeoutMs: 30_000,
  keepAliveTimeoutMs: 5_000,
  maxConnections: 1024,
});

/** The deploy-file schema of {@link LimitOptions} (every gateway's factory includes it). */
export const LIMIT_OPTIONS = {
  maxBodyBytes: option.number('largest request body accepted (larger: 413)', { unit: 'bytes', integer: true, min: 0, default: LIMIT_DEFAULTS.maxBodyBytes }),
  maxHeaderBytes: option.number('largest request head: request line and headers, or REQUEST_URI and HTTP_* variables (larger: 431)', { unit: 'bytes', integer: true, min: 0, default: LIMIT_DEFAULTS.maxHeaderBytes }),
  headersTimeoutMs: option.number('the request head must arrive within this (else 408, or the connection closed); 0: none', { unit: 'ms', integer: true, min: 0, default: LIMIT_DEFAULTS.headersTimeoutMs }),
  clientTimeoutMs: option.number('the client must make progress (body bytes read, response bytes taken) within this (else 408 or the connection closed); 0: none', { unit: 'ms', integer: true, min: 0, default: LIMIT_DEFAULTS.clientTimeoutMs }),
  requestTimeoutMs: option.number('the whole request (head and body) must arrive within this (else 408); 0: none', { unit: 'ms', integer: true, min: 0, default: LIMIT_DEFAULTS.requestTimeoutMs }),
  timeoutMs: option.number('the application must make progress (headers, a chunk) within this (else 504, or the connection closed); 0: none', { unit: 'ms', integer: true, min: 0, default: LIMIT_DEFAULTS.timeoutMs }),
  keepAliveTimeoutMs: option.number('an idle keep-alive connection is closed after this', { unit: 'ms', integer: true, min: 0, default: LIMIT_DEFAULTS.keepAliveTimeoutMs }),
  maxConnections: option.number('open connections at most; over it the oldest idle one is closed, else the new one is refused (503 / FCGI_OVERLOADED)', { integer: true, min: 1, default: LIMIT_DEFAULTS.maxConnections }),
} as const;

const LIMIT_NAMES = Object.keys(LIMIT_DEFAULTS) as Array<keyof Limits>;

/**
 * Resolves and checks the limits among `options` (other keys are ignored).
 * @throws RangeError naming the option when a value is not an integer ≥ 0 (maxConnections ≥ 1),
 * or when headersTimeoutMs exceeds a non-zero requestTimeoutMs.
 */
export function resolveLimits(options: LimitOptions): Limits {
  const limits = {} as Limits;
  for (const name of LIMIT_NAMES) limits[name] = checkNumberOption(name, options[name] ?? LIMIT_DEFAULTS[name], name === 'maxConnections' ? 1 : 0);
  if (limits.requestTimeoutMs > 0 && limits.headersTimeoutMs > limits.requestTimeoutMs) {
    throw new RangeError(`Option headersTimeoutMs (${limits.headersTimeoutMs}) must not exceed requestTimeoutMs (${limits.requestTimeoutMs}): the headers are part of the request`);
  }
  return limits;
}

/** The statuses a gateway answers by itself. */
export type LimitStatus = 400 | 408 | 413 | 431 | 503 | 504;

const REASONS: Record<LimitStatus, string> = {
  400: 'Bad Request',
  408: 'Request Timeout',
  413: 'Content Too Large',
  431: 'Request Header Fields Too Large',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

/** A refusal as every gateway sends it: status line parts and a one-line plain-text body. */
export interface LimitAnswer {
  code: LimitStatus;
  reason: string;
  /** `"413 Content Too Large"` */
  status: string;
  /** The plain-text body (ends with a newline). */
  body: Buffer;
}

/**
 * Renders the answer for `code` (RFC 9110 §15.5.9 408, §15.5.14 413, §15.6.4 503, §15.6.5 504;
 * RFC 6585 §5 431) with `message` as its plain-text body. The same text for every gateway, so
 * the conformance suite can compare them.
 */
export function limitAnswer(code: LimitStatus, message: string): LimitAnswer {
  const reason = REASONS[code];
  return { code, reason, status: `${code} ${reason}`, body: Buffer.from(message + '\n', 'utf8') };
}

/** The messages of the limit answers, by the limit that tripped. */
export const limitMessages = {
  body: (limits: Pick<Limits, 'maxBodyBytes'>) => `Request body is larger than ${limits.maxBodyBytes} bytes`,
  headers: (limits: Pick<Limits, 'maxHeaderBytes'>) => `Request headers are larger than ${limits.maxHeaderBytes} bytes`,
  client: (limits: Pick<Limits, 'clientTimeoutMs'>) => `The client sent no data for ${limits.clientTimeoutMs} ms`,
  request: (limits: Pick<Limits, 'requestTimeoutMs'>) => `The request did not arrive within ${limits.requestTimeoutMs} ms`,
  app: (limits: Pick<Limits, 'timeoutMs'>) => `The application did not respond within ${limits.timeoutMs} ms`,
  overloaded: (limits: Pick<Limits, 'maxConnections'>) => `The server has ${limits.maxConnections} connections open; try again later`,
};

/** The progress of one request, as a gateway tracks it for {@link checkProgress}. Times are performance.now() ms. */
export interface RequestProgress {
  /** Last time the application or, while {@link waitingOnClient}, the client made progress. */
  lastActivity: number;
  /** True while the gateway waits on the client (a body read, a write waiting for the client to take bytes). */
  waitingOnClient: boolean;
  /** When the request began (FastCGI BEGIN_REQUEST, SCGI first byte); undefined when the server itself bounds the request (node:http). */
  requestStarted?: number;
  /** True once the whole request (headers and body) has arrived. */
  requestComplete?: boolean;
}

/** Which timeout tripped, with its answer: 408 (client or request) or 504 (application). */
export interface TimeoutTrip {
  code: 408 | 504;
  message: string;
}

/**
 * The timeout a request has run into at `now`, if any: the whole request not arrived within
 * requestTimeoutMs (408), the client silent for clientTimeoutMs while the gateway waits on it
 * (408), or the application silent for timeoutMs (504). Undefined when all is well.
 */
export function checkProgress(progress: RequestProgress, now: number, limits: Pick<Limits, 'clientTimeoutMs' | 'requestTimeoutMs' | 'timeoutMs'>): TimeoutTrip | undefined {
  if (limits.requestTimeoutMs > 0 && progress.requestStarted !== undefined && !progress.requestComplete && now - progress.requestStarted > limits.requestTimeoutMs) {
    return { code: 408, message: limitMessages.request(limits) };
  }
  const idle = now - progress.lastActivity;
  if (progress.waitingOnClient) {
    if (limits.clientTimeoutMs > 0 && idle > limits.clientTimeoutMs) return { code: 408, message: limitMessages.client(limits) };
  } else if (limits.timeoutMs > 0 && idle > limits.timeoutMs) {
    return { code: 504, message: limitMessages.app(limits) };
  }
  return undefined;
}

/** How often a gateway's sweep timer should run for these limits (ms): a quarter of the shortest timeout, 50–1000. */
export function sweepIntervalMs(limits: Partial<Limits>): number {
  const timeouts = [limits.timeoutMs, limits.clientTimeoutMs, limits.requestTimeoutMs, limits.headersTimeoutMs, limits.keepAliveTimeoutMs].filter((t): t is number => typeof t === 'number' && t > 0);
  const shortest = timeouts.length ? Math.min(...timeouts) : 4000;
  return Math.max(50, Math.min(1000, Math.floor(shortest / 4)));
}

/** Parses a CONTENT_LENGTH value: a decimal number, or undefined when absent or not decimal. */
export function declaredLength(value: string | undefined): number | undefined {
  return value !== undefined && /^\d{1,15}$/.test(value) ? Number(value) : undefined;
}
