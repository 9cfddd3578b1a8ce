/**
 * `use = "./lib/session.ts#demoSession"`: @stackware/session's filter factory, plus one thing a
 * deploy file cannot say: "when SESSION_SECRET is unset, generate a secret once and keep it in the
 * data directory". Every process and thread that builds the stack reads the same file, so signed
 * cookies stay valid across threads, restarts and processes sharing the data directory.
 */
import { randomBytes } from 'node:crypto';
import { linkSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { threadId } from 'node:worker_threads';
import { defineOptions, filterFactory, option } from '@stackware/gateway/options';
import { sessionFilterFactory, SESSION_OPTIONS } from '@stackware/session';
import { ensureDataDir } from './data-dir.js';

/**
 * Reads the secret in `file`, creating it first when missing: 32 random bytes (base64url, 43
 * characters) written to a temporary file and then hard-linked into place, so concurrent starters
 * (threads, processes) never see a partial file and all end up with the first one written.
 */
export function persistentSecret(file: string): string {
  try {
    return readFileSync(file, 'utf8').trim();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  const tmp = `${file}.${process.pid}.${threadId}.tmp`;
  writeFileSync(tmp, `${randomBytes(32).toString('base64url')}\n`, { mode: 0o600 });
  try {
    linkSync(tmp, file); // atomic: fails with EEXIST when another starter won
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  } finally {
    unlinkSync(tmp);
  }
  return readFileSync(file, 'utf8').trim();
}

/** The options of {@link demoSession}: those of @stackware/session's factory, with an optional `secret`, plus `dataDir`. */
export const DEMO_SESSION_OPTIONS = defineOptions({
  ...SESSION_OPTIONS.shape,
  secret: option.string('the signing secret (≥ 32 characters); empty: <dataDir>/session-secret, generated on first start', { default: '' }),
  dataDir: option.string('the data directory (relative to apps/demo)', { default: '.data' }),
});

/**
 * The demo's session filter. Options: those of @stackware/session's factory (`secret`, `store`,
 * `dir`, `url`, ...) plus `dataDir` (default ".data", relative to apps/demo). An empty `secret`
 * means `<dataDir>/session-secret`, generated on first start.
 */
export const demoSession = filterFactory(
  DEMO_SESSION_OPTIONS,
  ({ dataDir, secret, ...rest }, context) => {
    const dir = ensureDataDir(dataDir);
    const value = secret || persistentSecret(join(dir, 'session-secret'));
    return sessionFilterFactory({ ...rest, secret: value }, context);
  },
  { description: '@stackware/session with a secret generated once into the data directory when SESSION_SECRET is unset' },
);
