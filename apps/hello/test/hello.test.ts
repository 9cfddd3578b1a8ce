import { describe, it, expect } from '@jest/globals';
import { TestClient } from '@stackware/gateway';
import hello from '../app.js';

describe('apps/hello', () => {
  it('answers Hello, world! with a Content-Length', async () => {
    const res = await new TestClient(hello).get('/');
    expect(res.status).toBe('200 OK');
    expect(res.header('content-type')).toBe('text/plain; charset=utf-8');
    expect(res.text()).toBe('Hello, world!\n');
    expect(res.contentLength).toBe(14);
  });

  it('sends no body for HEAD but keeps the length', async () => {
    const res = await new TestClient(hello).head('/anything');
    expect(res.statusCode).toBe(200);
    expect(res.body.length).toBe(0);
    expect(res.header('content-length')).toBe('14');
  });
});
