import type { ErrorStream } from '@stackware/gateway';
import type { Logger } from 'pino';

/**
 * `stackware.errors` for one request, wired to the server's logger: each `write(text)` becomes one
 * error record with the request id (trailing newlines trimmed, empty writes dropped).
 */
export function loggerErrorStream(logger: Logger, requestId: string): ErrorStream {
  return {
    write(text: string) {
      const message = String(text).replace(/\s+$/, '');
      if (message) logger.error({ req_id: requestId }, message);
    },
  };
}
