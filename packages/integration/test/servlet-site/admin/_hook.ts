import { HTTPError, type Application } from '@stackware/gateway';

/** Everything under /admin/ needs the X-Admin header (a stand-in for a real auth middleware). */
export const wrap = (app: Application): Application => (environ, startResponse) => {
  if (environ.HTTP_X_ADMIN !== 'yes') return new HTTPError(403, 'Admins only').toApplication()(environ, startResponse);
  return app(environ, startResponse);
};
