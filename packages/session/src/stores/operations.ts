/**
 * The session stores' side of the metrics listener (issue 23), without importing
 * @stackware/server: the server's operations hooks live on `globalThis` under
 * `Symbol.for('stackware.operations')` (see @stackware/server's metrics/hooks.ts). When no metrics
 * listener is configured they are absent and these functions do nothing.
 */
interface StoreOperations {
  sessionStoreError(): void;
  readonly readiness: Set<() => Promise<string | undefined>>;
}

const KEY = Symbol.for('stackware.operations');

function hooks(): StoreOperations | undefined {
  return (globalThis as { [KEY]?: StoreOperations })[KEY];
}

/** Counts a failed store operation (`stackware_session_store_errors_total`) and rethrows it. */
export function countStoreError(error: unknown): never {
  hooks()?.sessionStoreError();
  throw error;
}

/** Adds a readiness check (`/readyz`): `ping` resolves when the store answers. Returns its removal. */
export function addStoreReadiness(name: string, ping: () => Promise<unknown>): () => void {
  const readiness = hooks()?.readiness;
  if (!readiness) return () => {};
  const check = () => ping().then(() => undefined, (error: unknown) => `${name} does not answer: ${error instanceof Error ? error.message : String(error)}`);
  readiness.add(check);
  return () => readiness.delete(check);
}
