/** Spawning the `stackware` command for tests. */
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { request } from 'node:http';
import { spawn } from 'node:child_process';
import { startProcess, type Peer } from '@stackware/testing';

export const here = dirname(fileURLToPath(import.meta.url));
export const root = join(here, '..', '..', '..');
export const bin = join(root, 'packages', 'cli', 'bin', 'stackware.js');
export const fixture = (name: string) => join(here, 'fixtures', name);

/**
 * Starts `stackware <args>` as a child process (cwd: repository root). The command runs compiled
 * dist/, as in production; Jest's globalSetup (scripts/build-if-stale.mjs) rebuilt any package
 * whose dist/ was older than its src/, so it is never stale.
 */
export function stackware(args: string[]): Peer {
  return startProcess(process.execPath, [bin, ...args], { cwd: root, env: { ...process.env, NODE_OPTIONS: '' } });
}

/** Runs `stackware <args>` to completion (bounded), returning its exit code and output. */
export function runStackware(args: string[], timeoutMs = 30_000, env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [bin, ...args], { cwd: root, env: { ...process.env, NODE_OPTIONS: '', ...env }, timeout: timeoutMs });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** The JSON log records in a process's output. */
export function records(output: string): Array<Record<string, unknown>> {
  const out: Array<Record<string, unknown>> = [];
  for (const line of output.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      out.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      /* a line cut by a concurrent write */
    }
  }
  return out;
}

/** Count of records with this `msg`. */
export const countMsg = (output: string, msg: string) => records(output).filter((r) => r.msg === msg).length;

/** Resolves when `predicate()` holds (polls every 50 ms); rejects with `what` and the output after `timeoutMs`. */
export async function until(predicate: () => boolean, timeoutMs: number, what: string, output?: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}${output ? `\n--- output ---\n${output().slice(-4000)}` : ''}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** One GET on a fresh connection (no keep-alive): status and body, or the error code. */
export function get(url: string, timeoutMs = 15_000): Promise<{ status: number; body: string } | { error: string }> {
  return new Promise((resolve) => {
    const req = request(url, { agent: false, headers: { Connection: 'close' }, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
      res.on('error', (error: NodeJS.ErrnoException) => resolve({ error: error.code ?? error.message }));
    });
    req.on('timeout', () => req.destroy(new Error('client timeout')));
    req.on('error', (error: NodeJS.ErrnoException) => resolve({ error: error.code ?? error.message }));
    req.end();
  });
}

/** Waits for a child process to exit; resolves with its exit code (or signal name). */
export function exited(peer: Peer, timeoutMs = 20_000): Promise<number | string> {
  const child = peer.process;
  if (child.exitCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`process did not exit in ${timeoutMs} ms\n${peer.output().slice(-3000)}`)), timeoutMs);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      resolve(code ?? signal ?? -1);
    });
  });
}
