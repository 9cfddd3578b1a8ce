import type { Application, FilterFactory, StackwareFactories } from '@stackware/gateway';
import { isAbsolute, resolve } from 'node:path';
import { errorCatcher, type ErrorCatcherOptions } from './error-catcher.js';
import { assertValidPin } from './debug-pin.js';

function strings(value: unknown): string[] | undefined {
  if (value === undefined) return undefined;
  return Array.isArray(value) ? value.map(String) : String(value).split(',').map((s) => s.trim()).filter(Boolean);
}

/**
 * `use = "@stackware/errors"`: the exception catcher as a deploy-file filter. Options (TOML):
 * `debug`, `errorDir` (relative to the deploy file), `maxReports`, `viewerPath`, `trustedHosts`,
 * `trustedAddresses`, `debugPin` (the debugger PIN; "off" disables it), `listenHost` (debug is
 * turned off, with a warning, unless it is a loopback address), `redactHeaders`, `redactFields` (a regular expression), `maxFormBytes`,
 * `emailTo`, `emailFrom`, `subjectPrefix`, `emailWindowMs`, `emailMaxPerWindow`, `emailDir`
 * (`.eml` files; relative to the deploy file) and `smtp` (an `smtp://user:pass@host:port` URL).
 */
export const errorCatcherFilterFactory: FilterFactory = Object.assign(
  (options: Record<string, unknown>, context: { here: string; name: string }) => {
    const here = (path: unknown) => (path === undefined ? undefined : isAbsolute(String(path)) ? String(path) : resolve(context.here, String(path)));
    const to = strings(options.emailTo)?.filter(Boolean); // empty (e.g. an unset ${VAR}): no mail
    let redactFields: RegExp | undefined;
    if (options.redactFields !== undefined) {
      try {
        redactFields = new RegExp(String(options.redactFields), 'i');
      } catch (error) {
        throw new Error(`[filter:${context.name}] redactFields is not a valid regular expression: ${(error as Error).message}`, { cause: error });
      }
    }
    const catcherOptions: ErrorCatcherOptions = {
      debug: options.debug as boolean | undefined,
      errorDir: here(options.errorDir),
      maxReports: options.maxReports as number | undefined,
      viewerPath: options.viewerPath as string | undefined,
      trustedHosts: strings(options.trustedHosts),
      trustedAddresses: strings(options.trustedAddresses),
      pin: options.debugPin === undefined || options.debugPin === '' ? undefined : String(options.debugPin).trim().toLowerCase() === 'off' ? false : String(options.debugPin),
      listenHost: options.listenHost === undefined ? undefined : String(options.listenHost),
      redact: options.redactHeaders !== undefined || redactFields ? { headers: strings(options.redactHeaders), fields: redactFields } : undefined,
      maxFormBytes: options.maxFormBytes as number | undefined,
      email: to?.length
        ? {
          to,
          from: options.emailFrom as string | undefined,
          subjectPrefix: options.subjectPrefix as string | undefined,
          windowMs: options.emailWindowMs as number | undefined,
          maxPerWindow: options.emailMaxPerWindow as number | undefined,
          dir: here(options.emailDir),
          smtp: options.smtp as string | undefined,
        }
        : undefined,
    };
    if (!to?.length && (options.smtp !== undefined || options.emailDir !== undefined)) throw new Error(`[filter:${context.name}] smtp/emailDir are set but emailTo is not: give the recipients (emailTo = "ops@example.com")`);
    if (typeof catcherOptions.pin === 'string') {
      try {
        assertValidPin(catcherOptions.pin);
      } catch (error) {
        throw new Error(`[filter:${context.name}] debugPin: ${(error as Error).message}`, { cause: error });
      }
    }
    // Validate now (at load time), not at the first request (quietly: the real catcher logs).
    errorCatcher(() => [], { ...catcherOptions, debug: false });
    return (app: Application) => errorCatcher(app, catcherOptions);
  },
  {
    description: 'Exception catcher: logs (pino), mails (nodemailer), saves reports, debug page for trusted clients',
    optionTypes: {
      debug: 'boolean', debugPin: 'string', listenHost: 'string', errorDir: 'string', maxReports: 'number', viewerPath: 'string', trustedHosts: 'any', trustedAddresses: 'any',
      redactHeaders: 'any', redactFields: 'string', maxFormBytes: 'number', emailTo: 'any', emailFrom: 'string', subjectPrefix: 'string',
      emailWindowMs: 'number', emailMaxPerWindow: 'number', emailDir: 'string', smtp: 'string',
    },
  } as const,
);

/** The config factories of this package: `use = "@stackware/errors"` is the exception catcher. */
export const factories: StackwareFactories = { filters: { default: errorCatcherFilterFactory } };
