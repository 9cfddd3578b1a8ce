import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { importModule } from '@stackware/loader';
import type { AppFactory, Application, FactoryContext, FactoryOptions, StackwareFactories } from '@stackware/gateway';
import { SERVER_SIDE_PATH_KEY } from './request.js';
import { servletApp, type ServletAppOptions } from './servlet-app.js';
import type { ServletClass } from './servlet.js';

/**
 * Loads the servlet class a module exports: `exportName` when given, else the default export,
 * else the export named after the file ("pages/Home.ts" → `Home`).
 * @throws Error naming the module and the export when none is a Servlet subclass.
 */
export async function loadServletClass(modulePath: string, exportName?: string): Promise<ServletClass> {
  const module = await importModule(pathToFileURL(modulePath));
  const base = modulePath.replace(/^.*[\\/]/, '').replace(/\.[^.]*$/, '');
  const candidates = exportName ? [exportName] : ['default', base];
  for (const name of candidates) {
    const value = module[name];
    if (typeof value === 'function' && typeof (value.prototype as { awake?: unknown } | undefined)?.awake === 'function') return value as ServletClass;
  }
  throw new Error(`${modulePath} does not export a Servlet subclass as ${candidates.map((c) => JSON.stringify(c)).join(' or ')} (export default class extends Page { ... })`);
}

/**
 * Deploy-file factory: `use = "@stackware/servlet"`, `module = "pages/home.ts"` (relative to the
 * deploy file), optional `export`, `bufferBytes`, `tempDir` and the form limits
 * (`maxBodyBytes`, `maxFileBytes`, `maxFiles`, `maxFields`, `maxFieldBytes`).
 * The module's path is what `request.serverSidePath()` answers.
 */
export const servletFactory: AppFactory = Object.assign(
  async (options: FactoryOptions, context: FactoryContext): Promise<Application> => {
    if (typeof options.module !== 'string' || !options.module) throw new TypeError(`[app:${context.name}] needs module = "path/to/servlet.ts" (a module exporting a Servlet subclass)`);
    const path = isAbsolute(options.module) ? options.module : resolve(context.here, options.module);
    const cls = await loadServletClass(path, options.export as string | undefined);
    const limits: ServletAppOptions['formLimits'] = {};
    for (const key of ['maxBodyBytes', 'maxFileBytes', 'maxFiles', 'maxFields', 'maxFieldBytes'] as const) {
      if (typeof options[key] === 'number') limits[key] = options[key];
    }
    const app = servletApp(cls, {
      formLimits: limits,
      bufferBytes: options.bufferBytes as number | undefined,
      tempDir: options.tempDir as string | undefined,
    });
    return (environ, startResponse) => {
      environ[SERVER_SIDE_PATH_KEY] ??= path;
      return app(environ, startResponse);
    };
  },
  {
    optionTypes: {
      module: 'string', export: 'string', bufferBytes: 'number', tempDir: 'string',
      maxBodyBytes: 'number', maxFileBytes: 'number', maxFiles: 'number', maxFields: 'number', maxFieldBytes: 'number',
    } as const,
    description: 'A Webware-style servlet (a module exporting a Servlet subclass) as an application',
  },
);

/** Config factories: `use = "@stackware/servlet"` builds {@link servletFactory}. */
export const factories: StackwareFactories = {
  apps: { default: servletFactory, servlet: servletFactory },
};
