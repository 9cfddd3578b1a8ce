/**
 * Exception-catcher benchmark: the cost of `errorCatcher` per request, measured in-process with the
 * servers' own response driver (`runApplication`) and a sink that discards bytes — so the figures
 * are the middleware's cost, not the socket's. Each case alternates with its baseline in 5 rounds of
 * 0.5 s (`--quick`: 1 round of 0.2 s), keeps each side's best round, and reports requests/s and the
 * ratio against the baseline (the same app without the catcher).
 */
import { createRequire } from 'node:module';
import { createEnviron, runApplication, type Application, type ResponseSink } from '../packages/gateway/src/index.js';
import { errorCatcher, type ErrorCatcherOptions } from '../packages/errors/src/index.js';

const quick = process.argv.includes('--quick');
const seconds = quick ? 0.2 : 0.5;
// pino is the errors package's dependency, not the bench's: resolve it from there.
const { pino } = createRequire(new URL('../packages/errors/package.json', import.meta.url))('pino') as { pino: (options: { level: string }) => NonNullable<ErrorCatcherOptions['logger']> };
const silent = pino({ level: 'silent' });

const CHUNK = Buffer.alloc(1024, 97);
const arrayApp: Application = (_e, start) => { start('200 OK', [['Content-Type', 'text/plain'], ['Content-Length', '1024']]); return [CHUNK]; };
const streamApp: Application = (_e, start) => {
  start('200 OK', [['Content-Type', 'text/plain']]);
  return (async function* () { for (let i = 0; i < 8; i++) yield CHUNK; })();
};
const failingApp: Application = () => { throw new Error('benchmark failure'); };

const sink: ResponseSink = { sendHeaders() {}, async write() {}, async end() {}, abort() {} };

async function rate(app: Application, accept = 'text/html'): Promise<number> {
  const end = performance.now() + seconds * 1000;
  let n = 0;
  while (performance.now() < end) {
    for (let i = 0; i < 50; i++) {
      const environ = createEnviron({ method: 'GET', target: '/bench?x=1', headers: [['Host', 'localhost'], ['Accept', accept]], remoteAddr: '127.0.0.1' });
      await runApplication(app, environ, sink, { onError: () => {} });
      n++;
    }
  }
  return n / seconds;
}

/** Alternates baseline and case in short rounds and keeps each one's best round (the machine is shared: load comes and goes). */
async function pair(baseline: Application, app: Application, rounds: number): Promise<[number, number]> {
  let best0 = 0;
  let best1 = 0;
  for (let i = 0; i < rounds; i++) {
    best0 = Math.max(best0, await rate(baseline));
    best1 = Math.max(best1, await rate(app));
  }
  return [best0, best1];
}

const rounds = quick ? 1 : 5;
const rows: Array<[string, number, number]> = [];
const [arrayBase, arrayCaught] = await pair(arrayApp, errorCatcher(arrayApp, { logger: silent }), rounds);
rows.push(['array body, 1 KiB (baseline)', arrayBase, 1], ['array body, 1 KiB, errorCatcher', arrayCaught, arrayCaught / arrayBase]);
const [streamBase, streamCaught] = await pair(streamApp, errorCatcher(streamApp, { logger: silent }), rounds);
rows.push(['streamed body, 8 × 1 KiB (baseline)', streamBase, 1], ['streamed body, 8 × 1 KiB, errorCatcher', streamCaught, streamCaught / streamBase]);
const [base2, production] = await pair(arrayApp, errorCatcher(failingApp, { logger: silent }), rounds);
rows.push(['thrown error → production page (report + log), vs array baseline', production, production / base2]);
const [base3, debugPage] = await pair(arrayApp, errorCatcher(failingApp, { logger: silent, debug: true, pin: false }), rounds);
rows.push(['thrown error → debug page (HTML, source lines), vs array baseline', debugPage, debugPage / base3]);

console.log(`\n### errorCatcher cost (in-process, runApplication + discarding sink; best of ${rounds} alternating rounds of ${seconds} s)\n`);
console.log('| case | requests/s | ratio to its baseline |');
console.log('|---|---:|---:|');
for (const [label, rps, ratio] of rows) console.log(`| ${label} | ${Math.round(rps).toLocaleString('en')} | ${ratio.toFixed(2)} |`);
