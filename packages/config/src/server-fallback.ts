import type { Application, RunningServer, ServerFactory } from '@stackware/gateway';

type ServeFunction = (app: Application, options: Record<string, unknown>) => Promise<RunningServer>;

/**
 * A server factory for a server package that exports `serve` / `serveFastCGI` / `serveSCGI`
 * but no `factories.servers` yet (an interim bridge while @stackware/server registers its own).
 * Passes every option but `protocol` through; those functions validate them.
 * @returns undefined when the module has none of those exports.
 */
export function serverFactoryFromExports(mod: Record<string, unknown>, protocol: string): ServerFactory | undefined {
  const name = { http: 'serve', fastcgi: 'serveFastCGI', scgi: 'serveSCGI' }[protocol];
  const serveFn = name ? (mod[name] as ServeFunction | undefined) : undefined;
  if (typeof serveFn !== 'function') return undefined;
  const factory: ServerFactory = (options) => {
    const { protocol: _protocol, workers, threads, ...rest } = options;
    if ((typeof workers === 'number' && workers > 1) || (typeof threads === 'number' && threads > 0)) {
      throw new Error(`workers/threads need the server package's registered factory (it exports none yet); remove workers and threads or update the server package`);
    }
    return (app) => serveFn(app, rest);
  };
  factory.description = `${name}() of the server package`;
  return factory;
}
