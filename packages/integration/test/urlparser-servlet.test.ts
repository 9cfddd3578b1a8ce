import { describe, it, expect } from '@jest/globals';
import { fileURLToPath } from 'node:url';
import { TestClient } from '@stackware/gateway';
import { urlParser } from '@stackware/urlparser';

const root = fileURLToPath(new URL('./servlet-site', import.meta.url));

describe('urlParser with @stackware/servlet pages (through TO_APPLICATION, no import of servlet in src)', () => {
  const client = new TestClient(urlParser({ root }));

  it('runs a Page subclass exported by default', async () => {
    const res = await client.get('/hello');
    expect(res.statusCode).toBe(200);
    expect(res.header('Content-Type')).toMatch(/^text\/html/);
    expect(res.text()).toContain('<title>Hello servlet</title>');
    expect(res.text()).toContain('<p>Hello from a servlet at /hello</p>');
  });

  it('serves a folder of browser JavaScript as files through a hook that answers with staticFiles', async () => {
    const res = await client.get('/static/app.js');
    expect(res.statusCode).toBe(200);
    expect(res.header('Content-Type')).toBe('text/javascript; charset=utf-8');
    expect(res.text()).toContain("document.querySelector('h1')");
    expect((await client.get('/static/_hook.ts')).statusCode).toBe(404);
  });

  it('guards a folder of servlets with its _hook.ts', async () => {
    expect((await client.get('/admin/dashboard')).statusCode).toBe(403);
    const res = await client.get('/admin/dashboard', { headers: { 'X-Admin': 'yes' } });
    expect(res.text()).toContain('<p>dashboard</p>');
  });
});
