import { describe, it, expect, beforeAll, afterAll } from '@jest/globals';
import { readdir, readFile } from 'node:fs/promises';
import { SMTPServer } from 'smtp-server';
import { simpleParser, type ParsedMail } from 'mailparser';
import nodemailer from 'nodemailer';
import { TestClient, readBody, type Application } from '@stackware/gateway';
import { tempDir, freePort } from '@stackware/testing';
import { errorCatcher } from '../src/index.js';
import { captureLogger } from './helpers.js';

let dir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => ({ dir, cleanup } = await tempDir('stackware-errors-mail-')));
afterAll(async () => cleanup());

const storm: Application = (environ) => {
  throw new Error(`Payment gateway timed out after ${environ.QUERY_STRING || '30'} ms`);
};

async function mailsIn(path: string): Promise<ParsedMail[]> {
  const names = (await readdir(path).catch(() => [])).filter((n) => n.endsWith('.eml')).sort();
  return Promise.all(names.map(async (n) => simpleParser(await readFile(`${path}/${n}`))));
}

describe('email: throttling and de-duplication', () => {
  it('sends 1 mail for 100 identical errors, and the count of the other 99 in the next mail', async () => {
    let now = Date.parse('2026-01-01T00:00:00Z');
    const mailDir = `${dir}/storm`;
    const { logger, records } = captureLogger();
    const catcher = errorCatcher(storm, { logger, now: () => now, email: { to: 'ops@example.test', dir: mailDir, windowMs: 60_000 } });
    const http = new TestClient(catcher, { throwErrors: false });
    for (let i = 0; i < 100; i++) {
      // the same error (digits in the message vary: they are folded into the signature)
      expect((await http.get(`/pay?${1000 + i}`)).statusCode).toBe(500);
      now += 100;
    }
    await catcher.idle();
    expect(records).toHaveLength(100); // every error is still logged
    let mails = await mailsIn(mailDir);
    expect(mails).toHaveLength(1);
    expect(mails[0]!.subject).toBe('[stackware] Error: Payment gateway timed out after 1000 ms');
    expect(mails[0]!.headers.get('x-stackware-error-id')).toBe(records[0]!.error_id);
    expect(catcher.mailer!.stats).toMatchObject({ sent: 1, suppressed: 99 });

    now += 60_000; // the window is over: the summary goes out with the count
    await catcher.mailer!.flush();
    mails = await mailsIn(mailDir);
    expect(mails).toHaveLength(2);
    const summary = mails.find((m) => m.subject!.includes('repeats'))!;
    expect(summary.subject).toContain('[+99 repeats]');
    expect(summary.text).toContain('99 more occurrences of this error were suppressed');
    await catcher.close();
  });

  it('sends the summary by itself when the window ends (timer), on the real clock', async () => {
    const mailDir = `${dir}/timer`;
    const catcher = errorCatcher(storm, { logger: captureLogger().logger, email: { to: 'ops@example.test', dir: mailDir, windowMs: 2000 } });
    const http = new TestClient(catcher, { throwErrors: false });
    for (let i = 0; i < 5; i++) await http.get('/');
    await catcher.idle();
    expect(await mailsIn(mailDir)).toHaveLength(1);
    // Poll (bounded) for the summary the window's timer sends.
    let mails: ParsedMail[] = [];
    for (let i = 0; i < 200 && mails.length < 2; i++) {
      await new Promise((r) => setTimeout(r, 50));
      await catcher.mailer!.idle();
      mails = await mailsIn(mailDir);
    }
    expect(mails.map((m) => m.subject).sort()).toEqual(['[stackware] Error: Payment gateway timed out after 30 ms', '[stackware] Error: Payment gateway timed out after 30 ms [+4 repeats]']);
    await catcher.close();
  });

  it('puts the suppressed count into the next mail when the error comes back after the window', async () => {
    let now = 0;
    const sent: Array<{ subject: string; text: string }> = [];
    const transport = nodemailer.createTransport({ jsonTransport: true });
    const original = transport.sendMail.bind(transport);
    transport.sendMail = (async (mail: { subject: string; text: string }) => { sent.push({ subject: mail.subject, text: mail.text }); return original(mail as never); }) as never;
    const catcher = errorCatcher(storm, { logger: captureLogger().logger, now: () => now, email: { to: ['a@example.test', 'b@example.test'], transport, windowMs: 1000 } });
    const http = new TestClient(catcher, { throwErrors: false });
    for (let i = 0; i < 5; i++) await http.get('/');
    now = 5000;
    await http.get('/');
    await catcher.idle();
    expect(sent.map((m) => m.subject)).toEqual(['[stackware] Error: Payment gateway timed out after 30 ms', '[stackware] Error: Payment gateway timed out after 30 ms [+4 repeats]']);
    expect(sent[1]!.text).toMatch(/^4 more occurrences of this error had been suppressed since/);
    await catcher.close();
  });

  it('caps distinct errors per window (maxPerWindow) and counts the rest', async () => {
    const mailDir = `${dir}/distinct`;
    const catcher = errorCatcher((environ) => { throw new Error(`failure kind ${environ.PATH_INFO}`); }, { logger: captureLogger().logger, email: { to: 'ops@example.test', dir: mailDir, maxPerWindow: 3 } });
    const http = new TestClient(catcher, { throwErrors: false });
    for (const kind of ['a', 'b', 'c', 'd', 'e']) await http.get(`/${kind}`);
    await catcher.idle();
    expect(await mailsIn(mailDir)).toHaveLength(3);
    expect(catcher.mailer!.stats.suppressed).toBe(2);
    await catcher.close();
  });
});

describe('email: sending', () => {
  it('never delays the response: the mail is sent after it, in the background', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => { release = resolve; });
    const transport = nodemailer.createTransport({
      name: 'gated', version: '1',
      send(_mail: unknown, callback: (error: Error | null, info: unknown) => void) { void gate.then(() => callback(null, { messageId: 'x' })); },
    } as never);
    const catcher = errorCatcher(storm, { logger: captureLogger().logger, email: { to: 'ops@example.test', transport } });
    const res = await new TestClient(catcher, { throwErrors: false }).get('/');
    expect(res.statusCode).toBe(500);
    expect(res.completed).toBe(true);
    expect(catcher.mailer!.stats.sent).toBe(0); // the response is done, the mail is still waiting
    release();
    await catcher.idle();
    expect(catcher.mailer!.stats.sent).toBe(1);
    await catcher.close();
  });

  it('logs a mail that cannot be sent, without affecting the response', async () => {
    const port = await freePort(); // nothing listens here
    const { logger, records } = captureLogger();
    const catcher = errorCatcher(storm, { logger, email: { to: 'ops@example.test', smtp: { host: '127.0.0.1', port, ignoreTLS: true, timeoutMs: 5000 } } });
    expect((await new TestClient(catcher, { throwErrors: false }).get('/')).statusCode).toBe(500);
    await catcher.idle();
    expect(catcher.mailer!.stats.failed).toBe(1);
    expect(records.some((r) => r.level === 40 && r.msg === 'error mail could not be sent')).toBe(true);
    await catcher.close();
  });

  it('round-trips through a real SMTP server on loopback, with secrets redacted', async () => {
    const received: Buffer[] = [];
    const envelopes: string[][] = [];
    const server = new SMTPServer({
      authOptional: true, disabledCommands: ['STARTTLS', 'AUTH'], logger: false,
      onData(stream, session, callback) {
        const chunks: Buffer[] = [];
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('end', () => { received.push(Buffer.concat(chunks)); envelopes.push(session.envelope.rcptTo.map((r) => r.address)); callback(); });
      },
    });
    const port = await freePort();
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    try {
      const { logger, records } = captureLogger();
      const readsForm: Application = async (environ, startResponse) => { await readBody(environ); return storm(environ, startResponse); };
      const catcher = errorCatcher(readsForm, {
        logger,
        email: { to: ['ops@example.test', 'dev@example.test'], from: 'app@example.test', subjectPrefix: '[shop] ', smtp: { host: '127.0.0.1', port, ignoreTLS: true } },
      });
      const secret = ['tok', 'en', '-', 'value'].join('');
      await new TestClient(catcher, { throwErrors: false }).post('/checkout?step=2', {
        headers: { Cookie: `session=${secret}`, 'User-Agent': 'test-agent/1' },
        form: { email: 'ann@example.test', password: secret },
      });
      await catcher.idle();
      expect(received).toHaveLength(1);
      expect(envelopes[0]).toEqual(['ops@example.test', 'dev@example.test']);
      const mail = await simpleParser(received[0]!);
      expect(mail.subject).toBe('[shop] Error: Payment gateway timed out after step=2 ms');
      expect(mail.from!.text).toBe('app@example.test');
      expect(mail.headers.get('x-stackware-error-id')).toBe(records[0]!.error_id);
      expect(mail.text).toContain(`Error id:   ${records[0]!.error_id}`);
      expect(mail.text).toContain('mail.test.ts:');
      expect(mail.text).toContain('Request:    POST http://localhost/checkout?step=2');
      expect(mail.text).toContain('User-Agent: test-agent/1');
      expect(mail.text).toContain('password: [redacted]');
      expect(mail.text).toContain('email: ann@example.test');
      expect(received[0]!.toString()).not.toContain(secret);
      await catcher.close();
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
