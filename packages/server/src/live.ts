import { onBodyClose, type Application, type ResponseBody } from '@stackware/gateway';
import type { BuiltApplication } from './run.js';

interface Generation {
  built: BuiltApplication;
  inFlight: number;
  retired: boolean;
  drained: Promise<void>;
  resolveDrained(): void;
}

/**
 * An application whose implementation can be swapped while it serves (application-level graceful
 * reload): each request runs to the end — body closed — on the generation it started on; `swap()`
 * makes new requests use the new build at once, then waits until the old generation has no
 * request in flight and disposes it (closing its thread pools).
 */
export class LiveApplication {
  private current: Generation;
  /** Number of swaps so far. */
  generation = 0;

  constructor(built: BuiltApplication) {
    this.current = LiveApplication.generationOf(built);
  }

  private static generationOf(built: BuiltApplication): Generation {
    let resolveDrained!: () => void;
    const drained = new Promise<void>((resolve) => (resolveDrained = resolve));
    return { built, inFlight: 0, retired: false, drained, resolveDrained };
  }

  /** The application to give servers: dispatches each request to the current generation. */
  readonly app: Application = async (environ, startResponse) => {
    const gen = this.current;
    gen.inFlight++;
    let body: ResponseBody;
    try {
      body = await gen.built.app(environ, startResponse);
    } catch (error) {
      this.release(gen);
      throw error;
    }
    return onBodyClose(body, () => this.release(gen));
  };

  private release(gen: Generation): void {
    gen.inFlight--;
    if (gen.retired && gen.inFlight === 0) gen.resolveDrained();
  }

  /**
   * Makes `next` serve every new request; resolves once the previous generation has drained
   * (every request it started has closed its body, up to `drainTimeoutMs`, default 30000) and
   * has been disposed.
   */
  async swap(next: BuiltApplication, drainTimeoutMs = 30_000): Promise<void> {
    const old = this.current;
    this.current = LiveApplication.generationOf(next);
    this.generation++;
    await LiveApplication.retire(old, drainTimeoutMs);
  }

  /** Retires the current generation (at shutdown, after the servers stopped). */
  close(drainTimeoutMs = 5_000): Promise<void> {
    return LiveApplication.retire(this.current, drainTimeoutMs);
  }

  private static async retire(gen: Generation, drainTimeoutMs: number): Promise<void> {
    if (gen.retired) return gen.drained;
    gen.retired = true;
    if (gen.inFlight === 0) gen.resolveDrained();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([gen.drained, new Promise<void>((resolve) => (timer = setTimeout(resolve, drainTimeoutMs).unref()))]);
    clearTimeout(timer);
    await gen.built.dispose();
  }
}

