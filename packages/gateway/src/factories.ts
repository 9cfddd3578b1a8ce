import type { Application, Middleware } from './types.js';
import type { OptionsSchema } from './options.js';

/**
 * The factory protocol (PasteDeploy's app_factory / filter_factory / server_factory): how a
 * package becomes usable from a deploy file. A package exports `factories` from its index:
 *
 * ```ts
 * export const factories: StackwareFactories = { filters: { default: sessionFilterFactory } };
 * ```
 * `use = "@stackware/session"` picks `default`; `use = "@stackware/middleware#urlMap"` picks a name.
 */

/** The type an option value must have; checked by @stackware/config before the factory is called. */
export type OptionType = 'string' | 'number' | 'boolean' | 'string[]' | 'table' | 'any';

/** What a factory knows about where it is being built. */
export interface FactoryContext {
  /** The section name in the deploy file ("app:main" → "main"), or a name given in code. */
  name: string;
  /** The deploy file's directory (`${here}`), or the current directory for code. */
  here: string;
  /** The `[defaults]` table (PasteDeploy's global_conf). */
  defaults: Record<string, unknown>;
  /** Builds another application declared in the same file, by name (for composites and filters that take apps). */
  loadApp(name: string): Promise<Application>;
}

/** Options as read from the file: the section's keys, minus `use`. */
export type FactoryOptions = Record<string, unknown>;

interface Described {
  /**
   * The options schema (`defineOptions`, `@stackware/gateway/options`): @stackware/config validates
   * and converts the section's options with it. Factories built with `appFactory`/`filterFactory`/
   * `serverFactory` carry it.
   */
  options?: OptionsSchema;
  /** The coarse option types, for factories without a schema; unknown options are reported as errors. Omit both to accept anything. */
  optionTypes?: Record<string, OptionType>;
  /** One line on what the factory builds, shown by `stackware check`. */
  description?: string;
}

/** Builds an application from options. */
export type AppFactory = ((options: FactoryOptions, context: FactoryContext) => Application | Promise<Application>) & Described;

/** Builds a middleware (filter) from options. */
export type FilterFactory = ((options: FactoryOptions, context: FactoryContext) => Middleware | Promise<Middleware>) & Described;

/** A running server, as returned by a server factory. */
export interface RunningServer {
  /** Where it listens: "http://127.0.0.1:8080", "fastcgi://127.0.0.1:9000", "unix:/run/app.sock". */
  readonly url: string;
  /** Graceful stop: stop accepting, let in-flight requests finish (up to the shutdown timeout), then close. */
  close(): Promise<void>;
}

/** Builds a server: given options, returns a function that serves an application. */
export type ServerFactory = ((options: FactoryOptions, context: FactoryContext) => (app: Application) => Promise<RunningServer>) & Described;

/** What a package exports as `factories`. `default` is the entry `use = "@stackware/pkg"` picks. */
export interface StackwareFactories {
  apps?: Record<string, AppFactory>;
  filters?: Record<string, FilterFactory>;
  servers?: Record<string, ServerFactory>;
}
