/**
 * One FastCGI connection (FastCGI 1.0 responder): reads records, runs one application per
 * request (several at once when the client multiplexes), and writes STDOUT/STDERR/END_REQUEST.
 */
import type { Socket } from 'node:net';
import { BadRequestError, ClientDisconnectedError, HTTPError, createInput, runApplication, type Application, type ErrorStream, type ResponseSink } from '@stackware/gateway';
import { IN_FLIGHT_KEY, operations } from '../metrics/hooks.js';
import {
  FCGI_KEEP_CONN, FastCGIProtocolError, ProtocolStatus, RecordParser, RecordType, Role,
  decodeBeginRequest, decodeNameValuePairs, encodeEndRequest, encodeNameValuePairs, encodeRecord, encodeStream, encodeUnknownType,
  type FcgiRecord,
} from './records.js';
import { InputQueue } from './input-queue.js';
import { ResponseSignal } from '../response-signal.js';
import { environFromCgi } from '../cgi-environ.js';
import { cgiErrorResponse, PendingCgiHead } from '../cgi-response.js';
import { LAME_DUCK_MESSAGE, type LameDuck } from '../shutdown.js';
import type { TrackedConnection } from './listener.js';
import { checkProgress, declaredLength, limitAnswer, limitMessages, type LimitStatus, type Limits, type RequestProgress } from '../limits.js';

/** Limits and flags a connection works with (resolved options of serveFastCGI). */
export interface FastCGIConnectionSettings {
  maxRequestsPerConnection: number;
  multiplex: boolean;
  maxParamsBytes: number;
  inputHighWaterBytes: number;
  multithread: boolean;
  multiprocess: boolean;
  /** Where the gateway reports protocol errors and errors outside any request. */
  log: ErrorStream;
  /** The limits every gateway shares (limits.ts). */
  limits: Limits;
}

/** The error a request's input fails with once its response is over (made only if the application still reads). */
const disconnected = () => new ClientDisconnectedError();

/** Output waiting in the socket beyond which the connection stops reading. */
const OUTPUT_BACKLOG_BYTES = 1024 * 1024;

interface FcgiRequest extends RequestProgress {
  id: number;
  keepConn: boolean;
  params: Buffer[];
  paramsBytes: number;
  started: boolean;
  finished: boolean;
  usedStderr: boolean;
  input: InputQueue;
  signal: ResponseSignal;
  /** Set when the client sent ABORT_REQUEST (as opposed to the connection going away). */
  abortedByClient: boolean;
  /** True once STDOUT bytes of the response were sent: an early answer can no longer replace it. */
  responded: boolean;
  /** True while a response write waits for the client to take bytes. */
  drainWaiting: boolean;
}

/**
 * The size a request's headers would have on the wire (request line + `Name: value` lines), from
 * its CGI variables: what maxHeaderBytes limits, so that FastCGI/SCGI answer 431 where HTTP does.
 */
export function headerBytesOf(variables: ReadonlyArray<readonly [string, Uint8Array]>): number {
  let total = 0;
  for (const [name, value] of variables) {
    if (name.startsWith('HTTP_')) total += name.length - 5 + 4 + value.byteLength;
    else if (name === 'REQUEST_URI' || name === 'REQUEST_METHOD' || name === 'SERVER_PROTOCOL' || name === 'CONTENT_LENGTH' || name === 'CONTENT_TYPE') total += value.byteLength + 4;
  }
  return total;
}

/**
 * A connection over maxConnections, refused gracefully (FastCGI spec §5.5): its first
 * BEGIN_REQUEST gets END_REQUEST with FCGI_OVERLOADED, then the connection closes.
 */
export function refuseOverloaded(socket: Socket): void {
  const parser = new RecordParser();
  let answered = false;
  socket.on('data', (chunk: Buffer) => {
    if (answered) return;
    let records: FcgiRecord[];
    try {
      records = parser.push(chunk);
    } catch {
      socket.destroy();
      return;
    }
    const begin = records.find((record) => record.type === RecordType.BEGIN_REQUEST);
    if (!begin) return;
    answered = true;
    socket.end(encodeEndRequest(begin.requestId, 0, ProtocolStatus.OVERLOADED));
  });
  socket.on('end', () => socket.end());
}

/**
 * Serves FastCGI on one socket. Hostile or malformed input (bad version, oversize PARAMS, a
 * duplicate request id, malformed BEGIN_REQUEST or name-value pairs) is logged and closes this
 * connection only.
 */
export class FastCGIConnection implements TrackedConnection {
  private readonly parser = new RecordParser();
  private readonly requests = new Map<number, FcgiRequest>();
  private draining = false;
  private readEnded = false;
  /** Records written in this turn of the event loop, not yet handed to the socket (see {@link send}). */
  private out: Buffer[] = [];
  private outBytes = 0;
  private flushScheduled = false;
  private readonly flushSoon = () => {
    this.flushScheduled = false;
    this.flush();
  };
  private closed = false;
  private drainWaiters: Array<() => void> = [];
  /** Last time bytes arrived or a request finished (performance.now() ms): idle and half-sent-record timeouts. */
  private lastActivity = performance.now();

  constructor(
    private readonly socket: Socket,
    private readonly app: Application,
    private readonly settings: FastCGIConnectionSettings,
    private readonly lameDuck?: LameDuck,
  ) {
    socket.on('data', (chunk: Buffer) => {
      this.lastActivity = performance.now();
      this.onData(chunk);
    });
    socket.on('drain', () => {
      this.wakeWriters();
      this.updateFlow();
    });
    socket.on('error', () => socket.destroy());
    socket.on('end', () => {
      this.readEnded = true;
      // The client will send nothing more: requests still reading STDIN never complete.
      for (const request of this.requests.values()) if (!request.input.done) request.input.fail(new ClientDisconnectedError());
      if (this.requests.size === 0) this.endSocket();
    });
    socket.on('close', () => this.onClose());
  }

  drain(): void {
    this.draining = true;
    if (this.requests.size === 0) this.endSocket();
  }

  destroy(): void {
    this.socket.destroy();
  }

  get idle(): boolean {
    return this.requests.size === 0 && this.parser.pendingBytes === 0;
  }

  /**
   * The timeouts (limits.ts): an idle connection is closed after keepAliveTimeoutMs; a half-sent
   * record (between requests) or PARAMS that do not complete within headersTimeoutMs close the
   * connection or answer 408; a running request is held to requestTimeoutMs, clientTimeoutMs
   * (408) and timeoutMs (504) by {@link checkProgress}.
   */
  sweep(now: number): void {
    if (this.closed) return;
    const limits = this.settings.limits;
    if (this.requests.size === 0) {
      if (this.parser.pendingBytes > 0) {
        if (limits.headersTimeoutMs > 0 && now - this.lastActivity > limits.headersTimeoutMs && !this.socket.isPaused()) {
          this.protocolError(`a record was half sent and nothing more came within ${limits.headersTimeoutMs} ms (headersTimeoutMs)`);
        }
      } else if (limits.keepAliveTimeoutMs > 0 && now - this.lastActivity > limits.keepAliveTimeoutMs) {
        this.socket.destroySoon();
      }
      return;
    }
    for (const request of this.requests.values()) {
      if (!request.started) {
        if (limits.headersTimeoutMs > 0 && now - request.requestStarted! > limits.headersTimeoutMs) this.answerEarly(request, 408, `The request headers did not arrive within ${limits.headersTimeoutMs} ms`);
        continue;
      }
      request.waitingOnClient = request.input.consumerWaiting || request.drainWaiting;
      if (request.input.lastActivity > request.lastActivity) request.lastActivity = request.input.lastActivity;
      const trip = checkProgress(request, now, limits);
      if (trip) this.answerEarly(request, trip.code, trip.message);
    }
  }

  /**
   * The gateway answers a request by itself (limits.ts renders the answer): before the response
   * started, STDOUT carries the answer and END_REQUEST follows; after, the response is broken off.
   * The application is stopped (its body closed) and its input fails with an HTTPError.
   */
  private answerEarly(request: FcgiRequest, code: LimitStatus, message: string): void {
    if (request.finished) return;
    const answer = limitAnswer(code, message);
    this.settings.log.write(`FastCGI: request ${request.id}: ${answer.status}: ${message}\n`);
    request.signal.abort();
    if (!request.input.done) request.input.fail(new HTTPError(code, message));
    if (request.responded) {
      if (this.requests.size <= 1) this.socket.destroy();
      else this.finish(request, 1, ProtocolStatus.REQUEST_COMPLETE);
      return;
    }
    this.send(encodeStream(RecordType.STDOUT, request.id, cgiErrorResponse(answer.status, message)));
    this.finish(request, 0, ProtocolStatus.REQUEST_COMPLETE, true);
  }

  private onClose(): void {
    this.closed = true;
    for (const request of this.requests.values()) {
      request.signal.abort();
      request.input.fail(new ClientDisconnectedError());
    }
    this.requests.clear();
    this.out = [];
    this.outBytes = 0;
    this.wakeWriters();
  }

  private wakeWriters(): void {
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const wake of waiters) wake();
  }

  private protocolError(message: string): void {
    this.settings.log.write(`FastCGI: closing the connection from ${this.socket.remoteAddress ?? 'a Unix socket'}: ${message}\n`);
    this.socket.destroy();
  }

  private onData(chunk: Buffer): void {
    let records: FcgiRecord[];
    try {
      records = this.parser.push(chunk);
    } catch (error) {
      this.protocolError((error as Error).message);
      return;
    }
    for (const record of records) {
      if (this.closed || this.socket.destroyed) return;
      try {
        this.onRecord(record);
      } catch (error) {
        this.protocolError(error instanceof FastCGIProtocolError ? error.message : String(error));
        return;
      }
    }
    this.updateFlow();
  }

  /**
   * Pauses the socket while any request has more STDIN queued than the high-water mark, or while
   * more than 1 MiB of output waits for a client that does not read (GET_VALUES floods).
   */
  private updateFlow(): void {
    if (this.closed) return;
    let over = this.socket.writableLength > OUTPUT_BACKLOG_BYTES;
    for (const request of this.requests.values()) if (request.input.queuedBytes > this.settings.inputHighWaterBytes) over = true;
    if (over && !this.socket.isPaused()) this.socket.pause();
    else if (!over && this.socket.isPaused()) this.socket.resume();
  }

  /**
   * Writes records. Records written in one turn of the event loop are gathered and handed to the
   * socket together at setImmediate (a response's STDOUT, end of STDOUT and END_REQUEST; several
   * responses on a multiplexed connection), small ones copied into one buffer so that they leave
   * in one write(2). Waiting for setImmediate (not writing as each response ends) measured cheaper:
   * the responses of every connection served in one turn leave together, and the turn's reads are
   * all done before any write. Over 64 KiB gathered, they leave at once. Returns false when the
   * caller should wait for `drain`.
   */
  private send(data: Buffer | Buffer[]): boolean {
    if (this.closed || this.socket.destroyed) return true;
    if (Array.isArray(data)) {
      for (const part of data) {
        this.out.push(part);
        this.outBytes += part.length;
      }
    } else {
      this.out.push(data);
      this.outBytes += data.length;
    }
    if (this.outBytes >= 64 * 1024) return this.flush();
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(this.flushSoon);
    }
    return !this.socket.writableNeedDrain;
  }

  /** Hands what {@link send} gathered to the socket: one buffer when small, else one corked writev without copies. */
  private flush(): boolean {
    const out = this.out;
    if (out.length === 0 || this.closed || this.socket.destroyed) {
      this.out = [];
      this.outBytes = 0;
      return !this.socket.writableNeedDrain;
    }
    const bytes = this.outBytes;
    this.out = [];
    this.outBytes = 0;
    if (out.length === 1) return this.socket.write(out[0]!);
    if (bytes <= 16 * 1024) return this.socket.write(Buffer.concat(out, bytes));
    this.socket.cork();
    let ok = true;
    for (const part of out) ok = this.socket.write(part);
    this.socket.uncork();
    return ok;
  }

  /** Flushes what is gathered, then ends the connection. */
  private endSocket(): void {
    this.flush();
    this.socket.end();
  }

  private onRecord(record: FcgiRecord): void {
    const { type, requestId, content } = record;
    if (requestId === 0) {
      if (type === RecordType.GET_VALUES) this.send(this.getValuesResult(content));
      else this.send(encodeUnknownType(type));
      return;
    }
    if (type === RecordType.BEGIN_REQUEST) {
      this.begin(requestId, content);
      return;
    }
    const request = this.requests.get(requestId);
    if (!request) return; // records for requests that are not active are ignored (spec §3.3)
    switch (type) {
      case RecordType.PARAMS:
        if (request.started) return;
        if (content.length === 0) {
          this.start(request);
          return;
        }
        request.paramsBytes += content.length;
        if (request.paramsBytes > this.settings.maxParamsBytes) throw new FastCGIProtocolError(`PARAMS of request ${requestId} exceed ${this.settings.maxParamsBytes} bytes (maxParamsBytes)`);
        request.params.push(content);
        return;
      case RecordType.STDIN:
        if (content.length === 0) {
          request.requestComplete = true;
          request.input.end();
        } else {
          request.input.push(content);
          if (request.input.receivedBytes > this.settings.limits.maxBodyBytes) this.answerEarly(request, 413, limitMessages.body(this.settings.limits));
        }
        return;
      case RecordType.ABORT_REQUEST:
        request.abortedByClient = true;
        request.signal.abort();
        request.input.fail(new ClientDisconnectedError());
        if (!request.started) this.finish(request, 0, ProtocolStatus.REQUEST_COMPLETE);
        return;
      default:
        return; // DATA (filter role) and unknown application record types: ignored
    }
  }

  private getValuesResult(content: Buffer): Buffer {
    const known = new Map<string, string>(Object.entries({
      FCGI_MAX_CONNS: String(this.settings.limits.maxConnections),
      FCGI_MAX_REQS: String(this.settings.multiplex ? this.settings.limits.maxConnections * this.settings.maxRequestsPerConnection : this.settings.limits.maxConnections),
      FCGI_MPXS_CONNS: this.settings.multiplex ? '1' : '0',
    }));
    const answer: Array<[string, string]> = [];
    for (const [name] of decodeNameValuePairs(content)) if (known.has(name)) answer.push([name, known.get(name)!]);
    return encodeRecord(RecordType.GET_VALUES_RESULT, 0, encodeNameValuePairs(answer));
  }

  private begin(requestId: number, content: Buffer): void {
    const { role, flags } = decodeBeginRequest(content);
    if (this.requests.has(requestId)) throw new FastCGIProtocolError(`BEGIN_REQUEST for request ${requestId}, which is already active`);
    const keepConn = (flags & FCGI_KEEP_CONN) !== 0;
    let refuse: number | undefined;
    if (role !== Role.RESPONDER) refuse = ProtocolStatus.UNKNOWN_ROLE;
    else if (this.requests.size > 0 && !this.settings.multiplex) refuse = ProtocolStatus.CANT_MPX_CONN;
    else if (this.draining || this.requests.size >= this.settings.maxRequestsPerConnection) refuse = ProtocolStatus.OVERLOADED;
    if (refuse !== undefined) {
      this.send(encodeEndRequest(requestId, 0, refuse));
      if (!keepConn && this.requests.size === 0) this.endSocket();
      return;
    }
    const now = performance.now();
    const request: FcgiRequest = {
      id: requestId, keepConn, params: [], paramsBytes: 0, started: false, finished: false, usedStderr: false,
      input: new InputQueue(() => this.updateFlow()), signal: new ResponseSignal(), abortedByClient: false,
      responded: false, drainWaiting: false, lastActivity: now, waitingOnClient: false, requestStarted: now, requestComplete: false,
    };
    this.requests.set(requestId, request);
  }

  /** Sends END_REQUEST, forgets the request, and ends the connection when it is not kept. */
  private finish(request: FcgiRequest, appStatus: number, protocolStatus: number, stdoutEnd = false): void {
    if (request.finished) return;
    request.finished = true;
    if (stdoutEnd) this.send(encodeRecord(RecordType.STDOUT, request.id));
    if (request.usedStderr) this.send(encodeRecord(RecordType.STDERR, request.id));
    this.send(encodeEndRequest(request.id, appStatus, protocolStatus));
    this.requests.delete(request.id);
    this.lastActivity = performance.now();
    if (!request.input.done) request.input.fail(disconnected);
    this.updateFlow();
    if (this.requests.size === 0 && (!request.keepConn || this.draining || this.readEnded)) this.endSocket();
  }

  private errorsFor(request: FcgiRequest): ErrorStream {
    return {
      write: (text: string) => {
        if (request.finished || this.closed) {
          this.settings.log.write(text);
          return;
        }
        const data = Buffer.from(String(text), 'utf8');
        if (data.length === 0) return;
        request.usedStderr = true;
        this.send(encodeStream(RecordType.STDERR, request.id, data));
      },
    };
  }

  private start(request: FcgiRequest): void {
    request.started = true;
    let variables: Array<[string, Buffer]>;
    try {
      // nginx sends PARAMS in one record: no copy then.
      variables = decodeNameValuePairs(request.params.length === 1 ? request.params[0]! : Buffer.concat(request.params));
    } catch (error) {
      throw new FastCGIProtocolError(`Malformed PARAMS for request ${request.id}: ${(error as Error).message}`);
    }
    request.params = [];
    const limits = this.settings.limits;
    if (headerBytesOf(variables) > limits.maxHeaderBytes) {
      this.answerEarly(request, 431, limitMessages.headers(limits));
      return;
    }
    const length = declaredLength(variables.findLast(([name]) => name === 'CONTENT_LENGTH')?.[1].toString('latin1'));
    if (length !== undefined && length > limits.maxBodyBytes) {
      this.answerEarly(request, 413, limitMessages.body(limits));
      return;
    }
    if (this.lameDuck?.active && this.lameDuck.refuses(this.socket, variables.find(([name]) => name === 'REQUEST_METHOD')?.[1].toString('latin1') ?? '')) {
      // The stop's lame-duck phase: the front resends an idempotent request to another node.
      this.send(encodeStream(RecordType.STDOUT, request.id, cgiErrorResponse('503 Service Unavailable', LAME_DUCK_MESSAGE, [['Retry-After', '1']])));
      this.finish(request, 0, ProtocolStatus.REQUEST_COMPLETE, true);
      return;
    }
    request.lastActivity = performance.now();
    void this.run(request, variables);
  }

  private waitForDrain(request: FcgiRequest): Promise<void> {
    if (this.closed || request.signal.aborted || !this.socket.writableNeedDrain) return Promise.resolve();
    request.drainWaiting = true;
    request.lastActivity = performance.now();
    return new Promise<void>((resolve) => {
      const done = () => {
        request.drainWaiting = false;
        request.lastActivity = performance.now();
        resolve();
      };
      const onAbort = () => done();
      request.signal.addEventListener('abort', onAbort);
      this.drainWaiters.push(() => {
        request.signal.removeEventListener('abort', onAbort);
        done();
      });
    });
  }

  private async run(request: FcgiRequest, variables: Array<[string, Buffer]>): Promise<void> {
    const errors = this.errorsFor(request);
    let environ;
    try {
      const length = declaredLength(variables.findLast(([name]) => name === 'CONTENT_LENGTH')?.[1].toString('latin1'));
      environ = environFromCgi(variables, {
        input: createInput(request.input, length),
        errors,
        multithread: this.settings.multithread,
        multiprocess: this.settings.multiprocess,
        runOnce: false,
      });
    } catch (error) {
      const bad = error instanceof BadRequestError;
      if (!bad) this.settings.log.write(`FastCGI: cannot build the environ: ${(error as Error).stack ?? String(error)}\n`);
      const response = bad ? cgiErrorResponse('400 Bad Request', `Bad Request: ${error.message}`) : cgiErrorResponse('500 Internal Server Error', 'Internal Server Error');
      this.send(encodeStream(RecordType.STDOUT, request.id, response));
      this.finish(request, 0, ProtocolStatus.REQUEST_COMPLETE, true);
      return;
    }

    const head = new PendingCgiHead();
    const sink: ResponseSink = {
      sendHeaders: (status, headers, contentLength) => {
        request.lastActivity = performance.now();
        head.set(status, headers, contentLength);
      },
      // Not async: a write the socket takes at once costs no promise; one it cannot returns the wait for drain.
      write: (chunk) => {
        if (request.signal.aborted) return;
        const data = head.withHead(chunk);
        request.responded = true;
        request.lastActivity = performance.now();
        if (!this.send(encodeStream(RecordType.STDOUT, request.id, data))) return this.waitForDrain(request);
      },
      end: () => {
        if (request.signal.aborted) return;
        request.responded = true;
        const pending = head.takeHead();
        if (pending) this.send(encodeStream(RecordType.STDOUT, request.id, pending));
        this.finish(request, 0, ProtocolStatus.REQUEST_COMPLETE, true);
      },
      abort: () => {
        // A broken response must look broken: with no other request on the connection, break it
        // off (nginx then reports "upstream prematurely closed"); otherwise end this request with
        // a non-zero appStatus and no end-of-STDOUT record.
        if (this.requests.size <= 1) this.socket.destroy();
        else this.finish(request, 1, ProtocolStatus.REQUEST_COMPLETE);
      },
      signal: request.signal,
    };
    // The metrics hooks (undefined unless a metrics listener is configured).
    const ops = operations();
    const counted = ops?.start(environ.REQUEST_METHOD, typeof environ.REQUEST_URI === 'string' ? environ.REQUEST_URI : environ.PATH_INFO);
    if (counted) environ[IN_FLIGHT_KEY] = counted;
    const result = await runApplication(this.app, environ, sink, { head: environ.REQUEST_METHOD === 'HEAD' });
    if (counted) ops!.finish(counted, result.status ? parseInt(result.status, 10) : 0);
    // Answer ABORT_REQUEST with END_REQUEST (spec §5.4); a vanished connection gets nothing.
    if (!request.finished && request.abortedByClient) this.finish(request, 0, ProtocolStatus.REQUEST_COMPLETE);
    else if (!request.finished && !this.closed) this.finish(request, 1, ProtocolStatus.REQUEST_COMPLETE);
  }
}
