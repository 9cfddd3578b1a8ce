import { asApplication, type AppFactory, type Application, type FactoryContext, type FilterFactory, type Middleware, type OptionType, type RunningServer, type ServerFactory } from '@stackware/gateway';
// The narrow entry point: the package's index would load the proxy (undici), the session-based form login and more.
import { urlMap } from '@stackware/middleware/url-map';
import type { BuiltApplication } from '@stackware/server';
import { ConfigError } from './config-error.js';
import { DeploymentDefinition, describeUse, sectionLabel, type AppDef, type DeploymentSpec, type ServerDef } from './deployment.js';
import { configFilter } from './location.js';
import { checkOptionType, closest, exampleOf } from './options.js';
import { importUse, parseUse, pickExport, pickFactory, UseError, type FactoryKind } from './use.js';
import { poolDispatcher, startThreadPool, type PoolHandle } from './pools.js';
import { groupDispatcher } from './groups.js';

type AnyFactory = AppFactory | FilterFactory | ServerFactory;
const SECTION = { apps: 'app', filters: 'filter', servers: 'server' } as const;

/** Options of {@link Deployment.buildApplication}. */
export interface BuildOptions {
  /** Dispatch `[location]`s that name a `pool` to their thread-pool group (default true). Pool threads build with false. */
  pools?: boolean;
  /** Route requests of `[location]`s and hosts that name a `[group.NAME]` to its processes (default true). Group processes and pool threads build with false. */
  groups?: boolean;
}

/** An application built from a deployment, with the resources it holds (thread pools): the orchestrator's type. */
export type { BuiltApplication };

/**
 * A deployment: the validated sections ({@link DeploymentDefinition}) plus loading (`check`),
 * building (`buildApplication`) and serving (`startServers`).
 */
export class Deployment extends DeploymentDefinition {
  private readonly factories = new Map<string, Promise<unknown>>();
  /** Checked options per section options object (a replaced object — CLI overrides — is checked again). */
  private readonly checkedOptions = new WeakMap<object, Readonly<Record<string, unknown>>>();
  private readonly descriptions = new Map<string, string | undefined>();
  private checked: Promise<void> | undefined;

  /**
   * Loads every factory and application the deployment names and checks every option against
   * the factory's `optionTypes` (unknown options and wrong types are errors). Idempotent.
   * @throws ConfigError for the first mistake found.
   */
  check(): Promise<void> {
    this.checked ??= (async () => {
      for (const def of this.apps.values()) {
        if (def.kind !== 'app') continue;
        if (def.use !== undefined) await this.optionsFor('apps', def.name, def.use, def.options);
        else await this.loadApplicationValue(def);
      }
      for (const def of this.filters.values()) await this.optionsFor('filters', def.name, def.use, def.options);
      for (const def of this.servers.values()) await this.optionsFor('servers', def.name, def.use, def.options, def.protocol);
    })();
    return this.checked;
  }

  /**
   * Builds the named application (default: {@link main}) with the configuration filter outermost
   * (so {@link getConfig} works everywhere inside) and, when `[location]`s pick thread pools, the
   * pool dispatcher inside it. Applications used twice are built once per call.
   * @throws ConfigError for a mistake in the deployment or a factory that fails.
   */
  async buildApplication(name?: string, options: BuildOptions = {}): Promise<Application> {
    return (await this.build(name, options)).app;
  }

  /** Like {@link buildApplication}, also returning `dispose()` for the thread pools it started. */
  async build(name: string = this.main, options: BuildOptions = {}): Promise<BuiltApplication> {
    await this.check();
    if (!this.apps.has(name)) this.fail(undefined, undefined, undefined, `no application named "${name}"`, `use one of: ${[...this.apps.keys()].join(', ')}`);
    const cache = new Map<string, Promise<Application>>();
    let app = await this.buildNamed(name, cache, []);
    let pools: PoolHandle[] = [];
    if (options.pools !== false && this.locations.some((l) => l.pool !== undefined)) {
      const dispatched = await poolDispatcher(this, name, app);
      app = dispatched.app;
      pools = dispatched.pools;
    }
    if (options.groups !== false) {
      try {
        app = groupDispatcher(this.groups, this.locations, app);
      } catch (error) {
        await Promise.allSettled(pools.map((p) => p.close()));
        this.fail(undefined, undefined, undefined, message(error), 'serve the deploy file with `stackware serve`', error);
      }
    }
    app = configFilter(this.defaults, this.locations)(app);
    return { app, dispose: async () => { await Promise.allSettled(pools.map((p) => p.close())); } };
  }

  /**
   * Builds application `name` to run in `server.threads` worker threads (@stackware/threadpool):
   * each thread rebuilds it from the deploy file; the per-request timeout is the server's
   * `timeoutMs` (default 30000). The configuration filter runs inside the threads; requests for a
   * `[group.NAME]` are routed to the group before they reach the threads.
   */
  async buildThreaded(name: string, server: ServerDef): Promise<BuiltApplication> {
    await this.check();
    const timeoutMs = typeof server.options.timeoutMs === 'number' ? server.options.timeoutMs : 30_000;
    const pool = await startThreadPool(this, name, `server.${server.name}`, server.threads, timeoutMs, ['server', server.name, 'threads']);
    // Requests for a process group go to the group's processes, not into these threads.
    let app: Application;
    try {
      app = groupDispatcher(this.groups, this.locations, pool.app);
    } catch (error) {
      await pool.close();
      return this.fail(undefined, undefined, undefined, message(error), 'serve the deploy file with `stackware serve`', error);
    }
    return { app, dispose: () => pool.close() };
  }

  /**
   * Starts every `[server.NAME]` section (or only `names`) serving `app` (default: the server's
   * `app`, built with {@link build}). Returns the running servers, in section order.
   */
  async startServers(app?: Application, names: string[] = [...this.servers.keys()]): Promise<Array<{ name: string; server: RunningServer }>> {
    await this.check();
    const started: Array<{ name: string; server: RunningServer }> = [];
    try {
      for (const name of names) {
        const def = this.servers.get(name);
        if (!def) this.fail(undefined, undefined, undefined, `no server named "${name}"`, `use one of: ${[...this.servers.keys()].join(', ')}`);
        const factory = (await this.resolveFactory('servers', def.name, def.use, def.protocol)) as ServerFactory;
        const opts = await this.optionsFor('servers', def.name, def.use, def.options, def.protocol);
        const serving = app ?? (await this.buildApplication(def.app));
        try {
          const start = await factory(opts, this.context(def.name, new Map(), []));
          started.push({ name, server: await start(serving) });
        } catch (error) {
          if (error instanceof ConfigError) throw error;
          this.fail('server', def.name, undefined, `the server could not start: ${message(error)}`, 'check host and port (is the port in use?) and the other options of this section', error);
        }
      }
    } catch (error) {
      await Promise.allSettled(started.map((s) => s.server.close()));
      throw error;
    }
    return started;
  }

  /** The factory context given to factories of section `name`. */
  private context(name: string, cache: Map<string, Promise<Application>>, stack: string[]): FactoryContext {
    return {
      name,
      here: this.here,
      defaults: this.defaults,
      loadApp: (appName: string) => {
        if (!this.apps.has(appName)) throw new ConfigError({ file: this.file, section: name, problem: `a factory asked for the application "${appName}", which is not declared`, fix: `declare [app.${appName}], or fix the name in this section's options` });
        return this.buildNamed(appName, cache, stack);
      },
    };
  }

  private buildNamed(name: string, cache: Map<string, Promise<Application>>, stack: string[]): Promise<Application> {
    if (stack.includes(name)) {
      const def = this.apps.get(stack.at(-1)!)!;
      return Promise.reject(new ConfigError({ file: this.file, section: `${def.kind}.${def.name}`, problem: `a cycle: ${[...stack.slice(stack.indexOf(name)), name].join(' → ')}`, fix: 'an application cannot contain itself: point one of them at a different application' }));
    }
    let built = cache.get(name);
    if (!built) {
      built = this.buildDef(this.apps.get(name)!, cache, [...stack, name]);
      cache.set(name, built);
    }
    return built;
  }

  private async buildDef(def: AppDef, cache: Map<string, Promise<Application>>, stack: string[]): Promise<Application> {
    if (def.kind === 'app') {
      if (def.use === undefined) return this.loadApplicationValue(def);
      const factory = (await this.resolveFactory('apps', def.name, def.use)) as AppFactory;
      const options = await this.optionsFor('apps', def.name, def.use, def.options);
      const app = await this.callFactory('app', def.name, () => factory(options, this.context(def.name, cache, stack)));
      if (typeof app !== 'function') this.fail('app', def.name, 'use', `the factory ${describeUse(def.use)} returned ${typeof app}, not an Application`, 'make the factory return a function (environ, startResponse) => body');
      return app;
    }
    if (def.kind === 'composite') {
      const mounts: Array<[string, Application]> = [];
      for (const [prefix, appName] of def.mounts) mounts.push([prefix, await this.buildNamed(appName, cache, stack)]);
      const notFound = def.notFound ? await this.buildNamed(def.notFound, cache, stack) : undefined;
      try {
        return urlMap(mounts, { notFound });
      } catch (error) {
        return this.fail('composite', def.name, undefined, message(error), 'fix the prefix', error);
      }
    }
    let app = await this.buildNamed(def.app, cache, stack);
    for (const filterName of def.filters.toReversed()) {
      const filter = this.filters.get(filterName)!;
      const factory = (await this.resolveFactory('filters', filter.name, filter.use)) as FilterFactory;
      const options = await this.optionsFor('filters', filter.name, filter.use, filter.options);
      const middleware: Middleware = await this.callFactory('filter', filter.name, () => factory(options, this.context(filter.name, cache, stack)));
      if (typeof middleware !== 'function') this.fail('filter', filter.name, 'use', `the factory ${describeUse(filter.use)} returned ${typeof middleware}, not a middleware`, 'make the filter factory return a function (app) => app');
      app = middleware(app);
    }
    return app;
  }

  private async callFactory<T>(type: string, name: string, call: () => T | Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (error) {
      if (error instanceof ConfigError) throw error;
      return this.fail(type, name, undefined, `the factory failed: ${message(error)}`, 'check the options of this section (the factory\'s documentation lists them)', error);
    }
  }

  private async loadApplicationValue(def: Extract<AppDef, { kind: 'app' }>): Promise<Application> {
    const value = def.application;
    let exported: unknown = value;
    if (typeof value === 'string') {
      const spec = parseUse(value);
      try {
        exported = pickExport(await importUse(spec, this.here), spec);
      } catch (error) {
        if (error instanceof UseError) this.fail('app', def.name, 'application', error.message, error.fix, error.cause);
        throw error;
      }
    }
    const app = await asApplication(exported);
    if (!app) this.fail('app', def.name, 'application', `${describeUse(value)} is a ${typeof exported}, not an Application`, 'export a function (environ, startResponse) => body, or a class with [TO_APPLICATION]; for a factory write use = "..." instead');
    return app;
  }

  /** Loads (once) the factory `use` names for a section of `kind`. */
  private resolveFactory(kind: FactoryKind, name: string, use: string | AnyFactory, protocol?: string): Promise<unknown> {
    const key = `${kind}\0${name}`;
    let pending = this.factories.get(key);
    if (!pending) {
      pending = (async () => {
        if (typeof use === 'function') return use;
        const spec = parseUse(use);
        try {
          const mod = await importUse(spec, this.here);
          if (spec.kind === 'package') {
            // A server section without "#name" picks the entry named after its protocol when the package has one.
            const servers = (mod.factories as { servers?: Record<string, unknown> } | undefined)?.servers;
            const named = kind === 'servers' && spec.name === undefined && protocol && typeof servers?.[protocol] === 'function' ? { ...spec, name: protocol } : spec;
            return pickFactory(mod, named, kind);
          }
          const factory = pickExport(mod, spec);
          if (typeof factory !== 'function') throw new UseError(`export "${spec.name ?? 'default'}" of ${spec.target} is a ${typeof factory}, not a ${SECTION[kind]} factory`, `export a function (options, context) => ${kind === 'apps' ? 'Application' : kind === 'filters' ? 'Middleware' : 'server'}`);
          return factory;
        } catch (error) {
          if (error instanceof UseError) this.fail(SECTION[kind], name, 'use', error.message, error.fix, error.cause);
          throw error;
        }
      })();
      this.factories.set(key, pending);
      pending.then((factory) => this.descriptions.set(key, (factory as AnyFactory).description), () => {});
    }
    return pending;
  }

  /** The `description` of the factory a section uses, once `check()` has loaded it. */
  descriptionOf(type: 'app' | 'filter' | 'server', name: string): string | undefined {
    return this.descriptions.get(`${type}s\0${name}`);
  }

  /** Reports a deprecated key as a DeprecationWarning naming the file, line, section and key (the deployment still loads). */
  private warn(type: string, name: string, key: string, message: string): void {
    const at = this.locator?.locate([type, name], key);
    const where = at ? `${this.file}:${at.line}:${at.column}` : this.file;
    process.emitWarning(`${where}: [${sectionLabel(type, name)}] key ${JSON.stringify(key)}: ${message}`, { type: 'DeprecationWarning', code: 'STACKWARE_DEPRECATED_OPTION' });
  }

  /** Type-checks a section's options against its factory's `optionTypes`; returns them converted. */
  private async optionsFor(kind: FactoryKind, name: string, use: string | AnyFactory, options: Readonly<Record<string, unknown>>, protocol?: string): Promise<Readonly<Record<string, unknown>>> {
    const done = this.checkedOptions.get(options);
    if (done) return done;
    const factory = (await this.resolveFactory(kind, name, use, protocol)) as AnyFactory;
    const schema = factory.options;
    const types = schema?.optionTypes ?? (factory.optionTypes as Record<string, OptionType> | undefined);
    let out: Record<string, unknown> = { ...options };
    // A server factory that declares option types but not "protocol" serves one protocol: the entry picked for it.
    if (kind === 'servers' && types && !('protocol' in types)) delete out.protocol;
    const type = SECTION[kind];
    if (schema) {
      // The factory's options schema (@stackware/gateway/options): types, ranges, enums, renamed keys.
      const result = schema.parse(out);
      for (const warning of result.warnings) this.warn(type, name, warning.key, warning.message);
      if (!result.ok) {
        const issue = result.issues[0]!;
        this.fail(type, name, issue.key, issue.kind === 'unknown' ? `${issue.problem} for ${describeUse(use)}` : issue.problem, issue.fix);
      }
      out = result.value;
    } else if (types) {
      for (const [option, value] of Object.entries(out)) {
        const expected = types[option];
        if (expected === undefined) {
          const near = closest(option, Object.keys(types));
          this.fail(type, name, option, `unknown option "${option}" for ${describeUse(use)}`, `${near ? `did you mean "${near}"? ` : ''}${Object.keys(types).length ? `it accepts: ${Object.keys(types).join(', ')}` : 'it takes no options'}`);
        }
        const checked = checkOptionType(value, expected);
        if ('problem' in checked) this.fail(type, name, option, `option "${option}" ${checked.problem}`, `write ${option} = ${exampleOf(expected)}`);
        out[option] = checked.value;
      }
    }
    const frozen = Object.freeze(out);
    this.checkedOptions.set(options, frozen);
    return frozen;
  }
}

/**
 * Defines a deployment in code — the same structure a deploy file produces — and validates its
 * shape and references at once (factories load on `check()` / `buildApplication()`).
 * @throws ConfigError (file "<code>") for the first mistake.
 */
export function defineDeployment(spec: DeploymentSpec): Deployment {
  return new Deployment(spec);
}

function message(error: unknown): string {
  return error instanceof Error ? error.message.split('\n')[0]! : String(error);
}
