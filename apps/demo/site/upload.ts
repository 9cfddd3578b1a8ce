/**
 * /upload — send one file (at most 5 MiB; busboy limits from `static formLimits`). The file is
 * copied into `<dataDir>/uploads/` under a generated name (never the client's name or path); the
 * POST is answered with 303 See Other back to /upload (redirect-after-post, as the guestbook), whose
 * GET shows the last upload's name, size, type and SHA-256 from the session. Reloading the result
 * does not send the file again.
 */
import { createHash, randomBytes } from 'node:crypto';
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { formatBytes } from '@stackware/gateway';
import { html, type FormLimits, type UploadedFile } from '@stackware/servlet';
import { dataDir } from '../lib/data-dir.js';
import { SitePage } from '../lib/layout.js';
import { MAX_UPLOAD_BYTES } from '../lib/limits.js';

/** The session key of the last upload's description. */
const LAST_UPLOAD = 'demo.lastUpload';

interface Stored { name: string; size: number; type: string; sha256: string; storedAs: string }

/** The last path segment of a client's file name, without control characters (for display only). */
function displayName(filename: string): string {
  return (filename.split(/[\\/]/).pop() ?? '').replace(/[\u0000-\u001f\u007f]/g, '').slice(0, 200) || '(no name)';
}

/** The upload page. */
export default class Upload extends SitePage {
  static override formLimits: Partial<FormLimits> = { maxFileBytes: MAX_UPLOAD_BYTES, maxFiles: 1, maxFields: 10, maxBodyBytes: MAX_UPLOAD_BYTES + 64 * 1024 };
  private stored: Stored | undefined;
  private problem: string | undefined;

  override title(): string {
    return 'Upload a file';
  }

  override navPath(): string {
    return '/upload';
  }

  override async respondToPost(): Promise<void> {
    this.stored = undefined;
    this.problem = undefined;
    const file = this.request.file('file');
    if (!file || (file.size === 0 && !file.filename)) {
      this.problem = 'Please choose a file to upload.';
      this.response.setStatus(422, 'Unprocessable Content');
      await this.writeHTML();
      return;
    }
    const session = await this.session();
    session.set(LAST_UPLOAD, await this.store(file));
    session.flash('Uploaded and stored.', 'upload');
    this.sendRedirectAndEnd('/upload', 303);
  }

  override async respondToGet(): Promise<void> {
    this.problem = undefined;
    this.stored = (await this.session()).get(LAST_UPLOAD) as Stored | undefined;
    await this.writeHTML();
  }

  private async store(file: UploadedFile): Promise<Stored> {
    const dir = join(dataDir(this.request.environ), 'uploads');
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const hash = createHash('sha256');
    await pipeline(file.stream(), hash);
    const storedAs = `${new Date().toISOString().slice(0, 10)}-${randomBytes(8).toString('hex')}`;
    await copyFile(file.path, join(dir, `${storedAs}.bin`));
    const stored: Stored = { name: displayName(file.filename), size: file.size, type: file.mimeType || 'application/octet-stream', sha256: hash.digest('hex'), storedAs };
    await writeFile(join(dir, `${storedAs}.json`), JSON.stringify({ ...stored, at: new Date().toISOString() }));
    return stored;
  }

  override async writeContent(): Promise<void> {
    const s = this.stored;
    const flashes = (await this.session()).consumeFlashes(['upload']);
    await this.writeln(html`${s
      ? html`<div class="card result">
  ${flashes.map((f) => html`<p class="flash">${f.message}</p>`)}
  <h2>Your last upload</h2>
  <dl>
    <dt>Name</dt><dd id="file-name">${s.name}</dd>
    <dt>Size</dt><dd id="file-size">${formatBytes(s.size)} (${s.size.toLocaleString('en')} bytes)</dd>
    <dt>Type</dt><dd id="file-type">${s.type}</dd>
    <dt>SHA-256</dt><dd id="file-sha256"><code>${s.sha256}</code></dd>
    <dt>Stored as</dt><dd><code>uploads/${s.storedAs}.bin</code></dd>
  </dl>
</div>`
      : ''}
<form method="post" enctype="multipart/form-data" class="card">
  <label for="file">File (at most ${formatBytes(MAX_UPLOAD_BYTES)})</label>
  <input id="file" type="file" name="file"${this.problem ? html` aria-invalid="true" aria-describedby="file-error"` : ''}>
  ${this.problem ? html`<p class="error" id="file-error">${this.problem}</p>` : ''}
  <button type="submit">Upload</button>
</form>
<p class="note">The file is parsed by busboy while it arrives (never held in memory), kept under a generated name in the data directory,
and the temporary copy is removed when the request ends. Larger files are refused with 413.</p>`);
  }
}
