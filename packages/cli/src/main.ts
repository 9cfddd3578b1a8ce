/**
 * The `stackware` command (interim: `serve` over a minimal node:http bridge until
 * @stackware/server's HTTP server lands).
 */
import { createServer } from 'node:http';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createEnviron, createInput, runApplication, type Application } from '@stackware/gateway';

export async function loadApplication(spec: string): Promise<Application> {
  const [file, name = 'default'] = spec.split('#') as [string, string?];
  const mod = (await import(pathToFileURL(resolve(file)).href)) as Record<string, unknown>;
  const app = mod[name];
  if (typeof app !== 'function') throw new Error(`${file} has no export named "${name}" that is an Application`);
  return app as Application;
}

export async function main(argv: string[]): Promise<void> {
  const [command, spec, ...rest] = argv;
  if (command !== 'serve' || !spec) {
    process.stderr.write('usage: stackware serve <module.ts[#export]> [--host H] [--port P]\n');
    process.exitCode = 2;
    return;
  }
  const opt = (name: string, fallback: string) => {
    const i = rest.indexOf(`--${name}`);
    return i === -1 ? fallback : rest[i + 1]!;
  };
  const app = await loadApplication(spec);
  const host = opt('host', '127.0.0.1');
  const port = Number(opt('port', '8080'));
  const server = createServer((req, res) => {
    const environ = createEnviron({
      method: req.method!, target: req.url!, headers: pairs(req.rawHeaders), serverPort: port, remoteAddr: req.socket.remoteAddress,
      input: createInput(req, req.headers['content-length'] ? Number(req.headers['content-length']) : undefined),
    });
    void runApplication(app, environ, {
      sendHeaders(status, headers, length) {
        res.statusCode = parseInt(status, 10);
        res.statusMessage = status.slice(4);
        for (const [n, v] of headers) res.appendHeader(n, v);
        if (length !== undefined && !res.hasHeader('content-length')) res.setHeader('Content-Length', length);
      },
      write: (chunk) => new Promise<void>((ok) => { if (res.write(chunk)) ok(); else res.once('drain', ok); }),
      end: () => new Promise<void>((ok) => res.end(ok)),
      abort: () => res.destroy(),
    }, { head: req.method === 'HEAD' });
  });
  server.listen(port, host, () => process.stdout.write(`Serving ${spec} on http://${host}:${port}/\n`));
}

function pairs(raw: string[]): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (let i = 0; i < raw.length; i += 2) out.push([raw[i]!, raw[i + 1]!]);
  return out;
}
