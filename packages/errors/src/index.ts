/**
 * @stackware/errors — the exception catcher: catches every failure of the application, logs it
 * (pino), mails it (nodemailer, throttled), saves a post-mortem report, and answers with a debug
 * page (trusted clients, `debug: true`) or a safe production page with an error id.
 */
export { errorCatcher, getErrorReport, logRecord, type ErrorCatcherOptions, type ErrorCatcherApplication } from './error-catcher.js';
export { buildReport, describeError, newErrorId, requestIdOf, type ErrorReport, type ReportedError, type CatchPoint, type BuildReportOptions } from './report.js';
export { resolveStack, parseStack, formatStack, type StackFrame, type ResolveStackOptions } from './stack.js';
export { Redactor, DEFAULT_REDACTED_HEADERS, DEFAULT_REDACTED_FIELDS, type RedactOptions } from './redact.js';
export { ErrorMailer, type EmailOptions, type SmtpOptions, type MailerStats, type MailTransport, type MailMessage } from './mailer.js';
export { ReportStore, type ReportSummary } from './report-store.js';
export { reportViewer } from './report-viewer.js';
export { isDebugClient, isLoopbackAddress, isLoopbackHost, hostName, DEFAULT_TRUSTED_HOSTS, type DebugAccessOptions } from './debug-access.js';
export { DebugPin, derivedPin, DEBUG_PIN_ENV, DEBUG_PIN_COOKIE, MAX_PIN_FAILURES, PIN_COOKIE_MAX_AGE_SECONDS, type PinResult } from './debug-pin.js';
export { pinPage } from './pin-page.js';
export { negotiateFormat, type ErrorFormat } from './negotiate.js';
export { renderDebugHtml, renderText, renderJson, renderPublicHtml, renderPublicText, renderPublicJson, type PublicPageOptions } from './render.js';
export { captureInput, getCapturedInput, type CapturedInput } from './request-capture.js';
export { factories, errorCatcherFilterFactory, ERROR_CATCHER_OPTIONS } from './factories.js';
