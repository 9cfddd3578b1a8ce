/** A small HTTP/1.1 client for the conformance suite: raw header pairs, chunked uploads, early abort. */
import { request as httpRequest, type IncomingMessage } from 'node:http';

export interface WireResponse {
  status: number;
  reason: string;
  /** Header pairs as received, names lower-cased. */
  headers: Array<[string, string]>;
  body: Buffer;
}

export interface WireRequest {
  method?: string;
  headers?: Array<[string, string]>;
  /** A whole body (sent with Content-Length), or chunks (sent with Transfer-Encoding: chunked). */
  body?: Buffer | Buffer[];
}

function pairs(res: IncomingMessage): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (let i = 0; i < res.rawHeaders.length; i += 2) out.push([res.rawHeaders[i]!.toLowerCase(), res.rawHeaders[i + 1]!]);
  return out;
}

/** Sends one request to `base` ("http://127.0.0.1:8080") with the raw target `path`; bounded by `timeoutMs`. */
export function send(base: string, path: string, options: WireRequest = {}, timeoutMs = 60_000): Promise<WireResponse> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | string[]> = {};
    for (const [n, v] of options.headers ?? []) headers[n] = v;
    if (Buffer.isBuffer(options.body)) headers['Content-Length'] = String(options.body.length);
    // A server that refuses a body (413) may answer and close before the body is all sent: the
    // answer counts even when the upload then fails (EPIPE, ECONNRESET).
    let answer: WireResponse | undefined;
    const req = httpRequest({ host: url.hostname, port: url.port, method: options.method ?? 'GET', path, headers, agent: false, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      answer = { status: res.statusCode!, reason: res.statusMessage ?? '', headers: pairs(res), body: Buffer.alloc(0) };
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ ...answer!, body: Buffer.concat(chunks) }));
      res.on('error', (error) => (answer ? resolve({ ...answer, body: Buffer.concat(chunks) }) : reject(error)));
    });
    req.on('timeout', () => req.destroy(new Error(`Request ${path} timed out after ${timeoutMs} ms`)));
    req.on('error', (error) => (answer ? resolve(answer) : reject(error)));
    if (Array.isArray(options.body)) for (const chunk of options.body) req.write(chunk);
    else if (options.body) req.write(options.body);
    req.end();
  });
}

/** Requests `path`, waits for `bytes` body bytes, then closes the connection (a client that goes away). */
export function sendAndAbort(base: string, path: string, bytes: number, timeoutMs = 60_000): Promise<number> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: url.hostname, port: url.port, path, agent: false, timeout: timeoutMs }, (res) => {
      let received = 0;
      res.on('data', (c: Buffer) => {
        received += c.length;
        if (received >= bytes) {
          req.destroy();
          resolve(received);
        }
      });
      res.on('error', () => undefined);
      res.on('end', () => reject(new Error(`${path} ended after ${received} bytes, before the client aborted`)));
    });
    req.on('timeout', () => req.destroy(new Error(`Request ${path} timed out`)));
    req.on('error', reject); // after resolve() this is a no-op
    req.end();
  });
}
