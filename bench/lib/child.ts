/**
 * Server child processes for benchmarks: a benchmark file re-runs itself (or another script) with
 * `--serve <case> ...`; the child starts its server and prints its base URL as the first line of
 * stdout. The parent gets the URL, the child's pid, and readers for the child's resident memory
 * and CPU time from /proc (Linux), so figures come from the server process alone.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';

/** A running server child. */
export interface ServerChild {
  /** The URL the child printed (no trailing slash added or removed). */
  url: string;
  pid: number;
  process: ChildProcess;
  /** Resident set size now, in bytes (VmRSS in /proc/<pid>/status). */
  rssBytes(): number;
  /** User + system CPU time the process has used so far, in µs (/proc/<pid>/stat, 10 ms ticks). */
  cpuMicros(): number;
  /** SIGTERM, then SIGKILL after 10 s (a child writing its CPU profile at exit needs a moment); resolves when the process has exited. */
  stop(): Promise<void>;
}

/** Options of {@link startServerChild}. Defaults: `startTimeoutMs` 60000, `env` process.env, `loader` "source". */
export interface ServerChildOptions {
  /** Longest wait for the URL line, in ms [60000: tsx start-up on a loaded machine is slow]. */
  startTimeoutMs?: number;
  env?: NodeJS.ProcessEnv;
  /** Extra flags for node itself, before the script (e.g. `--cpu-prof`). */
  nodeArgs?: readonly string[];
  /**
   * How node loads the script: "source" [default] runs it and every @stackware package from their
   * TypeScript sources (`--conditions=source --import tsx`); "dist" runs the script through tsx but
   * the packages from their compiled dist/, as deployed (profiles then name dist/ lines); "none" is
   * plain `node script` (the `stackware` bin, which runs dist/ as users do).
   */
  loader?: 'source' | 'dist' | 'none';
  /**
   * The child's stdout goes to this file (a server whose stdout is its log: a file, as in
   * production, not a pipe this process must drain), and the URL is the first `"url":"..."` field
   * of a JSON line in it (the `stackware serve` start-up record) rather than the first line.
   */
  logFile?: string;
}

/**
 * Spawns `node [nodeArgs] --conditions=source --import tsx <script> ...args` (see `loader` for the
 * other ways) and waits for its first stdout line (the URL; with
 * `logFile`, its start-up record). The child's stderr goes to ours. Rejects, and kills the child,
 * when it exits or stays silent past `startTimeoutMs`.
 */
export async function startServerChild(script: string, args: string[], options: ServerChildOptions = {}): Promise<ServerChild> {
  const loader = { source: ['--conditions=source', '--import', 'tsx'], dist: ['--import', 'tsx'], none: [] }[options.loader ?? 'source'];
  const logFd = options.logFile === undefined ? undefined : openSync(options.logFile, 'a');
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), ...loader, script, ...args], {
    stdio: ['ignore', logFd ?? 'pipe', 'inherit'],
    env: options.env ?? process.env,
  });
  if (logFd !== undefined) closeSync(logFd);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  };
  try {
    const url = await new Promise<string>((resolve, reject) => {
      let out = '';
      let poll: NodeJS.Timeout | undefined;
      const timer = setTimeout(() => { clearInterval(poll); reject(new Error(`${args.join(' ')}: no URL on stdout after ${options.startTimeoutMs ?? 60_000} ms`)); }, options.startTimeoutMs ?? 60_000);
      if (options.logFile !== undefined) {
        const logFile = options.logFile;
        poll = setInterval(() => {
          const m = /"url":"(http:\/\/[^"]+)"/.exec(readFileSync(logFile, 'utf8'));
          if (m) { clearTimeout(timer); clearInterval(poll); resolve(m[1]!); }
        }, 50);
      } else {
        child.stdout!.on('data', (d: Buffer) => {
          out += d.toString();
          if (out.includes('\n')) { clearTimeout(timer); resolve(out.split('\n')[0]!.trim()); }
        });
      }
      child.once('exit', (code, signal) => { clearTimeout(timer); clearInterval(poll); reject(new Error(`${args.join(' ')}: server exited (${code ?? signal}) before printing its URL`)); });
    });
    child.stdout?.resume();
    const pid = child.pid!;
    return { url, pid, process: child, rssBytes: () => rssBytes(pid), cpuMicros: () => cpuMicros(pid), stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** VmRSS of a process, in bytes (0 when it is gone). */
export function rssBytes(pid: number): number {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** utime + stime of a process, in µs (clock ticks of 10 ms; 0 when it is gone). */
export function cpuMicros(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may contain spaces) start at field 3; utime/stime are 14/15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10_000;
  } catch {
    return 0;
  }
}

/** Prints the URL line a parent waits for (call once the server listens). */
export function announce(url: string): void {
  process.stdout.write(`${url}\n`);
}
