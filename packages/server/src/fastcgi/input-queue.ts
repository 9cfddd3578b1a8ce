/**
 * A request body arriving in pieces from a socket (FastCGI STDIN records, SCGI body bytes),
 * consumed once by `stackware.input`. It counts the bytes waiting, so that the connection can
 * pause its socket while the application is slower than the client (backpressure).
 */
export class InputQueue implements AsyncIterable<Uint8Array> {
  private readonly chunks: Uint8Array[] = [];
  private waiting: { resolve(): void } | undefined;
  private ended = false;
  private failure: Error | (() => Error) | undefined;
  /** Bytes received and not yet taken by the application. */
  queuedBytes = 0;
  /** Bytes received in all (for maxBodyBytes). */
  receivedBytes = 0;
  /** True while the consumer waits for bytes the client has not sent: the gateway waits on the client. */
  consumerWaiting = false;
  /** Last time bytes arrived, were taken, or the consumer began to wait (performance.now() ms). */
  lastActivity = performance.now();

  /** @param onDrained called after the consumer took a chunk (the owner may resume its socket). */
  constructor(private readonly onDrained: () => void = () => {}) {}

  push(chunk: Uint8Array): void {
    if (this.ended || this.failure || chunk.byteLength === 0) return;
    this.chunks.push(chunk);
    this.queuedBytes += chunk.byteLength;
    this.receivedBytes += chunk.byteLength;
    this.lastActivity = performance.now();
    this.wake();
  }

  /** The body is complete. */
  end(): void {
    this.ended = true;
    this.wake();
  }

  /**
   * The body will never complete: the consumer's next read throws `error`. Drops what is queued.
   * `error` may be a function that makes it, called only if a read comes (an Error captures a
   * stack trace, which costs more than the rest of a small request: a response that finished
   * before its empty STDIN arrived fails its input this way).
   */
  fail(error: Error | (() => Error)): void {
    if (this.ended && this.chunks.length === 0) return;
    this.failure ??= error;
    this.chunks.length = 0;
    this.queuedBytes = 0;
    this.wake();
  }

  /** True when the body ended or failed. */
  get done(): boolean {
    return this.ended || this.failure !== undefined;
  }

  private wake(): void {
    const waiting = this.waiting;
    this.waiting = undefined;
    waiting?.resolve();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    for (;;) {
      if (this.failure) {
        if (typeof this.failure === 'function') this.failure = this.failure();
        throw this.failure;
      }
      const chunk = this.chunks.shift();
      if (chunk) {
        this.queuedBytes -= chunk.byteLength;
        this.lastActivity = performance.now();
        this.onDrained();
        yield chunk;
        continue;
      }
      if (this.ended) return;
      this.consumerWaiting = true;
      this.lastActivity = performance.now();
      try {
        await new Promise<void>((resolve) => { this.waiting = { resolve }; });
      } finally {
        this.consumerWaiting = false;
        this.lastActivity = performance.now();
      }
    }
  }
}
