/**
 * Logs as an operator sees them: on a terminal (a real pseudo-terminal from script(1)) every
 * record is a readable, coloured line — the server's, the access lines and the exception
 * catcher's; piped, every record is one JSON line.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { freePort, tempDir, waitForPort } from '@stackware/testing';
import { bin, get, root, until } from './cli-helpers.js';

let dir: { dir: string; cleanup(): Promise<void> };
const deployFile = (port: number) => join(dir.dir, `site-${port}.toml`);

beforeAll(async () => {
  dir = await tempDir('stackware-cli-logs-');
  await writeFile(join(dir.dir, 'boom.mjs'), "export default function boom() { throw new Error('boom for the log test'); }\n");
});
afterAll(async () => dir.cleanup());

/** Serves a stack (exception catcher → an app that throws), requests it once, stops; returns the output. */
async function run(port: number, command: string, args: string[]): Promise<string> {
  await writeFile(deployFile(port), `[filter.errors]\nuse = "@stackware/errors"\ndebug = false\n[app.boom]\napplication = "./boom.mjs"\n[pipeline.main]\npipeline = ["errors", "boom"]\n[server.web]\nhost = "127.0.0.1"\nport = ${port}\n`);
  const env: NodeJS.ProcessEnv = { ...process.env, NODE_OPTIONS: '' };
  delete env.NO_COLOR;
  // cwd: the demo, whose node_modules has @stackware/errors (a deploy file finds packages from the current directory too).
  const child = spawn(command, args, { cwd: join(root, 'apps', 'demo'), env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise((resolve) => child.once('close', resolve));
  try {
    await waitForPort(port, 60_000);
    expect(await get(`http://127.0.0.1:${port}/`)).toMatchObject({ status: 500 });
    // Both records: the catcher's error and the access line (pretty "GET / 500 …", or the JSON "request"
    // record), which the server writes after the response; the error record alone also says 500.
    const accessLine = (line: string) => /GET \/ 500 /.test(line) || (line.includes('"msg":"request"') && line.includes('"status":500'));
    await until(() => /boom for the log test/.test(output) && output.split('\n').some(accessLine), 20_000, 'the error and access records', () => output);
  } finally {
    try { process.kill(-child.pid!, 'SIGTERM'); } catch { /* gone */ }
    await exited;
  }
  return output;
}

describe('logs', () => {
  it('on a terminal: readable coloured lines, UTC labelled, a short access line, the exception catcher\'s record too', async () => {
    const port = await freePort();
    const command = `${process.execPath} ${bin} serve ${deployFile(port)}`;
    const output = await run(port, 'script', ['-qfc', command, '/dev/null']);
    const plain = output.replace(/\x1b\[[0-9;]*m/g, '').replace(/\r/g, '');
    const lines = plain.split('\n').filter((l) => l.trim());
    expect(lines.filter((l) => l.trimStart().startsWith('{'))).toEqual([]); // no raw JSON record
    expect(plain).toMatch(/^\d\d:\d\d:\d\d\.\d{3}Z INFO  serving site-\d+\.toml \[server\.web\] on http:\/\/127\.0\.0\.1:\d+/m);
    expect(plain).toMatch(/^\d\d:\d\d:\d\d\.\d{3}Z INFO  GET \/ 500 \d+(\.\d)? (B|KiB) [\d.]+ ms$/m);
    expect(plain).toMatch(/^\d\d:\d\d:\d\d\.\d{3}Z ERROR Error: boom for the log test/m);
    expect(output).toContain('\x1b[31mERROR');
  }, 90_000);

  it('piped: every record is one JSON line (the exception catcher\'s too)', async () => {
    const port = await freePort();
    const output = await run(port, process.execPath, [bin, 'serve', deployFile(port)]);
    const lines = output.split('\n').filter((l) => l.trim());
    for (const line of lines) expect(() => JSON.parse(line) as unknown).not.toThrow();
    const records = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(records.some((r) => r.msg === 'request' && r.status === 500)).toBe(true);
    expect(records.some((r) => r.level === 50 && String(r.msg).includes('boom for the log test'))).toBe(true);
  }, 90_000);
});
