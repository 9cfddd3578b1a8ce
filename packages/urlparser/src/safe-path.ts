import { sep } from 'node:path';

/**
 * Why a decoded path segment may not name a file, or undefined when it may.
 * Refused: "." and ".." (traversal; "%2e%2e" arrives here decoded), a "\" (a separator on
 * Windows and a traversal trick through some proxies), NUL (truncates paths in C APIs), any other
 * control character, and a "/" (PATH_INFO is percent-decoded, so "%2f" cannot be told apart from
 * a separator once decoded — the segment walk never produces one, a caller-built segment might).
 * Invalid UTF-8 (overlong forms such as "%c0%ae") never gets here: servers answer 400 before.
 * Dot segments and NUL are also refused by every Stackware gateway (400, packages/gateway/SPEC.md);
 * they stay here as defence in depth, since the URL parser can be mounted where the environ was
 * not built by a Stackware gateway, and a file path is where a missed traversal costs the most.
 */
export function unsafeSegmentReason(segment: string): string | undefined {
  if (segment === '.' || segment === '..') return 'a dot segment';
  if (segment.includes('/')) return 'a "/" inside a segment';
  if (segment.includes('\\')) return 'a backslash';
  if (segment.includes('\0')) return 'a NUL byte';
  // eslint-disable-next-line no-control-regex
  if (/[\u0001-\u001f\u007f]/.test(segment)) return 'a control character';
  return undefined;
}

/** True when `real` (a realpath) is `root` (a realpath) or lies inside it. */
export function isInside(root: string, real: string): boolean {
  if (real === root) return true;
  const prefix = root.endsWith(sep) ? root : root + sep;
  return real.startsWith(prefix);
}
