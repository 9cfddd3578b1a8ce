/**
 * Each package README holds one option table per deploy-file factory, generated from the
 * factory's options schema (`optionsTable`, @stackware/gateway/options) between
 * `<!-- options:USE -->` and `<!-- /options -->`. This test fails when a table and its schema
 * differ, when a factory with a schema has no table, or when a table names no factory.
 * Regenerate the tables with `pnpm options-tables` (this test with UPDATE_OPTION_TABLES=1).
 */
import { describe, it, expect } from '@jest/globals';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { StackwareFactories } from '@stackware/gateway';
import { optionsTable, type OptionsSchema } from '@stackware/gateway/options';
import { factories as errors } from '@stackware/errors';
import { factories as middleware } from '@stackware/middleware';
import { factories as server } from '@stackware/server';
import { factories as servlet } from '@stackware/servlet';
import { factories as session } from '@stackware/session';
import { factories as threadpool } from '@stackware/threadpool';
import { factories as urlparser } from '@stackware/urlparser';

const repo = resolve(fileURLToPath(new URL('../../..', import.meta.url)));
const PACKAGES: Record<string, StackwareFactories> = { errors, middleware, server, servlet, session, threadpool, urlparser };
const UPDATE = process.env.UPDATE_OPTION_TABLES === '1';
const BLOCK = /<!-- options:(\S+) -->\n([\s\S]*?)\n<!-- \/options -->/g;

/** The `use` value → schema of every factory of a package that has one (an entry under two names: the first). */
function schemasOf(pkg: string, table: StackwareFactories): Map<string, OptionsSchema> {
  const found = new Map<string, OptionsSchema>();
  const seen = new Set<unknown>();
  for (const kind of ['apps', 'filters', 'servers'] as const) {
    for (const [name, factory] of Object.entries(table[kind] ?? {})) {
      if (!factory.options || seen.has(factory)) continue;
      seen.add(factory);
      found.set(name === 'default' ? `@stackware/${pkg}` : `@stackware/${pkg}#${name}`, factory.options);
    }
  }
  return found;
}

function block(use: string, schema: OptionsSchema): string {
  return `<!-- options:${use} -->\n${optionsTable(schema)}\n<!-- /options -->`;
}

describe('README option tables', () => {
  for (const [pkg, table] of Object.entries(PACKAGES)) {
    it(`packages/${pkg}/README.md has one table per factory, equal to its schema`, () => {
      const file = join(repo, 'packages', pkg, 'README.md');
      let text = readFileSync(file, 'utf8');
      const schemas = schemasOf(pkg, table);
      expect(schemas.size).toBeGreaterThan(0);
      const written = new Map([...text.matchAll(BLOCK)].map((m) => [m[1]!, m[0]]));
      if (UPDATE) {
        for (const [use, old] of written) if (!schemas.has(use)) text = text.replace(`${old}\n`, '').replace(old, '');
        for (const [use, schema] of schemas) {
          const fresh = block(use, schema);
          const old = written.get(use);
          if (old !== undefined) text = text.replace(old, () => fresh);
          else {
            if (!text.includes('\n## Deploy-file options\n')) text = `${text.trimEnd()}\n\n## Deploy-file options\n\nGenerated from each factory's options schema (\`pnpm options-tables\`); a test keeps them in step. Units are in the names; the deploy file uses the same names and units as the code.\n`;
            text = `${text.trimEnd()}\n\n\`use = "${use}"\`:\n\n${fresh}\n`;
          }
        }
        writeFileSync(file, text);
        return;
      }
      expect([...written.keys()].sort()).toEqual([...schemas.keys()].sort());
      for (const [use, schema] of schemas) expect(written.get(use)).toBe(block(use, schema));
    });
  }
});
