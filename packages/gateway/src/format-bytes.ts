const UNITS = ['KiB', 'MiB', 'GiB', 'TiB'] as const;

/**
 * A byte count as people read it, in IEC binary units (1 KiB = 1024 bytes), for messages users
 * see: `formatBytes(5242880)` → "5 MiB", `formatBytes(5308416)` → "5.06 MiB", `formatBytes(512)` →
 * "512 bytes", `formatBytes(1)` → "1 byte". At most two decimals, trailing zeros dropped.
 * @throws RangeError for a negative or non-finite count.
 */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes < 0) throw new RangeError(`formatBytes takes a byte count ≥ 0, got ${bytes}`);
  if (bytes < 1024) return `${bytes} ${bytes === 1 ? 'byte' : 'bytes'}`;
  let value = bytes;
  let unit = 0;
  for (value /= 1024; value >= 1024 && unit < UNITS.length - 1; unit++) value /= 1024;
  return `${Number(value.toFixed(2))} ${UNITS[unit]}`;
}
