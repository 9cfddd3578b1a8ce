import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createEnviron, createInput, runApplication, type Application, type ResponseSink } from '@stackware/gateway';

/** What happened on the wire, in order, for tests that check when the session was saved. */
export type WireEvent = 'headers' | 'end';

/**
 * A minimal HTTP gateway for these tests: node:http → createEnviron → runApplication.
 * (@stackware/server's `serve` is the real one; this keeps the session tests independent of it.)
 */
export async function listen(app: Application, onWire?: (event: WireEvent) => void): Promise<{ url: string; port: number; close(): Promise<void> }> {
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const headers: Array<[string, string]> = [];
    for (let i = 0; i < req.rawHeaders.length; i += 2) headers.push([req.rawHeaders[i]!, req.rawHeaders[i + 1]!]);
    const address = req.socket.address() as AddressInfo;
    const environ = createEnviron({
      method: req.method!,
      target: req.url!,
      headers,
      serverName: '127.0.0.1',
      serverPort: address.port,
      remoteAddr: req.socket.remoteAddress,
      input: createInput(req, req.headers['content-length'] ? Number(req.headers['content-length']) : undefined),
      errors: { write: (text) => void process.stderr.write(text) },
    });
    const sink: ResponseSink = {
      sendHeaders(status, h, length) {
        const code = Number(status.slice(0, 3));
        res.statusMessage = status.slice(4);
        res.statusCode = code;
        for (const [n, v] of h) res.appendHeader(n, v);
        if (length !== undefined && !res.hasHeader('content-length')) res.setHeader('Content-Length', length);
        onWire?.('headers');
      },
      write: (chunk) => new Promise<void>((resolve) => (res.write(chunk) ? resolve() : res.once('drain', resolve))),
      end: () => new Promise<void>((resolve) => { onWire?.('end'); res.end(resolve); }),
      abort: () => res.destroy(),
    };
    void runApplication(app, environ, sink, { head: req.method === 'HEAD' });
  });
  server.keepAliveTimeout = 1000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}
