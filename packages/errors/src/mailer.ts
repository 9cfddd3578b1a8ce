import { mkdir, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ErrorReport } from './report.js';
import { renderText } from './render.js';

/** SMTP settings (nodemailer's SMTP transport options), or an `smtp://` / `smtps://` URL. */
export interface SmtpOptions {
  host: string;
  /** Default 587 (465 when `secure`). */
  port?: number;
  /** TLS from the start (port 465). Default false (STARTTLS when offered). */
  secure?: boolean;
  auth?: { user: string; pass: string };
  /** Never use STARTTLS (a loopback relay). Default false. */
  ignoreTLS?: boolean;
  /** Give up a connection after this many milliseconds (default 10000). */
  timeoutMs?: number;
}

/** One mail as the catcher hands it to its transport (a subset of nodemailer's message options). */
export interface MailMessage {
  from: string;
  to: string | string[];
  subject: string;
  text: string;
  headers: Record<string, string>;
}

/**
 * What the catcher needs of a mail transport. A nodemailer Transporter fits it
 * (`nodemailer.createTransport(...)`); the type is our own so that the public types of this
 * package need no `@types/nodemailer`.
 */
export interface MailTransport {
  /** Sends one mail; resolves with the transport's report (with `message: Buffer` for nodemailer's stream transport). */
  sendMail(mail: MailMessage): Promise<unknown>;
  /** Closes pooled connections. */
  close?(): void;
}

/**
 * Email settings of the exception catcher. Defaults:
 * `from` "stackware-errors@<hostname>", `subjectPrefix` "[stackware] ", `windowMs` 300000 (5 min),
 * `maxPerWindow` 20, transport: `.eml` files in `dir` (default `<errorDir>/mail`, else
 * `<tmpdir>/stackware-error-mail`) unless `smtp` is given.
 */
export interface EmailOptions {
  /** Recipients (Paste's `error_email`). Required. */
  to: string | string[];
  from?: string;
  /** Put before every subject (Paste's `error_subject_prefix`). */
  subjectPrefix?: string;
  /** De-duplication window, in milliseconds: one mail per error signature per window. */
  windowMs?: number;
  /** At most this many mails (all signatures together) per window; the rest are counted. */
  maxPerWindow?: number;
  /** Directory for the default transport: one RFC 5322 `.eml` file per mail. */
  dir?: string;
  /** Send by SMTP instead of writing files. */
  smtp?: SmtpOptions | string;
  /** A ready transport, e.g. a nodemailer transporter (overrides `dir` and `smtp`). */
  transport?: MailTransport;
  /** Clock in milliseconds (tests). Default Date.now. */
  now?: () => number;
  /** Called when a mail could not be sent (default: nothing; the catcher logs it). */
  onError?: (error: unknown) => void;
}

interface SignatureState {
  windowStart: number;
  suppressed: number;
  firstSuppressedAt?: string;
  last?: ErrorReport;
}

const MAX_SIGNATURES = 1000;

/** How many mails were sent, suppressed and failed. */
export interface MailerStats {
  sent: number;
  suppressed: number;
  failed: number;
}

/**
 * Sends one email per error signature per window (Paste's ErrorMiddleware email, throttled):
 * repeats inside the window are counted, and the count goes into the next mail for that signature
 * (sent when it happens again after the window, or by {@link ErrorMailer.flush} when the window
 * ends). Sending happens after the response, in the background: {@link ErrorMailer.notify} never
 * waits and never throws.
 */
export class ErrorMailer {
  readonly to: string[];
  readonly from: string;
  readonly subjectPrefix: string;
  readonly windowMs: number;
  readonly maxPerWindow: number;
  readonly dir: string | undefined;
  readonly stats: MailerStats = { sent: 0, suppressed: 0, failed: 0 };
  /** Makes the transport: nodemailer is imported on the first mail, so a catcher that never mails never loads it. */
  private readonly makeTransport: () => Promise<MailTransport>;
  private transport: Promise<MailTransport> | undefined;
  private readonly now: () => number;
  private readonly onError: (error: unknown) => void;
  private readonly states = new Map<string, SignatureState>();
  private readonly pending = new Set<Promise<void>>();
  private globalWindowStart = -Infinity;
  private globalCount = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(options: EmailOptions, errorDir?: string) {
    const to = typeof options.to === 'string' ? options.to.split(',').map((s) => s.trim()).filter(Boolean) : options.to;
    if (!to || to.length === 0) throw new TypeError('errorCatcher email.to is empty: give one or more recipient addresses ("ops@example.com")');
    this.to = to;
    this.from = options.from ?? `stackware-errors@${hostname()}`;
    this.subjectPrefix = options.subjectPrefix ?? '[stackware] ';
    this.windowMs = options.windowMs ?? 300_000;
    this.maxPerWindow = options.maxPerWindow ?? 20;
    this.now = options.now ?? Date.now;
    this.onError = options.onError ?? (() => {});
    const given = options.transport;
    const smtp = options.smtp;
    if (given) {
      this.makeTransport = async () => given;
    } else if (smtp) {
      this.makeTransport = async () => {
        const { default: nodemailer } = await import('nodemailer');
        return typeof smtp === 'string'
          ? nodemailer.createTransport(smtp)
          : nodemailer.createTransport({
            host: smtp.host, port: smtp.port, secure: smtp.secure ?? false, auth: smtp.auth, ignoreTLS: smtp.ignoreTLS ?? false,
            connectionTimeout: smtp.timeoutMs ?? 10_000, greetingTimeout: smtp.timeoutMs ?? 10_000, socketTimeout: smtp.timeoutMs ?? 10_000,
          });
      };
    } else {
      this.dir = options.dir ?? (errorDir ? join(errorDir, 'mail') : join(tmpdir(), 'stackware-error-mail'));
      this.makeTransport = async () => {
        const { default: nodemailer } = await import('nodemailer');
        return nodemailer.createTransport({ streamTransport: true, buffer: true, newline: 'windows' });
      };
    }
  }

  /** Queues a mail for `report` unless its signature was mailed in this window (then counts it). Never throws. */
  notify(report: ErrorReport): void {
    const now = this.now();
    let state = this.states.get(report.signature);
    if (state && now - state.windowStart < this.windowMs) {
      this.suppress(state, report);
      return;
    }
    if (now - this.globalWindowStart >= this.windowMs) {
      this.globalWindowStart = now;
      this.globalCount = 0;
    }
    if (this.globalCount >= this.maxPerWindow) {
      if (!state) state = this.track(report.signature, now);
      this.suppress(state, report);
      return;
    }
    const suppressed = state?.suppressed ?? 0;
    const since = state?.firstSuppressedAt;
    state = this.track(report.signature, now);
    this.globalCount++;
    this.send(report, suppressed, since);
  }

  /**
   * Sends a summary mail for every signature whose window has ended with repeats counted but not
   * yet mailed (`force`: whatever the window). Called by a timer at the end of each window.
   */
  async flush(options: { force?: boolean } = {}): Promise<void> {
    const now = this.now();
    for (const [signature, state] of this.states) {
      if (state.suppressed === 0 || !state.last) continue;
      if (!options.force && now - state.windowStart < this.windowMs) continue;
      const { suppressed, firstSuppressedAt, last } = state;
      this.states.set(signature, { windowStart: now, suppressed: 0 });
      this.send(last, suppressed, firstSuppressedAt, true);
    }
    await this.idle();
  }

  /** Resolves when every mail queued so far has been sent (or has failed). */
  async idle(): Promise<void> {
    while (this.pending.size) await Promise.all(this.pending);
  }

  /** Stops the window timer and closes the transport (SMTP pool). Pending mails are awaited first. */
  async close(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.idle();
    (await this.transport?.catch(() => undefined))?.close?.();
  }

  private track(signature: string, now: number): SignatureState {
    if (!this.states.has(signature) && this.states.size >= MAX_SIGNATURES) this.states.delete(this.states.keys().next().value!);
    const state: SignatureState = { windowStart: now, suppressed: 0 };
    this.states.delete(signature);
    this.states.set(signature, state);
    return state;
  }

  private suppress(state: SignatureState, report: ErrorReport): void {
    state.suppressed++;
    state.firstSuppressedAt ??= report.time;
    state.last = report;
    this.stats.suppressed++;
    if (!this.timer) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        void this.flush().then(() => {
          if ([...this.states.values()].some((s) => s.suppressed > 0) && !this.timer) this.timer = setTimeout(() => { this.timer = undefined; void this.flush(); }, this.windowMs).unref();
        });
      }, this.windowMs).unref();
    }
  }

  private send(report: ErrorReport, suppressed: number, since: string | undefined, summary = false): void {
    const first = report.errors[0]!;
    const repeats = suppressed > 0 ? ` [+${suppressed} repeats]` : '';
    const subject = `${this.subjectPrefix}${first.name}: ${first.message}`.replace(/[\r\n]+/g, ' ').slice(0, 180) + repeats;
    const intro: string[] = [];
    if (suppressed > 0) intro.push(`${suppressed} more occurrence${suppressed === 1 ? '' : 's'} of this error ${summary ? 'were' : 'had been'} suppressed since ${since ?? 'the last mail'} (one mail per ${Math.round(this.windowMs / 1000)} s per error).`, summary ? 'The last occurrence:' : '', '');
    const text = intro.join('\n') + renderText(report);
    const job = (async () => {
      // Let the response go first: sending starts on a later turn of the event loop.
      await new Promise((resolve) => setImmediate(resolve));
      try {
        this.transport ??= this.makeTransport();
        const info = await (await this.transport).sendMail({
          from: this.from, to: this.to, subject, text,
          headers: { 'X-Stackware-Error-Id': report.id, 'X-Stackware-Request-Id': report.requestId, 'X-Stackware-Suppressed': String(suppressed) },
        });
        if (this.dir) {
          await mkdir(this.dir, { recursive: true, mode: 0o700 });
          const stamp = report.time.replace(/[:.]/g, '-');
          await writeFile(join(this.dir, `${stamp}-${report.id}${summary ? '-summary' : ''}.eml`), (info as { message: Buffer }).message, { mode: 0o600 });
        }
        this.stats.sent++;
      } catch (error) {
        this.stats.failed++;
        try {
          this.onError(error);
        } catch {
          // the error handler itself failed: nothing more to do
        }
      }
    })();
    this.pending.add(job);
    void job.finally(() => this.pending.delete(job));
  }
}
