import type { Environ, ResponseBody } from './types.js';
import { HTTPError } from './http-error.js';

/** Encodes a string as UTF-8 bytes (chunks are bytes, never strings). */
export function bytes(text: string): Uint8Array {
  return Buffer.from(text, 'utf8');
}

/** Options of {@link readBody}. */
export interface ReadBodyOptions {
  /** Largest body accepted, in bytes (default 1 MiB). Larger: throws HTTPError 413. */
  maxBytes?: number;
}

/**
 * Reads the whole request body (`stackware.input`) into a Buffer.
 * @throws HTTPError(413) when the body exceeds `maxBytes` (default 1 MiB, 1048576).
 */
export async function readBody(environ: Environ, options: ReadBodyOptions = {}): Promise<Buffer> {
  const maxBytes = options.maxBytes ?? 1024 * 1024;
  const declared = environ.CONTENT_LENGTH ? Number(environ.CONTENT_LENGTH) : undefined;
  if (declared !== undefined && declared > maxBytes) throw new HTTPError(413, `Request body is larger than ${maxBytes} bytes`);
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of environ['stackware.input']) {
    total += chunk.byteLength;
    if (total > maxBytes) throw new HTTPError(413, `Request body is larger than ${maxBytes} bytes`);
    chunks.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
  }
  return Buffer.concat(chunks, total);
}

/**
 * Iterates a response body to the end and returns its bytes, closing it afterwards
 * (for middleware that must see a whole body; streaming is better where possible).
 */
export async function collectBody(body: ResponseBody): Promise<Buffer> {
  const chunks: Buffer[] = [];
  try {
    for await (const chunk of body as AsyncIterable<Uint8Array>) chunks.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
  } finally {
    await body.close?.();
  }
  return Buffer.concat(chunks);
}

/** True when `value` can be iterated with `for await` (an async or sync iterable, not a string). */
export function isIterableBody(value: unknown): value is ResponseBody {
  if (value === null || typeof value !== 'object') return false;
  return typeof (value as AsyncIterable<unknown>)[Symbol.asyncIterator] === 'function' || typeof (value as Iterable<unknown>)[Symbol.iterator] === 'function';
}

/**
 * Wraps a body so that `onClose` runs once after the inner body's `close()` (for middleware
 * that must act when the response is finished: release a lock, log, save). The wrapper keeps the
 * body's shape, so gateways keep their fast paths: an array stays an array (known length), a file
 * wrapper stays a file wrapper (sent from disk), a sync iterable stays sync; iteration is the
 * inner body's own iterator, not a copy. `onClose` runs even when the inner `close()` throws
 * (the error then propagates).
 */
export function onBodyClose(body: ResponseBody, onClose: () => void | Promise<void>): ResponseBody {
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    try {
      await body.close?.();
    } finally {
      await onClose();
    }
  };
  if (Array.isArray(body)) return Object.defineProperty([...body] as Uint8Array[], 'close', { value: close }) as ResponseBody;
  if ((body as { fileWrapper?: unknown }).fileWrapper === true) return Object.defineProperty(Object.create(body) as object, 'close', { value: close }) as ResponseBody;
  const asyncIterator = (body as Partial<AsyncIterable<Uint8Array>>)[Symbol.asyncIterator];
  if (typeof asyncIterator === 'function') return { [Symbol.asyncIterator]: () => asyncIterator.call(body), close };
  return { [Symbol.iterator]: () => (body as Iterable<Uint8Array>)[Symbol.iterator](), close };
}
