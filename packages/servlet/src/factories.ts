import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { importModule } from '@stackware/loader';
import type { Application, StackwareFactories } from '@stackware/gateway';
import { appFactory, defineOptions, option } from '@stackware/gateway/options';
import { DEFAULT_FORM_LIMITS } from './form.js';
import { SERVER_SIDE_PATH_KEY } from './request.js';
import { servletApp } from './servlet-app.js';
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

/** The deploy-file options of {@link servletFactory}: the module, {@link ServletAppOptions} and the {@link FormLimits}. */
export const SERVLET_OPTIONS = defineOptions({
  module: option.required(option.string('the module exporting a Servlet subclass (relative to the deploy file)', { example: '"pages/home.ts"' })),
  export: option.string('the export to use', { defaultText: 'default, else the one named after the file' }),
  bufferBytes: option.number('response bytes buffered before the response is committed and streamed', { unit: 'bytes', integer: true, min: 0, default: 65536 }),
  maxIdleInstances: option.number('idle servlet instances kept for reuse when instances are not thread-safe', { integer: true, min: 0, default: 16 }),
  tempDir: option.string('directory for uploaded files\' temporary files', { defaultText: 'os.tmpdir()' }),
  maxBodyBytes: option.number('largest form body (larger: 413)', { unit: 'bytes', integer: true, min: 0, default: DEFAULT_FORM_LIMITS.maxBodyBytes }),
  maxFileBytes: option.number('largest uploaded file (larger: 413)', { unit: 'bytes', integer: true, min: 0, default: DEFAULT_FORM_LIMITS.maxFileBytes }),
  maxFiles: option.number('most uploaded files in one request (more: 413)', { integer: true, min: 0, default: DEFAULT_FORM_LIMITS.maxFiles }),
  maxFields: option.number('most non-file fields in one request (more: 413)', { integer: true, min: 0, default: DEFAULT_FORM_LIMITS.maxFields }),
  maxFieldBytes: option.number('largest value of one non-file field (larger: 413)', { unit: 'bytes', integer: true, min: 0, default: DEFAULT_FORM_LIMITS.maxFieldBytes }),
});

/**
 * Deploy-file factory: `use = "@stackware/servlet"`, `module = "pages/home.ts"` (relative to the
 * deploy file); options: {@link SERVLET_OPTIONS} (the README's table). The module's path is what
 * `request.serverSidePath()` answers.
 */
export const servletFactory = appFactory(
  SERVLET_OPTIONS,
  async ({ module, export: exportName, bufferBytes, maxIdleInstances, tempDir, ...formLimits }, context): Promise<Application> => {
    const path = isAbsolute(module) ? module : resolve(context.here, module);
    const cls = await loadServletClass(path, exportName);
    const app = servletApp(cls, { formLimits, bufferBytes, maxIdleInstances, tempDir });
    return (environ, startResponse) => {
      environ[SERVER_SIDE_PATH_KEY] ??= path;
      return app(environ, startResponse);
    };
  },
  { description: 'A Webware-style servlet (a module exporting a Servlet subclass) as an application' },
);

/** Config factories: `use = "@stackware/servlet"` builds {@link servletFactory}. */
export const factories: StackwareFactories = {
  apps: { default: servletFactory, servlet: servletFactory },
};
