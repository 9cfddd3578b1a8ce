/**
 * @stackware/servlet — Webware-style servlets on the gateway interface: Servlet → HTTPServlet →
 * HTTPContent → Page, Transaction, HTTPRequest (forms and uploads via busboy, cookies),
 * HTTPResponse (buffered, then streamed), the `html` template, and `servletApp(MyPage)`.
 */
export { Servlet, type ServletClass, type MaybePromise } from './servlet.js';
export { HTTPServlet } from './http-servlet.js';
export { HTTPContent } from './http-content.js';
export { Page } from './page.js';
export { Transaction, MAX_FORWARD_DEPTH } from './transaction.js';
export { HTTPRequest, FORM_KEY, SERVER_SIDE_PATH_KEY, type RequestOptions } from './request.js';
export { HTTPResponse, type ResponseOptions, type CookieOptions, type Writable } from './response.js';
export { UploadedFile, parseForm, isFormContentType, DEFAULT_FORM_LIMITS, type FormLimits, type ParsedForm } from './form.js';
export { html, raw, SafeHtml, isSafeHtml } from './html.js';
export { EndResponse, isEndResponse } from './end-response.js';
export { servletApp, InstancePool, type ServletAppOptions, type ServletApplication } from './servlet-app.js';
export { servletRoot, getServletRoot, ROOT_KEY, type ServletRoot } from './root.js';
export { factories, servletFactory, loadServletClass, SERVLET_OPTIONS } from './factories.js';
