import type { SinkSignal } from '@stackware/gateway';

/**
 * A one-shot abort signal for one response (the `signal` of a ResponseSink): the members
 * `runApplication` uses, without the cost of an AbortController per request (EventTarget set-up
 * was the largest JavaScript cost of a hello-world request in the server benchmark).
 */
export class ResponseSignal implements SinkSignal {
  aborted = false;
  private listeners: Array<() => void> | undefined;

  addEventListener(_type: 'abort', listener: () => void): void {
    (this.listeners ??= []).push(listener);
  }

  removeEventListener(_type: 'abort', listener: () => void): void {
    const list = this.listeners;
    if (!list) return;
    const index = list.indexOf(listener);
    if (index !== -1) list.splice(index, 1);
  }

  /** Marks the response aborted and calls each listener once (later calls do nothing). */
  abort(): void {
    if (this.aborted) return;
    this.aborted = true;
    const list = this.listeners;
    this.listeners = undefined;
    if (list) for (const listener of list) listener();
  }
}
