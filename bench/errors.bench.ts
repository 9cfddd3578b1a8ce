/**
 * Exception-catcher benchmark: the cost of `errorCatcher` per request, measured in-process with the
 * servers' own response driver (`runApplication`) and a sink that discards bytes — so the figures
 * are the middleware's cost, not the socket's. Each case runs for a bounded time (2 s; `--quick`:
 * 0.2 s) and reports requests/s and the ratio against its baseline (the same app without catcher).
 */
import { createRequire } from 'node:module';
import { createEnviron, runApplication, type Application, type ResponseSink } from '../packages/gateway/src/index.js';
import { errorCatcher, type ErrorCatcherOptions } from '../packages/errors/src/index.js';

const quick = process.argv.includes('--quick');
const seconds = quick ? 0.2 : 2;
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

const rows: Array<[string, number, number]> = [];
const arrayBase = await rate(arrayApp);
rows.push(['array body, 1 KiB (baseline)', arrayBase, 1]);
const arrayCaught = await rate(errorCatcher(arrayApp, { logger: silent }));
rows.push(['array body, 1 KiB, errorCatcher', arrayCaught, arrayCaught / arrayBase]);
const streamBase = await rate(streamApp);
rows.push(['streamed body, 8 × 1 KiB (baseline)', streamBase, 1]);
const streamCaught = await rate(errorCatcher(streamApp, { logger: silent }));
rows.push(['streamed body, 8 × 1 KiB, errorCatcher', streamCaught, streamCaught / streamBase]);
const production = await rate(errorCatcher(failingApp, { logger: silent }));
rows.push(['thrown error → production page (report + log)', production, production / arrayBase]);
const debugPage = await rate(errorCatcher(failingApp, { logger: silent, debug: true }));
rows.push(['thrown error → debug page (HTML, source lines)', debugPage, debugPage / arrayBase]);

console.log(`\n### errorCatcher cost (in-process, runApplication + discarding sink, ${seconds} s per case)\n`);
console.log('| case | requests/s | ratio to its baseline |');
console.log('|---|---:|---:|');
for (const [label, rps, ratio] of rows) console.log(`| ${label} | ${Math.round(rps).toLocaleString('en')} | ${ratio.toFixed(2)} |`);
