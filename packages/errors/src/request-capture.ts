import type { Environ, InputStream } from '@stackware/gateway';

const CAPTURE_KEY = 'stackware.errors.captured_input';

/** The start of the request body as the application read it (for the report's form data). */
export interface CapturedInput {
  /** Bytes seen (the first `maxBytes` of them are in `chunks`). */
  bytesRead: number;
  chunks: Buffer[];
  /** True when more bytes were read than kept. */
  truncated: boolean;
}

/** Body types whose fields a report can show. */
const CAPTURED_TYPES = /^(application\/x-www-form-urlencoded|application\/json|[^;]*\+json)\s*(;|$)/i;

/**
 * Replaces `stackware.input` with a pass-through that keeps the first `maxBytes` bytes the
 * application reads, for urlencoded and JSON bodies only. Nothing is read unless the application
 * reads it (the input keeps its single consumer); chunks pass unchanged, without delay.
 */
export function captureInput(environ: Environ, maxBytes: number): void {
  const type = environ.CONTENT_TYPE;
  // Most requests (GET, HEAD) have no body type: no regular expression for them.
  if (!type || maxBytes <= 0) return;
  const input = environ['stackware.input'];
  if (!CAPTURED_TYPES.test(type) || !input) return;
  const captured: CapturedInput = { bytesRead: 0, chunks: [], truncated: false };
  environ[CAPTURE_KEY] = captured;
  const wrapped: InputStream = {
    async *[Symbol.asyncIterator]() {
      let kept = 0;
      for await (const chunk of input) {
        captured.bytesRead += chunk.byteLength;
        if (kept < maxBytes) {
          const part = Buffer.from(chunk.buffer, chunk.byteOffset, Math.min(chunk.byteLength, maxBytes - kept));
          captured.chunks.push(Buffer.from(part));
          kept += part.byteLength;
        }
        if (captured.bytesRead > kept) captured.truncated = true;
        yield chunk;
      }
    },
  };
  environ['stackware.input'] = wrapped;
}

/** What the application read of the request body, or undefined when nothing was captured. */
export function getCapturedInput(environ: Environ): CapturedInput | undefined {
  const captured = environ[CAPTURE_KEY] as CapturedInput | undefined;
  return captured && captured.bytesRead > 0 ? captured : undefined;
}
