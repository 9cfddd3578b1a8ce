import type { Application, Middleware } from './types.js';

/**
 * Composes middleware: `compose(a, b, c)(app)` is `a(b(c(app)))` — the first listed is the
 * outermost, the one that sees the request first (Paste's pipeline order).
 */
export function compose(...middleware: Middleware[]): Middleware {
  return (app: Application) => middleware.reduceRight((inner, wrap) => wrap(inner), app);
}
