import { mkdir, readdir, readFile, rename, writeFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { ErrorReport } from './report.js';
import { renderDebugHtml } from './render.js';

/** A saved report, as listed by {@link ReportStore.list}. */
export interface ReportSummary {
  id: string;
  time: string;
  status: number;
  method: string;
  url: string;
  /** "TypeError: boom". */
  title: string;
}

const ID_RE = /^[0-9a-f]{16}$/;

/**
 * Post-mortem reports (cgitb's `logdir`): each caught error is saved as `<id>.json` and a
 * self-contained `<id>.html` (the debug page) in one directory, readable by the owner only (0600).
 * Files are written atomically (temp file + rename); the oldest are removed beyond `maxReports`
 * (default 500).
 */
export class ReportStore {
  readonly dir: string;
  readonly maxReports: number;
  private writes = 0;

  constructor(dir: string, maxReports = 500) {
    this.dir = dir;
    this.maxReports = maxReports;
  }

  /** Saves a report (HTML + JSON). */
  async save(report: ErrorReport): Promise<void> {
    // Reports hold request data (redacted, but still addresses, URLs, environ): owner-only files.
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const base = join(this.dir, report.id);
    await writeFile(`${base}.html.tmp`, renderDebugHtml(report), { mode: 0o600 });
    await writeFile(`${base}.json.tmp`, JSON.stringify(report, null, 2), { mode: 0o600 });
    await rename(`${base}.html.tmp`, `${base}.html`);
    await rename(`${base}.json.tmp`, `${base}.json`);
    if (++this.writes % 20 === 0) await this.prune();
  }

  /** The saved reports, newest first. Unreadable files are skipped. */
  async list(): Promise<ReportSummary[]> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch {
      return [];
    }
    const out: ReportSummary[] = [];
    for (const name of names) {
      if (!name.endsWith('.json') || !ID_RE.test(name.slice(0, -5))) continue;
      try {
        const report = JSON.parse(await readFile(join(this.dir, name), 'utf8')) as ErrorReport;
        const first = report.errors[0];
        out.push({ id: report.id, time: report.time, status: report.status, method: report.request.method, url: report.request.url, title: first ? `${first.name}: ${first.message}` : '' });
      } catch {
        // a half-written or foreign file
      }
    }
    return out.sort((a, b) => (a.time < b.time ? 1 : a.time > b.time ? -1 : 0));
  }

  /** One saved file, or undefined when `id` is not a saved report id (ids are 16 hex digits: no path tricks). */
  async read(id: string, kind: 'html' | 'json'): Promise<Buffer | undefined> {
    if (!ID_RE.test(id)) return undefined;
    try {
      return await readFile(join(this.dir, `${id}.${kind}`));
    } catch {
      return undefined;
    }
  }

  private async prune(): Promise<void> {
    const reports = await this.list();
    for (const old of reports.slice(this.maxReports)) {
      await unlink(join(this.dir, `${old.id}.json`)).catch(() => {});
      await unlink(join(this.dir, `${old.id}.html`)).catch(() => {});
    }
  }
}
