import type { FileWrapper, FileWrapperFactory, ResponseBody } from '@stackware/gateway';

/** One byte range, inclusive, as range-parser returns it. */
export interface ByteRange {
  start: number;
  end: number;
}

function partHeader(range: ByteRange, size: number, type: string, boundary: string): Buffer {
  return Buffer.from(`\r\n--${boundary}\r\nContent-Type: ${type}\r\nContent-Range: bytes ${range.start}-${range.end}/${size}\r\n\r\n`, 'latin1');
}

function closing(boundary: string): Buffer {
  return Buffer.from(`\r\n--${boundary}--\r\n`, 'latin1');
}

/** The exact byte length of a multipart/byteranges body (RFC 9110 §14.6), for Content-Length. */
export function multipartLength(ranges: readonly ByteRange[], size: number, type: string, boundary: string): number {
  let length = closing(boundary).length;
  for (const range of ranges) length += partHeader(range, size, type, boundary).length + range.end - range.start + 1;
  return length;
}

/**
 * A multipart/byteranges body (RFC 9110 §14.6): for each range a part with Content-Type and
 * Content-Range, its bytes read from the file through `wrap`. `close()` closes the open part.
 */
export function multipartByteranges(path: string, ranges: readonly ByteRange[], size: number, type: string, boundary: string, wrap: FileWrapperFactory): ResponseBody {
  let current: FileWrapper | undefined;
  return {
    async *[Symbol.asyncIterator]() {
      for (const range of ranges) {
        yield partHeader(range, size, type, boundary);
        current = wrap(path, { offset: range.start, length: range.end - range.start + 1 });
        try {
          yield* current;
        } finally {
          await current.close();
          current = undefined;
        }
      }
      yield closing(boundary);
    },
    async close() {
      await current?.close();
    },
  };
}
