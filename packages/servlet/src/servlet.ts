import { TO_APPLICATION, type Application } from '@stackware/gateway';
import type { FormLimits } from './form.js';
import type { Transaction } from './transaction.js';
import type { Writable } from './response.js';
import { SafeHtml } from './html.js';
import { servletApp } from './servlet-app.js';

/** One chunk for several items (one buffer append instead of many). */
function joinWritables(items: Writable[]): Writable {
  if (items.every((item) => typeof item !== 'object' || item instanceof SafeHtml)) return items.map(String).join('');
  return Buffer.concat(items.map((item) => (item instanceof Uint8Array ? item : Buffer.from(String(item), 'utf8'))));
}

/** A value a lifecycle method may return: nothing, or a promise of nothing. */
export type MaybePromise = void | Promise<void>;

/**
 * The root of the servlet classes (Webware's Servlet). For each request the servlet application
 * calls `awake(transaction)`, then `respond(transaction)`, then `sleep(transaction)` — `sleep`
 * always runs, also after an exception or `endResponse()`. Each may be async. `write()` and
 * `writeln()` append to the transaction's response.
 *
 * A module whose default export is a Servlet subclass is an application under the URL parser
 * and the deploy file: the static `[TO_APPLICATION]()` returns `servletApp(this)`.
 */
export class Servlet {
  /** Form-body limits for this class: merged over the defaults; `servletApp` options (the deploy file) win over them. */
  static formLimits: Partial<FormLimits> | undefined = undefined;

  /** The application of this class (`servletApp(this)`): what loaders turn the export into. */
  static [TO_APPLICATION](): Application {
    return servletApp(this);
  }

  #transaction: Transaction | undefined;

  /** The transaction being handled; throws outside awake…sleep. */
  get transaction(): Transaction {
    if (!this.#transaction) throw new Error(`${this.name()} has no transaction: request state is only available between awake() and sleep()`);
    return this.#transaction;
  }

  /** Called first for each request: set up per-request state here. Call `super.awake(transaction)` when overriding. */
  awake(transaction: Transaction): MaybePromise {
    this.#transaction = transaction;
  }

  /** Produces the response. The base class writes nothing. */
  respond(_transaction: Transaction): MaybePromise {}

  /** Called last for each request, even after an exception: release per-request state. Call `super.sleep(transaction)`. */
  sleep(_transaction: Transaction): MaybePromise {
    this.#transaction = undefined;
  }

  /**
   * Whether one instance may serve many requests, one after another (default true). When false,
   * every request gets a new instance.
   */
  canBeReused(): boolean {
    return true;
  }

  /**
   * Whether one instance may serve several requests at the same time (interleaved at `await`s).
   * Default false: instances keep per-request state from `awake()`, so the application keeps one
   * instance per concurrent request (a pool). Return true only for servlets without such state —
   * and then read the request from the `transaction` argument of `respond()`/`respondTo…()`, not
   * from `this.transaction` / `this.request`, which concurrent requests overwrite.
   */
  canBeThreaded(): boolean {
    return false;
  }

  /** Writes each argument (text, bytes, `html` markup) to the response; await it for backpressure. */
  write(...items: Writable[]): Promise<void> {
    return this.transaction.response.write(items.length === 1 ? items[0]! : joinWritables(items));
  }

  /** Like {@link write}, then a newline. */
  writeln(...items: Writable[]): Promise<void> {
    return this.transaction.response.write(joinWritables([...items, '\n']));
  }

  /** The servlet's name: its class name. */
  name(): string {
    return this.constructor.name;
  }
}

/** A servlet class: what `servletApp` takes. */
export type ServletClass = (new () => Servlet) & Pick<typeof Servlet, 'formLimits'>;
