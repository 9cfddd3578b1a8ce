import { describe, it, expect } from '@jest/globals';
import { TestClient, HTTPError, asApplication, TO_APPLICATION } from '@stackware/gateway';
import { Servlet, HTTPServlet, Page, html, servletApp, type Transaction } from '../src/index.js';

function deferred() {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

function recorder() {
  const events: string[] = [];
  class Recorded extends HTTPServlet {
    override awake(t: Transaction) {
      super.awake(t);
      events.push('awake');
    }
    respondToGet(t: Transaction) {
      events.push('respond');
      const mode = t.request.field('mode');
      if (mode === 'throw') throw new Error('boom in respond');
      if (mode === 'http') throw new HTTPError(404, 'No such thing');
      void t.response.write('ok');
    }
    override sleep(t: Transaction) {
      events.push('sleep');
      super.sleep(t);
    }
  }
  return { events, Recorded };
}

describe('lifecycle', () => {
  it('runs awake → respond → sleep in that order', async () => {
    const { events, Recorded } = recorder();
    const res = await new TestClient(servletApp(Recorded)).get('/');
    expect(res.statusCode).toBe(200);
    expect(res.text()).toBe('ok');
    expect(res.header('content-type')).toBe('text/html; charset=utf-8');
    expect(res.header('content-length')).toBe('2');
    expect(events).toEqual(['awake', 'respond', 'sleep']);
  });

  it('still calls sleep after an exception in respond, and the error reaches the caller', async () => {
    const { events, Recorded } = recorder();
    await expect(new TestClient(servletApp(Recorded)).get('/?mode=throw')).rejects.toThrow('boom in respond');
    expect(events).toEqual(['awake', 'respond', 'sleep']);
    // Without throwErrors, the gateway answers 500.
    const res = await new TestClient(servletApp(Recorded), { throwErrors: false }).get('/?mode=throw');
    expect(res.statusCode).toBe(500);
  });

  it('still calls sleep after an exception in awake; respond does not run', async () => {
    const events: string[] = [];
    class BadAwake extends Servlet {
      override awake(): void {
        events.push('awake');
        throw new Error('awake failed');
      }
      override respond() {
        events.push('respond');
      }
      override sleep() {
        events.push('sleep');
      }
    }
    await expect(new TestClient(servletApp(BadAwake)).get('/')).rejects.toThrow('awake failed');
    expect(events).toEqual(['awake', 'sleep']);
  });

  it('answers an HTTPError thrown by the servlet with its status, after sleep', async () => {
    const { events, Recorded } = recorder();
    const res = await new TestClient(servletApp(Recorded)).get('/?mode=http');
    expect(res.statusCode).toBe(404);
    expect(res.text()).toContain('No such thing');
    expect(events).toEqual(['awake', 'respond', 'sleep']);
  });

  it('endResponse stops respond, sends the output so far and still sleeps', async () => {
    const events: string[] = [];
    class Ends extends Page {
      override async respondToGet() {
        events.push('respond');
        await this.write('partial');
        this.endResponse();
      }
      override sleep(t: Transaction) {
        events.push('sleep');
        super.sleep(t);
      }
    }
    const res = await new TestClient(servletApp(Ends)).get('/');
    expect(res.statusCode).toBe(200);
    expect(res.text()).toBe('partial');
    expect(events).toEqual(['respond', 'sleep']);
  });

  it('an error in sleep is reported even when respond succeeded', async () => {
    class BadSleep extends Servlet {
      override sleep(): void {
        throw new Error('sleep failed');
      }
    }
    await expect(new TestClient(servletApp(BadSleep)).get('/')).rejects.toThrow('sleep failed');
  });
});

describe('Servlet.write', () => {
  it('writes text, numbers, bytes and html markup to the response', async () => {
    class Raw extends Servlet {
      override async respond() {
        await this.writeln('a', 1, html`<b>${'<i>'}</b>`);
        await this.write(Buffer.from('z'), 'y');
      }
    }
    expect((await new TestClient(servletApp(Raw)).get('/')).text()).toBe('a1<b>&lt;i&gt;</b>\nzy');
  });
});

describe('instances', () => {
  it('reuses one instance for sequential requests', async () => {
    const seen = new Set<object>();
    class Reused extends HTTPServlet {
      respondToGet(t: Transaction) {
        seen.add(this);
        void t.response.write('x');
      }
    }
    const app = servletApp(Reused);
    const client = new TestClient(app);
    for (let i = 0; i < 5; i++) await client.get('/');
    expect(seen.size).toBe(1);
    expect(app.pool.created).toBe(1);
  });

  it('creates a new instance per request when canBeReused() is false', async () => {
    const seen = new Set<object>();
    class Fresh extends HTTPServlet {
      override canBeReused() {
        return false;
      }
      respondToGet(t: Transaction) {
        seen.add(this);
        void t.response.write('x');
      }
    }
    const client = new TestClient(servletApp(Fresh));
    for (let i = 0; i < 3; i++) await client.get('/');
    expect(seen.size).toBe(3);
  });

  it('gives concurrent requests their own instance (not thread-safe), and shares one when canBeThreaded()', async () => {
    const gate = deferred();
    let waiting = 0;
    const allWaiting = deferred();
    const make = (threaded: boolean) => {
      const seen = new Set<object>();
      class Slow extends Page {
        override canBeThreaded() {
          return threaded;
        }
        override async writeContent() {
          seen.add(this);
          // The per-request state set in awake() must still be ours after the await.
          const mine = this.transaction;
          if (++waiting === 3) allWaiting.resolve();
          await gate.promise;
          if (!threaded) expect(this.transaction).toBe(mine);
          await this.write(String(this.request.field('n')));
        }
      }
      return { seen, Slow };
    };
    const { seen, Slow } = make(false);
    const app = servletApp(Slow);
    const client = new TestClient(app);
    const pending = [1, 2, 3].map((n) => client.get(`/?n=${n}`));
    await allWaiting.promise;
    gate.resolve();
    const texts = (await Promise.all(pending)).map((r) => r.text());
    texts.forEach((text, i) => expect(text).toContain(`${i + 1}</body>`));
    expect(seen.size).toBe(3);
    expect(app.pool.idleCount).toBe(3);
    // Later requests reuse the idle instances rather than creating more.
    await client.get('/?n=4');
    expect(app.pool.created).toBe(3);

    class Shared extends HTTPServlet {
      override canBeThreaded() {
        return true;
      }
      respondToGet(t: Transaction) {
        void t.response.write('s');
      }
    }
    const shared = servletApp(Shared);
    const sharedClient = new TestClient(shared);
    await Promise.all([1, 2, 3].map(() => sharedClient.get('/')));
    expect(shared.pool.created).toBe(1);
  });

  it('does not reuse an instance that threw', async () => {
    class Flaky extends HTTPServlet {
      respondToGet(t: Transaction) {
        if (t.request.field('fail')) throw new Error('flaky');
        void t.response.write('fine');
      }
    }
    const app = servletApp(Flaky);
    const client = new TestClient(app, { throwErrors: false });
    await client.get('/');
    await client.get('/?fail=1');
    await client.get('/');
    expect(app.pool.created).toBe(2);
  });
});

describe('servletApp and TO_APPLICATION', () => {
  it('a Servlet subclass converts through asApplication (how the URL parser loads modules)', async () => {
    class Hello extends Page {
      override async writeContent() {
        await this.writeln('<p>hello</p>');
      }
    }
    expect(typeof (Hello as unknown as Record<symbol, unknown>)[TO_APPLICATION]).toBe('function');
    const app = await asApplication(Hello);
    expect(app).toBe(servletApp(Hello)); // one application (one pool) per class
    const res = await new TestClient(app!).get('/');
    expect(res.text()).toContain('<p>hello</p>');
    // A reloaded module brings a new class, hence a new application.
    class Hello2 extends Hello {}
    expect(await asApplication(Hello2)).not.toBe(app);
  });

  it('refuses what is not a servlet class', () => {
    expect(() => servletApp((() => undefined) as never)).toThrow(/Servlet subclass/);
  });
});
