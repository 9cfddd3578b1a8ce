/**
 * Differential test: one fixture tree served by urlParser (through @stackware/server) and by real
 * nginx (`root` + `try_files`), the same requests sent to both over real sockets; status codes and
 * bodies must agree, except for the intended differences listed in DIFFERENCES (also in README.md).
 */
import { describe, it, expect, beforeAll, afterAll } from '@jest/globals';
import { request } from 'node:http';
import { serve, type HttpServer } from '@stackware/server';
import { startNginx, type NginxPeer } from '@stackware/testing';
import { urlParser } from '../src/index.js';
import { makeSite, NUMBERS, type Site } from './fixture.js';

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

function send(port: number, method: string, target: string, headers: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path: target, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.setTimeout(10_000, () => req.destroy(new Error(`timeout: ${method} ${target}`)));
    req.on('error', reject);
    req.end();
  });
}

/** What each server says about a file, for building its conditional requests. */
interface Validators {
  etag: string;
  lastModified: string;
}

interface Case {
  name: string;
  method?: string;
  target: string;
  headers?: (v: Validators) => Record<string, string>;
  /** The file whose validators `headers` uses (default: the target). */
  validatorsOf?: string;
}

const old = 'Mon, 01 Jan 2001 00:00:00 GMT';
const future = 'Fri, 01 Jan 2100 00:00:00 GMT';

const CASES: Case[] = [
  // plain
  { name: 'text file', target: '/hello.txt' },
  { name: 'bigger text file', target: '/numbers.txt' },
  { name: 'empty file', target: '/empty.txt' },
  { name: 'html', target: '/page.html' },
  { name: 'css', target: '/style.css' },
  { name: 'json', target: '/data.json' },
  { name: 'png', target: '/image.png' },
  { name: 'root index', target: '/' },
  { name: 'directory index', target: '/docs/' },
  { name: 'nested file', target: '/docs/deeper/leaf.txt' },
  { name: 'extension-less .html', target: '/about' },
  { name: 'percent-encoded name', target: '/odd/%3Cb%3E%26%22quote%22.txt' },
  { name: 'missing file', target: '/missing.txt' },
  { name: 'missing directory file', target: '/docs/missing.txt' },
  { name: 'directory without index', target: '/noindex/' },
  { name: 'query string ignored', target: '/hello.txt?x=1' },
  { name: 'symlink inside the root', target: '/link-in.txt' },
  // HEAD
  { name: 'HEAD', method: 'HEAD', target: '/numbers.txt' },
  { name: 'HEAD missing', method: 'HEAD', target: '/missing.txt' },
  { name: 'POST to a static file', method: 'POST', target: '/hello.txt' },
  { name: 'HEAD with Range', method: 'HEAD', target: '/numbers.txt', headers: () => ({ Range: 'bytes=0-9' }) },
  { name: 'double slash', target: '//hello.txt' },
  { name: 'double slash inside', target: '/docs//guide.txt' },
  { name: 'trailing slash on a file', target: '/hello.txt/' },
  { name: 'wrong case', target: '/HELLO.TXT' },
  { name: 'exact name of an extension-less page', target: '/about.html' },
  { name: 'extension-less page with a slash', target: '/about/' },
  // conditional
  { name: 'If-None-Match own ETag', target: '/numbers.txt', headers: (v) => ({ 'If-None-Match': v.etag }) },
  { name: 'If-None-Match other', target: '/numbers.txt', headers: () => ({ 'If-None-Match': '"nope"' }) },
  { name: 'If-None-Match *', target: '/numbers.txt', headers: () => ({ 'If-None-Match': '*' }) },
  { name: 'If-None-Match weak form of own ETag', target: '/numbers.txt', headers: (v) => ({ 'If-None-Match': `W/${v.etag}` }) },
  { name: 'If-None-Match list', target: '/numbers.txt', headers: (v) => ({ 'If-None-Match': `"a", ${v.etag}` }) },
  { name: 'HEAD If-None-Match', method: 'HEAD', target: '/numbers.txt', headers: (v) => ({ 'If-None-Match': v.etag }) },
  { name: 'If-Modified-Since Last-Modified', target: '/numbers.txt', headers: (v) => ({ 'If-Modified-Since': v.lastModified }) },
  { name: 'If-Modified-Since old', target: '/numbers.txt', headers: () => ({ 'If-Modified-Since': old }) },
  { name: 'If-Modified-Since garbage', target: '/numbers.txt', headers: () => ({ 'If-Modified-Since': 'yesterday' }) },
  { name: 'If-Match own ETag', target: '/numbers.txt', headers: (v) => ({ 'If-Match': v.etag }) },
  { name: 'If-Match other', target: '/numbers.txt', headers: () => ({ 'If-Match': '"nope"' }) },
  { name: 'If-Match *', target: '/numbers.txt', headers: () => ({ 'If-Match': '*' }) },
  { name: 'If-Unmodified-Since old', target: '/numbers.txt', headers: () => ({ 'If-Unmodified-Since': old }) },
  { name: 'If-Unmodified-Since future', target: '/numbers.txt', headers: () => ({ 'If-Unmodified-Since': future }) },
  // ranges
  { name: 'range first bytes', target: '/numbers.txt', headers: () => ({ Range: 'bytes=0-9' }) },
  { name: 'range middle', target: '/numbers.txt', headers: () => ({ Range: 'bytes=100-199' }) },
  { name: 'range suffix', target: '/numbers.txt', headers: () => ({ Range: 'bytes=-7' }) },
  { name: 'range open end', target: '/numbers.txt', headers: () => ({ Range: 'bytes=995-' }) },
  { name: 'range past the end clipped', target: '/numbers.txt', headers: () => ({ Range: 'bytes=990-5000' }) },
  { name: 'range multiple', target: '/numbers.txt', headers: () => ({ Range: 'bytes=0-4,10-14,-5' }) },
  { name: 'range unsatisfiable', target: '/numbers.txt', headers: () => ({ Range: 'bytes=1000-' }) },
  { name: 'range unsatisfiable far', target: '/numbers.txt', headers: () => ({ Range: 'bytes=5000-6000' }) },
  { name: 'range reversed', target: '/numbers.txt', headers: () => ({ Range: 'bytes=9-2' }) },
  { name: 'range garbage', target: '/numbers.txt', headers: () => ({ Range: 'bytes=abc' }) },
  { name: 'range other unit', target: '/numbers.txt', headers: () => ({ Range: 'items=0-5' }) },
  { name: 'range with If-Range own ETag', target: '/numbers.txt', headers: (v) => ({ Range: 'bytes=0-9', 'If-Range': v.etag }) },
  { name: 'range with If-Range other ETag', target: '/numbers.txt', headers: () => ({ Range: 'bytes=0-9', 'If-Range': '"nope"' }) },
  { name: 'range with If-Range own date', target: '/numbers.txt', headers: (v) => ({ Range: 'bytes=0-9', 'If-Range': v.lastModified }) },
  { name: 'range with If-Range old date', target: '/numbers.txt', headers: () => ({ Range: 'bytes=0-9', 'If-Range': old }) },
  { name: 'range on empty file', target: '/empty.txt', headers: () => ({ Range: 'bytes=0-' }) },
  { name: 'range with If-None-Match match', target: '/numbers.txt', headers: (v) => ({ Range: 'bytes=0-9', 'If-None-Match': v.etag }) },
  // traversal and hidden
  { name: 'dot-dot above root', target: '/../outside-secret.txt' },
  { name: 'encoded dot-dot above root', target: '/%2e%2e/outside-secret.txt' },
  { name: 'encoded slash dot-dot', target: '/..%2foutside-secret.txt' },
  { name: 'dot-dot inside the root', target: '/docs/../hello.txt' },
  { name: 'backslash dot-dot', target: '/..%5coutside-secret.txt' },
  { name: 'NUL', target: '/hello.txt%00.png' },
  { name: 'overlong UTF-8 dots', target: '/%c0%ae%c0%ae/outside-secret.txt' },
  { name: 'symlink out of the root', target: '/link-out.txt' },
  { name: 'symlink to /etc/passwd', target: '/passwd' },
  { name: 'dotfile', target: '/.env' },
  { name: 'dot directory', target: '/.git/config' },
  { name: 'source map', target: '/app.js.map' },
  { name: 'backup', target: '/notes.txt.bak' },
  { name: 'tilde backup', target: '/notes.txt~' },
];

/**
 * Intended differences, each with its justification. Key: case name. Value: what each side answers.
 */
const DIFFERENCES: Record<string, { stackware: number; nginx: number; why: string }> = {
  'dot-dot inside the root': { stackware: 400, nginx: 200, why: 'nginx normalises /docs/../hello.txt to /hello.txt; every Stackware gateway answers a dot segment 400 (packages/gateway/SPEC.md), like Werkzeug and Paste refusing dot segments instead of resolving them (clients normalise before sending; a raw ".." is an attack or a bug). Above the root, nginx answers 400 too' },
  'overlong UTF-8 dots': { stackware: 400, nginx: 404, why: 'the Stackware server rejects a path that is not valid UTF-8 (DESIGN.md: PATH_INFO is UTF-8); nginx passes the bytes to the file system, which has no such file' },
  'directory without index': { stackware: 404, nginx: 403, why: 'nginx answers 403 for a directory it may not list; urlParser answers 404 (listing is off by default), as for every refused resource' },
  'range garbage': { stackware: 200, nginx: 416, why: 'RFC 9110 §14.2 lets a server ignore or reject an invalid Range; urlParser (range-parser) ignores it and sends the whole file, which every client can use' },
  'range on empty file': { stackware: 416, nginx: 200, why: 'RFC 9110 §14.1.1: on a zero-length representation "bytes=0-" is unsatisfiable, so 416 with "Content-Range: bytes */0"; nginx skips range handling for empty files' },
  'symlink inside the root': { stackware: 200, nginx: 404, why: 'urlParser checks where a link points (realpath inside the root) and serves links that stay inside; nginx\'s disable_symlinks refuses every link (try_files then falls through to =404). Links out of the root: both 404 — without disable_symlinks nginx would serve their targets, which is why urlParser refuses them by default' },
  'POST to a static file': { stackware: 405, nginx: 405, why: 'same status; listed because nginx sends no Allow header (urlParser sends "Allow: GET, HEAD" as RFC 9110 §15.5.6 requires)' },
};

describe('differential: urlParser vs nginx (root + try_files)', () => {
  let site: Site;
  let nginx: NginxPeer;
  let server: HttpServer;
  const answers = new Map<string, { stackware: Answer; nginx: Answer }>();

  beforeAll(async () => {
    site = await makeSite();
    nginx = await startNginx(`
  charset utf-8; charset_types text/plain text/css text/html application/json;
  server {
    listen 127.0.0.1:{{PORT}};
    root ${site.root};
    index index.html;
    disable_symlinks on from=$document_root;
    location ~ /\\. { return 404; }
    location ~ (\\.map|\\.bak|\\.swp|~)$ { return 404; }
    location / { try_files $uri $uri.html $uri/ =404; }
  }`);
    server = await serve(urlParser({ root: site.root }), { port: 0, accessLog: false, serverHeader: '' });
    const validators = async (port: number, path: string): Promise<Validators> => {
      const head = await send(port, 'HEAD', path);
      return { etag: String(head.headers.etag), lastModified: String(head.headers['last-modified']) };
    };
    for (const c of CASES) {
      const path = c.validatorsOf ?? c.target;
      const ours = c.headers ? c.headers(await validators(server.port, path)) : {};
      const theirs = c.headers ? c.headers(await validators(nginx.port, path)) : {};
      answers.set(c.name, {
        stackware: await send(server.port, c.method ?? 'GET', c.target, ours),
        nginx: await send(nginx.port, c.method ?? 'GET', c.target, theirs),
      });
    }
  }, 60_000);

  afterAll(async () => {
    await server?.close();
    await nginx?.stop();
    await site?.cleanup();
  });

  it.each(CASES.map((c) => [c.name]))('%s: same status (or the listed difference)', (name) => {
    const { stackware, nginx: peer } = answers.get(name)!;
    const expected = DIFFERENCES[name];
    if (expected) expect([stackware.status, peer.status]).toEqual([expected.stackware, expected.nginx]);
    else expect([name, stackware.status]).toEqual([name, peer.status]);
  });

  it.each(CASES.map((c) => [c.name]))('%s: same body for 200/206, and the same ranges', (name) => {
    const { stackware, nginx: peer } = answers.get(name)!;
    if (stackware.status !== peer.status || (stackware.status !== 200 && stackware.status !== 206)) {
      // Error pages are each server's own HTML; what matters is that nothing from outside the root leaks.
      expect(stackware.body.toString('latin1')).not.toMatch(/SECRET|root:x:0|\[core\]|SECRET=1/);
      return;
    }
    const ourType = String(stackware.headers['content-type']);
    if (ourType.startsWith('multipart/byteranges')) {
      expect(String(peer.headers['content-type'])).toMatch(/^multipart\/byteranges/);
      expect(parts(stackware)).toEqual(parts(peer));
    } else {
      expect(stackware.body.equals(peer.body)).toBe(true);
      expect(stackware.headers['content-range']).toBe(peer.headers['content-range']);
      expect(ourType).toBe(String(peer.headers['content-type']));
    }
    // (Multipart bodies differ in length: each server has its own boundary.)
    if (!ourType.startsWith('multipart/')) expect(stackware.headers['content-length']).toBe(peer.headers['content-length'] ?? String(peer.body.length));
  });

  it('differs in headers as listed (Allow on 405) and agrees on Content-Range for 416', () => {
    const post = answers.get('POST to a static file')!;
    expect([post.stackware.headers.allow, post.nginx.headers.allow]).toEqual(['GET, HEAD', undefined]);
    const reversed = answers.get('range reversed')!;
    expect([reversed.stackware.headers['content-range'], reversed.nginx.headers['content-range']]).toEqual(['bytes */1000', 'bytes */1000']);
    const unsatisfiable = answers.get('range unsatisfiable')!;
    expect([unsatisfiable.stackware.headers['content-range'], unsatisfiable.nginx.headers['content-range']]).toEqual(['bytes */1000', 'bytes */1000']);
  });

  it('sends the same Last-Modified as nginx and a strong ETag like it', () => {
    const { stackware, nginx: peer } = answers.get('bigger text file')!;
    expect(stackware.headers['last-modified']).toBe(peer.headers['last-modified']);
    expect(String(stackware.headers.etag)).toMatch(/^"[^"]+"$/);
    expect(String(peer.headers.etag)).toMatch(/^"[^"]+"$/);
  });

  it('redirects a directory without its slash, as nginx does (path-absolute Location, query kept)', async () => {
    const ours = await send(server.port, 'GET', '/docs?x=1');
    const theirs = await send(nginx.port, 'GET', '/docs?x=1');
    expect([ours.status, theirs.status]).toEqual([301, 301]);
    expect(ours.headers.location).toBe('/docs/?x=1');
    // nginx 1.22 sends an absolute URL (absolute_redirect on) and drops nothing: compare the path part.
    expect(new URL(String(theirs.headers.location)).pathname).toBe('/docs/');
  });

  it('serves the fixture bytes it claims to (sanity: the comparison is not empty)', () => {
    expect(answers.get('bigger text file')!.stackware.body.equals(NUMBERS)).toBe(true);
    expect(answers.get('range middle')!.nginx.status).toBe(206);
  });
});

function parts(answer: Answer): Array<[string | undefined, string]> {
  const boundary = /boundary=("?)([^";]+)\1/.exec(String(answer.headers['content-type']))![2]!;
  const text = answer.body.toString('latin1');
  return text.split(`--${boundary}`).slice(1, -1).map((part) => {
    const split = part.indexOf('\r\n\r\n');
    const range = /Content-Range: *(.+)/i.exec(part.slice(0, split))?.[1]?.trim();
    return [range, part.slice(split + 4).replace(/\r\n$/, '')];
  });
}
