import type { InputStream } from './types.js';

/** Thrown when `stackware.input` is iterated a second time: it has a single consumer. */
export class InputConsumedError extends Error {
  constructor() {
    super('stackware.input was already consumed: the request body can be iterated only once (read it once and keep the bytes)');
    this.name = 'InputConsumedError';
  }
}

/**
 * Builds `stackware.input` from a source of chunks. Iteration ends after `contentLength` bytes
 * when given (extra bytes are not delivered), or when the source ends. A second iteration throws
 * {@link InputConsumedError}. Breaking out early calls `return()` on the source.
 */
export function createInput(source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, contentLength?: number): InputStream {
  let used = false;
  return {
    async *[Symbol.asyncIterator]() {
      if (used) throw new InputConsumedError();
      used = true;
      let remaining = contentLength ?? Infinity;
      if (remaining <= 0) return;
      for await (const chunk of source) {
        if (chunk.byteLength === 0) continue;
        if (chunk.byteLength >= remaining) {
          yield chunk.byteLength === remaining ? chunk : chunk.subarray(0, remaining);
          return;
        }
        remaining -= chunk.byteLength;
        yield chunk;
      }
    },
  };
}

/** An empty `stackware.input`. */
export function emptyInput(): InputStream {
  return createInput([], 0);
}
