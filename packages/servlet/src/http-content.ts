import type { Application } from '@stackware/gateway';
import type { Session } from '@stackware/session';
import { EndResponse } from './end-response.js';
import { HTTPServlet } from './http-servlet.js';
import type { HTTPRequest } from './request.js';
import type { HTTPResponse } from './response.js';
import type { MaybePromise } from './servlet.js';
import { Servlet } from './servlet.js';
import type { Transaction } from './transaction.js';

let reserved: Set<string> | undefined;
/** Method names that can never be actions, whatever `actions()` lists: the servlet machinery's own. */
function reservedNames(): Set<string> {
  reserved ??= new Set([Object.prototype, Servlet.prototype, HTTPServlet.prototype, HTTPContent.prototype].flatMap((p) => Object.getOwnPropertyNames(p)));
  return reserved;
}

/**
 * A content-producing HTTP servlet (Webware's HTTPContent): POST goes to {@link dispatchAction},
 * which runs one **action** chosen by the request or `defaultAction()`; GET and HEAD run
 * `defaultAction()` (actions change state: they are not taken from GET).
 *
 * Actions are allowed only through the {@link actions} allow-list: a form field `_action_`
 * whose value (through {@link methodNameForAction}) is listed, or a field named
 * `_action_<name>` (a submit button; an image button's `_action_<name>.x`/`.y` also count) for a
 * listed name. Anything else — a method that exists but is not listed, a servlet internal —
 * runs `defaultAction()`. An action runs as `preAction(name)`, `this[name]()`, `postAction(name)`.
 */
export class HTTPContent extends HTTPServlet {
  /** The request of the current transaction. */
  get request(): HTTPRequest {
    return this.transaction.request;
  }

  /** The response of the current transaction. */
  get response(): HTTPResponse {
    return this.transaction.response;
  }

  /** The loaded session (see `Transaction.session`). */
  session(): Promise<Session> {
    return this.transaction.session();
  }

  /** The application `forward`/`includeURL` dispatch to (see `servletRoot`). */
  application(): Application | undefined {
    return this.transaction.application();
  }

  /**
   * GET (and HEAD) run `defaultAction()` only: actions change state, and a GET can be triggered by
   * any other site (`<img src="/page?_action_=delete">`), so actions are taken from POST bodies.
   * (Webware also ran actions on GET; override this to call `dispatchAction` if you need that.)
   */
  async respondToGet(_transaction: Transaction): Promise<void> {
    await this.defaultAction();
  }

  /** POST runs the requested action (an allow-listed name from `actions()`), else `defaultAction()`: see {@link dispatchAction}. */
  respondToPost(transaction: Transaction): Promise<void> {
    return this.dispatchAction(transaction);
  }

  /** Picks the action (see the class comment) and runs it, else `defaultAction()` (Webware's `_respond`). */
  async dispatchAction(transaction: Transaction): Promise<void> {
    const request = transaction.request;
    const allowed = this.actions();
    if (request.hasField('_action_')) {
      const value = request.fieldValues('_action_')[0] ?? '';
      const name = this.methodNameForAction(value);
      if (allowed.includes(name)) return this.handleAction(name);
    }
    for (const name of allowed) {
      if (request.hasField(`_action_${name}`) || (request.hasField(`_action_${name}.x`) && request.hasField(`_action_${name}.y`))) {
        return this.handleAction(name);
      }
    }
    await this.defaultAction();
  }

  /**
   * Runs action `name`: `preAction`, the method, `postAction`.
   * @throws Error when `name` is not in `actions()`, is a servlet internal, or is not a method.
   */
  async handleAction(name: string): Promise<void> {
    if (!this.actions().includes(name) || reservedNames().has(name)) throw new Error(`${this.name()}: ${JSON.stringify(name)} is not an allowed action`);
    const method = (this as unknown as Record<string, unknown>)[name];
    if (typeof method !== 'function') throw new Error(`${this.name()}.actions() lists ${JSON.stringify(name)}, but there is no method of that name`);
    await this.preAction(name);
    await (method as () => MaybePromise).call(this);
    await this.postAction(name);
  }

  /** The names of the methods a request may run as actions. Default: none. */
  actions(): string[] {
    return [];
  }

  /** Maps the value of an `_action_` field to a method name. Default: unchanged. */
  methodNameForAction(name: string): string {
    return name;
  }

  /** Runs before an action. Default: nothing. */
  preAction(_name: string): MaybePromise {}

  /** Runs after an action. Default: nothing. */
  postAction(_name: string): MaybePromise {}

  /** Runs when no action was requested. Default: nothing (Page writes the HTML page). */
  defaultAction(): MaybePromise {}

  /** See `Transaction.forward`. */
  forward(url: string): Promise<void> {
    return this.transaction.forward(url);
  }

  /** See `Transaction.includeURL`. */
  includeURL(url: string): Promise<void> {
    return this.transaction.includeURL(url);
  }

  /** Stops `awake()`/`respond()` here; `sleep()` still runs and the output so far is sent. */
  endResponse(): never {
    throw new EndResponse();
  }

  /** Redirects (302 unless `status` given) and ends the response. */
  sendRedirectAndEnd(url: string, status?: 301 | 302 | 303 | 307 | 308): never {
    this.response.sendRedirect(url, status);
    this.endResponse();
  }
}
