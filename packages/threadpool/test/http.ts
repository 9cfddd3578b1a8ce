/**
 * The real HTTP server (@stackware/server's `serve`) for these tests, on a free loopback port,
 * with its log captured. Its own no-progress timeout is off, as under `stackware serve --threads`:
 * the pool enforces the per-request timeout.
 */
import { Writable } from 'node:stream';
import type { Application } from '@stackware/gateway';
import { createLogger, serve } from '@stackware/server';

export interface TestServer {
  url: string;
  /** The server's log so far (JSON lines): what the applications wrote to stackware.errors, among others. */
  errors(): string;
  close(): Promise<void>;
}

export async function serveForTest(app: Application): Promise<TestServer> {
  let log = '';
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      log += chunk.toString();
      callback();
    },
  });
  const logger = createLogger({ destination, pretty: false, level: 'info' });
  const server = await serve(app, { host: '127.0.0.1', port: 0, timeoutMs: 0, accessLog: false, logger, shutdownTimeoutMs: 2_000 });
  return { url: server.url, errors: () => log, close: () => server.close() };
}
