import type { ErrorStream } from '@stackware/gateway';
import type { Logger } from 'pino';

/**
 * `stackware.errors` for one request, wired to the server's logger: each `write(text)` becomes one
 * error record with the request id (trailing whitespace trimmed, empty writes dropped).
 */
export class LoggerErrorStream implements ErrorStream {
  constructor(
    private readonly logger: Logger,
    private readonly requestId: string,
  ) {}

  write(text: string): void {
    const message = String(text).replace(/\s+$/, '');
    if (message) this.logger.error({ req_id: this.requestId }, message);
  }
}

/** `new LoggerErrorStream(logger, requestId)`. */
export function loggerErrorStream(logger: Logger, requestId: string): ErrorStream {
  return new LoggerErrorStream(logger, requestId);
}
