/**
 * Auth timing benchmark (user-name enumeration, issue 19): for Basic auth over a users table, form
 * login and Digest, the time to refuse an UNKNOWN user and a KNOWN user with a WRONG password,
 * measured in-process with the servers' own response driver (`runApplication`) and a sink that
 * discards bytes. The two kinds alternate request by request (so load on the shared machine hits
 * both alike); each request is timed with `process.hrtime.bigint()`. Printed: each side's median
 * in µs and the difference of the medians (target: under 1 µs in absolute value).
 * `--quick`: 2,000 samples a side instead of 40,000.
 */
import { createHash } from 'node:crypto';
import { createEnviron, createInput, runApplication, type Application, type Environ, type ResponseSink } from '../packages/gateway/src/index.js';
import { basicAuth, digestAuth, digestRealmHash, formLogin, parseDigestParams, passwordTable } from '../packages/middleware/src/index.js';
import { emitFigures } from './lib/index.js';

const quick = process.argv.includes('--quick');
const samples = quick ? 2_000 : 40_000;
const warmup = quick ? 500 : 5_000;
const sink: ResponseSink = { sendHeaders() {}, async write() {}, async end() {}, abort() {} };
const ok: Application = (_e, start) => { start('200 OK', [['Content-Length', '0']]); return []; };
const users = { alice: 'correct horse battery staple', bob: 'hunter2hunter2' };

interface Case { label: string; app: Application; request(kind: 'unknown' | 'wrong'): Environ }

const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
const get = (headers: Array<[string, string]>, target = '/private') => createEnviron({ method: 'GET', target, headers: [['Host', 'localhost'], ...headers], remoteAddr: '127.0.0.1' });

const cases: Case[] = [];
cases.push({
  label: 'Basic, users table (passwordTable)',
  app: basicAuth(ok, { realm: 'bench', checkPassword: passwordTable(users) }),
  request: (kind) => get([['Authorization', kind === 'unknown' ? basic('mallory', 'wrong password!') : basic('alice', 'wrong password!')]]),
});

const formBody = (user: string) => Buffer.from(new URLSearchParams({ username: user, password: 'wrong password!', next: '/' }).toString());
cases.push({
  label: 'form login, users table (passwordTable)',
  app: formLogin(ok, { checkPassword: passwordTable(users) }),
  request: (kind) => {
    const body = formBody(kind === 'unknown' ? 'mallory' : 'alice');
    return createEnviron({
      method: 'POST', target: '/login', remoteAddr: '127.0.0.1',
      headers: [['Host', 'localhost'], ['Content-Type', 'application/x-www-form-urlencoded'], ['Content-Length', String(body.length)]],
      input: createInput([body], body.length),
    });
  },
});

const realm = 'bench';
const realmHashes = new Map(Object.entries(users).map(([u, p]) => [u, digestRealmHash(u, realm, p)]));
const digest = digestAuth(ok, { realm, getRealmHash: (user) => realmHashes.get(user) });
// One genuine nonce from a challenge; every sample answers it (refused before the nonce count is recorded).
const challenge = await new Promise<string>((resolve) => {
  void runApplication(digest, get([]), { ...sink, sendHeaders(_status, headers) { resolve(headers.find(([n]) => n === 'WWW-Authenticate')![1]); } }, { onError: () => {} });
});
const nonce = parseDigestParams(challenge.replace(/^Digest\s+/, '')).nonce!;
const sha = (s: string) => createHash('sha256').update(s).digest('hex');
const digestHeader = (user: string) => {
  const ha1 = sha(`${user}:${realm}:wrong password!`);
  const response = sha(`${ha1}:${nonce}:00000001:0a4f113b:auth:${sha('GET:/private')}`);
  return `Digest username="${user}", realm="${realm}", nonce="${nonce}", uri="/private", algorithm=SHA-256, qop=auth, nc=00000001, cnonce="0a4f113b", response="${response}"`;
};
const digestHeaders = { unknown: digestHeader('mallory'), wrong: digestHeader('alice') };
cases.push({ label: 'Digest SHA-256', app: digest, request: (kind) => get([['Authorization', digestHeaders[kind]]]) });

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

async function once(app: Application, environ: Environ): Promise<number> {
  const t0 = process.hrtime.bigint();
  await runApplication(app, environ, sink, { onError: () => {} });
  return Number(process.hrtime.bigint() - t0) / 1000;
}

const rows: Array<[string, number, number, number]> = [];
for (const c of cases) {
  const unknown: number[] = [];
  const wrong: number[] = [];
  for (let i = 0; i < warmup + samples; i++) {
    // Alternate which kind goes first, so neither always follows the other.
    const order: Array<'unknown' | 'wrong'> = i % 2 ? ['unknown', 'wrong'] : ['wrong', 'unknown'];
    for (const kind of order) {
      const environ = c.request(kind);
      const micros = await once(c.app, environ);
      if (i >= warmup) (kind === 'unknown' ? unknown : wrong).push(micros);
    }
  }
  rows.push([c.label, median(unknown), median(wrong), median(wrong) - median(unknown)]);
}

console.log(`\n### Auth refusal timing: unknown user vs wrong password (in-process, ${samples.toLocaleString('en')} alternating samples a side, medians)\n`);
console.log('| middleware | unknown user (µs) | wrong password (µs) | difference (µs) |');
console.log('|---|---:|---:|---:|');
for (const [label, u, w, d] of rows) console.log(`| ${label} | ${u.toFixed(2)} | ${w.toFixed(2)} | ${d >= 0 ? '+' : ''}${d.toFixed(2)} |`);
console.log('\nTarget: |difference| < 1 µs (a wrong password used to answer 7–13 µs slower than an unknown user).');
emitFigures({
  title: 'Auth: median refusal time, unknown user vs wrong password',
  unit: 'µs',
  higherIsBetter: false,
  bars: rows.flatMap(([label, u, w]) => [
    { label: `${label}: unknown user`, kind: 'baseline' as const, value: u, ratio: 1 },
    { label: `${label}: wrong password`, kind: 'stackware' as const, value: w, ratio: w / u },
  ]),
});
