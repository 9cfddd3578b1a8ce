import { describe, it, expect } from '@jest/globals';
import { TestClient, text, type Application } from '@stackware/gateway';
import { LiveApplication } from '@stackware/config';

/** An application whose body waits for `release()` before its last chunk. */
function slow(label: string): { app: Application; release(): void; started: Promise<void> } {
  let release!: () => void;
  let started!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const startedPromise = new Promise<void>((resolve) => (started = resolve));
  const app: Application = (_environ, startResponse) => {
    startResponse('200 OK', [['Content-Type', 'text/plain']]);
    return (async function* body() {
      yield Buffer.from(`${label}:`);
      started();
      await gate;
      yield Buffer.from('done');
    })();
  };
  return { app, release, started: startedPromise };
}

describe('LiveApplication', () => {
  it('sends new requests to the new build at once, lets in-flight ones finish on the old, then disposes the old', async () => {
    const first = slow('old');
    let disposedOld = 0;
    const live = new LiveApplication({ app: first.app, dispose: async () => { disposedOld++; } });
    const client = new TestClient(live.app);
    const inFlight = client.get('/');
    await first.started;

    let swapped = false;
    const swap = live.swap({ app: text('new'), dispose: async () => {} }).then(() => { swapped = true; });
    expect(live.generation).toBe(1);
    const fresh = await client.get('/');
    expect(fresh.text()).toBe('new');
    // an array body stays an array: the gateway still knows its length (one write, Content-Length)
    expect(fresh.contentLength).toBe(3);
    // The old generation is still draining: not disposed while its request runs.
    await new Promise((r) => setImmediate(r));
    expect(disposedOld).toBe(0);
    expect(swapped).toBe(false);

    first.release();
    expect((await inFlight).text()).toBe('old:done');
    await swap;
    expect(disposedOld).toBe(1);
  });

  it('counts a request that fails as finished', async () => {
    let disposed = 0;
    const live = new LiveApplication({ app: () => { throw new Error('boom'); }, dispose: async () => { disposed++; } });
    await expect(new TestClient(live.app).get('/')).rejects.toThrow('boom');
    await live.swap({ app: text('ok'), dispose: async () => {} });
    expect(disposed).toBe(1);
  });

  it('gives up waiting after the drain timeout and disposes anyway', async () => {
    const stuck = slow('stuck');
    let disposed = 0;
    const live = new LiveApplication({ app: stuck.app, dispose: async () => { disposed++; } });
    const pending = new TestClient(live.app).get('/');
    await stuck.started;
    await live.swap({ app: text('ok'), dispose: async () => {} }, 50);
    expect(disposed).toBe(1);
    stuck.release();
    await pending;
  });
});
