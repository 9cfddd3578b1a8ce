import { brotliCompress, constants, createBrotliCompress, createDeflate, createGzip, deflate, gzip, type BrotliCompress, type Deflate, type Gzip } from 'node:zlib';
import { promisify } from 'node:util';
import { getHeader, removeHeader, type Application, type Headers, type ResponseBody, type StartResponse } from '@stackware/gateway';
import { defineOptions, filterFactory, option } from '@stackware/gateway/options';

/** A content coding this middleware produces (RFC 9110 §8.4.1). */
export type Encoding = 'br' | 'gzip' | 'deflate';

/** Options of {@link compression}. Defaults: thresholdBytes 1024, encodings ['br', 'gzip'], gzipLevel 6, brotliQuality 4. */
export interface CompressionOptions {
  /**
   * Bodies smaller than this many bytes are sent as they are [1024]. Without a Content-Length the
   * first chunks are held until they reach it (or the body ends) before deciding; an event stream
   * (`text/event-stream`) is never held.
   */
  thresholdBytes?: number;
  /** @deprecated The old name of {@link thresholdBytes} (same unit); still read. */
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

/** `headers` with `Accept-Encoding` added to its Vary (unless Vary is `*` or names it already). */
function withVary(headers: Headers): Headers {
  const out = headers.slice();
  const vary = getHeader(out, 'vary');
  if (!vary) out.push(['Vary', 'Accept-Encoding']);
  else if (vary.trim() !== '*' && !/(^|,)\s*accept-encoding\s*(,|$)/i.test(vary)) {
    removeHeader(out, 'vary');
    out.push(['Vary', `${vary}, Accept-Encoding`]);
  }
  return out;
}

/**
 * A 304 Not Modified: it carries the Vary the 200 had (RFC 9110 §15.4.5), whatever ETag the
 * client revalidated — so `Vary: Accept-Encoding` unless its Content-Type (when it has one) is
 * not compressible. When the client revalidated the weak ETag this middleware gave out (`W/"x"`)
 * and the application answers with its strong one (`"x"`), the ETag is made weak again: the
 * stored (compressed) response's.
 */
function notModified(headers: Headers, ifNoneMatch: string, isCompressible: (contentType: string) => boolean): Headers {
  const contentType = getHeader(headers, 'content-type');
  if (contentType && !isCompressible(contentType)) return headers;
  const out = withVary(headers);
  const etag = getHeader(out, 'etag');
  if (!etag || etag.startsWith('W/') || !ifNoneMatch.split(',').some((t) => t.trim() === `W/${etag}`)) return out;
  removeHeader(out, 'etag');
  out.push(['ETag', `W/${etag}`]);
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
 * a response that already has a Content-Encoding, `Cache-Control: no-transform`, or a body
 * smaller than `thresholdBytes` (known from Content-Length, from an array body, or by holding a streamed
 * body's first chunks until they reach it). Adds `Vary: Accept-Encoding` to every compressible
 * response, also a 206, and to every 304 (RFC 9110 §12.5.5, §15.4.5); drops Content-Length (the gateway sets the new one when it knows it), makes a strong
 * ETag weak and drops Accept-Ranges for compressed ones; a 304 answering that weak ETag gets it
 * back weak (with the Vary). A HEAD request gets the compressed
 * response's headers without a Content-Length (the inner body is closed, not compressed).
 * Array bodies are compressed in one piece off the event loop (the length stays known);
 * streamed bodies are compressed chunk by chunk with a sync flush after each, so they stay
 * streamed (a chunk leaves as soon as it is produced).
 *
 * @example
 * const app = compression(site, { thresholdBytes: 512 });
 */
export function compression(app: Application, options: CompressionOptions = {}): Application {
  const threshold = options.thresholdBytes ?? options.threshold ?? 1024;
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
    const ifNoneMatch = typeof environ.HTTP_IF_NONE_MATCH === 'string' ? environ.HTTP_IF_NONE_MATCH : '';
    const head = environ.REQUEST_METHOD === 'HEAD';

    /**
     * The headers to send uncompressed and, when compression is possible, compressed; `decideNow`
     * when the choice need not wait for `threshold` bytes (a known length, an event stream).
     */
    const decide = (status: string, headers: Headers): { identity: Headers; compressed?: Headers; decideNow?: boolean } => {
      const code = parseInt(status, 10);
      if (code === 304) return { identity: notModified(headers, ifNoneMatch, isCompressible) };
      const contentType = getHeader(headers, 'content-type');
      if (code < 200 || code === 204 || !contentType || !isCompressible(contentType)) return { identity: headers };
      // The 200 for this URL varies by Accept-Encoding, so its 206s do too (RFC 9110 §12.5.5).
      const identity = withVary(headers);
      // A byte range is a range of the identity representation (RFC 9110 §14.4): never re-encoded.
      if (code === 206 || getHeader(headers, 'content-range') !== undefined || !wanted) return { identity };
      const existing = getHeader(identity, 'content-encoding');
      if (existing && existing.toLowerCase() !== 'identity') return { identity };
      if (/(^|,)\s*no-transform\s*(,|$)/i.test(getHeader(identity, 'cache-control') ?? '')) return { identity };
      const length = getHeader(identity, 'content-length');
      if (length !== undefined && Number(length) < threshold) return { identity };
      const compressed = identity.slice();
      removeHeader(compressed, 'content-length');
      removeHeader(compressed, 'content-encoding');
      removeHeader(compressed, 'accept-ranges');
      const etag = getHeader(compressed, 'etag');
      if (etag && !etag.startsWith('W/')) {
        removeHeader(compressed, 'etag');
        compressed.push(['ETag', `W/${etag}`]);
      }
      compressed.push(['Content-Encoding', wanted]);
      // An event stream is sent as it is produced: waiting for `threshold` bytes would hold events back.
      return { identity, compressed, decideNow: length !== undefined || /^text\/event-stream/i.test(contentType) };
    };

    // 'identity': chunks pass; 'compress': chunks go through the encoder; 'pending': a compressible
    // response of unknown length whose chunks are held until `threshold` bytes decide (or the end).
    let state: 'identity' | 'compress' | 'pending' | undefined;
    let encoder: StreamEncoder | undefined;
    let pending: { status: string; identity: Headers; compressed: Headers; chunks: Uint8Array[]; bytes: number } | undefined;
    let outerWrite: ((chunk: Uint8Array) => Promise<void>) | undefined;
    const getEncoder = () => (encoder ??= streamEncoder(wanted!));

    /** Sends the held response's headers, compressed or not; returns the held bytes, compressed when chosen. */
    const commit = async (compress: boolean): Promise<Buffer> => {
      const held = pending!;
      pending = undefined;
      state = compress ? 'compress' : 'identity';
      outerWrite = startResponse(held.status, compress ? held.compressed : held.identity);
      const bytes = Buffer.concat(held.chunks);
      if (!compress || head || bytes.length === 0) return bytes;
      return getEncoder().push(bytes);
    };

    let started = false;
    const compressingStartResponse: StartResponse = (status, headers, error) => {
      started = true;
      encoder?.destroy();
      encoder = undefined;
      pending = undefined;
      const decision = decide(status, headers);
      if (!decision.compressed) {
        state = 'identity';
        return startResponse(status, decision.identity, error);
      }
      if (decision.decideNow) {
        state = 'compress';
        const write = startResponse(status, decision.compressed, error);
        return async (chunk) => {
          const out = await getEncoder().push(chunk);
          if (out.length) await write(out);
        };
      }
      if (error !== undefined) startResponse(status, decision.identity, error); // rethrows once output has begun
      state = 'pending';
      pending = { status, identity: decision.identity, compressed: decision.compressed, chunks: [], bytes: 0 };
      // The legacy write(): held like body chunks until the threshold decides.
      return async (chunk) => {
        if (state === 'pending') {
          pending!.chunks.push(chunk);
          pending!.bytes += chunk.byteLength;
          if (pending!.bytes < threshold) return;
          const out = await commit(true);
          if (out.length && !head) await outerWrite!(out);
          return;
        }
        if (state === 'compress') {
          const out = await getEncoder().push(chunk);
          if (out.length && !head) await outerWrite!(out);
          return;
        }
        await outerWrite!(chunk);
      };
    };

    const body = await app(environ, compressingStartResponse);
    if (started && state === 'identity') return body;
    const complete = Array.isArray(body) ? body as Uint8Array[] & { close?(): void | Promise<void> } : undefined;
    // HEAD: the headers are those of the compressed GET, with no Content-Length (the compressed
    // length is unknown without compressing the GET body); never the length of a compressed empty body.
    if (started && head && (complete || !encoder) && state !== 'pending') {
      return { async *[Symbol.asyncIterator]() {}, close: () => body.close?.() } as ResponseBody;
    }
    if (started && complete && state === 'pending') {
      // A complete body: its length decides now.
      const length = pending!.bytes + complete.reduce((n, c) => n + c.byteLength, 0);
      if (length < threshold) {
        const held = await commit(false);
        return Object.defineProperty(held.length ? [held, ...complete] : complete.slice(), 'close', { value: () => complete.close?.() }) as ResponseBody;
      }
      const held = pending!.chunks;
      pending!.chunks = [];
      pending!.bytes = 0;
      await commit(true);
      if (head) return { async *[Symbol.asyncIterator]() {}, close: () => body.close?.() } as ResponseBody;
      try {
        const compressed = await oneShot(wanted!, Buffer.concat([...held, ...complete]));
        return Object.defineProperty([compressed], 'close', { value: () => complete.close?.() }) as ResponseBody;
      } catch (error) {
        await complete.close?.();
        throw error;
      }
    }
    if (started && complete && !encoder) {
      // A complete body: compress it in one piece, off the event loop; its length stays known.
      try {
        const compressed = await oneShot(wanted!, Buffer.concat(complete));
        return Object.defineProperty([compressed], 'close', { value: () => complete.close?.() }) as ResponseBody;
      } catch (error) {
        await complete.close?.();
        throw error;
      }
    }
    // A streamed body (or one that calls startResponse lazily): chunks are held until the
    // threshold decides, then compressed chunk by chunk with a sync flush so every produced
    // chunk leaves at once.
    const compressed: ResponseBody = {
      async *[Symbol.asyncIterator]() {
        try {
          for await (const chunk of body as AsyncIterable<Uint8Array>) {
            if (state === 'pending') {
              if (chunk.byteLength === 0) continue;
              pending!.chunks.push(chunk);
              pending!.bytes += chunk.byteLength;
              if (pending!.bytes < threshold) continue;
              const out = await commit(true);
              if (head) return;
              if (out.length) yield out;
              continue;
            }
            if (state !== 'compress') {
              yield chunk;
              continue;
            }
            if (chunk.byteLength === 0) continue;
            if (head) return; // compression was chosen: the headers are out, no body for HEAD
            const out = await getEncoder().push(chunk);
            if (out.length) yield out;
          }
          if (state === 'pending') {
            // The whole body was smaller than the threshold: send it as it is.
            const held = await commit(false);
            if (held.length && !head) yield held;
          } else if (state === 'compress' && !head) {
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

/** The deploy-file options of {@link compression} (`contentTypes` is code only). `threshold` is the old name of `thresholdBytes`. */
export const COMPRESSION_OPTIONS = defineOptions({
  thresholdBytes: option.number('bodies smaller than this are sent as they are (a body of unknown length is held until it reaches it or ends)', { unit: 'bytes', integer: true, min: 0, default: 1024 }),
  encodings: option.listOf(['br', 'gzip', 'deflate'], 'codings offered, in order of preference when the client weighs them equally', { default: ['br', 'gzip'] }),
  gzipLevel: option.number('zlib level for gzip/deflate: 1 (fast) – 9 (small)', { integer: true, min: 1, max: 9, default: 6 }),
  brotliQuality: option.number('Brotli quality: 0 – 11', { integer: true, min: 0, max: 11, default: 4 }),
}, { renamed: { threshold: 'thresholdBytes' } });

/** Deploy-file factory: `[filter.gzip] use = "@stackware/middleware#compression"`; options: {@link COMPRESSION_OPTIONS}. */
export const compressionFactory = filterFactory(
  COMPRESSION_OPTIONS,
  (options) => (app: Application) => compression(app, options),
  { description: 'gzip/brotli compression by Accept-Encoding and Content-Type (streaming)' },
);
