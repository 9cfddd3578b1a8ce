/** Builds the fixture site the tests serve, in a fresh temp directory. */
import { mkdir, mkdtemp, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

/** 1000 bytes of known, position-dependent text: byte i is "0123456789"[i % 10], newline every 50. */
export const NUMBERS = Buffer.from(Array.from({ length: 1000 }, (_, i) => (i % 50 === 49 ? '\n' : String(i % 10))).join(''));

/** A module file that needs no imports (fixtures live outside the workspace). */
export function moduleSource(body: string, name = 'default'): string {
  const text = `const enc = (s: string) => new TextEncoder().encode(s);
const app = (environ: Record<string, unknown>, startResponse: (s: string, h: [string, string][]) => unknown) => {
  const body = enc(${body});
  startResponse('200 OK', [['Content-Type', 'text/plain; charset=utf-8'], ['Content-Length', String(body.length)]]);
  return [body];
};
`;
  return name === 'default' ? `${text}export default app;\n` : `${text}export const ${name} = app;\n`;
}

export interface Site {
  /** The temp directory; `root` is `<dir>/site`, files outside the root live in `<dir>`. */
  dir: string;
  root: string;
  cleanup(): Promise<void>;
}

/** The fixed mtime of every fixture file (so ETag/Last-Modified are predictable). */
export const MTIME = new Date('2024-05-01T12:00:00Z');

export async function makeSite(): Promise<Site> {
  const dir = await mkdtemp(join(tmpdir(), 'stackware-urlparser-'));
  const root = join(dir, 'site');
  const files: Record<string, string | Buffer> = {
    'package.json': '{"type":"module"}\n', // outside the root: makes .ts/.js fixtures ES modules
    'outside-secret.txt': 'SECRET OUTSIDE THE ROOT\n',
    'outside/inner.txt': 'inside a directory outside the root\n',
    'site/hello.txt': 'hello world\n',
    'site/numbers.txt': NUMBERS,
    'site/empty.txt': '',
    'site/page.html': '<!doctype html><title>page</title><p>page</p>\n',
    'site/style.css': 'body { color: #333 }\n',
    'site/data.json': '{"ok":true}\n',
    'site/image.png': Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 1, 2, 3, 4]),
    'site/blob.unknownext': 'opaque\n',
    'site/about.html': '<p>about</p>\n',
    'site/both.html': '<p>both as html</p>\n',
    'site/both.txt': 'both as text\n',
    'site/index.html': '<p>root index</p>\n',
    'site/docs/index.html': '<p>docs index</p>\n',
    'site/docs/guide.txt': 'the guide\n',
    'site/docs/deeper/leaf.txt': 'leaf\n',
    'site/noindex/file.txt': 'a file\n',
    'site/odd/<b>&"quote".txt': 'odd name\n',
    'site/app.ts': moduleSource("'app ' + environ.SCRIPT_NAME + ' | ' + environ.PATH_INFO"),
    'site/named.ts': moduleSource("'named export'", 'named'),
    'site/plain.js': moduleSource("'plain js'").replace(/: string|: Record<string, unknown>|: \(s: string, h: \[string, string\]\[\]\) => unknown/g, ''),
    'site/noexport.ts': 'export const unrelated = 42;\n',
    'site/broken.ts': 'throw new Error("broken module");\nexport default 1;\n',
    'site/servlet.ts': `const KEY = Symbol.for('stackware.toApplication');
export default class Hello {
  static [KEY]() {
    return (_environ: unknown, startResponse: (s: string, h: [string, string][]) => unknown) => {
      startResponse('200 OK', [['Content-Type', 'text/plain; charset=utf-8']]);
      return [new TextEncoder().encode('from a class with TO_APPLICATION')];
    };
  }
}
`,
    'site/source.cts': 'module.exports = "server source";\n',
    'site/main-dir/main.ts': moduleSource("'main index'"),
    'site/.env': 'SECRET=1\n',
    'site/.git/config': '[core]\n',
    'site/.hidden/visible-name.txt': 'inside a dot directory\n',
    'site/app.js.map': '{"version":3}\n',
    'site/notes.txt.bak': 'backup\n',
    'site/notes.txt~': 'editor backup\n',
    'site/.notes.txt.swp': 'swap\n',
    'site/notes.swp': 'swap\n',
    'site/#notes#': 'autosave\n',
    'site/notes.txt': 'notes\n',
    'site/readme.bak': 'only a backup\n',
    'site/package.json': '{"type":"module","dependencies":{"secret-internal-lib":"1.0.0"}}\n',
    'site/tsconfig.json': '{"compilerOptions":{}}\n',
  };
  for (const [name, content] of Object.entries(files)) {
    const path = join(dir, name);
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, content);
    await utimes(path, MTIME, MTIME);
  }
  await symlink(join(dir, 'outside-secret.txt'), join(root, 'link-out.txt'));
  await symlink(join(dir, 'outside'), join(root, 'link-out-dir'));
  await symlink(join(root, 'hello.txt'), join(root, 'link-in.txt'));
  await symlink('/etc/passwd', join(root, 'passwd'));
  return { dir, root, cleanup: () => rm(dir, { recursive: true, force: true }) };
}
