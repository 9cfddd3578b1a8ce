import { describe, it, expect } from '@jest/globals';
import { TestClient, shiftPathInfo, notFound, text, type Application } from '@stackware/gateway';
import { session, MemoryStore } from '@stackware/session';
import { HTTPServlet, Page, servletApp, servletRoot, type Transaction } from '../src/index.js';

/** A tiny dispatcher: first path segment → application (what a URL parser or URL map does). */
function dispatcher(routes: Record<string, Application>): Application {
  return (environ, startResponse) => {
    const saved = { s: environ.SCRIPT_NAME, p: environ.PATH_INFO };
    const name = shiftPathInfo(environ);
    const app = name !== undefined ? routes[name] : undefined;
    if (!app) {
      environ.SCRIPT_NAME = saved.s;
      environ.PATH_INFO = saved.p;
      return notFound()(environ, startResponse);
    }
    return app(environ, startResponse);
  };
}

class Target extends HTTPServlet {
  respondToGet(t: Transaction) {
    return this.respondToPost(t);
  }
  respondToPost(t: Transaction) {
    t.response.setHeader('Content-Type', 'text/plain; charset=utf-8');
    t.response.setHeader('X-Target', 'yes');
    void t.response.write(`target path=${t.request.extraURLPath()} who=${String(t.request.field('who'))} q=${t.environ.QUERY_STRING}`);
  }
}

class Forwarder extends Page {
  override async respondToGet() {
    this.response.setCookie('seen', '1');
    await this.write('dropped by forward');
    const to = String(this.request.field('to'));
    await this.forward(to);
    if (this.request.field('after')) await this.write('more');
  }
  override respondToPost() {
    return this.forward('/target/posted');
  }
}

class Includer extends Page {
  override async writeContent() {
    await this.write('[');
    await this.includeURL(String(this.request.field('inc', '/target/inc?who=included')));
    await this.write(']');
  }
}

const site = servletRoot(dispatcher({
  target: servletApp(Target),
  forwarder: servletApp(Forwarder),
  includer: servletApp(Includer),
  plain: text('plain app'),
  loop: servletApp(class Loop extends Page {
    override respondToGet() {
      return this.forward('/loop');
    }
  }),
}));

describe('forward', () => {
  const client = new TestClient(site, { scriptName: '/site' });

  it('hands the request to another resource in the same stack; its response becomes ours', async () => {
    const res = await client.get('/site/forwarder?to=/target/a/b%20c&who=me');
    expect(res.statusCode).toBe(200);
    expect(res.text()).toBe('target path=/a/b c who=me q=to=/target/a/b%20c&who=me');
    expect(res.header('x-target')).toBe('yes');
    expect(res.header('set-cookie')).toMatch(/^seen=1/); // cookies set before forwarding are kept
  });

  it('answers HEAD with the forwarded resource\'s length', async () => {
    const get = await client.get('/site/forwarder?to=/target/x');
    const head = await client.head('/site/forwarder?to=/target/x');
    expect(head.body.length).toBe(0);
    expect(head.header('content-length')).toBe(String(get.body.length));
  });

  it('resolves relative URLs against the current path and takes a new query string from the URL', async () => {
    const res = await client.get('/site/forwarder?to=target/rel?who=q');
    expect(res.text()).toBe('target path=/rel who=q q=who=q');
  });

  it('passes the parsed form to the target (the body is read once)', async () => {
    const res = await client.post('/site/forwarder', { form: { who: 'poster' } });
    expect(res.text()).toBe('target path=/posted who=poster q=');
  });

  it('forwards to non-servlet applications and to 404s', async () => {
    expect((await client.get('/site/forwarder?to=/plain')).text()).toBe('plain app');
    expect((await client.get('/site/forwarder?to=/nowhere')).statusCode).toBe(404);
  });

  it('ends the response: writing after forward is an error', async () => {
    await expect(client.get('/site/forwarder?to=/plain&after=1')).rejects.toThrow(/after the response ended/);
  });

  it('refuses to leave the application, and stops loops', async () => {
    await expect(client.get('/site/forwarder?to=http://evil.example/x')).rejects.toThrow(/only paths inside this application/);
    await expect(client.get('/site/forwarder?to=/../../etc/passwd')).rejects.toThrow(/outside the application mounted at "\/site"/);
    await expect(client.get('/site/loop')).rejects.toThrow(/more than 10 nested forward/);
  });

  it('says how to fix a stack without servletRoot', async () => {
    await expect(new TestClient(servletApp(Forwarder)).get('/?to=/x')).rejects.toThrow(/wrap the stack with servletRoot/);
  });
});

describe('includeURL', () => {
  const client = new TestClient(site);

  it('writes the included resource\'s body into the page, ignoring its headers', async () => {
    const res = await client.get('/includer');
    expect(res.text()).toContain('<body>\n[target path=/inc who=included q=who=included]</body>');
    expect(res.header('x-target')).toBeUndefined();
    expect(res.header('content-type')).toBe('text/html; charset=utf-8');
  });

  it('fails loudly when the included resource answers an error status', async () => {
    await expect(client.get('/includer?inc=/missing')).rejects.toThrow(/included resource answered 404 Not Found/);
  });
});

describe('sessions through the transaction', () => {
  class Counter extends Page {
    override async writeContent() {
      const s = await this.session();
      const n = (s.get<number>('n') ?? 0) + 1;
      s.set('n', n);
      await this.write(`n=${n}`);
    }
  }

  it('loads the session of @stackware/session and saves what the servlet set', async () => {
    const app = session(servletApp(Counter), { secret: 'x'.repeat(40), store: new MemoryStore() });
    const client = new TestClient(app, { cookies: true });
    expect((await client.get('/')).text()).toContain('n=1');
    expect((await client.get('/')).text()).toContain('n=2');
  });

  it('answers with a clear error when there is no session middleware', async () => {
    await expect(new TestClient(servletApp(Counter)).get('/')).rejects.toThrow(/No session on this request: add session\(\)/);
  });
});
