/**
 * Where the demo keeps its state: `[defaults] dataDir` of site.toml (`$STACKWARE_DATA_DIR`, default
 * `.data`), relative paths resolved against apps/demo (the deploy file's directory).
 */
import { mkdirSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Environ } from '@stackware/gateway';
import { getConfig } from '@stackware/config';

/** The apps/demo directory (the deploy file's directory). */
export const DEMO_DIR = fileURLToPath(new URL('..', import.meta.url));

/** Resolves a data-dir setting against apps/demo and creates the directory (mode 0700). */
export function ensureDataDir(setting: unknown): string {
  const text = typeof setting === 'string' && setting ? setting : '.data';
  const dir = isAbsolute(text) ? text : resolve(DEMO_DIR, text);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  return dir;
}

/** The data directory for this request (from `getConfig(environ).dataDir`), created if missing. */
export function dataDir(environ: Environ): string {
  return ensureDataDir(getConfig(environ).dataDir);
}
