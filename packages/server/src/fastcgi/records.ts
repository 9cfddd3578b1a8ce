/**
 * The FastCGI 1.0 record codec (FastCGI Specification, Open Market 1996, §3 and §8):
 * record headers, padding, name-value pairs, and a streaming parser that turns socket bytes into
 * records. Pure functions and one small class; no sockets here.
 */

/** FCGI_VERSION_1: the only protocol version. */
export const FCGI_VERSION_1 = 1;
/** Size of a record header in bytes. */
export const FCGI_HEADER_LEN = 8;
/** Largest content of one record: contentLength is 16 bits. */
export const FCGI_MAX_CONTENT = 65535;
/** requestId of management records. */
export const FCGI_NULL_REQUEST_ID = 0;

/** Record types (spec §8). */
export const RecordType = {
  BEGIN_REQUEST: 1,
  ABORT_REQUEST: 2,
  END_REQUEST: 3,
  PARAMS: 4,
  STDIN: 5,
  STDOUT: 6,
  STDERR: 7,
  DATA: 8,
  GET_VALUES: 9,
  GET_VALUES_RESULT: 10,
  UNKNOWN_TYPE: 11,
} as const;

/** Roles in BEGIN_REQUEST (spec §5). */
export const Role = { RESPONDER: 1, AUTHORIZER: 2, FILTER: 3 } as const;

/** The `flags` bit of BEGIN_REQUEST: keep the connection open after this request. */
export const FCGI_KEEP_CONN = 1;

/** protocolStatus values of END_REQUEST (spec §5.5). */
export const ProtocolStatus = { REQUEST_COMPLETE: 0, CANT_MPX_CONN: 1, OVERLOADED: 2, UNKNOWN_ROLE: 3 } as const;

/** One decoded record. `content` excludes padding; it may share memory with the parser's buffer. */
export interface FcgiRecord {
  version: number;
  type: number;
  requestId: number;
  content: Buffer;
}

/** A protocol violation that ends the connection (bad version, oversize data, malformed pairs). */
export class FastCGIProtocolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FastCGIProtocolError';
  }
}

const ZERO_PADDING = Buffer.alloc(8);
const EMPTY = Buffer.alloc(0);

/** Padding (0..7 bytes) that brings `contentLength` to a multiple of 8, as the spec recommends. */
export function paddingFor(contentLength: number): number {
  return (8 - (contentLength % 8)) % 8;
}

/**
 * Encodes one record: header, content, zero padding to an 8-byte boundary.
 * @throws RangeError when `content` is longer than 65535 bytes (use {@link encodeStream}).
 */
export function encodeRecord(type: number, requestId: number, content: Uint8Array = ZERO_PADDING.subarray(0, 0)): Buffer {
  if (content.byteLength > FCGI_MAX_CONTENT) throw new RangeError(`FastCGI record content is ${content.byteLength} bytes; the limit is ${FCGI_MAX_CONTENT}`);
  const padding = paddingFor(content.byteLength);
  const out = Buffer.allocUnsafe(FCGI_HEADER_LEN + content.byteLength + padding);
  out[0] = FCGI_VERSION_1;
  out[1] = type;
  out.writeUInt16BE(requestId, 2);
  out.writeUInt16BE(content.byteLength, 4);
  out[6] = padding;
  out[7] = 0;
  out.set(content, FCGI_HEADER_LEN);
  out.fill(0, FCGI_HEADER_LEN + content.byteLength);
  return out;
}

/**
 * Encodes bytes of a stream (STDOUT, STDERR) as as many records as needed, each at most 65535
 * content bytes (a multiple of 8 below that, so records other than the last need no padding).
 * An empty `data` gives no records: the end-of-stream record is `encodeRecord(type, id)`.
 */
export function encodeStream(type: number, requestId: number, data: Uint8Array): Buffer[] {
  const records: Buffer[] = [];
  const step = FCGI_MAX_CONTENT - (FCGI_MAX_CONTENT % 8); // 65528
  for (let offset = 0; offset < data.byteLength; offset += step) records.push(encodeRecord(type, requestId, data.subarray(offset, offset + step)));
  return records;
}

/** The END_REQUEST record: appStatus (32-bit, like an exit status) and protocolStatus. */
export function encodeEndRequest(requestId: number, appStatus: number, protocolStatus: number): Buffer {
  const body = Buffer.alloc(8);
  body.writeUInt32BE(appStatus >>> 0, 0);
  body[4] = protocolStatus;
  return encodeRecord(RecordType.END_REQUEST, requestId, body);
}

/** The UNKNOWN_TYPE management record answering a management record of type `type`. */
export function encodeUnknownType(type: number): Buffer {
  const body = Buffer.alloc(8);
  body[0] = type;
  return encodeRecord(RecordType.UNKNOWN_TYPE, FCGI_NULL_REQUEST_ID, body);
}

/** BEGIN_REQUEST content (role, flags), for clients and tests. */
export function encodeBeginRequest(requestId: number, role: number, flags: number): Buffer {
  const body = Buffer.alloc(8);
  body.writeUInt16BE(role, 0);
  body[2] = flags;
  return encodeRecord(RecordType.BEGIN_REQUEST, requestId, body);
}

/** Decoded BEGIN_REQUEST content. @throws FastCGIProtocolError when the content is not 8 bytes. */
export function decodeBeginRequest(content: Buffer): { role: number; flags: number } {
  if (content.length !== 8) throw new FastCGIProtocolError(`BEGIN_REQUEST content must be 8 bytes, got ${content.length}`);
  return { role: content.readUInt16BE(0), flags: content[2]! };
}

function encodeLength(length: number): Buffer {
  if (length < 128) return Buffer.from([length]);
  const out = Buffer.alloc(4);
  out.writeUInt32BE((length | 0x80000000) >>> 0, 0);
  return out;
}

/**
 * Encodes name-value pairs (spec §3.4): each length in 1 byte when < 128, else 4 bytes with the
 * high bit set. Strings are encoded as UTF-8; Buffers are taken as they are.
 */
export function encodeNameValuePairs(pairs: Iterable<readonly [string | Uint8Array, string | Uint8Array]>): Buffer {
  const parts: Buffer[] = [];
  for (const [name, value] of pairs) {
    const n = typeof name === 'string' ? Buffer.from(name, 'utf8') : Buffer.from(name);
    const v = typeof value === 'string' ? Buffer.from(value, 'utf8') : Buffer.from(value);
    parts.push(encodeLength(n.length), encodeLength(v.length), n, v);
  }
  return Buffer.concat(parts);
}

/**
 * Decodes name-value pairs (spec §3.4) into `[name, value]` byte pairs, in order (repeats kept).
 * Names are decoded as Latin-1 (they are ASCII in practice); values stay bytes, because a value
 * (PATH_INFO) may be UTF-8 or not, and the caller decides.
 * @throws FastCGIProtocolError when a length runs past the end of `data`.
 */
export function decodeNameValuePairs(data: Buffer): Array<[string, Buffer]> {
  const pairs: Array<[string, Buffer]> = [];
  let i = 0;
  const readLength = (): number => {
    if (i >= data.length) throw new FastCGIProtocolError('Truncated name-value pair length');
    const first = data[i]!;
    if (first < 0x80) {
      i += 1;
      return first;
    }
    if (i + 4 > data.length) throw new FastCGIProtocolError('Truncated 4-byte name-value pair length');
    const length = data.readUInt32BE(i) & 0x7fffffff;
    i += 4;
    return length;
  };
  while (i < data.length) {
    const nameLength = readLength();
    const valueLength = readLength();
    if (i + nameLength + valueLength > data.length) throw new FastCGIProtocolError(`Name-value pair runs past the end of its stream (${nameLength}+${valueLength} bytes, ${data.length - i} left)`);
    const name = data.toString('latin1', i, i + nameLength);
    i += nameLength;
    pairs.push([name, data.subarray(i, i + valueLength)]);
    i += valueLength;
  }
  return pairs;
}

/**
 * A streaming record parser: `push(bytes)` returns the complete records found so far and keeps
 * the rest for the next call. Rejects, by throwing {@link FastCGIProtocolError}, a version other
 * than 1. Contents are views of the bytes pushed (no copy); they stay valid after later pushes,
 * as long as the caller does not reuse the buffers it pushes (socket chunks are never reused).
 */
export class RecordParser {
  private buffer: Buffer = EMPTY;

  /** Bytes received but not yet part of a complete record. */
  get pendingBytes(): number {
    return this.buffer.length;
  }

  push(chunk: Buffer): FcgiRecord[] {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    const records: FcgiRecord[] = [];
    let offset = 0;
    while (this.buffer.length - offset >= FCGI_HEADER_LEN) {
      const version = this.buffer[offset]!;
      if (version !== FCGI_VERSION_1) throw new FastCGIProtocolError(`Unsupported FastCGI record version ${version} (only version 1 exists)`);
      const contentLength = this.buffer.readUInt16BE(offset + 4);
      const total = FCGI_HEADER_LEN + contentLength + this.buffer[offset + 6]!;
      if (this.buffer.length - offset < total) break;
      const start = offset + FCGI_HEADER_LEN;
      records.push({
        version,
        type: this.buffer[offset + 1]!,
        requestId: this.buffer.readUInt16BE(offset + 2),
        content: this.buffer.subarray(start, start + contentLength),
      });
      offset += total;
    }
    // The rest is copied, so that a record's content (a view of the buffer) is never the start
    // of a buffer that a later push concatenates onto; socket chunks are never reused by Node.
    this.buffer = offset === this.buffer.length ? EMPTY : Buffer.from(this.buffer.subarray(offset));
    return records;
  }
}
