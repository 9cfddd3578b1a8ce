/**
 * `runCgi(app)`: the CGI gateway (RFC 3875). One process, one request: the environment, stdin
 * and stdout of the process are the request and the response (wsgiref's CGIHandler).
 */
import { readFileSync } from 'node:fs';
import type { Readable, Writable } from 'node:stream';
import { BadRequestError, HTTPError, createInput, runApplication, type Application, type ErrorStream, type ResponseSink } from '@stackware/gateway';
import { environFromCgi } from './cgi-environ.js';
import { cgiErrorResponse, PendingCgiHead } from './cgi-response.js';
import { LIMIT_DEFAULTS, checkNumberOption, declaredLength, limitAnswer, limitMessages } from './limits.js';

/**
 * Options of {@link runCgi}; the defaults are the process's own:
 * `env` the environment the process started with (as bytes from /proc/self/environ; else
 * process.env), `stdin` process.stdin, `stdout` process.stdout, `stderr` process.stderr,
 * `handleSignals` true (SIGTERM/SIGHUP/SIGPIPE stop the response and close the body),
 * `maxBodyBytes` 1 GiB (413, the limit CGI shares with every gateway: limits.ts).
 */
export interface CgiOptions {
  env?: NodeJS.ProcessEnv | Record<string, string | undefined>;
  stdin?: Readable;
  stdout?: Writable;
  stderr?: Writable;
  handleSignals?: boolean;
  /**
   * Largest request body in bytes (default 1 GiB, {@link LIMIT_DEFAULTS}): a larger CONTENT_LENGTH
   * answers 413 before the application runs; a body without CONTENT_LENGTH that grows past it
   * answers 413 when nothing was sent yet (the application's read throws an HTTPError 413).
   * The other limits belong to the web server that runs the script.
   */
  maxBodyBytes?: number;
}

/**
 * Runs one request through `app` as a CGI script (RFC 3875):
 * - The environ comes from the environment variables through {@link environFromCgi}, read as
 *   bytes from /proc/self/environ where there is one (Node decodes `process.env` as UTF-8, which
 *   would turn a Latin-1 header byte into U+FFFD and hide a path that is not UTF-8) (every
 *   variable is kept, as in wsgiref; SCRIPT_NAME/PATH_INFO as the web server set them; an invalid
 *   REQUEST_URI path answers 400). `stackware.run_once` and `stackware.multiprocess` are true.
 * - `stackware.input` reads stdin up to CONTENT_LENGTH, or to end of file when the server sent
 *   no CONTENT_LENGTH (Apache does so for a chunked request body).
 * - The response is written to stdout as `Status: 200 OK`, the headers, an empty line and the
 *   body (§6.2, §6.3.3), with Content-Length when the length is known; writes await stdout.
 * - `stackware.errors` writes to stderr (the web server's error log).
 * - When the web server goes away (stdout fails with EPIPE, or SIGTERM/SIGHUP), the application
 *   is stopped and its body closed.
 * Resolves when the response is complete; sets `process.exitCode` to 1 when it was broken off.
 * The caller exits afterwards (`stackware cgi` does).
 */
export async function runCgi(app: Application, options: CgiOptions = {}): Promise<void> {
  const env = options.env ?? process.env;
  const stdin = options.stdin ?? process.stdin;
  const stdout = options.stdout ?? process.stdout;
  const stderr = options.stderr ?? process.stderr;
  const controller = new AbortController();
  const errors: ErrorStream = { write: (text: string) => void stderr.write(String(text)) };

  const abort = () => controller.abort();
  const onStdoutError = () => abort();
  stdout.on('error', onStdoutError);
  const signals: NodeJS.Signals[] = options.handleSignals === false ? [] : ['SIGTERM', 'SIGHUP', 'SIGPIPE'];
  for (const signal of signals) process.on(signal, abort);

  const maxBodyBytes = checkNumberOption('maxBodyBytes', options.maxBodyBytes ?? LIMIT_DEFAULTS.maxBodyBytes);
  let stdinUsed = false;
  let started = false;
  /** Set when the body was refused (413): the rest of stdin is read and dropped before exiting, since a web server that cannot write the body drops the connection (Apache does) instead of sending the answer. */
  let refused = false;
  const stdinSource: AsyncIterable<Uint8Array> = {
    async *[Symbol.asyncIterator]() {
      stdinUsed = true;
      let total = 0;
      // not destroyed when the application stops early: a refused body is read to its end (discard)
      const source = typeof (stdin as Readable).iterator === 'function' ? (stdin as Readable).iterator({ destroyOnReturn: false }) : stdin;
      for await (const chunk of source as AsyncIterable<Uint8Array>) {
        total += chunk.byteLength;
        if (total > maxBodyBytes) {
          const message = limitMessages.body({ maxBodyBytes });
          if (!started) {
            started = true;
            stdout.write(cgiErrorResponse(limitAnswer(413, message).status, message));
          }
          refused = true;
          controller.abort();
          throw new HTTPError(413, message);
        }
        yield chunk;
      }
    },
  };

  const waitWritable = () => new Promise<void>((resolve) => {
    const done = () => {
      stdout.off('drain', done);
      controller.signal.removeEventListener('abort', done);
      resolve();
    };
    stdout.once('drain', done);
    controller.signal.addEventListener('abort', done, { once: true });
  });

  try {
    const variables = (options.env === undefined ? rawProcessEnvironment() : undefined)
      ?? Object.entries(env).filter((entry): entry is [string, string] => typeof entry[1] === 'string');
    let environ;
    try {
      const declared = env.CONTENT_LENGTH;
      environ = environFromCgi(variables, {
        input: createInput(stdinSource, declared && /^\d+$/.test(declared) ? Number(declared) : undefined),
        errors,
        multithread: false,
        multiprocess: true,
        runOnce: true,
      });
    } catch (error) {
      if (!(error instanceof BadRequestError)) throw error;
      stdout.write(cgiErrorResponse('400 Bad Request', `Bad Request: ${error.message}`));
      return;
    }
    const declared = declaredLength(environ.CONTENT_LENGTH);
    if (declared !== undefined && declared > maxBodyBytes) {
      const message = limitMessages.body({ maxBodyBytes });
      stdout.write(cgiErrorResponse(limitAnswer(413, message).status, message));
      refused = true;
      return;
    }

    const head = new PendingCgiHead();
    const sink: ResponseSink = {
      sendHeaders: (status, headers, contentLength) => {
        head.set(status, headers, contentLength);
      },
      write: async (chunk) => {
        if (controller.signal.aborted) return;
        started = true;
        const data = head.withHead(chunk);
        if (!stdout.write(data)) await waitWritable();
      },
      end: async () => {
        if (!controller.signal.aborted) started = true;
        const pending = head.takeHead();
        if (pending && !controller.signal.aborted) stdout.write(pending);
      },
      abort: () => {
        process.exitCode = 1;
        controller.abort();
      },
      signal: controller.signal,
    };
    const result = await runApplication(app, environ, sink, { head: environ.REQUEST_METHOD === 'HEAD' });
    if (!result.completed) process.exitCode = 1;
  } finally {
    if (refused) await discard(stdin);
    stdout.off('error', onStdoutError);
    for (const signal of signals) process.off(signal, abort);
    if (stdinUsed && stdin !== process.stdin) stdin.destroy();
    else if (stdinUsed) stdin.pause();
  }
}

/** Reads `stream` to its end and drops what it reads (bounded by the web server's own body limit and timeout). */
async function discard(stream: Readable): Promise<void> {
  try {
    for await (const chunk of stream as AsyncIterable<Uint8Array>) void chunk;
  } catch {
    // the web server went away: nothing left to drop
  }
}

/**
 * The environment this process was started with, as bytes (Linux: /proc/self/environ), so that
 * CGI variables keep the exact bytes the web server set. Undefined where it cannot be read.
 */
function rawProcessEnvironment(): Array<[string, Buffer]> | undefined {
  let data: Buffer;
  try {
    data = readFileSync('/proc/self/environ');
  } catch {
    return undefined;
  }
  const variables: Array<[string, Buffer]> = [];
  let start = 0;
  while (start < data.length) {
    let end = data.indexOf(0, start);
    if (end === -1) end = data.length;
    const eq = data.indexOf(0x3d, start);
    if (eq > start && eq < end) variables.push([data.toString('latin1', start, eq), data.subarray(eq + 1, end)]);
    start = end + 1;
  }
  return variables;
}
