/**
 * Thrown by `endResponse()` (and `sendRedirectAndEnd()`) to stop `awake()`/`respond()` at once;
 * the servlet application catches it, still calls `sleep()`, and sends the output so far
 * (Webware's EndResponse). Do not swallow it in a catch-all: rethrow `isEndResponse(e)` errors.
 */
export class EndResponse extends Error {
  constructor() {
    super('EndResponse: the servlet ended its response (this is not an error)');
    this.name = 'EndResponse';
  }
}

/** True for the {@link EndResponse} signal. */
export function isEndResponse(error: unknown): error is EndResponse {
  return error instanceof EndResponse;
}
