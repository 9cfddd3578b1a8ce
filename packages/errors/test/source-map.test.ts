import { describe, it, expect, beforeAll, afterAll } from '@jest/globals';
import { readFile, writeFile, copyFile } from 'node:fs/promises';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { transformSync } from '@swc/core';
import { TestClient } from '@stackware/gateway';
import { tempDir } from '@stackware/testing';
import { errorCatcher, resolveStack, type ErrorReport } from '../src/index.js';
import { placeOrder } from './fixtures/failing.js';
import { captureLogger, lineOf } from './helpers.js';

const fixture = fileURLToPath(new URL('./fixtures/failing.ts', import.meta.url));
const packageDir = fileURLToPath(new URL('..', import.meta.url));
let source: string;
let outerLine: number;
let innerLine: number;
let dir: string;
let cleanup: () => Promise<void>;

beforeAll(async () => {
  source = await readFile(fixture, 'utf8');
  outerLine = lineOf(source, 'MARK:outer');
  innerLine = lineOf(source, 'MARK:inner');
  ({ dir, cleanup } = await tempDir('stackware-errors-map-'));
});
afterAll(async () => cleanup());

function compile(sourceMaps: true | 'inline') {
  return transformSync(source, {
    filename: fixture, sourceFileName: fixture, sourceMaps,
    jsc: { parser: { syntax: 'typescript' }, target: 'es2022' }, module: { type: 'es6' },
  });
}

describe('source-mapped stacks', () => {
  it('the compiled JavaScript puts the failing lines elsewhere (so the checks below can fail)', () => {
    const { code } = compile(true);
    expect(lineOf(code, 'cannot place order')).not.toBe(outerLine);
    expect(lineOf(code, 'has no items')).not.toBe(innerLine);
  });

  it('logs TypeScript line numbers under Jest (swc inline source maps), for the error and its cause', async () => {
    const { logger, records } = captureLogger();
    const http = new TestClient(errorCatcher(() => { placeOrder({ id: 42, items: [] }); return []; }, { logger, debug: true, pin: false }), { throwErrors: false });
    records.length = 0; // the start-up warning (PIN disabled)
    const res = await http.get('/order', { headers: { Accept: 'application/json' } });
    const err = records[0]!.err;
    expect(err.type).toBe('InventoryError');
    expect(err.stack.split('\n')[1]).toContain(`${fixture}:${outerLine}:`);
    expect(err.cause!.type).toBe('RangeError');
    expect(err.cause!.stack.split('\n')[1]).toContain(`${fixture}:${innerLine}:`);
    const report = res.json<ErrorReport>();
    const frame = report.errors[0]!.frames[0]!;
    expect(frame.line).toBe(outerLine);
    const shown = frame.context!.lines[frame.line - frame.context!.start];
    expect(shown).toContain('MARK:outer');
  });

  for (const kind of ['external .map file', 'inline data: URL'] as const) {
    it(`maps a plain-node stack of compiled JavaScript through its ${kind}`, async () => {
      const sub = join(dir, kind.startsWith('external') ? 'external' : 'inline');
      await import('node:fs/promises').then((fs) => fs.mkdir(sub, { recursive: true }));
      const out = compile(kind.startsWith('external') ? true : 'inline');
      const js = join(sub, 'failing.mjs');
      if (kind.startsWith('external')) {
        await writeFile(js, `${out.code}\n//# sourceMappingURL=failing.mjs.map\n`);
        await writeFile(`${js}.map`, out.map!);
      } else {
        await writeFile(js, out.code);
      }
      await writeFile(join(sub, 'run.mjs'), `import { placeOrder } from './failing.mjs';
try { placeOrder({ id: 1, items: [] }); } catch (e) { process.stdout.write(JSON.stringify({ stack: e.stack, cause: e.cause.stack })); }`);
      const child = spawnSync(process.execPath, [join(sub, 'run.mjs')], { encoding: 'utf8', timeout: 20_000, env: { PATH: process.env.PATH } });
      expect(child.stderr).toBe('');
      const { stack, cause } = JSON.parse(child.stdout) as { stack: string; cause: string };
      expect(stack).toContain(`${js}:`); // Node left it unmapped
      const frames = resolveStack(stack);
      expect(frames[0]).toMatchObject({ file: fixture, line: outerLine, mapped: true });
      expect(frames[0]!.context!.lines.join('\n')).toContain('MARK:outer');
      expect(resolveStack(cause)[0]).toMatchObject({ file: fixture, line: innerLine, mapped: true });
    });
  }

  it('does not map twice when Node already did (node --enable-source-maps)', async () => {
    // runs the files the external-map test above wrote
    const sub = join(dir, 'external');
    const child = spawnSync(process.execPath, ['--enable-source-maps', join(sub, 'run.mjs')], { encoding: 'utf8', timeout: 20_000, env: { PATH: process.env.PATH } });
    const { stack } = JSON.parse(child.stdout) as { stack: string };
    expect(stack).toContain(`${fixture}:${outerLine}:`);
    expect(resolveStack(stack)[0]).toMatchObject({ file: fixture, line: outerLine, mapped: false });
  });

  it('reports TypeScript lines under tsx (node --import tsx)', async () => {
    const script = join(dir, 'under-tsx.ts');
    await copyFile(fixture, join(dir, 'failing.ts'));
    const copied = join(dir, 'failing.ts');
    await writeFile(script, `import { describeError } from ${JSON.stringify(join(packageDir, 'src/index.ts'))};
import { placeOrder } from './failing.ts';
try { placeOrder({ id: 7, items: [] }); } catch (error) {
  const outer = describeError(error);
  const inner = describeError((error as Error).cause);
  process.stdout.write(JSON.stringify({ outer: outer.frames[0], inner: inner.frames[0] }));
}
`);
    const child = spawnSync(process.execPath, ['--conditions=source', '--import', 'tsx', script], { cwd: packageDir, encoding: 'utf8', timeout: 60_000 });
    expect(child.stderr).toBe('');
    const { outer, inner } = JSON.parse(child.stdout) as { outer: { file: string; line: number }; inner: { file: string; line: number } };
    expect(outer).toMatchObject({ file: copied, line: outerLine });
    expect(inner).toMatchObject({ file: copied, line: innerLine });
  });
});
