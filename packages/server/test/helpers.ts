/** Test helpers for the HTTP server tests: raw sockets, async curl, a capturing logger. */
import { connect } from 'node:net';
import { execFile } from 'node:child_process';
import { Writable } from 'node:stream';
import { createLogger, type Logger } from '../src/index.js';

/** Sends `data` on a fresh socket and collects everything until the server closes it (or `timeoutMs`, default 10 s). */
export function rawRequest(port: number, data: string | Buffer | Array<string | Buffer>, options: { timeoutMs?: number; gapMs?: number } = {}): Promise<{ text: string; closedByServer: boolean; elapsedMs: number }> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let finished = false;
    const done = (closedByServer: boolean) => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ text: Buffer.concat(chunks).toString('latin1'), closedByServer, elapsedMs: Date.now() - started });
    };
    const timer = setTimeout(() => done(false), options.timeoutMs ?? 10_000);
    socket.on('data', (d) => chunks.push(d));
    socket.on('end', () => done(true));
    socket.on('close', () => done(true));
    socket.on('error', (error: NodeJS.ErrnoException) => (error.code === 'ECONNRESET' ? done(true) : reject(error)));
    socket.on('connect', async () => {
      const parts = Array.isArray(data) ? data : [data];
      for (const part of parts) {
        if (finished) return;
        socket.write(part);
        if (options.gapMs) await new Promise((r) => setTimeout(r, options.gapMs));
      }
    });
  });
}

/** Runs curl asynchronously (the server under test lives in this process: never block the event loop). */
export function curl(args: string[], timeoutMs = 20_000): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('curl', ['--silent', '--show-error', '--max-time', String(timeoutMs / 1000), ...args], { encoding: 'latin1', maxBuffer: 64 * 1024 * 1024, timeout: timeoutMs + 2000 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr });
    });
  });
}

/** A pino logger whose records are collected as parsed objects. */
export function captureLogger(): { logger: Logger; records: Array<Record<string, unknown>> } {
  const records: Array<Record<string, unknown>> = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString().split('\n')) if (line.trim()) records.push(JSON.parse(line) as Record<string, unknown>);
      callback();
    },
  });
  return { logger: createLogger({ destination, pretty: false, level: 'debug' }), records };
}

/** Resolves when `predicate()` is true (polls every 20 ms), rejects after `timeoutMs`. */
export async function until(predicate: () => boolean, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
