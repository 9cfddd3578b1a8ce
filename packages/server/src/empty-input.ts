import { InputConsumedError, type InputStream } from '@stackware/gateway';

const DONE: IteratorResult<Uint8Array> = Object.freeze({ done: true, value: undefined }) as IteratorResult<Uint8Array>;

/**
 * `stackware.input` for a request without a body: ends at once; a second iteration throws
 * InputConsumedError like any input. A class (no per-request closures) for the hot path.
 */
export class EmptyInput implements InputStream {
  private used = false;

  [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    if (this.used) throw new InputConsumedError();
    this.used = true;
    return this;
  }

  next(): Promise<IteratorResult<Uint8Array>> {
    return Promise.resolve(DONE);
  }

  return(): Promise<IteratorResult<Uint8Array>> {
    return Promise.resolve(DONE);
  }
}
