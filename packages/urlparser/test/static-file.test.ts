import { describe, it, expect, beforeAll, afterAll } from '@jest/globals';
import { join } from 'node:path';
import { stat } from 'node:fs/promises';
import { TestClient, fileWrapper, type FileWrapperOptions } from '@stackware/gateway';
import { staticFile, contentTypeFor } from '../src/index.js';
import { makeSite, MTIME, NUMBERS, type Site } from './fixture.js';

let site: Site;
let client: TestClient;
let etagOf: string;
const lastModified = MTIME.toUTCString();

beforeAll(async () => {
  site = await makeSite();
  client = new TestClient(staticFile(join(site.root, 'numbers.txt')));
  etagOf = (await client.head('/')).header('ETag')!;
});
afterAll(() => site.cleanup());

describe('staticFile: plain requests', () => {
  it('answers GET with the bytes, length, type with charset, strong ETag, Last-Modified, Accept-Ranges', async () => {
    const res = await client.get('/');
    expect(res.status).toBe('200 OK');
    expect(res.body.equals(NUMBERS)).toBe(true);
    expect(res.header('Content-Length')).toBe('1000');
    expect(res.header('Content-Type')).toBe('text/plain; charset=utf-8');
    expect(res.header('ETag')).toMatch(/^"[0-9a-f]+-[0-9a-f]+"$/);
    expect(res.header('Last-Modified')).toBe(lastModified);
    expect(res.header('Accept-Ranges')).toBe('bytes');
    expect(res.header('Cache-Control')).toBeUndefined();
  });

  it('answers HEAD with the same headers and no body', async () => {
    const [get, head] = [await client.get('/'), await client.head('/')];
    expect(head.statusCode).toBe(200);
    expect(head.body.length).toBe(0);
    expect(head.headers).toEqual(get.headers);
  });

  it('refuses other methods with 405 and Allow', async () => {
    const res = await client.post('/', { body: 'x' });
    expect(res.statusCode).toBe(405);
    expect(res.header('Allow')).toBe('GET, HEAD');
  });

  it('sends the cacheControl option and extra headers', async () => {
    const c = new TestClient(staticFile(join(site.root, 'hello.txt'), { cacheControl: 'public, max-age=60', headers: [['X-Extra', '1']] }));
    const res = await c.get('/');
    expect(res.header('Cache-Control')).toBe('public, max-age=60');
    expect(res.header('X-Extra')).toBe('1');
    const cached = await c.get('/', { headers: { 'If-None-Match': res.header('ETag')! } });
    expect(cached.statusCode).toBe(304);
    expect(cached.header('Cache-Control')).toBe('public, max-age=60');
  });

  it('can leave out ETag, Last-Modified and ranges', async () => {
    const c = new TestClient(staticFile(join(site.root, 'numbers.txt'), { etag: false, lastModified: false, ranges: false }));
    const res = await c.get('/', { headers: { Range: 'bytes=0-1' } });
    expect(res.statusCode).toBe(200);
    expect(res.header('ETag')).toBeUndefined();
    expect(res.header('Last-Modified')).toBeUndefined();
    expect(res.header('Accept-Ranges')).toBeUndefined();
  });

  it('serves an empty file as 200 with Content-Length 0', async () => {
    const res = await new TestClient(staticFile(join(site.root, 'empty.txt'))).get('/');
    expect(res.statusCode).toBe(200);
    expect(res.header('Content-Length')).toBe('0');
    expect(res.body.length).toBe(0);
  });

  it('answers 404 for a missing file and for a directory', async () => {
    expect((await new TestClient(staticFile(join(site.root, 'nope.txt'))).get('/')).statusCode).toBe(404);
    expect((await new TestClient(staticFile(join(site.root, 'docs'))).get('/')).statusCode).toBe(404);
  });

  it('sends the body through environ["stackware.file_wrapper"] with offset and length', async () => {
    const calls: Array<[string | number, FileWrapperOptions | undefined]> = [];
    const spy = (file: string | number, options?: FileWrapperOptions) => {
      calls.push([file, options]);
      return fileWrapper(file, options);
    };
    const res = await client.get('/', { environ: { 'stackware.file_wrapper': spy }, headers: { Range: 'bytes=10-19' } });
    expect(res.text()).toBe('0123456789');
    expect(calls).toEqual([[join(site.root, 'numbers.txt'), { offset: 10, length: 10 }]]);
  });
});

describe('staticFile: content types', () => {
  it.each([
    ['a.html', 'text/html; charset=utf-8'],
    ['a.css', 'text/css; charset=utf-8'],
    ['a.js', 'text/javascript; charset=utf-8'],
    ['a.json', 'application/json; charset=utf-8'],
    ['a.png', 'image/png'],
    ['a.unknownext', 'application/octet-stream'],
    ['noextension', 'application/octet-stream'],
  ])('%s → %s', (name, type) => {
    expect(contentTypeFor(name)).toBe(type);
  });

  it('takes extra mappings, adding charset to text types', () => {
    expect(contentTypeFor('a.gmi', { '.gmi': 'text/gemini' })).toBe('text/gemini; charset=utf-8');
    expect(contentTypeFor('a.bin', { bin: 'application/x-thing' })).toBe('application/x-thing');
  });
});

describe('staticFile: conditional requests (RFC 9110 §13)', () => {
  it('If-None-Match with the ETag → 304 with validators and no body', async () => {
    const res = await client.get('/', { headers: { 'If-None-Match': etagOf } });
    expect(res.status).toBe('304 Not Modified');
    expect(res.body.length).toBe(0);
    expect(res.header('ETag')).toBe(etagOf);
    expect(res.header('Last-Modified')).toBe(lastModified);
    expect(res.header('Content-Length')).toBeUndefined();
  });

  it('If-None-Match uses weak comparison, lists and *', async () => {
    expect((await client.get('/', { headers: { 'If-None-Match': `W/${etagOf}` } })).statusCode).toBe(304);
    expect((await client.get('/', { headers: { 'If-None-Match': `"other", ${etagOf}` } })).statusCode).toBe(304);
    expect((await client.get('/', { headers: { 'If-None-Match': '*' } })).statusCode).toBe(304);
    expect((await client.get('/', { headers: { 'If-None-Match': '"other"' } })).statusCode).toBe(200);
  });

  it('HEAD gets 304 too', async () => {
    expect((await client.head('/', { headers: { 'If-None-Match': etagOf } })).statusCode).toBe(304);
  });

  it('If-Modified-Since: 304 when not modified since, 200 when older or invalid', async () => {
    expect((await client.get('/', { headers: { 'If-Modified-Since': lastModified } })).statusCode).toBe(304);
    expect((await client.get('/', { headers: { 'If-Modified-Since': new Date(MTIME.getTime() + 60_000).toUTCString() } })).statusCode).toBe(304);
    expect((await client.get('/', { headers: { 'If-Modified-Since': new Date(MTIME.getTime() - 1000).toUTCString() } })).statusCode).toBe(200);
    expect((await client.get('/', { headers: { 'If-Modified-Since': 'not a date' } })).statusCode).toBe(200);
  });

  it('If-None-Match takes precedence over If-Modified-Since', async () => {
    const res = await client.get('/', { headers: { 'If-None-Match': '"other"', 'If-Modified-Since': lastModified } });
    expect(res.statusCode).toBe(200);
  });

  it('If-Match: 412 unless it matches strongly or is *', async () => {
    expect((await client.get('/', { headers: { 'If-Match': '"other"' } })).statusCode).toBe(412);
    expect((await client.get('/', { headers: { 'If-Match': `W/${etagOf}` } })).statusCode).toBe(412);
    expect((await client.get('/', { headers: { 'If-Match': etagOf } })).statusCode).toBe(200);
    expect((await client.get('/', { headers: { 'If-Match': `"a", ${etagOf}` } })).statusCode).toBe(200);
    expect((await client.get('/', { headers: { 'If-Match': '*' } })).statusCode).toBe(200);
  });

  it('If-Unmodified-Since: 412 when modified after it, ignored when If-Match is present', async () => {
    const before = new Date(MTIME.getTime() - 1000).toUTCString();
    expect((await client.get('/', { headers: { 'If-Unmodified-Since': before } })).statusCode).toBe(412);
    expect((await client.get('/', { headers: { 'If-Unmodified-Since': lastModified } })).statusCode).toBe(200);
    expect((await client.get('/', { headers: { 'If-Unmodified-Since': 'garbage' } })).statusCode).toBe(200);
    expect((await client.get('/', { headers: { 'If-Unmodified-Since': before, 'If-Match': etagOf } })).statusCode).toBe(200);
  });

  it('a precondition failure wins over Range', async () => {
    expect((await client.get('/', { headers: { 'If-Match': '"x"', Range: 'bytes=0-1' } })).statusCode).toBe(412);
    expect((await client.get('/', { headers: { 'If-None-Match': etagOf, Range: 'bytes=0-1' } })).statusCode).toBe(304);
  });

  it('follows the file: a changed file gets a new ETag', async () => {
    const c = new TestClient(staticFile(join(site.root, 'hello.txt')));
    const first = (await c.get('/')).header('ETag');
    const { utimes } = await import('node:fs/promises');
    await utimes(join(site.root, 'hello.txt'), new Date('2025-01-01T00:00:00Z'), new Date('2025-01-01T00:00:00Z'));
    const second = await c.get('/', { headers: { 'If-None-Match': first! } });
    expect(second.statusCode).toBe(200);
    expect(second.header('ETag')).not.toBe(first);
    await utimes(join(site.root, 'hello.txt'), MTIME, MTIME);
  });
});

function parseMultipart(body: Buffer, boundary: string): Array<{ headers: Record<string, string>; data: string }> {
  const text = body.toString('latin1');
  expect(text.startsWith(`\r\n--${boundary}\r\n`)).toBe(true);
  expect(text.endsWith(`\r\n--${boundary}--\r\n`)).toBe(true);
  const inner = text.slice(0, -`\r\n--${boundary}--\r\n`.length);
  return inner.split(`\r\n--${boundary}\r\n`).slice(1).map((part) => {
    const split = part.indexOf('\r\n\r\n');
    const headers = Object.fromEntries(part.slice(0, split).split('\r\n').map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
    return { headers, data: part.slice(split + 4) };
  });
}

describe('staticFile: byte ranges (RFC 9110 §14)', () => {
  it.each([
    ['bytes=0-4', 0, 4],
    ['bytes=10-19', 10, 19],
    ['bytes=-5', 995, 999],
    ['bytes=990-', 990, 999],
    ['bytes=995-5000', 995, 999],
    ['bytes=0-0', 0, 0],
  ])('%s → 206 with Content-Range', async (range, start, end) => {
    const res = await client.get('/', { headers: { Range: range } });
    expect(res.status).toBe('206 Partial Content');
    expect(res.header('Content-Range')).toBe(`bytes ${start}-${end}/1000`);
    expect(res.header('Content-Length')).toBe(String(end - start + 1));
    expect(res.header('Content-Type')).toBe('text/plain; charset=utf-8');
    expect(res.body.equals(NUMBERS.subarray(start, end + 1))).toBe(true);
  });

  it('HEAD with Range gets the 206 headers and no body', async () => {
    const res = await client.head('/', { headers: { Range: 'bytes=0-4' } });
    expect(res.statusCode).toBe(206);
    expect(res.header('Content-Range')).toBe('bytes 0-4/1000');
    expect(res.body.length).toBe(0);
  });

  it('several ranges → multipart/byteranges with an exact Content-Length', async () => {
    const res = await client.get('/', { headers: { Range: 'bytes=0-2, 10-12, -3' } });
    expect(res.statusCode).toBe(206);
    const boundary = /^multipart\/byteranges; boundary=(.+)$/.exec(res.header('Content-Type')!)![1]!;
    expect(res.header('Content-Length')).toBe(String(res.body.length));
    const parts = parseMultipart(res.body, boundary);
    expect(parts.map((p) => [p.headers['content-range'], p.headers['content-type'], p.data])).toEqual([
      ['bytes 0-2/1000', 'text/plain; charset=utf-8', '012'],
      ['bytes 10-12/1000', 'text/plain; charset=utf-8', '012'],
      ['bytes 997-999/1000', 'text/plain; charset=utf-8', NUMBERS.subarray(997).toString('latin1')],
    ]);
  });

  it('overlapping ranges are merged (one 206 part)', async () => {
    const res = await client.get('/', { headers: { Range: 'bytes=0-5,3-9' } });
    expect(res.header('Content-Range')).toBe('bytes 0-9/1000');
    expect(res.text()).toBe('0123456789');
  });

  it('unsatisfiable → 416 with Content-Range bytes */size', async () => {
    for (const range of ['bytes=1000-', 'bytes=5000-6000', 'bytes=1000-1001,2000-']) {
      const res = await client.get('/', { headers: { Range: range } });
      expect([range, res.statusCode, res.header('Content-Range')]).toEqual([range, 416, 'bytes */1000']);
    }
  });

  it('malformed or non-bytes ranges are ignored (200, whole file)', async () => {
    for (const range of ['bytes=abc', 'bytes', 'items=0-5', 'bytes=--1', '']) {
      const res = await client.get('/', { headers: { Range: range } });
      expect([range, res.statusCode, res.body.length]).toEqual([range, 200, 1000]);
    }
  });

  it('a reversed range (last < first) is rejected with 416, as nginx does (RFC 9110 §14.2 allows ignore or reject)', async () => {
    expect((await client.get('/', { headers: { Range: 'bytes=5-2' } })).statusCode).toBe(416);
  });

  it('more ranges than maxRanges are ignored (200)', async () => {
    const c = new TestClient(staticFile(join(site.root, 'numbers.txt'), { maxRanges: 2 }));
    expect((await c.get('/', { headers: { Range: 'bytes=0-1,5-6' } })).statusCode).toBe(206);
    expect((await c.get('/', { headers: { Range: 'bytes=0-1,5-6,10-11' } })).statusCode).toBe(200);
  });

  it('a range on an empty file is unsatisfiable', async () => {
    const res = await new TestClient(staticFile(join(site.root, 'empty.txt'))).get('/', { headers: { Range: 'bytes=0-' } });
    expect(res.statusCode).toBe(416);
    expect(res.header('Content-Range')).toBe('bytes */0');
  });

  it('If-Range: the range applies only when the strong ETag or the exact date matches', async () => {
    const range = { Range: 'bytes=0-4' };
    expect((await client.get('/', { headers: { ...range, 'If-Range': etagOf } })).statusCode).toBe(206);
    expect((await client.get('/', { headers: { ...range, 'If-Range': '"stale"' } })).statusCode).toBe(200);
    expect((await client.get('/', { headers: { ...range, 'If-Range': `W/${etagOf}` } })).statusCode).toBe(200);
    expect((await client.get('/', { headers: { ...range, 'If-Range': lastModified } })).statusCode).toBe(206);
    expect((await client.get('/', { headers: { ...range, 'If-Range': new Date(MTIME.getTime() + 1000).toUTCString() } })).statusCode).toBe(200);
    expect((await client.get('/', { headers: { ...range, 'If-Range': 'nonsense' } })).statusCode).toBe(200);
  });

  it('the ETag is stable and comes from size and mtime', async () => {
    const info = await stat(join(site.root, 'numbers.txt'));
    expect(etagOf).toBe(`"${info.size.toString(16)}-${info.mtime.getTime().toString(16)}"`);
  });
});
