/**
 * A minimal HTTP gateway for these tests (node:http + the shared driver), until @stackware/server
 * is used here: real sockets, real client disconnects, the file-wrapper path (sendFile).
 */
import { createServer, type Server } from 'node:http';
import { createReadStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { createEnviron, createInput, runApplication, type Application } from '@stackware/gateway';

export interface TestServer {
  url: string;
  /** Text the applications wrote to stackware.errors. */
  errors(): string;
  close(): Promise<void>;
}

export async function serveForTest(app: Application): Promise<TestServer> {
  let log = '';
  const server: Server = createServer((req, res) => {
    const controller = new AbortController();
    res.on('close', () => { if (!res.writableFinished) controller.abort(); });
    const headers: Array<[string, string]> = [];
    for (let i = 0; i < req.rawHeaders.length; i += 2) headers.push([req.rawHeaders[i]!, req.rawHeaders[i + 1]!]);
    const environ = createEnviron({
      method: req.method!, target: req.url!, headers, serverPort: (server.address() as { port: number }).port, remoteAddr: req.socket.remoteAddress,
      input: createInput(req, req.headers['content-length'] ? Number(req.headers['content-length']) : undefined),
      errors: { write: (text: string) => { log += text; } },
    });
    void runApplication(app, environ, {
      signal: controller.signal,
      sendHeaders(status, h, length) {
        res.statusCode = parseInt(status, 10);
        res.statusMessage = status.slice(4);
        for (const [n, v] of h) res.appendHeader(n, v);
        if (length !== undefined && !res.hasHeader('content-length')) res.setHeader('Content-Length', length);
      },
      write: (chunk) => new Promise<void>((ok) => {
        if (res.write(chunk)) ok();
        else { res.once('drain', ok); res.once('close', ok); }
      }),
      async sendFile(file, length) {
        const stream = file.path !== undefined
          ? createReadStream(file.path, { start: file.offset, end: file.offset + length - 1 })
          : createReadStream('', { fd: file.fd!, autoClose: false, start: file.offset, end: file.offset + length - 1 });
        await pipeline(stream, res, { end: false });
      },
      end: () => new Promise<void>((ok) => res.end(ok)),
      abort: () => res.destroy(),
    }, { head: req.method === 'HEAD' });
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    errors: () => log,
    close: () => new Promise<void>((ok) => {
      server.closeAllConnections();
      server.close(() => ok());
    }),
  };
}
