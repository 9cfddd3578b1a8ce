import { readFileSync } from 'node:fs';

/** file: URL of a fixture module. */
export const fixture = (name: string): string => new URL(`./fixtures/${name}`, import.meta.url).href;

/**
 * Resolves when `predicate()` holds (polled every 20 ms, after `step()` when given), or rejects
 * after `timeoutMs`.
 */
export async function until(predicate: () => boolean, timeoutMs = 10_000, what = 'condition', step?: () => Promise<void>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (step) await step();
    if (predicate()) return;
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The contents of a file, or "" when it does not exist. */
export function readOr(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

/** Sends `count` GET requests to `url` with `concurrency` in flight; returns the statuses (0: network error). */
export async function load(url: string, count: number, concurrency: number): Promise<number[]> {
  const statuses: number[] = [];
  let next = 0;
  const worker = async () => {
    while (next < count) {
      next++;
      try {
        const res = await fetch(url);
        await res.arrayBuffer();
        statuses.push(res.status);
      } catch {
        statuses.push(0);
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return statuses;
}

/** Counts of each status. */
export function tally(statuses: number[]): Record<number, number> {
  const out: Record<number, number> = {};
  for (const s of statuses) out[s] = (out[s] ?? 0) + 1;
  return out;
}
