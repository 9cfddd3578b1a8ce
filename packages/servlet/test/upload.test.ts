import { describe, it, expect, beforeAll, afterAll } from '@jest/globals';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { TestClient } from '@stackware/gateway';
import { startProcess, type Peer } from '@stackware/testing';
import { HTTPServlet, servletApp, type Transaction } from '../src/index.js';
import { UploadServlet } from './fixtures/upload-servlet.js';
import { postMultipart } from './fixtures/multipart-client.js';

const REPO = resolve(import.meta.dirname, '../../..');
const MiB = 1024 * 1024;

describe('multipart uploads over the real HTTP server', () => {
  let peer: Peer;
  let url: string;
  let uploadDir: string;

  /** Starts the upload server (a fresh process: memory measurements start from a clean slate). */
  async function startUploadServer(): Promise<{ peer: Peer; url: string }> {
    const started = startProcess(process.execPath, ['--expose-gc', '--conditions=source', '--import', 'tsx', 'packages/servlet/test/fixtures/upload-server.ts'], {
      cwd: REPO,
      env: { ...process.env, UPLOAD_TMP: uploadDir, NODE_OPTIONS: '' },
    });
    const deadline = Date.now() + 60_000;
    while (!started.output().includes('"url"')) {
      if (started.process.exitCode !== null || Date.now() > deadline) throw new Error(`upload server did not start:\n${started.output()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    return { peer: started, url: (JSON.parse(started.output().split('\n').find((l) => l.includes('"url"'))!) as { url: string }).url };
  }

  beforeAll(async () => {
    uploadDir = await mkdtemp(join(tmpdir(), 'servlet-uploads-'));
    ({ peer, url } = await startUploadServer());
  }, 90_000);

  afterAll(async () => {
    if (process.env.SHOW_PEER) console.log(peer?.output());
    await peer?.stop();
    if (uploadDir) await rm(uploadDir, { recursive: true, force: true });
  });

  it('receives fields and files, streamed to temp files that are gone after the request', async () => {
    const res = await postMultipart(`${url}/`, [['title', 'Holiday'], ['tag', 'a'], ['tag', 'b']], [
      { name: 'photo', filename: 'été.jpg', size: 300_000, type: 'image/jpeg' },
      { name: 'doc', filename: 'notes.txt', size: 10, type: 'text/plain' },
    ]);
    expect(res.status).toBe(200);
    const data = JSON.parse(res.body) as { fields: unknown; files: Array<Record<string, unknown>> };
    expect(data.fields).toEqual({ title: 'Holiday', tag: ['a', 'b'] });
    expect(data.files.map((f) => [f.field, f.filename, f.mimeType, f.size, f.sha256, f.existed])).toEqual([
      ['photo', 'été.jpg', 'image/jpeg', 300_000, res.sha256[0], true],
      ['doc', 'notes.txt', 'text/plain', 10, res.sha256[1], true],
    ]);
    expect(String(data.files[0]!.path).startsWith(uploadDir)).toBe(true);
    expect(await readdir(uploadDir)).toEqual([]);
  });

  it('takes a 50 MB file with flat memory (server RSS growth far below the file size)', async () => {
    await postMultipart(`${url}/`, [], [{ name: 'warm', filename: 'warm.bin', size: 2 * MiB }]);
    await fetch(`${url}/memory?reset`);
    const size = 50 * 1000 * 1000;
    const res = await postMultipart(`${url}/`, [['kind', 'big']], [{ name: 'big', filename: 'big.bin', size }]);
    expect(res.status).toBe(200);
    const data = JSON.parse(res.body) as { files: Array<{ size: number; sha256: string }> };
    expect(data.files[0]!.size).toBe(size);
    expect(data.files[0]!.sha256).toBe(res.sha256[0]);
    const memory = (await (await fetch(`${url}/memory`)).json()) as { growth: number };
    expect(await readdir(uploadDir)).toEqual([]);

    // The control: the same upload held in memory by an application that reads the whole body,
    // in a fresh server process of its own (in the same process it would reuse the pages the
    // streamed upload freed, and show less than it costs).
    const controlServer = await startUploadServer();
    let control: { growth: number };
    try {
      const controlUrl = controlServer.url;
      await postMultipart(`${controlUrl}/`, [], [{ name: 'warm', filename: 'warm.bin', size: 2 * MiB }]);
      await fetch(`${controlUrl}/memory?reset`);
      const buffered = await postMultipart(`${controlUrl}/buffered`, [['kind', 'big']], [{ name: 'big', filename: 'big.bin', size }]);
      expect(buffered.status).toBe(200);
      control = (await (await fetch(`${controlUrl}/memory`)).json()) as { growth: number };
    } finally {
      await controlServer.peer.stop();
    }
    process.stdout.write(`servlet upload of 50 MB: RSS growth ${(memory.growth / MiB).toFixed(1)} MiB (control, body held in memory: ${(control.growth / MiB).toFixed(1)} MiB)\n`);
    // Holding the file costs at least its size; streaming stays within a few buffers.
    expect(control.growth).toBeGreaterThan(35 * MiB);
    expect(memory.growth).toBeLessThan(20 * MiB);
  }, 120_000);

  it('answers 413 for a file over maxFileBytes and removes the partial temp file', async () => {
    const res = await postMultipart(`${url}/small`, [['a', '1']], [{ name: 'f', filename: 'big.bin', size: 3 * MiB }]);
    expect(res.status).toBe(413);
    expect(res.body).toContain('larger than maxFileBytes (1 MiB)');
    expect(await readdir(uploadDir)).toEqual([]);
    // The server is still fine afterwards.
    const ok = await postMultipart(`${url}/small`, [], [{ name: 'f', filename: 'ok.bin', size: 1000 }]);
    expect(ok.status).toBe(200);
  }, 60_000);

  it('answers 413 for too many files and for a body over maxBodyBytes (declared)', async () => {
    const files = [1, 2, 3, 4].map((i) => ({ name: `f${i}`, filename: `${i}.bin`, size: 100 }));
    const many = await postMultipart(`${url}/`, [], files);
    expect(many.status).toBe(413);
    expect(many.body).toContain('more than maxFiles (3) files');
    const huge = await postMultipart(`${url}/`, [], [{ name: 'f', filename: 'huge.bin', size: 81 * MiB }]);
    expect(huge.status).toBe(413);
    expect(huge.body).toContain('larger than maxBodyBytes');
    expect(await readdir(uploadDir)).toEqual([]);
  }, 60_000);
});

describe('form parsing (in process)', () => {
  const client = new TestClient(servletApp(UploadServlet));

  it('skips empty file inputs and keeps text fields', async () => {
    const form = new FormData();
    form.append('title', 'x');
    form.append('empty', new File([], ''));
    form.append('doc', new File(['hello'], 'h.txt', { type: 'text/plain' }));
    const data = (await client.post('/', { formData: form })).json<{ fields: unknown; files: Array<{ field: string; size: number }> }>();
    expect(data.fields).toEqual({ title: 'x' });
    expect(data.files.map((f) => [f.field, f.size])).toEqual([['doc', 5]]);
  });

  it('answers 413 for too many fields and for a field over maxFieldBytes', async () => {
    const many = new FormData();
    for (let i = 0; i < 6; i++) many.append(`f${i}`, 'v');
    const res = await client.post('/', { formData: many });
    expect(res.statusCode).toBe(413);
    expect(res.text()).toContain('more than maxFields (5) fields');
    const long = await client.post('/', { form: { note: 'x'.repeat(2000) } });
    expect(long.statusCode).toBe(413);
    expect(long.text()).toContain('The form field &quot;note&quot; is larger than maxFieldBytes (1 KiB)');
  });

  it('counts a body without Content-Length (chunked) against maxBodyBytes', async () => {
    class Tiny extends UploadServlet {
      static override formLimits = { ...UploadServlet.formLimits, maxBodyBytes: 4096 };
    }
    let produced = 0;
    async function* body() {
      yield Buffer.from('--b\r\nContent-Disposition: form-data; name="f"; filename="x.bin"\r\n\r\n');
      for (let i = 0; i < 1000; i++) {
        produced++;
        yield Buffer.alloc(1024, 'x');
      }
      yield Buffer.from('\r\n--b--\r\n');
    }
    const res = await new TestClient(servletApp(Tiny)).post('/', { body: body(), headers: { 'Content-Type': 'multipart/form-data; boundary=b' } });
    expect(res.statusCode).toBe(413);
    expect(res.text()).toContain('The request body is larger than maxBodyBytes (4 KiB)');
    expect(produced).toBeLessThan(10); // reading stopped at the limit
  });

  it('takes servletApp (deploy) limits over the class\'s static formLimits', async () => {
    const roomy = new TestClient(servletApp(UploadServlet, { formLimits: { maxFieldBytes: 4096 } }));
    expect((await roomy.post('/', { form: { note: 'x'.repeat(2000) } })).statusCode).toBe(200);
  });

  it('answers 400 for a malformed multipart body or a missing boundary', async () => {
    const truncated = await client.post('/', {
      body: '--b\r\nContent-Disposition: form-data; name="a"\r\n\r\nvalue-without-end',
      headers: { 'Content-Type': 'multipart/form-data; boundary=b' },
    });
    expect(truncated.statusCode).toBe(400);
    const noBoundary = await client.post('/', { body: 'x', headers: { 'Content-Type': 'multipart/form-data' } });
    expect(noBoundary.statusCode).toBe(400);
    expect(noBoundary.text()).toContain('cannot be parsed as a form');
  });

  it('removes temp files even when the servlet throws', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'servlet-throw-'));
    try {
      let seenPath = '';
      class Throws extends HTTPServlet {
        respondToPost(t: Transaction) {
          seenPath = t.request.file('doc')!.path;
          throw new Error('after upload');
        }
      }
      const form = new FormData();
      form.append('doc', new File(['data'], 'd.bin'));
      await expect(new TestClient(servletApp(Throws, { tempDir: dir })).post('/', { formData: form })).rejects.toThrow('after upload');
      expect(seenPath.startsWith(dir)).toBe(true);
      expect(await readdir(dir)).toEqual([]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
