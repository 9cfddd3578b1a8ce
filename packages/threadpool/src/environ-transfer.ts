/**
 * Which environ values cross from the server thread to a worker thread.
 *
 * Worker threads do not share objects with the server thread: a value crosses only as a
 * structured clone (the HTML structured clone algorithm, as `postMessage` uses it). So:
 * - crossed as they are: strings, numbers, booleans, bigints, null/undefined (every CGI key and
 *   `HTTP_*` header, `stackware.url_scheme`, `stackware.multiprocess`, `stackware.run_once`),
 *   and plain data: arrays and plain objects of those, Date, RegExp, Map, Set, ArrayBuffer and
 *   typed arrays (`stackware.version`, a parsed config table);
 * - recreated in the thread: `stackware.input` (fed from the server thread's input as the
 *   application reads it), `stackware.errors` (forwarded to the server thread's errors),
 *   `stackware.file_wrapper` (a result is sent by the server thread from the file), and
 *   `stackware.multithread` (true);
 * - not crossed: functions, class instances (a session object, a logger, a request context —
 *   a clone would lose their methods and their identity), and anything that fails to clone.
 *   Middleware that puts such objects in the environ belongs inside the thread (in the module the
 *   pool loads), not in front of the pool. The names of the keys left behind are in the thread's
 *   environ under `stackware.threadpool.dropped_keys` ({@link droppedEnvironKeys}).
 */
import type { Environ } from '@stackware/gateway';

/** Keys the thread recreates itself. */
const RECREATED = new Set(['stackware.input', 'stackware.errors', 'stackware.file_wrapper', 'stackware.multithread']);

/** The environ key that lists keys that did not cross into the thread. */
export const DROPPED_KEYS = 'stackware.threadpool.dropped_keys';

const CLONEABLE_PROTOTYPES: unknown[] = [Object.prototype, Array.prototype, null, Date.prototype, RegExp.prototype, Map.prototype, Set.prototype];

function isPlainData(value: object): boolean {
  if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer) return true;
  const proto = Object.getPrototypeOf(value);
  // Values made in another realm (Jest's vm context) have other prototypes: compare by tag too.
  if (CLONEABLE_PROTOTYPES.includes(proto)) return true;
  const tag = Object.prototype.toString.call(value);
  return proto !== null && proto.constructor?.name === tag.slice(8, -1) && ['Object', 'Array', 'Date', 'RegExp', 'Map', 'Set'].includes(tag.slice(8, -1));
}

/**
 * The part of `environ` that is sent to a worker thread: every key except the recreated ones,
 * functions, class instances and values that cannot be structured-cloned. The names of the
 * keys left behind are listed under {@link DROPPED_KEYS}.
 */
export function transferableEnviron(environ: Environ): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const dropped: string[] = [];
  for (const key of Object.keys(environ)) {
    if (RECREATED.has(key)) continue;
    const value = environ[key];
    const type = typeof value;
    if (value === null || (type !== 'object' && type !== 'function' && type !== 'symbol')) {
      out[key] = value;
    } else if (type === 'object' && isPlainData(value as object)) {
      try {
        structuredClone(value);
        out[key] = value;
      } catch {
        dropped.push(key);
      }
    } else {
      dropped.push(key);
    }
  }
  out[DROPPED_KEYS] = dropped;
  return out;
}

/** In a worker thread: the environ keys that stayed on the server thread (functions, class instances...). */
export function droppedEnvironKeys(environ: Environ): string[] {
  const value = environ[DROPPED_KEYS];
  return Array.isArray(value) ? (value as string[]) : [];
}
