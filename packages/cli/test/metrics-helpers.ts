/** Shared by the metrics tests: a strict reader of the Prometheus text exposition, and HTTP helpers. */
import { request } from 'node:http';

/** One sample line: name, labels, value. */
export interface Sample { name: string; labels: Record<string, string>; value: number }

const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
const LABEL = '[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\\\\n]|\\\\[\\\\"n])*"';
const SAMPLE = new RegExp(`^(${NAME})(?:\\{((?:${LABEL})(?:,${LABEL})*,?)?\\})? (-?(?:\\d+(?:\\.\\d*)?(?:[eE][-+]?\\d+)?|\\.\\d+|NaN|\\+Inf|-Inf))(?: -?\\d+)?$`);

/**
 * Parses Prometheus text exposition 0.0.4 strictly: every line is blank, `# HELP name text`,
 * `# TYPE name counter|gauge|histogram|summary|untyped`, or a sample of a declared family.
 * @throws Error naming the first line that is none of these.
 */
export function parseExposition(text: string): Sample[] {
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  text.split('\n').forEach((line, i) => {
    if (line === '') return;
    const help = new RegExp(`^# HELP (${NAME}) .*$`).exec(line);
    if (help) return;
    const type = new RegExp(`^# TYPE (${NAME}) (counter|gauge|histogram|summary|untyped)$`).exec(line);
    if (type) {
      if (types.has(type[1]!)) throw new Error(`line ${i + 1}: a second TYPE for ${type[1]}`);
      types.set(type[1]!, type[2]!);
      return;
    }
    const match = SAMPLE.exec(line);
    if (!match) throw new Error(`line ${i + 1} is not valid exposition: ${JSON.stringify(line)}`);
    const name = match[1]!;
    const family = name.replace(/_(bucket|sum|count)$/, '');
    if (!types.has(name) && !types.has(family)) throw new Error(`line ${i + 1}: sample ${name} has no TYPE line`);
    const labels: Record<string, string> = {};
    for (const pair of (match[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[pair[1]!] = pair[2]!;
    samples.push({ name, labels, value: Number(match[3]) });
  });
  return samples;
}

/** The sum of the samples named `name` whose labels include `where`. */
export function total(samples: Sample[], name: string, where: Record<string, string> = {}): number {
  return samples.filter((s) => s.name === name && Object.entries(where).every(([k, v]) => s.labels[k] === v)).reduce((sum, s) => sum + s.value, 0);
}

/** One request on a fresh connection: status, headers and body (or the error code as status 0). */
export function fetchText(url: string, options: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve) => {
    const req = request(url, { method: options.method ?? 'GET', agent: false, headers: { Connection: 'close', ...options.headers }, timeout: 15_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
      res.on('error', (error: NodeJS.ErrnoException) => resolve({ status: 0, headers: {}, body: error.code ?? error.message }));
    });
    req.on('timeout', () => req.destroy(new Error('client timeout')));
    req.on('error', (error: NodeJS.ErrnoException) => resolve({ status: 0, headers: {}, body: error.code ?? error.message }));
    req.end(options.body);
  });
}

/** Polls `probe` every 100 ms until it returns a value that is not undefined; rejects with `what` after `timeoutMs`. */
export async function waitFor<T>(probe: () => Promise<T | undefined>, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
