import { describe, it, expect, beforeAll, afterAll } from '@jest/globals';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TestClient } from '@stackware/gateway';
import { tempDir } from '@stackware/testing';
import { loadDeployment } from '@stackware/config';

const here = dirname(fileURLToPath(import.meta.url));
let tmp: { dir: string; cleanup(): Promise<void> };

beforeAll(async () => {
  tmp = await tempDir('stackware-config-pools-');
  await mkdir(join(tmp.dir, 'lib'));
  await symlink(resolve(here, 'fixtures/lib/apps.ts'), join(tmp.dir, 'lib/apps.ts'));
});
afterAll(() => tmp.cleanup());

interface Echo { app: string; thread: number; config: Record<string, unknown>; script: string; path: string; trail: string[] }

describe('thread-pool groups (@stackware/threadpool)', () => {
  it('serves a location that picks a pool in that pool\'s threads, with its settings, and the rest in the main thread', async () => {
    const file = join(tmp.dir, 'pools.toml');
    await writeFile(file, [
      '[defaults]', 'title = "Site"',
      '[app.main]', 'use = "./lib/apps.ts#echo"',
      '[pool.reports]', 'threads = 1', 'timeoutMs = 20000',
      '[location."/reports"]', 'pool = "reports"', 'title = "Reports"',
    ].join('\n'));
    const deployment = await loadDeployment(file);
    const built = await deployment.build();
    try {
      const client = new TestClient(built.app);
      const home = (await client.get('/')).json<Echo>();
      expect(home.thread).toBe(0);
      expect(home.config).toEqual({ title: 'Site' });
      const report = (await client.get('/reports/2024')).json<Echo>();
      expect(report.thread).toBeGreaterThan(0);
      expect(report.config).toEqual({ title: 'Reports' });
      expect(report.path).toBe('/reports/2024');
      expect((await client.get('/reportsx')).json<Echo>().thread).toBe(0);
    } finally {
      await built.dispose();
    }
  });

  it('runs a server\'s application in `threads` worker threads', async () => {
    const file = join(tmp.dir, 'threads.toml');
    await writeFile(file, ['[app.main]', 'use = "./lib/apps.ts#echo"', 'greeting = "threaded"', '[server.web]', 'port = 0', 'threads = 2'].join('\n'));
    const deployment = await loadDeployment(file);
    const server = deployment.servers.get('web')!;
    expect(server.threads).toBe(2);
    expect(server.options).not.toHaveProperty('threads');
    const built = await deployment.buildThreaded('main', server);
    try {
      const body = (await new TestClient(built.app).get('/x')).json<Echo & { greeting: string }>();
      expect(body.thread).toBeGreaterThan(0);
      expect(body.greeting).toBe('threaded');
    } finally {
      await built.dispose();
    }
  });
});
