/**
 * Can a group's user read its program? A preflight for process groups that run as another user
 * (`user`): checked from the primary (root) before forking, so that a checkout in a 0700 home
 * directory gives one line naming the directory and the fix instead of the group process's
 * "Cannot find module".
 */
import { statSync, type Stats } from 'node:fs';
import { dirname, resolve } from 'node:path';

const X = 1;
const R = 4;

/** True when `uid`/`gid` has the permission `bit` (1 = x, 4 = r) on a file with `stats` (POSIX mode bits; ACLs are not read). */
function allowed(stats: Stats, uid: number, gid: number, bit: number): boolean {
  if (uid === 0) return true;
  if (stats.uid === uid) return ((stats.mode >> 6) & bit) !== 0;
  if (stats.gid === gid) return ((stats.mode >> 3) & bit) !== 0;
  return (stats.mode & bit) !== 0;
}

/** `drwx------ 0:0` for the message. */
function describe(stats: Stats): string {
  const bits = 'rwxrwxrwx';
  let text = stats.isDirectory() ? 'd' : '-';
  for (let i = 0; i < 9; i++) text += (stats.mode >> (8 - i)) & 1 ? bits[i] : '-';
  return `${text} ${stats.uid}:${stats.gid}`;
}

/**
 * Why user `uid` (group `gid`, no supplementary groups: a forked group process has none) cannot
 * read `path`: the first directory on the way it cannot search, or the file it cannot read.
 * @returns undefined when it can (or when `path` does not exist: that is not this check's to say).
 */
export function unreachable(path: string, uid: number, gid: number): string | undefined {
  const target = resolve(path);
  const dirs: string[] = [];
  for (let dir = dirname(target); ; dir = dirname(dir)) {
    dirs.unshift(dir);
    if (dirname(dir) === dir) break;
  }
  for (const dir of dirs) {
    let stats: Stats;
    try {
      stats = statSync(dir);
    } catch {
      return undefined;
    }
    if (!allowed(stats, uid, gid, X)) return `${dir} (${describe(stats)}) is not searchable by it: chmod o+x ${dir}, or move the application where that user can read it`;
  }
  let stats: Stats;
  try {
    stats = statSync(target);
  } catch {
    return undefined;
  }
  if (!allowed(stats, uid, gid, R)) return `${target} (${describe(stats)}) is not readable by it: chmod o+r ${target}`;
  return undefined;
}
