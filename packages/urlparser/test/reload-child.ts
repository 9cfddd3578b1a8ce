/**
 * Run by reload.test.ts in a child process under the tsx loader (as `stackware serve` runs sites):
 * `node --conditions=source --import tsx reload-child.ts <dir>`. Prints one JSON line of results.
 */
import { writeFile, utimes, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { TestClient } from '@stackware/gateway';
import { urlParser } from '../src/index.js';

const dir = process.argv[2]!;
const root = join(dir, 'site');
await mkdir(root, { recursive: true });
await writeFile(join(dir, 'package.json'), '{"type":"module"}\n');

let tick = Date.parse('2024-01-01T00:00:00Z');
async function write(name: string, text: string): Promise<void> {
  await writeFile(join(root, name), text);
  tick += 10_000;
  await utimes(join(root, name), new Date(tick), new Date(tick));
}
const page = (word: string) => `const w: string = ${JSON.stringify(word)};
export default (_e: unknown, sr: (s: string, h: [string, string][]) => unknown) => { sr('200 OK', [['Content-Type', 'text/plain']]); return [new TextEncoder().encode(w)]; };
`;

await mkdir(join(root, 'area'), { recursive: true });
const results: Record<string, unknown> = {};
const reloading = new TestClient(urlParser({ root }), { throwErrors: false });
const fixed = new TestClient(urlParser({ root, reload: false }), { throwErrors: false });

await write('page.ts', page('one'));
results.first = (await reloading.get('/page')).text();
results.fixedFirst = (await fixed.get('/page')).text();
await write('page.ts', page('two'));
results.second = (await reloading.get('/page')).text();
results.fixedSecond = (await fixed.get('/page')).text();

await write('flaky.ts', 'throw new Error("not yet");\nexport default 1;\n');
results.flakyFirst = (await reloading.get('/flaky')).statusCode;
await write('flaky.ts', page('recovered'));
results.flakySecond = (await reloading.get('/flaky')).text();

await write('area/_hook.ts', 'export const wrap = (app: any) => (e: any, sr: any) => { e.HTTP_X = "1"; return app(e, sr); };\nexport const notFound = (_e: unknown, sr: any) => { sr("404 Not Found", [["Content-Type", "text/plain"]]); return [new TextEncoder().encode("hook v1")]; };\n');
results.hookFirst = (await reloading.get('/area/missing')).text();
await write('area/_hook.ts', 'export const notFound = (_e: unknown, sr: any) => { sr("404 Not Found", [["Content-Type", "text/plain"]]); return [new TextEncoder().encode("hook v2")]; };\n');
results.hookSecond = (await reloading.get('/area/missing')).text();

process.stdout.write(`${JSON.stringify(results)}\n`);
