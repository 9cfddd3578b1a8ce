import { isAbsolute, resolve } from 'node:path';
import type { StackwareFactories } from '@stackware/gateway';
import { defineOptions, filterFactory, option } from '@stackware/gateway/options';
import { errorCatcher, type ErrorCatcherOptions } from './error-catcher.js';
import { assertValidPin } from './debug-pin.js';

/** `debugPin`: "off" disables the PIN, "" (an unset `${VAR}`) leaves the default. */
function parsePin(text: string): string | false | undefined {
  if (text === '') return undefined;
  if (text.trim().toLowerCase() === 'off') return false;
  try {
    assertValidPin(text);
  } catch (error) {
    throw new Error(`is not a usable PIN: ${(error as Error).message}`, { cause: error });
  }
  return text;
}

function parseRegExp(text: string): RegExp {
  try {
    return new RegExp(text, 'i');
  } catch (error) {
    throw new Error(`is not a valid regular expression: ${(error as Error).message}`, { cause: error });
  }
}

/** The deploy-file options of the exception catcher (flat: the email and redact tables of {@link ErrorCatcherOptions} are prefixed keys). */
export const ERROR_CATCHER_OPTIONS = defineOptions({
  debug: option.boolean('show the debug page (stack, source, request) to trusted clients', { default: false }),
  debugPin: option.parsed('the debugger PIN debug output needs ("off": none, with a warning)', 'string', parsePin, { defaultText: 'STACKWARE_DEBUG_PIN, else derived from the machine', example: '"123-456-789"' }),
  listenHost: option.string('the address the server listens on: debug is turned off, with a warning, unless it is a loopback address'),
  errorDir: option.string('save each caught error as ID.html + ID.json here (relative to the deploy file)'),
  maxReports: option.number('saved reports kept (oldest removed)', { integer: true, min: 1, default: 500 }),
  viewerPath: option.string('where the saved-report viewer answers (debug mode only)', { default: '/_debug/errors' }),
  trustedHosts: option.strings('Host header names that may see debug output', { commaSeparated: true }),
  trustedAddresses: option.strings('client addresses, besides loopback, that may see debug output', { commaSeparated: true }),
  redactHeaders: option.strings('request headers whose values reports, logs and mails hide', { commaSeparated: true, defaultText: 'Authorization, Cookie, …' }),
  redactFields: option.parsed('field names (query, form, JSON, environ) whose values are hidden: a regular expression, case-insensitive', 'string (RegExp)', parseRegExp, { defaultText: 'password, secret, token, …', example: '"password|token"' }),
  maxFormBytes: option.number('bytes of a urlencoded or JSON body kept for the report', { unit: 'bytes', integer: true, min: 0, default: 64 * 1024 }),
  emailTo: option.strings('mail each error (throttled, de-duplicated) to these addresses (empty: no mail)', { commaSeparated: true }),
  emailFrom: option.string('the From address of error mails', { defaultText: 'stackware-errors@HOSTNAME' }),
  subjectPrefix: option.string('the subject prefix of error mails', { default: '[stackware] ' }),
  emailWindowMs: option.number('one mail per error per window; later ones are counted', { unit: 'ms', integer: true, min: 0, default: 300_000 }),
  emailMaxPerWindow: option.number('mails at most per window, all errors together', { integer: true, min: 1, default: 20 }),
  emailDir: option.string('write mails as .eml files here (relative to the deploy file) instead of SMTP'),
  smtp: option.string('the SMTP server: smtp://user:pass@host:port'),
});

/**
 * `use = "@stackware/errors"`: the exception catcher as a deploy-file filter. Options:
 * {@link ERROR_CATCHER_OPTIONS} (the README's table); `errorDir` and `emailDir` are relative to
 * the deploy file.
 */
export const errorCatcherFilterFactory = filterFactory(
  ERROR_CATCHER_OPTIONS,
  (options, context) => {
    const here = (path: string | undefined) => (path === undefined ? undefined : isAbsolute(path) ? path : resolve(context.here, path));
    const to = options.emailTo?.filter(Boolean); // empty (e.g. an unset ${VAR}): no mail
    if (!to?.length && (options.smtp !== undefined || options.emailDir !== undefined)) throw new Error(`[filter.${context.name}] smtp/emailDir are set but emailTo is not: give the recipients (emailTo = "ops@example.com")`);
    const catcherOptions: ErrorCatcherOptions = {
      debug: options.debug,
      errorDir: here(options.errorDir),
      maxReports: options.maxReports,
      viewerPath: options.viewerPath,
      trustedHosts: options.trustedHosts,
      trustedAddresses: options.trustedAddresses,
      pin: options.debugPin,
      listenHost: options.listenHost,
      redact: options.redactHeaders !== undefined || options.redactFields ? { headers: options.redactHeaders, fields: options.redactFields } : undefined,
      maxFormBytes: options.maxFormBytes,
      email: to?.length
        ? { to, from: options.emailFrom, subjectPrefix: options.subjectPrefix, windowMs: options.emailWindowMs, maxPerWindow: options.emailMaxPerWindow, dir: here(options.emailDir), smtp: options.smtp }
        : undefined,
    };
    // Validate now (at load time), not at the first request (quietly: the real catcher logs).
    errorCatcher(() => [], { ...catcherOptions, debug: false });
    return (app) => errorCatcher(app, catcherOptions);
  },
  { description: 'Exception catcher: logs (pino), mails (nodemailer), saves reports, debug page for trusted clients' },
);

/** The config factories of this package: `use = "@stackware/errors"` is the exception catcher. */
export const factories: StackwareFactories = { filters: { default: errorCatcherFilterFactory } };
