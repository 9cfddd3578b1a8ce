import { brotliCompress, constants, createBrotliCompress, createDeflate, createGzip, deflate, gzip, type BrotliCompress, type Deflate, type Gzip } from 'node:zlib';
import { promisify } from 'node:util';
import { getHeader, removeHeader, type Application, type FilterFactory, type Headers, type ResponseBody, type StartResponse } from '@stackware/gateway';

/** A content coding this middleware produces (RFC 9110 §8.4.1). */
export type Encoding = 'br' | 'gzip' | 'deflate';

/** Options of {@link compression}. Defaults: threshold 1024 bytes, encodings ['br', 'gzip'], gzipLevel 6, brotliQuality 4. */
export interface CompressionOptions {
  /** Bodies whose Content-Length is below this many bytes are sent as they are [1024]. Bodies of unknown length are compressed. */
  threshold?: number;
  /** Codings offered, in order of preference when the client weighs them equally [['br', 'gzip']]. */
  encodings?: Encoding[];
  /** Which Content-Types to compress [text/*, JSON, JavaScript, XML, SVG, and other +json/+xml types]. */
  contentTypes?: RegExp | ((contentType: string) => boolean);
  /** zlib level for gzip/deflate, 1 (fast) – 9 (small) [6]. */
  gzipLevel?: number;
  /** Brotli quality, 0 – 11 [4: fast enough for dynamic responses]. */
  brotliQuality?: number;
}

const COMPRESSIBLE = /^(text\/|application\/(?:json|javascript|ecmascript|xml|xhtml\+xml|rss\+xml|atom\+xml|manifest\+json|ld\+json|[\w.-]+\+(?:json|xml))|image\/svg\+xml)/i;

/**
 * Picks the coding for an Accept-Encoding header (RFC 9110 §12.5.3): the highest q-value among
 * `offered`, ties broken by `offered`'s order; `*` covers codings not named; q=0 refuses.
 * @returns undefined when the client accepts none of them (identity is then used).
 */
export function negotiateEncoding(acceptEncoding: string | undefined, offered: readonly Encoding[]): Encoding | undefined {
  if (!acceptEncoding) return undefined;
  const weights = new Map<string, number>();
  for (const part of acceptEncoding.split(',')) {
    const [name, ...params] = part.trim().split(';');
    if (!name) continue;
    let q = 1;
    for (const p of params) {
      const m = /^\s*q\s*=\s*([0-9.]+)\s*$/i.exec(p);
      if (m) q = Math.min(1, Number(m[1]));
    }
    if (!Number.isNaN(q)) weights.set(name.trim().toLowerCase(), q);
  }
  let best: Encoding | undefined;
  let bestQ = 0;
  for (const coding of offered) {
    const q = weights.get(coding) ?? (coding === 'gzip' ? weights.get('x-gzip') : undefined) ?? weights.get('*') ?? 0;
    if (q > bestQ) {
      best = coding;
      bestQ = q;
    }
  }
  return best;
}

type Encoder = Gzip | Deflate | BrotliCompress;

/**
 * A 304 for a representation this middleware compressed: the client revalidated with the weak
 * ETag it was given (`W/"x"`), the application answers with its strong one (`"x"`). RFC 9110
 * §15.4.5 wants the 304 to carry the ETag of the stored (compressed) response, so it is made
 * weak again, with the Vary the 200 had.
 */
function notModified(headers: Headers, ifNoneMatch: string): Headers {
  const etag = getHeader(headers, 'etag');
  if (!etag || etag.startsWith('W/') || !ifNoneMatch.split(',').some((t) => t.trim() === `W/${etag}`)) return headers;
  const out = headers.slice();
  removeHeader(out, 'etag');
  out.push(['ETag', `W/${etag}`]);
  const vary = getHeader(out, 'vary');
  if (!vary) out.push(['Vary', 'Accept-Encoding']);
  else if (vary.trim() !== '*' && !/(^|,)\s*accept-encoding\s*(,|$)/i.test(vary)) {
    removeHeader(out, 'vary');
    out.push(['Vary', `${vary}, Accept-Encoding`]);
  }
  return out;
}

/** A streaming encoder: `push` returns what the chunk produced after a sync flush, `finish` the rest. */
class StreamEncoder {
  private readonly output: Buffer[] = [];
  constructor(private readonly stream: Encoder, private readonly brotli: boolean) {
    stream.on('data', (d: Buffer) => this.output.push(d));
  }

  private take(): Buffer {
    const out = Buffer.concat(this.output);
    this.output.length = 0;
    return out;
  }

  push(chunk: Uint8Array): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      this.stream.write(chunk, (error) => { if (error) reject(error); });
      const kind = this.brotli ? constants.BROTLI_OPERATION_FLUSH : constants.Z_SYNC_FLUSH;
      this.stream.flush(kind, () => resolve(this.take()));
    });
  }

  finish(): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      this.stream.once('error', reject);
      // 'end' (not the end() callback, which fires on 'finish'): the last output has been read.
      this.stream.once('end', () => resolve(this.take()));
      this.stream.end();
    });
  }

  destroy(): void {
    this.stream.destroy();
  }
}

const gzipAsync = promisify(gzip);
const deflateAsync = promisify(deflate);
const brotliAsync = promisify(brotliCompress);

/**
 * Compresses responses with brotli, gzip or deflate (node:zlib) as the client's Accept-Encoding
 * allows (RFC 9110 §8.4, §12.5.3). Compresses only compressible Content-Types, never 1xx/204/304,
 * a 206 or any response with Content-Range (its bytes are a range of the identity representation),
 * a response that already has a Content-Encoding, `Cache-Control: no-transform`, or a body whose
 * Content-Length is below `threshold`. Adds `Vary: Accept-Encoding` to every compressible
 * response; drops Content-Length (the gateway sets the new one when it knows it), makes a strong
 * ETag weak and drops Accept-Ranges for compressed ones; a 304 answering that weak ETag gets it
 * back weak (with the Vary). A HEAD request gets the compressed
 * response's headers without a Content-Length (the inner body is closed, not compressed).
 * Array bodies are compressed in one piece off the event loop (the length stays known);
 * streamed bodies are compressed chunk by chunk with a sync flush after each, so they stay
 * streamed (a chunk leaves as soon as it is produced).
 *
 * @example
 * const app = compression(site, { threshold: 512 });
 */
export function compression(app: Application, options: CompressionOptions = {}): Application {
  const threshold = options.threshold ?? 1024;
  const offered = options.encodings ?? ['br', 'gzip'];
  const types = options.contentTypes ?? COMPRESSIBLE;
  const isCompressible = typeof types === 'function' ? types : (t: string) => types.test(t);
  const gzipLevel = options.gzipLevel ?? 6;
  const brotliQuality = options.brotliQuality ?? 4;

  const streamEncoder = (encoding: Encoding): StreamEncoder => {
    if (encoding === 'br') return new StreamEncoder(createBrotliCompress({ params: { [constants.BROTLI_PARAM_QUALITY]: brotliQuality } }), true);
    return new StreamEncoder(encoding === 'gzip' ? createGzip({ level: gzipLevel }) : createDeflate({ level: gzipLevel }), false);
  };
  const oneShot = (encoding: Encoding, data: Buffer): Promise<Buffer> => {
    if (encoding === 'br') return brotliAsync(data, { params: { [constants.BROTLI_PARAM_QUALITY]: brotliQuality, [constants.BROTLI_PARAM_SIZE_HINT]: data.length } });
    return encoding === 'gzip' ? gzipAsync(data, { level: gzipLevel }) : deflateAsync(data, { level: gzipLevel });
  };

  return async (environ, startResponse) => {
    const wanted = negotiateEncoding(typeof environ.HTTP_ACCEPT_ENCODING === 'string' ? environ.HTTP_ACCEPT_ENCODING : undefined, offered);
    let chosen: Encoding | undefined;
    let encoder: StreamEncoder | undefined;

    const ifNoneMatch = typeof environ.HTTP_IF_NONE_MATCH === 'string' ? environ.HTTP_IF_NONE_MATCH : '';
    const decide = (status: string, headers: Headers): Headers => {
      chosen = undefined;
      const code = parseInt(status, 10);
      if (code === 304) return notModified(headers, ifNoneMatch);
      const contentType = getHeader(headers, 'content-type');
      if (code < 200 || code === 204 || code === 206 || code === 304 || !contentType || !isCompressible(contentType) || getHeader(headers, 'content-range') !== undefined) return headers;
      const out = headers.slice();
      const vary = getHeader(out, 'vary');
      if (!vary) out.push(['Vary', 'Accept-Encoding']);
      else if (vary.trim() !== '*' && !/(^|,)\s*accept-encoding\s*(,|$)/i.test(vary)) {
        removeHeader(out, 'vary');
        out.push(['Vary', `${vary}, Accept-Encoding`]);
      }
      if (!wanted) return out;
      const existing = getHeader(out, 'content-encoding');
      if (existing && existing.toLowerCase() !== 'identity') return out;
      if (/(^|,)\s*no-transform\s*(,|$)/i.test(getHeader(out, 'cache-control') ?? '')) return out;
      const length = getHeader(out, 'content-length');
      if (length !== undefined && Number(length) < threshold) return out;
      chosen = wanted;
      removeHeader(out, 'content-length');
      removeHeader(out, 'content-encoding');
      removeHeader(out, 'accept-ranges');
      const etag = getHeader(out, 'etag');
      if (etag && !etag.startsWith('W/')) {
        removeHeader(out, 'etag');
        out.push(['ETag', `W/${etag}`]);
      }
      out.push(['Content-Encoding', chosen]);
      return out;
    };

    let started = false;
    const getEncoder = () => (encoder ??= streamEncoder(chosen!));
    const compressingStartResponse: StartResponse = (status, headers, error) => {
      started = true;
      const write = startResponse(status, decide(status, headers), error);
      encoder?.destroy();
      encoder = undefined;
      if (!chosen) return write;
      return async (chunk) => {
        const out = await getEncoder().push(chunk);
        if (out.length) await write(out);
      };
    };

    const body = await app(environ, compressingStartResponse);
    if (started && !chosen) return body;
    // HEAD: the headers are those of the compressed GET, with no Content-Length (the compressed
    // length is unknown without compressing the GET body); never the length of a compressed empty body.
    const head = environ.REQUEST_METHOD === 'HEAD';
    if (started && head && (Array.isArray(body) || !encoder)) {
      return { async *[Symbol.asyncIterator]() {}, close: () => body.close?.() } as ResponseBody;
    }
    if (started && Array.isArray(body) && !encoder) {
      // A complete body: compress it in one piece, off the event loop; its length stays known.
      const complete = body as Uint8Array[] & { close?(): void | Promise<void> };
      try {
        const compressed = await oneShot(chosen!, Buffer.concat(complete));
        return Object.defineProperty([compressed], 'close', { value: () => complete.close?.() }) as ResponseBody;
      } catch (error) {
        await complete.close?.();
        throw error;
      }
    }
    // A streamed body (or one that calls startResponse lazily): decide at each chunk, compress
    // chunk by chunk with a sync flush so every produced chunk leaves at once.
    const compressed: ResponseBody = {
      async *[Symbol.asyncIterator]() {
        try {
          for await (const chunk of body as AsyncIterable<Uint8Array>) {
            if (!chosen) {
              yield chunk;
              continue;
            }
            if (chunk.byteLength === 0) continue;
            if (head) return; // lazy startResponse chose compression: stop, as above
            const out = await getEncoder().push(chunk);
            if (out.length) yield out;
          }
          if (chosen && !head) {
            const tail = await getEncoder().finish();
            if (tail.length) yield tail;
          }
        } finally {
          encoder?.destroy();
        }
      },
      async close() {
        encoder?.destroy();
        await body.close?.();
      },
    };
    return compressed;
  };
}

/** Deploy-file factory: `[filter.gzip] use = "@stackware/middleware#compression"`. */
export const compressionFactory: FilterFactory = Object.assign(
  (options: Record<string, unknown>) => (app: Application) => compression(app, options as CompressionOptions),
  {
    optionTypes: { threshold: 'number', encodings: 'string[]', gzipLevel: 'number', brotliQuality: 'number' } as const,
    description: 'gzip/brotli compression by Accept-Encoding and Content-Type (streaming)',
  },
);
