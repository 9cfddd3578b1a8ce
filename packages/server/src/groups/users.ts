/**
 * User and group names → numeric ids, from /etc/passwd and /etc/group (the files NSS reads first
 * on Debian; names that only LDAP knows are not found here: give the numeric id instead).
 */
import { readFileSync } from 'node:fs';

/**
 * The uid and primary gid of user `name` (a name from /etc/passwd, or a decimal uid).
 * @returns undefined when no such user exists.
 */
export function lookupUser(name: string | number): { uid: number; gid: number } | undefined {
  const rows = table('/etc/passwd');
  const numeric = typeof name === 'number' || /^\d+$/.test(name) ? Number(name) : undefined;
  const row = rows.find((r) => (numeric !== undefined ? Number(r[2]) === numeric : r[0] === name));
  if (row) return { uid: Number(row[2]), gid: Number(row[3]) };
  return numeric !== undefined ? { uid: numeric, gid: numeric } : undefined;
}

/**
 * The gid of group `name` (a name from /etc/group, or a decimal gid).
 * @returns undefined when no such group exists.
 */
export function lookupGroup(name: string | number): number | undefined {
  if (typeof name === 'number' || /^\d+$/.test(name)) return Number(name);
  const row = table('/etc/group').find((r) => r[0] === name);
  return row ? Number(row[2]) : undefined;
}

function table(path: string): string[][] {
  try {
    return readFileSync(path, 'utf8').split('\n').filter((l) => l && !l.startsWith('#')).map((l) => l.split(':'));
  } catch {
    return [];
  }
}
