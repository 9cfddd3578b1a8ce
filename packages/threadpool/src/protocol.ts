/**
 * The messages of one request between the server thread ("main") and the worker thread that runs
 * it. Each thread opens one MessageChannel at start and sends one end to the server thread
 * ({@link ThreadEvent} "port"); every request message travels over it, tagged with the request's
 * `id`. (One channel per thread, not per request: creating and transferring a MessagePort for
 * each request was the largest cost on the server thread.) Byte chunks travel as transferred copies.
 */
import type { MessagePort } from 'node:worker_threads';
import type { Headers } from '@stackware/gateway';

/** The Piscina task: what the server thread sends to start one request. */
export interface RequestTask {
  /** The request's id: every message of this request carries it. */
  id: number;
  /** The environ's structured-cloneable values (see environ-transfer.ts). */
  environ: Record<string, unknown>;
  /** A HEAD request: the worker's driver sends headers only. */
  head: boolean;
  /** Response bytes the worker may send ahead of the server's acknowledgements. */
  windowBytes: number;
}

/** A message of request `id`. */
export type Tagged<M> = M & { id: number };

/** What the worker thread posts (worker → main). */
export type WorkerMessage =
  /** The handler began (`initialising`: it first has to initialise the application). */
  | { t: 'started'; initialising: boolean }
  /** Initialisation finished inside this request: the request's own timeout starts now. */
  | { t: 'ready' }
  | { t: 'chunk'; chunk: Uint8Array; start?: ResponseStart }
  /** A file wrapper result: the server thread sends the file; the worker waits for `fileSent`. */
  | { t: 'file'; path: string | undefined; fd: number | undefined; offset: number; length: number; start?: ResponseStart }
  /** The end of the response; `chunk`: the last chunk, when it was still held back (hello answers in one message). */
  | { t: 'end'; start?: ResponseStart; chunk?: Uint8Array }
  /** The response broke off after headers (the application failed mid-body). */
  | { t: 'abort'; message: string; start?: ResponseStart }
  /** The application wants the next request-body chunk. */
  | { t: 'pull' }
  /** The application stopped reading the request body early. */
  | { t: 'inputReturn' }
  /** Text for `stackware.errors`. */
  | { t: 'log'; text: string }
  /** The application could not be initialised: the request gets 503, and the thread is terminated and replaced (fresh module cache). */
  | { t: 'initFailed'; reason: string }
  /** The thread passed its memory limit (heap + external): the request gets 503, and the thread is terminated and replaced. */
  | { t: 'overMemory'; reason: string }
  /**
   * The handler finished: the body was closed. `end`: the response's end, when it was still
   * waiting to be sent (it is held back briefly so that both travel in one message).
   * `retire`: the thread has served its share; terminate and replace it now.
   */
  | { t: 'done'; retire: boolean; end?: Extract<WorkerMessage, { t: 'end' }> };

/** Status and headers; they travel with the first body event (chunk, file, end or abort). */
export interface ResponseStart {
  status: string;
  headers: Headers;
  /** The body's length in bytes when the thread's driver knows it. */
  contentLength: number | undefined;
}

/** What the server thread posts (main → worker). */
export type MainMessage =
  | { t: 'input'; chunk: Uint8Array }
  | { t: 'inputEnd' }
  | { t: 'inputError'; message: string }
  /** `bytes` more response bytes may be sent. */
  | { t: 'credit'; bytes: number }
  /** The client went away: stop the response, close the body. */
  | { t: 'cancel' }
  /** The file of a `file` message was sent (or the send failed: `error`). */
  | { t: 'fileSent'; error?: string };

/** The Piscina task result. */
export interface TaskResult {
  /** True when the handler completed normally. */
  ok: true;
}

/** Messages a worker posts on its parentPort (Piscina relays them as the pool's 'message' event). */
export type ThreadEvent =
  /** The thread's end of its request channel (sent once, at start). */
  | { stackware: 'port'; threadId: number; port: MessagePort }
  | { stackware: 'initFailed'; threadId: number; reason: string }
  | { stackware: 'initialised'; threadId: number; ms: number }
  /** An exception or rejection nobody caught (logged; the thread carries on). */
  | { stackware: 'uncaught'; threadId: number; error: string };

/** Copies a chunk into a fresh ArrayBuffer so it can be transferred without detaching the original. */
export function detachableCopy(chunk: Uint8Array): Uint8Array {
  return new Uint8Array(chunk);
}

/** Start of the error message a thread over its memory limit (heap + external) fails its request with: the relay answers 503. */
export const MEMORY_LIMIT_MESSAGE = 'stackware-threadpool: the thread passed its memory limit';
