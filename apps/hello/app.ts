/**
 * The smallest Stackware application: answers "Hello, world!" to every request.
 * Run it: `pnpm start` (or `stackware serve apps/hello/app.ts`), then `curl http://127.0.0.1:8080/`.
 */
import type { Application } from '@stackware/gateway';

const body = Buffer.from('Hello, world!\n');

const hello: Application = (_environ, startResponse) => {
  startResponse('200 OK', [
    ['Content-Type', 'text/plain; charset=utf-8'],
    ['Content-Length', String(body.length)],
  ]);
  return [body];
};

export default hello;
