import { createReadStream, fstat } from 'node:fs';
import { stat } from 'node:fs/promises';
import { promisify } from 'node:util';
import type { FileWrapper, FileWrapperFactory, FileWrapperOptions } from './types.js';

/**
 * The portable `stackware.file_wrapper`: describes a file region and, when iterated, streams it
 * in 64 KiB chunks with node:fs. Servers recognise it with {@link isFileWrapper} and send it
 * straight from the file (a pipe to the socket) instead of through the application's event loop.
 * A numeric `file` is a descriptor owned by the caller: it is not closed. `length` is optional;
 * {@link resolveFileWrapperLength} reads the file size when needed.
 */
export const fileWrapper: FileWrapperFactory = (file: string | number, options: FileWrapperOptions = {}): FileWrapper => {
  const offset = options.offset ?? 0;
  if (!Number.isInteger(offset) || offset < 0) throw new RangeError(`file_wrapper offset must be a non-negative integer, got ${offset}`);
  if (options.length !== undefined && (!Number.isInteger(options.length) || options.length < 0)) throw new RangeError(`file_wrapper length must be a non-negative integer, got ${options.length}`);
  let stream: ReturnType<typeof createReadStream> | undefined;
  const wrapper: FileWrapper = {
    fileWrapper: true,
    path: typeof file === 'string' ? file : undefined,
    fd: typeof file === 'number' ? file : undefined,
    offset,
    length: options.length,
    async *[Symbol.asyncIterator]() {
      const length = wrapper.length ?? (await resolveFileWrapperLength(wrapper));
      if (length === 0) return;
      stream = typeof file === 'string'
        ? createReadStream(file, { start: offset, end: offset + length - 1, highWaterMark: 64 * 1024 })
        : createReadStream('', { fd: file, autoClose: false, start: offset, end: offset + length - 1, highWaterMark: 64 * 1024 });
      for await (const chunk of stream) yield chunk as Buffer;
    },
    async close() {
      stream?.destroy();
    },
  };
  return wrapper;
};

/** True when `body` came from a `stackware.file_wrapper`. */
export function isFileWrapper(body: unknown): body is FileWrapper {
  return typeof body === 'object' && body !== null && (body as { fileWrapper?: unknown }).fileWrapper === true;
}

/** The number of bytes a file wrapper sends: its `length`, or the file size minus `offset`. */
export async function resolveFileWrapperLength(wrapper: FileWrapper): Promise<number> {
  if (wrapper.length !== undefined) return wrapper.length;
  const info = wrapper.path !== undefined ? await stat(wrapper.path) : await promisify(fstat)(wrapper.fd!);
  const length = Math.max(0, info.size - wrapper.offset);
  (wrapper as { length: number | undefined }).length = length;
  return length;
}

