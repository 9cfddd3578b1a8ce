import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { parse, TomlError } from 'smol-toml';
import { ConfigError } from './config-error.js';
import { Deployment } from './build.js';
import { SECTION_TYPES, sectionLabel, type DeploymentSpec, type SectionType, type SourceLocator } from './deployment.js';
import { interpolateDeep } from './interpolate.js';
import { closest, typeName } from './options.js';

/** Options of {@link loadDeployment} and {@link parseDeployment}. */
export interface LoadOptions {
  /** The environment `${VAR}` reads (default `process.env`). */
  env?: Record<string, string | undefined>;
  /** Load every factory and check option types now (default true). */
  check?: boolean;
}

/**
 * Reads a TOML deploy file and returns the checked {@link Deployment}: TOML parsed (smol-toml),
 * `${VAR}` / `${VAR:-default}` / `${here}` expanded, sections validated, every factory loaded
 * and its options type-checked.
 * @throws ConfigError naming the file, the line, the section, the key and the fix.
 */
export async function loadDeployment(path: string, options: LoadOptions = {}): Promise<Deployment> {
  const file = resolve(path);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new ConfigError({ file: path, problem: `cannot read the deploy file: ${(error as NodeJS.ErrnoException).code ?? String(error)}`, fix: 'check the path', cause: error });
  }
  const deployment = parseDeployment(text, file, options);
  if (options.check !== false) await deployment.check();
  return deployment;
}

/**
 * Parses deploy-file text (see {@link loadDeployment}); `file` is used for `${here}`, module
 * paths and messages. Validates sections but does not load factories (call `check()`).
 * @throws ConfigError
 */
export function parseDeployment(text: string, file: string, options: LoadOptions = {}): Deployment {
  const here = dirname(resolve(file));
  let doc: Record<string, unknown>;
  try {
    doc = parse(text) as Record<string, unknown>;
  } catch (error) {
    if (error instanceof TomlError) {
      const problem = error.message.split('\n')[0]!.replace(/^Invalid TOML document: /, '');
      throw new ConfigError({ file, line: error.line, column: error.column, problem: `TOML syntax error: ${problem}`, fix: 'fix the syntax at that position (strings need quotes; section headers look like [app.site])', cause: error });
    }
    throw error;
  }
  const locator = tomlLocator(text);
  const fail = (path: string[], key: string | undefined, problem: string, fix: string): never => {
    const at = locator.locate(path, key) ?? locator.locate(path);
    throw new ConfigError({ file, section: path.length ? sectionLabel(path[0]!, path[1]) : undefined, key, line: at?.line, column: at?.column, problem, fix });
  };
  const env = options.env ?? process.env;
  const spec: DeploymentSpec = { file, here, locator };
  for (const [top, value] of Object.entries(doc)) {
    if (top === 'defaults') {
      if (typeName(value) !== 'table') fail([], top, `"defaults" must be a table, got ${typeName(value)}`, 'write [defaults] followed by key = value lines');
      spec.defaults = expand(value, ['defaults']) as Record<string, unknown>;
      continue;
    }
    if (top === 'metrics') {
      if (typeName(value) !== 'table') fail([], top, `"metrics" must be a table, got ${typeName(value)}`, 'write [metrics] followed by listen = "127.0.0.1:9100"');
      spec.metrics = expand(value, ['metrics']) as Record<string, unknown>;
      continue;
    }
    if (top === 'main') {
      if (typeof value !== 'string') fail([], 'main', `main must name an application, got ${typeName(value)}`, 'write main = "appName" before the first section');
      spec.main = value as string;
      continue;
    }
    if (!(top in SECTION_TYPES)) {
      if (typeName(value) !== 'table') fail([], top, `unknown top-level key "${top}"`, 'put shared settings under [defaults]; the only top-level key is main = "appName"');
      const near = closest(top, [...Object.keys(SECTION_TYPES), 'defaults']);
      fail([top], undefined, `unknown section type "${top}"`, `${near ? `did you mean [${near}.…]? ` : ''}section types are: ${Object.keys(SECTION_TYPES).join(', ')}, defaults`);
    }
    const type = top as SectionType;
    if (typeName(value) !== 'table') fail([], top, `"${top}" must be a table of sections, got ${typeName(value)}`, `write [${top}.NAME] headers`);
    const sections: Record<string, unknown> = {};
    for (const [name, section] of Object.entries(value as Record<string, unknown>)) {
      if (typeName(section) !== 'table') fail([type], name, `"${top}.${name}" must be a section, got ${typeName(section)}`, `write [${sectionLabel(type, name)}] as a header with key = value lines under it`);
      const expanded = expand(section, [type, name]) as Record<string, unknown>;
      if (type === 'pipeline') {
        const { pipeline, ...rest } = expanded;
        const extra = Object.keys(rest)[0];
        if (extra !== undefined) fail([type, name], extra, `unknown key "${extra}" in a pipeline`, 'a pipeline has one key: pipeline = ["filter", ..., "app"]; options go in the filter and app sections');
        if (pipeline === undefined) fail([type, name], 'pipeline', 'missing "pipeline"', 'write pipeline = ["filterA", "filterB", "app"]');
        sections[name] = pipeline;
        continue;
      }
      sections[name] = expanded;
    }
    (spec as Record<string, unknown>)[SECTION_TYPES[type]] = sections;
  }
  return new Deployment(spec);

  function expand(value: unknown, path: string[]): unknown {
    return interpolateDeep(value, env, here, (keyPath, variable) => {
      const key = keyPath.split(/[.[]/)[0] || undefined;
      return fail(path, key, `environment variable ${variable} is not set and has no default`, `set ${variable}, or write \${${variable}:-default} to give a default`);
    });
  }
}

/** Finds section headers and keys in TOML text (for line numbers in messages). */
export function tomlLocator(text: string): SourceLocator {
  const headers = new Map<string, number>();
  const keys = new Map<string, { line: number; column: number }>();
  let current: string[] = [];
  const lines = text.split(/\r?\n/);
  lines.forEach((raw, index) => {
    const line = raw.trim();
    if (line.startsWith('[') && !line.startsWith('[[')) {
      const close = findHeaderEnd(line);
      current = splitDotted(line.slice(1, close));
      headers.set(current.join('\0'), index + 1);
      return;
    }
    const key = /^("(?:[^"\\]|\\.)*"|'[^']*'|[A-Za-z0-9_-]+)(?:\s*\.\s*(?:"(?:[^"\\]|\\.)*"|'[^']*'|[A-Za-z0-9_-]+))*\s*=/.exec(line);
    if (key) {
      const name = unquote(key[1]!);
      const id = [...current, name].join('\0');
      if (!keys.has(id)) keys.set(id, { line: index + 1, column: raw.indexOf(key[1]!) + 1 });
    }
  });
  return {
    locate(section, key) {
      if (key !== undefined) return keys.get([...section, key].join('\0'));
      const id = section.join('\0');
      const line = headers.get(id);
      if (line !== undefined) return { line, column: 1 };
      for (const [header, at] of headers) if (header.startsWith(id + '\0')) return { line: at, column: 1 };
      // A section written as a dotted header deeper down ([app.site.options]) or only via its keys.
      for (const [id, at] of keys) if (id.startsWith(section.join('\0') + '\0')) return at;
      return undefined;
    },
  };
}

function findHeaderEnd(line: string): number {
  let quote: string | undefined;
  for (let i = 1; i < line.length; i++) {
    const c = line[i]!;
    if (quote) {
      if (c === '\\' && quote === '"') i++;
      else if (c === quote) quote = undefined;
    } else if (c === '"' || c === "'") quote = c;
    else if (c === ']') return i;
  }
  return line.length;
}

function splitDotted(text: string): string[] {
  const parts: string[] = [];
  const re = /\s*("(?:[^"\\]|\\.)*"|'[^']*'|[^.\s]+)\s*(?:\.|$)/gy;
  let m: RegExpExecArray | null;
  while ((m = re.exec(text)) && m[0] !== '') parts.push(unquote(m[1]!));
  return parts;
}

function unquote(key: string): string {
  if (key.startsWith('"')) {
    try {
      return JSON.parse(key) as string;
    } catch {
      return key.slice(1, -1);
    }
  }
  return key.startsWith("'") ? key.slice(1, -1) : key;
}
