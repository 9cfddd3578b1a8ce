import { describe, it, expect, afterAll } from '@jest/globals';
import { TestClient } from '@stackware/gateway';
import { threadPool } from '../src/index.js';

const fixture = (name: string) => new URL(`./fixtures/${name}`, import.meta.url).href;

describe('smoke', () => {
  const pool = threadPool({ module: fixture('hello.ts'), threads: 2 });
  afterAll(() => pool.close());
  it('answers', async () => {
    await pool.ready();
    const res = await new TestClient(pool).get('/x');
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ multithread: true, path: '/x' });
  });
});
