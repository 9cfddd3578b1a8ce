import { createReadStream, createWriteStream, type ReadStream, type WriteStream } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import type { Readable, Writable } from 'node:stream';
import busboy from 'busboy';
import { formatBytes, HTTPError, type Environ } from '@stackware/gateway';

/**
 * Limits on a request body parsed as a form (urlencoded or multipart/form-data). Breaking one
 * answers 413 Content Too Large (RFC 9110 §15.5.14) with a message naming the limit.
 */
export interface FormLimits {
  /** Largest whole request body, in bytes. Default 104857600 (100 MiB). */
  maxBodyBytes: number;
  /** Largest single uploaded file, in bytes. Default 104857600 (100 MiB). */
  maxFileBytes: number;
  /** Most uploaded files in one request. Default 20. */
  maxFiles: number;
  /** Most non-file fields in one request. Default 1000. */
  maxFields: number;
  /** Largest value of one non-file field, in bytes. Default 1048576 (1 MiB). */
  maxFieldBytes: number;
}

/** The defaults of {@link FormLimits}. */
export const DEFAULT_FORM_LIMITS: Readonly<FormLimits> = Object.freeze({
  maxBodyBytes: 100 * 1024 * 1024,
  maxFileBytes: 100 * 1024 * 1024,
  maxFiles: 20,
  maxFields: 1000,
  maxFieldBytes: 1024 * 1024,
});

/**
 * One uploaded file (a multipart/form-data part with a filename), stored in a temporary file
 * that is removed when the request is finished. Read it during the request, or move/copy it.
 */
export class UploadedFile {
  /** The form field name. */
  readonly fieldName: string;
  /** The file name the client sent (not a path on this machine; never trust it as one). */
  readonly filename: string;
  /** The part's Content-Type as sent by the client ("application/octet-stream" when absent). */
  readonly mimeType: string;
  /** Where the bytes are stored on this machine (a temporary file). */
  readonly path: string;
  /** Size in bytes. */
  readonly size: number;

  constructor(init: { fieldName: string; filename: string; mimeType: string; path: string; size: number }) {
    this.fieldName = init.fieldName;
    this.filename = init.filename;
    this.mimeType = init.mimeType;
    this.path = init.path;
    this.size = init.size;
  }

  /** A stream of the file's bytes (for large files). */
  stream(): ReadStream {
    return createReadStream(this.path);
  }

  /** The whole file in memory (small files only). */
  bytes(): Promise<Buffer> {
    return readFile(this.path);
  }

  /** The file decoded as UTF-8 (small files only). */
  async text(): Promise<string> {
    return (await this.bytes()).toString('utf8');
  }
}

/** A parsed form body: fields in arrival order, files, and the cleanup of their temporary files. */
export interface ParsedForm {
  /** Non-file fields as `[name, value]` pairs, in arrival order (repeats kept). */
  fields: Array<[string, string]>;
  files: UploadedFile[];
  /** Removes the temporary files (idempotent). */
  cleanup(): Promise<void>;
}

/** True for the body types {@link parseForm} reads: urlencoded and multipart/form-data. */
export function isFormContentType(contentType: string | undefined): boolean {
  const type = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  return type === 'application/x-www-form-urlencoded' || type === 'multipart/form-data';
}

/** Resolves when `out` can take more, or has closed (a destroyed stream never drains). */
function drained(out: Writable): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      out.off('drain', done);
      out.off('close', done);
      resolve();
    };
    out.on('drain', done);
    out.on('close', done);
  });
}

function tooLarge(message: string): HTTPError {
  return new HTTPError(413, message);
}

/**
 * Reads `stackware.input` as a form body with **busboy** (urlencoded or multipart/form-data,
 * RFC 7578), streaming each uploaded file to a temporary file under `tempRoot` (default
 * `os.tmpdir()`) with backpressure, so memory stays flat whatever the file size.
 * Parts with an empty filename (a file input left empty) are skipped.
 * @throws HTTPError 413 when a {@link FormLimits} limit is broken (declared or actual body size,
 *   file size, file count, field count, field size); HTTPError 400 for a malformed body
 *   (missing boundary, truncated multipart). Temporary files are removed before it throws.
 */
export async function parseForm(environ: Environ, limits: FormLimits = DEFAULT_FORM_LIMITS, tempRoot = tmpdir()): Promise<ParsedForm> {
  checkDeclaredLength(environ, limits);
  const state: FormState = {
    parser: createParser(environ.CONTENT_TYPE ?? '', limits),
    fields: [], stored: [], paths: [], writes: [], streams: [], parts: [],
    failure: undefined, aborted: false, cleaned: false, fileCount: 0,
  };
  const cleanup = () => removeTempFiles(state);
  listenForParts(state, limits, tempRoot);
  const parsed = parserClosed(state.parser);
  try {
    await feedBody(state, environ, limits);
    await finishParse(state, parsed);
  } catch (error) {
    abortAll(state);
    await Promise.allSettled(state.writes);
    await cleanup();
    throw error;
  }
  const files = state.stored.filter((file): file is UploadedFile => file !== undefined);
  return { fields: state.fields, files, cleanup };
}

/** The state of one {@link parseForm} call: the parser, what it produced, and what to abort or remove. */
interface FormState {
  parser: busboy.Busboy;
  /** Non-file fields in arrival order. */
  fields: Array<[string, string]>;
  /** Stored files by part index (undefined: skipped or over a limit). */
  stored: Array<UploadedFile | undefined>;
  /** Temporary file paths to remove on cleanup. */
  paths: string[];
  /** One promise per file part being stored. */
  writes: Array<Promise<void>>;
  streams: WriteStream[];
  parts: Readable[];
  /** The first limit broken or parse error (the one thrown). */
  failure: HTTPError | undefined;
  aborted: boolean;
  cleaned: boolean;
  fileCount: number;
}

/** Records the first failure; later ones are dropped. */
function fail(state: FormState, error: HTTPError): void {
  state.failure ??= error;
}

/** Throws 413 when CONTENT_LENGTH declares more than `maxBodyBytes`. */
function checkDeclaredLength(environ: Environ, limits: FormLimits): void {
  const declared = environ.CONTENT_LENGTH ? Number(environ.CONTENT_LENGTH) : undefined;
  if (declared !== undefined && declared > limits.maxBodyBytes) {
    throw tooLarge(`The request body (${formatBytes(declared)}) is larger than maxBodyBytes (${formatBytes(limits.maxBodyBytes)})`);
  }
}

/** A busboy parser for `contentType` under `limits`; throws 400 when the type cannot be parsed (e.g. no boundary). */
function createParser(contentType: string, limits: FormLimits): busboy.Busboy {
  try {
    return busboy({
      headers: { 'content-type': contentType },
      defParamCharset: 'utf8',
      limits: {
        fileSize: limits.maxFileBytes,
        files: limits.maxFiles,
        fields: limits.maxFields,
        fieldSize: limits.maxFieldBytes,
      },
    });
  } catch (error) {
    throw new HTTPError(400, `The request body cannot be parsed as a form: ${(error as Error).message}`);
  }
}

/** Removes the temporary files (idempotent). */
async function removeTempFiles(state: FormState): Promise<void> {
  if (state.cleaned) return;
  state.cleaned = true;
  await Promise.all(state.paths.map((path) => rm(path, { force: true })));
}

/** Stops parsing: destroys the parser, the part streams and the temporary file streams (once). */
function abortAll(state: FormState): void {
  if (state.aborted) return;
  state.aborted = true;
  state.parser.destroy();
  for (const part of state.parts) part.destroy();
  for (const s of state.streams) s.destroy();
}

/** Wires the parser's field, limit and file events to `state`. */
function listenForParts(state: FormState, limits: FormLimits, tempRoot: string): void {
  const { parser } = state;
  parser.on('field', (name, value, info) => {
    if (info.nameTruncated || info.valueTruncated) {
      fail(state, tooLarge(`The form field ${JSON.stringify(name)} is larger than maxFieldBytes (${formatBytes(limits.maxFieldBytes)})`));
      return;
    }
    state.fields.push([name, value]);
  });
  parser.on('fieldsLimit', () => fail(state, tooLarge(`The form has more than maxFields (${limits.maxFields}) fields`)));
  parser.on('filesLimit', () => fail(state, tooLarge(`The form has more than maxFiles (${limits.maxFiles}) files`)));
  parser.on('file', (name, stream, info) => {
    // A part stream can fail (truncated body); the error surfaces through the parser.
    stream.on('error', () => undefined);
    if (state.failure || !info.filename) {
      stream.resume();
      return;
    }
    state.parts.push(stream);
    const done = storeUpload(state, state.fileCount++, name, stream, info.filename, info.mimeType || 'application/octet-stream', limits, tempRoot);
    // Observed at once: the parse may still be draining the body when a part fails.
    done.catch(() => undefined);
    state.writes.push(done);
  });
}

/** Streams one file part to a new temporary file with backpressure; stores it at `index` unless a limit broke. */
async function storeUpload(state: FormState, index: number, name: string, stream: Readable, fileName: string, mimeType: string, limits: FormLimits, tempRoot: string): Promise<void> {
  // An unguessable name, created exclusively (O_EXCL) and readable by this user only.
  const path = join(tempRoot, `stackware-upload-${randomUUID()}`);
  state.paths.push(path);
  const out = createWriteStream(path, { flags: 'wx', mode: 0o600 });
  let writeError: Error | undefined;
  // Disk errors (ENOSPC, EACCES) must reject this upload, never crash the process.
  out.on('error', (error) => {
    writeError ??= error;
  });
  state.streams.push(out);
  let size = 0;
  let exceeded = false;
  stream.on('limit', () => {
    exceeded = true;
    fail(state, tooLarge(`The uploaded file ${JSON.stringify(fileName)} (field ${JSON.stringify(name)}) is larger than maxFileBytes (${formatBytes(limits.maxFileBytes)})`));
  });
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (state.failure || out.destroyed) continue; // drain without storing
      if (!out.write(chunk)) await drained(out);
    }
  } finally {
    if (!out.destroyed) out.end();
    if (!out.closed) await once(out, 'close').catch(() => undefined);
  }
  if (writeError && !state.failure) throw new Error(`Cannot store the uploaded file ${JSON.stringify(fileName)}: ${writeError.message}`, { cause: writeError });
  if (!exceeded && !state.failure) state.stored[index] = new UploadedFile({ fieldName: name, filename: fileName, mimeType, path, size });
}

/** Resolves when the parser closes, rejects on its error; observed at once, so stopping early is safe. */
function parserClosed(parser: busboy.Busboy): Promise<void> {
  const done = new Promise<void>((resolve, reject) => {
    parser.once('close', resolve);
    parser.on('error', reject);
  });
  // Keep the promise observed even when we stop feeding early.
  done.catch(() => undefined);
  return done;
}

/** Feeds `stackware.input` to the parser with backpressure, counting bytes against `maxBodyBytes`. */
async function feedBody(state: FormState, environ: Environ, limits: FormLimits): Promise<void> {
  let total = 0;
  for await (const chunk of environ['stackware.input']) {
    total += chunk.byteLength;
    if (total > limits.maxBodyBytes) {
      fail(state, tooLarge(`The request body is larger than maxBodyBytes (${formatBytes(limits.maxBodyBytes)})`));
      break;
    }
    if (state.failure) {
      // A part limit was broken: stop parsing, but read (and drop) the rest of the body, which
      // is within maxBodyBytes, so that a client still sending gets the 413, not a reset.
      abortAll(state);
      continue;
    }
    if (!state.parser.write(chunk)) {
      await drained(state.parser);
    }
  }
}

/** Ends the parse and waits for every file to be stored; throws the first failure (400, 413 or a storage error). */
async function finishParse(state: FormState, parsed: Promise<void>): Promise<void> {
  if (!state.failure) {
    state.parser.end();
    try {
      await parsed;
    } catch (error) {
      fail(state, new HTTPError(400, `The request body is not a valid form: ${(error as Error).message}`));
    }
  }
  if (state.failure) abortAll(state);
  const results = await Promise.allSettled(state.writes);
  const rejected = results.find((r) => r.status === 'rejected');
  if (rejected && !state.failure) throw (rejected as PromiseRejectedResult).reason;
  if (state.failure) throw state.failure;
}
