import { describe, it, expect } from '@jest/globals';
import { TestClient } from '@stackware/gateway';
import { Page, html, raw, servletApp } from '../src/index.js';

const XSS = `<script>alert("x")</script><img src=x onerror='alert(1)'>&amp;`;

class Greeting extends Page {
  override title() {
    return `Hello ${String(this.request.field('name', 'world'))}`;
  }
  override styleSheets() {
    return ['/style.css?a=1&b=2'];
  }
  override async writeContent() {
    const name = this.request.field('name', 'world');
    await this.writeln(html`<p class="greeting" title="${name}">Hello, ${name}!</p>`);
    await this.writeln(html`<ul>${['a<b', 'c&d'].map((item) => html`<li>${item}</li>`)}</ul>`);
    await this.writeln(html`<div>${raw('<em>trusted</em>')}${null}${undefined}${false}${0}</div>`);
  }
}

describe('Page', () => {
  const client = new TestClient(servletApp(Greeting));

  it('writes doctype, head (title, meta, style sheets) and body around writeContent', async () => {
    const text = (await client.get('/')).text();
    expect(text).toBe([
      '<!DOCTYPE html>',
      '<html>',
      '<head>',
      '<title>Hello world</title>',
      '<meta charset="utf-8">',
      '<link rel="stylesheet" href="/style.css?a=1&amp;b=2">',
      '</head>',
      '<body>',
      '<p class="greeting" title="world">Hello, world!</p>',
      '<ul><li>a&lt;b</li><li>c&amp;d</li></ul>',
      '<div><em>trusted</em>0</div>',
      '</body>',
      '</html>',
      '',
    ].join('\n'));
  });

  it('renders an XSS payload as text: in the body, in an attribute, in the title', async () => {
    const text = (await client.get('/', { query: { name: XSS } })).text();
    expect(text).not.toContain('<script>');
    expect(text).not.toContain('<img');
    expect(text).not.toMatch(/title="[^"]*"[^>]*onerror/);
    const escaped = '&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&lt;img src=x onerror=&#39;alert(1)&#39;&gt;&amp;amp;';
    expect(text).toContain(`<title>Hello ${escaped}</title>`);
    expect(text).toContain(`title="${escaped}">Hello, ${escaped}!</p>`);
  });
});

describe('html template', () => {
  it('escapes every interpolation unless it is html or raw', () => {
    const user = '"><b>';
    expect(html`<a href="/u?n=${user}">${user}</a>`.toString()).toBe('<a href="/u?n=&quot;&gt;&lt;b&gt;">&quot;&gt;&lt;b&gt;</a>');
    expect(html`${html`<i>${user}</i>`}`.toString()).toBe('<i>&quot;&gt;&lt;b&gt;</i>');
    expect(html`${raw(user)}`.toString()).toBe(user);
    expect(html`${{ toString: () => '<x>' }}`.toString()).toBe('&lt;x&gt;');
  });
});

class Editor extends Page {
  log: string[] = [];
  override actions() {
    return ['save', 'preview'];
  }
  override methodNameForAction(name: string) {
    return name.toLowerCase();
  }
  override async preAction(name: string) {
    this.log.push(`pre:${name}`);
  }
  override async postAction(name: string) {
    this.log.push(`post:${name}`);
    await this.write(this.log.join(','));
  }
  async save() {
    this.log.push('save');
  }
  async preview() {
    this.log.push('preview');
  }
  /** Exists, but is not in actions(): must never be reachable from a request. */
  async deleteEverything() {
    this.log.push('DELETED');
  }
  override async writeHTML() {
    await this.write(`default:${this.log.join(',')}`);
  }
  override awake(t: Parameters<Page['awake']>[0]) {
    super.awake(t);
    this.log = [];
  }
}

describe('actions', () => {
  const client = new TestClient(servletApp(Editor));

  it('runs a listed action from an _action_ field, through methodNameForAction, with pre/postAction', async () => {
    expect((await client.post('/', { form: { _action_: 'Save' } })).text()).toBe('pre:save,save,post:save');
    expect((await client.post('/?_action_=preview')).text()).toBe('pre:preview,preview,post:preview');
  });

  it('does not run actions from GET or HEAD (a cross-site link must not change state)', async () => {
    expect((await client.get('/?_action_=save')).text()).toBe('default:');
    expect((await client.get('/?_action_save=1')).text()).toBe('default:');
    expect((await client.head('/?_action_=save')).statusCode).toBe(200);
  });

  it('runs a listed action from an _action_<name> field (submit button, image button)', async () => {
    expect((await client.post('/', { form: { _action_save: 'Save it' } })).text()).toBe('pre:save,save,post:save');
    expect((await client.post('/', { form: { '_action_preview.x': '3', '_action_preview.y': '4' } })).text()).toBe('pre:preview,preview,post:preview');
  });

  it('never runs a method that is not in actions(), even though it exists', async () => {
    const attempts: Array<Record<string, string>> = [{ _action_: 'deleteEverything' }, { _action_deleteEverything: '1' }, { _action_: 'awake' }, { _action_: 'constructor' }, { _action_: 'respond' }];
    for (const form of attempts) {
      expect((await client.post('/', { form })).text()).toBe('default:');
    }
  });

  it('runs defaultAction (the page) without an action field', async () => {
    expect((await client.get('/')).text()).toBe('default:');
  });

  it('refuses to list servlet internals as actions', async () => {
    class Sneaky extends Page {
      override actions() {
        return ['respond'];
      }
    }
    await expect(new TestClient(servletApp(Sneaky)).post('/?_action_=respond')).rejects.toThrow(/not an allowed action/);
  });
});
