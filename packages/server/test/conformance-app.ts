/**
 * The application every gateway serves in the conformance suite (conformance.test.ts).
 * Default export: the app; body close() of /abort streams is recorded through `onClose`, or,
 * in a CGI child process, as a file in $STACKWARE_TEST_CLOSE_DIR.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { shiftPathInfo, validator, type Application, type Environ } from '@stackware/gateway';

/** The bytes of /large: chunk i is 64 KiB of the byte (i % 251). */
export function largeChunk(i: number): Buffer {
  return Buffer.alloc(64 * 1024, i % 251);
}

const json = (startResponse: Parameters<Application>[1], value: unknown, status = '200 OK') => {
  const body = Buffer.from(JSON.stringify(value));
  startResponse(status, [['Content-Type', 'application/json']]);
  return [body];
};

export function conformanceApp(onClose: (token: string) => void): Application {
  return async (environ: Environ, startResponse) => {
    const path = environ.PATH_INFO;
    const query = new URLSearchParams(environ.QUERY_STRING);
    if (path === '/hello') {
      startResponse('200 OK', [['Content-Type', 'text/plain; charset=utf-8'], ['Content-Length', '14']]);
      return [Buffer.from('Hello, world!\n')];
    }
    if (path.startsWith('/status/')) {
      const code = path.slice('/status/'.length);
      startResponse(`${code} ${query.get('reason') ?? 'Whatever'}`, [['Content-Type', 'text/plain']]);
      return [Buffer.from(`status ${code}\n`)];
    }
    if (path === '/headers') {
      startResponse('200 OK', [
        ['Content-Type', 'text/plain; charset=utf-8'],
        ['Set-Cookie', 'first=1; Path=/'],
        ['Set-Cookie', 'second=2; Path=/; HttpOnly'],
        ['X-Custom', 'custom value'],
      ]);
      return [Buffer.from('headers\n')];
    }
    if (path === '/environ' || path.startsWith('/environ/')) {
      return json(startResponse, {
        REQUEST_METHOD: environ.REQUEST_METHOD,
        SCRIPT_NAME: environ.SCRIPT_NAME,
        PATH_INFO: environ.PATH_INFO,
        QUERY_STRING: environ.QUERY_STRING,
        HTTP_X_TEST: environ.HTTP_X_TEST ?? null,
        REMOTE_USER: environ.REMOTE_USER ?? null,
        url_scheme: environ['stackware.url_scheme'],
        multiprocess: environ['stackware.multiprocess'],
        run_once: environ['stackware.run_once'],
        pid: process.pid,
      });
    }
    if (path === '/echo') {
      const hash = createHash('sha256');
      let length = 0;
      for await (const chunk of environ['stackware.input']) {
        hash.update(chunk);
        length += chunk.byteLength;
      }
      return json(startResponse, { length, sha256: hash.digest('hex'), CONTENT_TYPE: environ.CONTENT_TYPE ?? null });
    }
    if (path === '/large') {
      const chunks = Number(query.get('chunks') ?? '128');
      startResponse('200 OK', [['Content-Type', 'application/octet-stream']]);
      return {
        async *[Symbol.asyncIterator]() {
          for (let i = 0; i < chunks; i++) yield largeChunk(i);
        },
      };
    }
    if (path === '/abort') {
      const token = query.get('token') ?? 'none';
      startResponse('200 OK', [['Content-Type', 'application/octet-stream']]);
      const chunk = Buffer.alloc(16 * 1024, 0x7a);
      return {
        async *[Symbol.asyncIterator]() {
          // Bounded: at most ~60 s of output if the client never goes away.
          for (let i = 0; i < 6000; i++) {
            yield chunk;
            await new Promise((resolve) => setTimeout(resolve, 10));
          }
        },
        close() {
          onClose(token);
        },
      };
    }
    if (path === '/hang') {
      // never answers (the gateway's timeoutMs answers 504); bounded: gives up after 20 s
      await new Promise((resolve) => setTimeout(resolve, 20_000).unref());
      startResponse('200 OK', [['Content-Type', 'text/plain']]);
      return [Buffer.from('too late\n')];
    }
    startResponse('404 Not Found', [['Content-Type', 'text/plain']]);
    return [Buffer.from(`not found: ${path}\n`)];
  };
}

/** Mounts `app` at `prefix` (application-level, like urlMap) for gateways without a mount option. */
export function mounted(prefix: string, app: Application): Application {
  return (environ, startResponse) => {
    if (environ.PATH_INFO === prefix || environ.PATH_INFO.startsWith(prefix + '/')) {
      const segments = prefix.split('/').length - 1;
      for (let i = 0; i < segments; i++) shiftPathInfo(environ);
    }
    return app(environ, startResponse);
  };
}

/** For a CGI child: record closes as files in $STACKWARE_TEST_CLOSE_DIR. */
const closeDir = process.env.STACKWARE_TEST_CLOSE_DIR;
export default validator(conformanceApp((token) => {
  if (closeDir && /^[\w-]+$/.test(token)) writeFileSync(join(closeDir, `closed-${token}`), 'closed\n');
}));
