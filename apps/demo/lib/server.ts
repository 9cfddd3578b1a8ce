/**
 * `use = "./lib/server.ts#demoServer"`: @stackware/server's HTTP or FastCGI server factory (by
 * `protocol`), with the port taken from a string option, `listenPort = "${PORT:-8080}"`. The deploy
 * file checks a server section's own `port` key as a number literal before any factory sees it, so
 * `port = "${PORT:-8080}"` is refused; this module exists only to read PORT from the environment.
 */
import type { FactoryContext, FactoryOptions, ServerFactory } from '@stackware/gateway';
import { factories } from '@stackware/server';

/** Options: `protocol` ("http" or "fastcgi"), `host`, `listenPort` (a decimal string, 0-65535), `shutdownTimeoutMs`. */
export const demoServer: ServerFactory = Object.assign(
  (options: FactoryOptions, context: FactoryContext) => {
    const { protocol = 'http', listenPort = '8080', ...rest } = options;
    const text = String(listenPort);
    const port = Number(text);
    if (!/^\d+$/.test(text) || port > 65535) throw new Error(`PORT must be a port number from 0 to 65535, got ${JSON.stringify(text)}`);
    const factory = factories.servers?.[String(protocol)];
    if (protocol !== 'http' && protocol !== 'fastcgi') throw new Error(`PROTOCOL must be "http" or "fastcgi", got ${JSON.stringify(protocol)}`);
    return factory!({ ...rest, port }, context);
  },
  {
    description: 'HTTP or FastCGI server (@stackware/server) on PORT',
    optionTypes: { protocol: 'string', host: 'string', listenPort: 'string', shutdownTimeoutMs: 'number' },
  } as const,
);
