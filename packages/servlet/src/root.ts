import type { Application, Environ } from '@stackware/gateway';

/** Environ key of the application that `forward()` and `includeURL()` dispatch to. Use {@link getServletRoot}. */
export const ROOT_KEY = 'stackware.servlet.root';

/** The application forward/include URLs are resolved against, and its mount point. */
export interface ServletRoot {
  application: Application;
  /** SCRIPT_NAME where `application` is mounted; absolute forward URLs start below it. */
  scriptName: string;
}

/**
 * Marks `app` as the application that servlets' `forward(url)` and `includeURL(url)` dispatch
 * to (Webware's Application): place it right around the dispatcher, inside the session and
 * error middleware, so a forwarded request does not pass through them twice:
 * `errorCatcher(session(servletRoot(urlParser({ root })), opts))`.
 * An absolute URL ("/cart/view") is taken below the SCRIPT_NAME seen here; a relative one
 * ("view") against the current request's path. The outermost `servletRoot` wins.
 */
export function servletRoot(app: Application): Application {
  return (environ, startResponse) => {
    if (environ[ROOT_KEY] === undefined) {
      const root: ServletRoot = { application: app, scriptName: environ.SCRIPT_NAME };
      environ[ROOT_KEY] = root;
    }
    return app(environ, startResponse);
  };
}

/** The root recorded by {@link servletRoot}, or undefined when there is none in the stack. */
export function getServletRoot(environ: Environ): ServletRoot | undefined {
  return environ[ROOT_KEY] as ServletRoot | undefined;
}
