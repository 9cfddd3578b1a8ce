/**
 * A small SCGI client (the SCGI protocol, Neil Schemenauer, 2008): sends one request's environ and
 * body to an SCGI server and streams its CGI response back. The process-group front uses it to
 * hand a request, environ intact, to a daemon process of its group (mod_wsgi's daemon mode).
 */
import { connect, type Socket } from 'node:net';
import { isHopByHop, type Environ, type Headers } from '@stackware/gateway';

const CGI_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** The largest response head (status and headers) read before the response is refused, in bytes. */
const MAX_HEAD_BYTES = 64 * 1024;

/** Why a forward failed, for the front's status: `connect` (nothing answered: try another process), `protocol` (a bad answer), `closed` (the process went away before answering). */
export class SCGIForwardError extends Error {
  constructor(readonly phase: 'connect' | 'protocol' | 'closed', message: string, readonly code?: string) {
    super(message);
    this.name = 'SCGIForwardError';
  }
}

/**
 * The SCGI header netstring for one environ: `CONTENT_LENGTH` first (RFC-less but required by the
 * SCGI text), `SCGI` = "1", then every string-valued CGI variable of the environ (REQUEST_METHOD,
 * SCRIPT_NAME, PATH_INFO, QUERY_STRING, REQUEST_URI, SERVER_*, REMOTE_*, CONTENT_TYPE and every
 * HTTP_* key), and `HTTPS` = "on" when `stackware.url_scheme` is "https". `stackware.*` keys stay
 * behind: the receiving gateway builds its own.
 */
export function scgiRequestHead(environ: Environ, contentLength: number): Buffer {
  const parts: Buffer[] = [];
  const add = (name: string, value: string) => parts.push(Buffer.from(name, 'latin1'), ZERO, Buffer.from(value, name.startsWith('HTTP_') || name === 'REQUEST_URI' || name === 'QUERY_STRING' ? 'latin1' : 'utf8'), ZERO);
  add('CONTENT_LENGTH', String(contentLength));
  add('SCGI', '1');
  for (const [name, value] of Object.entries(environ)) {
    if (typeof value !== 'string' || name === 'CONTENT_LENGTH' || name === 'SCGI' || name === 'HTTPS' || !CGI_NAME.test(name)) continue;
    add(name, value);
  }
  if (environ['stackware.url_scheme'] === 'https') add('HTTPS', 'on');
  const body = Buffer.concat(parts);
  return Buffer.concat([Buffer.from(`${body.length}:`, 'latin1'), body, COMMA]);
}
const ZERO = Buffer.from([0]);
const COMMA = Buffer.from(',');

/** One SCGI response: its status line, headers (hop-by-hop ones dropped) and the body as it streams. */
export interface SCGIResponse {
  status: string;
  headers: Headers;
  body: AsyncIterable<Uint8Array>;
  /** Breaks the connection off (the body iterator then ends with an error). */
  destroy(): void;
}

/** Options of {@link scgiRequest}. */
export interface SCGIRequestOptions {
  /** Unix-domain socket path of the SCGI server. */
  socket: string;
  /** Aborts the exchange (the socket is destroyed). */
  signal?: AbortSignal;
}

/**
 * Sends `environ` and its body (`stackware.input`, read to the end; CONTENT_LENGTH bytes when the
 * environ has one, else the whole input, buffered, since SCGI needs the length up front) over a
 * fresh connection to `options.socket`, and resolves once the response head (`Status:` and headers,
 * RFC 3875 §6) has arrived. The body then streams from the socket with backpressure (the socket is
 * paused while the consumer is slow). Hop-by-hop response headers (gateway's HOP_BY_HOP_HEADERS)
 * are dropped; a missing `Status:` means "200 OK" (RFC 3875 §6.3.3 with a Location → "302 Found").
 * @throws SCGIForwardError `connect` when nothing accepts on the socket (ENOENT, ECONNREFUSED),
 * `closed` when the server closes before a complete head, `protocol` for a malformed head.
 */
export async function scgiRequest(environ: Environ, options: SCGIRequestOptions): Promise<SCGIResponse> {
  const declared = typeof environ.CONTENT_LENGTH === 'string' && environ.CONTENT_LENGTH !== '' ? Number(environ.CONTENT_LENGTH) : undefined;
  const input = environ['stackware.input'] as AsyncIterable<Uint8Array> | undefined;
  let buffered: Buffer[] | undefined;
  let length = declared ?? 0;
  if (declared === undefined && input && hasBody(environ)) {
    buffered = [];
    for await (const chunk of input) buffered.push(Buffer.from(chunk));
    length = buffered.reduce((n, b) => n + b.length, 0);
  }
  const socket = await openSocket(options.socket);
  const abort = () => socket.destroy(new SCGIForwardError('closed', 'the request was aborted'));
  options.signal?.addEventListener('abort', abort, { once: true });
  socket.write(scgiRequestHead(environ, length));
  void sendBody(socket, buffered ?? (length > 0 ? input : undefined), length);
  try {
    const { status, headers, rest } = await readHead(socket);
    const body = streamBody(socket, rest, () => options.signal?.removeEventListener('abort', abort));
    return { status, headers, body, destroy: () => socket.destroy() };
  } catch (error) {
    options.signal?.removeEventListener('abort', abort);
    socket.destroy();
    throw error;
  }
}

function hasBody(environ: Environ): boolean {
  return environ.REQUEST_METHOD !== 'GET' && environ.REQUEST_METHOD !== 'HEAD' && typeof environ.HTTP_TRANSFER_ENCODING === 'string';
}

function openSocket(path: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(path);
    socket.once('connect', () => {
      socket.removeAllListeners('error');
      socket.on('error', () => {});
      resolve(socket);
    });
    socket.once('error', (error: NodeJS.ErrnoException) => reject(new SCGIForwardError('connect', `cannot connect to ${path}: ${error.code ?? error.message}`, error.code)));
  });
}

/** Writes the body (at most `length` bytes) with backpressure; a failure breaks the connection off. */
async function sendBody(socket: Socket, body: Iterable<Uint8Array> | AsyncIterable<Uint8Array> | undefined, length: number): Promise<void> {
  let left = length;
  try {
    if (body) {
      for await (const chunk of body) {
        if (left <= 0 || socket.destroyed) break;
        const part = chunk.byteLength > left ? chunk.subarray(0, left) : chunk;
        left -= part.byteLength;
        if (!socket.write(part)) await new Promise<void>((resolve) => { socket.once('drain', resolve); socket.once('close', resolve); });
      }
    }
  } catch {
    socket.destroy();
  }
}

/** Reads the CGI response head from the socket. */
function readHead(socket: Socket): Promise<{ status: string; headers: Headers; rest: Buffer }> {
  return new Promise((resolve, reject) => {
    let data: Buffer = Buffer.alloc(0);
    const cleanup = () => {
      socket.off('data', onData);
      socket.off('close', onClose);
    };
    const onClose = () => {
      cleanup();
      reject(new SCGIForwardError('closed', 'the SCGI server closed the connection before a complete response head'));
    };
    const onData = (chunk: Buffer) => {
      data = data.length ? Buffer.concat([data, chunk]) : chunk;
      let end = data.indexOf('\r\n\r\n');
      let sep = 4;
      if (end === -1) {
        end = data.indexOf('\n\n');
        sep = 2;
      }
      if (end === -1) {
        if (data.length > MAX_HEAD_BYTES) {
          cleanup();
          reject(new SCGIForwardError('protocol', `the response head exceeds ${MAX_HEAD_BYTES} bytes`));
        }
        return;
      }
      cleanup();
      socket.pause();
      try {
        resolve({ ...parseHead(data.toString('latin1', 0, end)), rest: data.subarray(end + sep) });
      } catch (error) {
        reject(error);
      }
    };
    socket.on('data', onData);
    socket.on('close', onClose);
  });
}

/** Parses a CGI response head: `Status:` and the headers, in order. */
function parseHead(text: string): { status: string; headers: Headers } {
  let status: string | undefined;
  const headers: Headers = [];
  for (const line of text.split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon <= 0) throw new SCGIForwardError('protocol', `malformed response header line ${JSON.stringify(line.slice(0, 80))}`);
    const name = line.slice(0, colon).trim();
    const value = line.slice(colon + 1).trim();
    if (name.toLowerCase() === 'status') status = value;
    else if (!isHopByHop(name)) headers.push([name, value]);
  }
  if (status === undefined) status = headers.some(([n]) => n.toLowerCase() === 'location') ? '302 Found' : '200 OK';
  if (!/^\d{3} /.test(status)) status = /^\d{3}$/.test(status) ? `${status} Unknown` : '502 Bad Gateway';
  return { status, headers };
}

/** The response body: the bytes after the head, then the socket's data until it ends. */
async function* streamBody(socket: Socket, rest: Buffer, done: () => void): AsyncGenerator<Uint8Array> {
  try {
    if (rest.length) yield rest;
    for await (const chunk of socket) yield chunk as Buffer;
  } finally {
    done();
    socket.destroy();
  }
}
