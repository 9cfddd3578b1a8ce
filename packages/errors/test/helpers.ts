import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino, type Logger } from 'pino';
import { createEnviron, createInput, runApplication, type Application, type Header } from '@stackware/gateway';

/** The `err` of a log record. */
export interface LoggedError { type: string; message: string; stack: string; cause?: LoggedError; [key: string]: unknown }
/** One parsed pino record. */
export interface LogRecord { [key: string]: unknown; err: LoggedError; error_id: string; req_id: string; level: number }

/** A pino logger whose records are collected (parsed) in `records`. */
export function captureLogger(): { logger: Logger; records: LogRecord[] } {
  const records: LogRecord[] = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => void records.push(JSON.parse(line)) });
  return { logger, records };
}

/**
 * A minimal HTTP gateway for tests: node:http + the shared driver `runApplication`
 * (the same sink contract every Stackware server implements).
 */
export async function startHttp(app: Application): Promise<{ url: string; port: number; close(): Promise<void> }> {
  const server: Server = createServer((req, res) => {
    const headers: Array<[string, string]> = [];
    for (let i = 0; i < req.rawHeaders.length; i += 2) headers.push([req.rawHeaders[i]!, req.rawHeaders[i + 1]!]);
    const declared = req.headers['content-length'];
    const environ = createEnviron({
      method: req.method ?? 'GET', target: req.url ?? '/', headers,
      serverPort: (server.address() as AddressInfo).port, remoteAddr: req.socket.remoteAddress, remotePort: req.socket.remotePort,
      input: createInput(req, declared !== undefined ? Number(declared) : undefined),
      errors: { write: () => {} },
    });
    const controller = new AbortController();
    res.on('close', () => { if (!res.writableFinished) controller.abort(); });
    void runApplication(app, environ, {
      sendHeaders(status, hs: Header[], length) {
        const flat: string[] = [];
        for (const [n, v] of hs) flat.push(n, v);
        if (length !== undefined && !hs.some(([n]) => n.toLowerCase() === 'content-length')) flat.push('Content-Length', String(length));
        res.writeHead(parseInt(status, 10), status.slice(4), flat);
      },
      write(chunk) {
        return new Promise((resolve) => {
          if (res.write(chunk)) resolve();
          else { res.once('drain', resolve); res.once('close', resolve); }
        });
      },
      end() { return new Promise((resolve) => res.end(resolve)); },
      // Flush what was written (node:http corks the socket until the next tick), then close without
      // the last-chunk: the client gets the bytes sent so far and a cut connection.
      abort() {
        const socket = res.socket;
        if (!socket) { res.destroy(); return; }
        socket.end();
        setTimeout(() => socket.destroy(), 2000).unref();
      },
      signal: controller.signal,
    }, { head: req.method === 'HEAD', onError: () => {} });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}

/** The 1-based line of the first line of `source` that contains `marker`. */
export function lineOf(source: string, marker: string): number {
  const index = source.split('\n').findIndex((l) => l.includes(marker));
  if (index === -1) throw new Error(`marker ${marker} not found`);
  return index + 1;
}
