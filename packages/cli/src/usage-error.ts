/**
 * An error the user made on the command line or in what it names (unknown flag, bad value,
 * missing module, an export that is not an application). `main` prints its message alone —
 * no stack trace — and exits with code 2.
 */
export class UsageError extends Error {
  readonly exitCode = 2;
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}
