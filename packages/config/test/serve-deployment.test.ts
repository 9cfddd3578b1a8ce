import { describe, it, expect, beforeAll, afterAll } from '@jest/globals';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, tempDir } from '@stackware/testing';
import { serveDeployment, type ServeDeploymentOptions } from '@stackware/config';

const here = dirname(fileURLToPath(import.meta.url));
let tmp: { dir: string; cleanup(): Promise<void> };

beforeAll(async () => {
  tmp = await tempDir('stackware-config-servedep-');
  await mkdir(join(tmp.dir, 'lib'));
  await symlink(resolve(here, 'fixtures/lib/apps.ts'), join(tmp.dir, 'lib/apps.ts'));
});
afterAll(() => tmp.cleanup());

/** A logger that records [level, message] pairs (the pino methods serveDeployment uses). */
function recordingLogger(): { logger: ServeDeploymentOptions['logger']; lines: Array<[string, string]> } {
  const lines: Array<[string, string]> = [];
  const at = (level: string) => (_fields: unknown, message: string) => { lines.push([level, message]); };
  return { logger: { info: at('info'), warn: at('warn'), error: at('error') } as unknown as ServeDeploymentOptions['logger'], lines };
}

const toml = (port: number, greeting: string, host = '127.0.0.1') => `[app.main]\nuse = "./lib/apps.ts#echo"\ngreeting = "${greeting}"\n[server.web]\nhost = "${host}"\nport = ${port}\naccessLog = false\n`;

describe('serveDeployment (in process)', () => {
  it('serves, reloads on demand, keeps the old stack on a bad edit, warns about server changes it cannot apply', async () => {
    const port = await freePort();
    const file = join(tmp.dir, 'site.toml');
    await writeFile(file, toml(port, 'one'));
    const { logger, lines } = recordingLogger();
    const serving = await serveDeployment(file, { logger, watch: false });
    const greeting = async () => ((await (await fetch(`http://127.0.0.1:${port}/`)).json()) as { greeting: string }).greeting;
    try {
      expect(serving.servers).toEqual([{ name: 'web', url: `http://127.0.0.1:${port}` }]);
      expect(await greeting()).toBe('one');

      await writeFile(file, toml(port, 'two'));
      // two reloads at once run one after the other
      expect(await Promise.all([serving.reload(), serving.reload()])).toEqual([true, true]);
      expect(await greeting()).toBe('two');

      await writeFile(file, toml(port, 'three').replace('use =', 'usee ='));
      expect(await serving.reload()).toBe(false);
      expect(lines.find(([level]) => level === 'error')?.[1]).toMatch(/^deploy file is invalid; still serving the previous configuration: .*site\.toml:1:1: \[app\.main\] key "use": missing "use"/);
      expect(await greeting()).toBe('two');

      await writeFile(file, toml(port, 'four', 'localhost'));
      expect(await serving.reload()).toBe(true);
      expect(lines).toContainEqual(['warn', 'server sections changed: host, port and protocol are read at start; restart (or use workers) to apply them']);
      expect(await greeting()).toBe('four');
    } finally {
      await serving.close();
    }
    await expect(fetch(`http://127.0.0.1:${port}/`)).rejects.toThrow();
  });
});
