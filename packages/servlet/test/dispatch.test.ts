import { describe, it, expect } from '@jest/globals';
import { TestClient } from '@stackware/gateway';
import { HTTPServlet, servletApp, type Transaction } from '../src/index.js';

const MODIFIED = new Date('2024-05-01T12:00:00Z');

class Resource extends HTTPServlet {
  static getCalls = 0;
  respondToGet(t: Transaction) {
    Resource.getCalls++;
    t.response.setHeader('Content-Type', 'text/plain; charset=utf-8');
    void t.response.write('resource body');
  }
  respondToPut(t: Transaction) {
    t.response.setStatus(204);
  }
  respondToPropfind(t: Transaction) {
    t.response.setStatus(207, 'Multi-Status');
    t.response.setHeader('Content-Type', 'application/xml');
    void t.response.write('<multistatus/>');
  }
  override lastModified() {
    return MODIFIED;
  }
}

describe('HTTPServlet method dispatch', () => {
  const client = new TestClient(servletApp(Resource));

  it('dispatches GET, PUT and extension methods to respondTo<Method>', async () => {
    expect((await client.get('/')).text()).toBe('resource body');
    const put = await client.put('/', { body: 'x' });
    expect(put.statusCode).toBe(204);
    expect(put.header('content-type')).toBeUndefined();
    const propfind = await client.request('PROPFIND', '/');
    expect(propfind.status).toBe('207 Multi-Status');
  });

  it('answers 501 with an Allow header for a method without a responder', async () => {
    const res = await client.delete('/');
    expect(res.statusCode).toBe(501);
    expect(res.header('allow')).toBe('GET, HEAD, PUT');
    expect(res.text()).toContain('DELETE is not implemented');
    expect((await client.post('/', { form: { a: '1' } })).statusCode).toBe(501);
  });

  it('answers HEAD from respondToGet with the body muted and the GET length', async () => {
    const get = await client.get('/');
    const head = await client.head('/');
    expect(head.statusCode).toBe(200);
    expect(head.body.length).toBe(0);
    expect(head.header('content-length')).toBe(String(get.body.length));
    expect(head.header('content-type')).toBe(get.header('content-type'));
  });

  it('sets Last-Modified and answers 304 without running the responder when not modified since', async () => {
    const first = await client.get('/');
    expect(first.header('last-modified')).toBe(MODIFIED.toUTCString());
    const before = Resource.getCalls;
    const cached = await client.get('/', { headers: { 'If-Modified-Since': MODIFIED.toUTCString() } });
    expect(cached.statusCode).toBe(304);
    expect(cached.body.length).toBe(0);
    expect(cached.header('content-type')).toBeUndefined();
    expect(Resource.getCalls).toBe(before);
    // Older validator, garbage validator, or If-None-Match present: full response.
    expect((await client.get('/', { headers: { 'If-Modified-Since': new Date(MODIFIED.getTime() - 1000).toUTCString() } })).statusCode).toBe(200);
    expect((await client.get('/', { headers: { 'If-Modified-Since': 'yesterday' } })).statusCode).toBe(200);
    expect((await client.get('/', { headers: { 'If-Modified-Since': MODIFIED.toUTCString(), 'If-None-Match': '"x"' } })).statusCode).toBe(200);
    expect((await client.head('/', { headers: { 'If-Modified-Since': MODIFIED.toUTCString() } })).statusCode).toBe(304);
  });

  it('answers 501 for HEAD too when there is no GET', async () => {
    class PostOnly extends HTTPServlet {
      respondToPost(t: Transaction) {
        void t.response.write('posted');
      }
    }
    const res = await new TestClient(servletApp(PostOnly)).head('/');
    expect(res.statusCode).toBe(501);
    expect(res.header('allow')).toBe('POST');
  });
});
