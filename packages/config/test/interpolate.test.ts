import { describe, it, expect } from '@jest/globals';
import { writeFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { interpolate, MissingVariableError } from '../src/interpolate.js';
import { loadDeployment } from '../src/index.js';

describe('interpolate', () => {
  const env = { PORT: '9000', EMPTY: '', NAME: 'demo' };
  it('expands variables, defaults (also when empty), ${here} and $${', () => {
    expect(interpolate('${PORT}', env, '/srv')).toBe('9000');
    expect(interpolate('${MISSING:-8080}', env, '/srv')).toBe('8080');
    expect(interpolate('${EMPTY:-fallback}', env, '/srv')).toBe('fallback');
    expect(interpolate('${here}/data', env, '/srv')).toBe('/srv/data');
    expect(interpolate('cost $${NAME} $5', env, '/srv')).toBe('cost ${NAME} $5');
  });

  it('expands nested expansions inside a default', () => {
    expect(interpolate('${DATA:-${here}/.data}', env, '/srv')).toBe('/srv/.data');
    expect(interpolate('${DATA:-${NAME:-x}-${PORT}}/y', env, '/srv')).toBe('demo-9000/y');
    expect(interpolate('${NAME:-${here}}', env, '/srv')).toBe('demo');
  });

  it('reports a missing variable and an unclosed expansion', () => {
    expect(() => interpolate('${NOPE}', env, '/srv')).toThrow(MissingVariableError);
    expect(() => interpolate('${NOPE:-${here}', env, '/srv')).toThrow(SyntaxError);
  });
});

describe('numbers and keys from the environment in a deploy file', () => {
  it('accepts port, workers and pool threads written as ${VAR:-default}, and expands table keys', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'config-env-'));
    try {
      const file = join(dir, 'site.toml');
      await writeFile(file, `
main = "hello"
[app.hello]
application = "./hello.ts"
[server.main]
port = "\${TEST_PORT:-8080}"
host = "127.0.0.1"
[pool.web]
threads = "\${TEST_THREADS:-3}"
[defaults]
users = { "\${TEST_ADMIN:-admin}" = "secret" }
`);
      await writeFile(join(dir, 'hello.ts'), 'export default (_e: unknown, s: (a: string, b: string[][]) => void) => { s("200 OK", [["Content-Type", "text/plain"]]); return [Buffer.from("hi")]; };\n');
      const deployment = await loadDeployment(file, { env: { TEST_PORT: '9123', TEST_ADMIN: 'root' } });
      expect(deployment.servers.get('main')!.options.port).toBe(9123);
      expect(deployment.pools.get('web')!.threads).toBe(3);
      expect(deployment.defaults.users).toEqual({ root: 'secret' });
      await expect(loadDeployment(file, { env: { TEST_PORT: 'eighty' } })).rejects.toThrow(/port/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
