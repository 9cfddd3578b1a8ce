import { HTTPError, type Application, type Environ, type StartResponse } from '@stackware/gateway';
import { isEndResponse } from './end-response.js';
import { DEFAULT_FORM_LIMITS, type FormLimits } from './form.js';
import { HTTPRequest } from './request.js';
import { HTTPResponse } from './response.js';
import type { Servlet, ServletClass } from './servlet.js';
import { Transaction } from './transaction.js';

/** Options of {@link servletApp}. Defaults at the top. */
export interface ServletAppOptions {
  /** Idle instances kept for reuse (per class) when instances are not thread-safe. Default 16. */
  maxIdleInstances?: number;
  /** Response bytes buffered before the response is committed and streamed. Default 65536. */
  bufferBytes?: number;
  /** Form-body limits; they win over the class's `static formLimits` (the deployment decides). Default {@link DEFAULT_FORM_LIMITS}. */
  formLimits?: Partial<FormLimits>;
  /** Directory for uploaded files' temporary files. Default `os.tmpdir()`. */
  tempDir?: string;
}

/** An application made by {@link servletApp}; `servletClass` and `pool` are there for tools and tests. */
export interface ServletApplication extends Application {
  readonly servletClass: ServletClass;
  readonly pool: InstancePool;
}

/**
 * The instances of one servlet class: a shared instance when the servlet `canBeReused()` and
 * `canBeThreaded()`; otherwise one instance per concurrent request, idle ones kept for reuse
 * (up to `maxIdle`) when `canBeReused()`, none when not.
 */
export class InstancePool {
  readonly #cls: ServletClass;
  readonly #maxIdle: number;
  readonly #idle: Servlet[] = [];
  #shared: Servlet | undefined;
  /** Instances created so far (a figure for tests and tools). */
  created = 0;

  constructor(cls: ServletClass, maxIdle: number) {
    this.#cls = cls;
    this.#maxIdle = maxIdle;
  }

  /** An instance for one request. */
  acquire(): Servlet {
    if (this.#shared) return this.#shared;
    const idle = this.#idle.pop();
    if (idle) return idle;
    const instance = new this.#cls();
    this.created++;
    if (instance.canBeReused() && instance.canBeThreaded()) this.#shared = instance;
    return instance;
  }

  /** Gives an instance back after `sleep()`. `broken`: it threw, do not reuse it. */
  release(instance: Servlet, broken: boolean): void {
    if (instance === this.#shared) {
      if (broken) this.#shared = undefined;
      return;
    }
    if (broken || !instance.canBeReused() || this.#idle.length >= this.#maxIdle) return;
    this.#idle.push(instance);
  }

  /** Idle instances waiting for a request. */
  get idleCount(): number {
    return this.#idle.length;
  }
}

const cache = new WeakMap<ServletClass, ServletApplication>();

function isServletClass(value: unknown): value is ServletClass {
  return typeof value === 'function' && typeof (value.prototype as Partial<Servlet> | undefined)?.awake === 'function'
    && typeof (value.prototype as Partial<Servlet>).respond === 'function' && typeof (value.prototype as Partial<Servlet>).sleep === 'function';
}

async function answerError(error: HTTPError, environ: Environ, startResponse: StartResponse) {
  return error.toApplication()(environ, startResponse);
}

/**
 * Turns a servlet class into an application (Webware's servlet factory + Application.runTransaction).
 * Per request:
 * 1. an instance from the class's {@link InstancePool};
 * 2. the {@link HTTPRequest} (form bodies parsed now, uploads to temporary files; a limit breach
 *    answers 413/400 before the servlet runs) and the {@link HTTPResponse} (muted for HEAD);
 * 3. `awake(transaction)`, `respond(transaction)`, then `sleep(transaction)` — always, also after
 *    an exception or `endResponse()`;
 * 4. the response is sent: one body with Content-Length, or streamed once past `bufferBytes`;
 * 5. uploaded files' temporary files are removed (also after an error).
 *
 * An {@link HTTPError} thrown by the servlet before the response is committed is answered with
 * its status (a small HTML page); any other error (or one after commit) propagates to the
 * exception catcher above. An instance that threw (other than an HTTPError) is not reused.
 *
 * Called twice with the same class (and no options), it returns the same application (one pool);
 * a changed class (module reloaded by the URL parser) gets a new application.
 * @throws TypeError when `cls` is not a Servlet subclass.
 */
export function servletApp(cls: ServletClass, options: ServletAppOptions = {}): ServletApplication {
  if (!isServletClass(cls)) throw new TypeError(`servletApp() takes a Servlet subclass (with awake/respond/sleep), got ${typeof cls === 'function' ? `class ${(cls as { name?: string }).name}` : typeof cls}`);
  const useCache = Object.keys(options).length === 0;
  if (useCache) {
    const cached = cache.get(cls);
    if (cached) return cached;
  }
  const pool = new InstancePool(cls, options.maxIdleInstances ?? 16);
  const requestOptions = {
    limits: { ...DEFAULT_FORM_LIMITS, ...cls.formLimits, ...options.formLimits },
    tempDir: options.tempDir,
  };

  const app = async (environ: Environ, startResponse: StartResponse) => {
    let request: HTTPRequest;
    try {
      request = await HTTPRequest.create(environ, requestOptions);
    } catch (error) {
      if (error instanceof HTTPError) return answerError(error, environ, startResponse);
      throw error;
    }
    let instance: Servlet | undefined;
    let failure: unknown;
    try {
      instance = pool.acquire();
      const response = new HTTPResponse(environ, startResponse, { bufferBytes: options.bufferBytes, muted: environ.REQUEST_METHOD === 'HEAD' });
      const transaction = new Transaction(request, response, instance);
      try {
        await instance.awake(transaction);
        await instance.respond(transaction);
      } catch (error) {
        if (!isEndResponse(error)) failure = error;
      } finally {
        try {
          await instance.sleep(transaction);
        } catch (error) {
          failure ??= error;
        }
      }
      if (failure !== undefined) {
        if (failure instanceof HTTPError && !response.isCommitted()) {
          return await answerError(failure, environ, startResponse);
        }
        throw failure;
      }
      return await response.finish();
    } finally {
      if (instance) pool.release(instance, failure !== undefined && !(failure instanceof HTTPError));
      await request.cleanup();
    }
  };
  const application = Object.assign(app, { servletClass: cls, pool }) as ServletApplication;
  if (useCache) cache.set(cls, application);
  return application;
}
