import { SourceMap, findSourceMap } from 'node:module';
import { readFileSync, statSync } from 'node:fs';
import { dirname, resolve, isAbsolute } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** One frame of a stack trace, source-mapped when a source map was found. */
export interface StackFrame {
  /** Function name as V8 printed it ("boom", "Object.<anonymous>", "new Store"), or "" for anonymous code. */
  functionName: string;
  /** Absolute file path (or "node:internal/..." / "<anonymous>"): the TypeScript source when mapped. */
  file: string;
  /** 1-based line number in `file`. */
  line: number;
  /** 1-based column number in `file`. */
  column: number;
  /** True for Node internals, dependencies (node_modules) and Stackware's gateway/catcher plumbing: shown folded. */
  internal: boolean;
  /** True when this position came from a source map read by this package (not already mapped by the runtime). */
  mapped: boolean;
  /** Source lines around `line` (when the file is readable): `start` is the 1-based number of `lines[0]`. */
  context?: { start: number; lines: string[] };
}

// "    at fn (file:1:2)", "    at file:1:2", "    at async fn (file:1:2)", "    at new X (file:1:2)"
const FRAME_RE = /^\s*at (?:(.*?) \()?(.*?):(\d+):(\d+)\)?$/;

/**
 * Parses a V8 stack string (`error.stack`) into frames. Lines that are not frames (the message,
 * "at new Promise (<anonymous>)", native frames) are skipped. `file://` URLs become paths.
 */
export function parseStack(stack: string): Array<Omit<StackFrame, 'context' | 'mapped' | 'internal'>> {
  const frames: Array<Omit<StackFrame, 'context' | 'mapped' | 'internal'>> = [];
  for (const text of stack.split('\n')) {
    if (!/^\s*at /.test(text)) continue;
    const m = FRAME_RE.exec(text);
    if (!m) continue;
    let file = m[2]!;
    if (file.startsWith('file://')) {
      try {
        file = fileURLToPath(file);
      } catch {
        // keep the URL
      }
    }
    frames.push({ functionName: (m[1] ?? '').replace(/^async /, ''), file, line: Number(m[3]), column: Number(m[4]) });
  }
  return frames;
}

const MAX_CACHE = 200;
const MAX_SOURCE_BYTES = 4 * 1024 * 1024;

/** Small bounded cache (insertion order eviction). */
class BoundedCache<V> extends Map<string, V> {
  override set(key: string, value: V): this {
    if (!this.has(key) && this.size >= MAX_CACHE) this.delete(this.keys().next().value!);
    return super.set(key, value);
  }
}

interface LoadedMap {
  map: SourceMap;
  /** URL the map's relative source paths resolve against. */
  base: string;
  /** `sourcesContent` by resolved source path. */
  contents: Map<string, string>;
}

const sourceCache = new BoundedCache<{ mtimeMs: number; lines: string[] } | null>();
const mapCache = new BoundedCache<LoadedMap | null>();

/** The lines of a source file (re-read when its mtime changes), or null when unreadable or too large. */
function readLines(file: string): string[] | null {
  if (!isAbsolute(file)) return null;
  let mtimeMs: number;
  let size: number;
  try {
    ({ mtimeMs, size } = statSync(file));
  } catch {
    return null;
  }
  const cached = sourceCache.get(file);
  if (cached && cached.mtimeMs === mtimeMs) return cached.lines;
  if (size > MAX_SOURCE_BYTES) return null;
  try {
    const lines = readFileSync(file, 'utf8').split(/\r?\n/);
    sourceCache.set(file, { mtimeMs, lines });
    return lines;
  } catch {
    return null;
  }
}

function resolveSource(base: string, source: string): string {
  try {
    const url = new URL(source, base);
    return url.protocol === 'file:' ? fileURLToPath(url) : url.href;
  } catch {
    return source;
  }
}

function loadMap(file: string): LoadedMap | null {
  if (mapCache.has(file)) return mapCache.get(file)!;
  let loaded: LoadedMap | null = null;
  try {
    let payload: { sources?: string[]; sourcesContent?: Array<string | null>; sourceRoot?: string } | undefined;
    let base = pathToFileURL(file).href;
    // 1. Node's own cache (populated under --enable-source-maps / process.setSourceMapsEnabled).
    const known = findSourceMap(file);
    if (known) payload = known.payload as typeof payload;
    // 2. The file's sourceMappingURL comment: inline data: URL or a .map file beside it.
    if (!payload) {
      const lines = readLines(file);
      const comment = lines ? lines.slice(-5).find((l) => /^\/\/[#@] sourceMappingURL=/.test(l)) : undefined;
      const url = comment?.replace(/^\/\/[#@] sourceMappingURL=/, '').trim();
      if (url?.startsWith('data:')) {
        const comma = url.indexOf(',');
        const meta = url.slice(5, comma);
        const data = url.slice(comma + 1);
        payload = JSON.parse(meta.endsWith(';base64') ? Buffer.from(data, 'base64').toString('utf8') : decodeURIComponent(data));
      } else if (url) {
        const mapPath = resolve(dirname(file), decodeURIComponent(url));
        payload = JSON.parse(readFileSync(mapPath, 'utf8'));
        base = pathToFileURL(mapPath).href;
      }
    }
    if (payload) {
      if (payload.sourceRoot) base = new URL(payload.sourceRoot.endsWith('/') ? payload.sourceRoot : payload.sourceRoot + '/', base).href;
      const contents = new Map<string, string>();
      payload.sources?.forEach((source, i) => {
        const content = payload.sourcesContent?.[i];
        if (typeof content === 'string') contents.set(resolveSource(base, source), content);
      });
      loaded = { map: new SourceMap(payload as ConstructorParameters<typeof SourceMap>[0]), base, contents };
    }
  } catch {
    loaded = null;
  }
  mapCache.set(file, loaded);
  return loaded;
}

// Stackware's own plumbing (the response driver, the validator, this catcher): listed, but folded away.
const PLUMBING = /\/(packages\/(gateway|errors)\/src|@stackware\/(gateway|errors)\/(src|dist))\//;

function isInternal(file: string): boolean {
  return file.startsWith('node:') || file.includes('/node_modules/') || !file.includes('/') || PLUMBING.test(file);
}

/**
 * Maps one position through the file's source map, when it has one: the file's
 * `//# sourceMappingURL=` comment (inline `data:` URL or a `.map` file) or Node's source-map cache.
 * Frames already mapped by the runtime (tsx, Jest, `--enable-source-maps`) name the `.ts` file,
 * which has no source map comment, and are returned as they are.
 */
function mapFrame(frame: Omit<StackFrame, 'context' | 'mapped' | 'internal'>): { frame: StackFrame; content?: string } {
  const base: StackFrame = { ...frame, internal: isInternal(frame.file), mapped: false };
  if (base.internal || !/\.[cm]?js$/.test(frame.file)) return { frame: base };
  const loaded = loadMap(frame.file);
  if (!loaded) return { frame: base };
  const entry = loaded.map.findEntry(frame.line - 1, frame.column - 1) as { originalSource?: string; originalLine?: number; originalColumn?: number };
  if (entry.originalSource === undefined || entry.originalLine === undefined) return { frame: base };
  const file = resolveSource(loaded.base, entry.originalSource);
  return {
    frame: { ...base, file, line: entry.originalLine + 1, column: (entry.originalColumn ?? 0) + 1, mapped: true, internal: isInternal(file) },
    content: loaded.contents.get(file),
  };
}

/** Options of {@link resolveStack}. */
export interface ResolveStackOptions {
  /** Source lines shown before and after the failing line (default 5). */
  contextLines?: number;
  /** Frames that get source lines (default 20); later frames are listed without them. */
  maxContextFrames?: number;
}

/**
 * Parses `stack` and returns its frames with TypeScript positions and source lines.
 * Works whether or not the runtime already mapped the stack: under tsx, Jest (swc inline maps) and
 * `node --enable-source-maps` the frames already name `.ts` lines; compiled `.js` files with a
 * source map (inline or `.map` beside them) are mapped here. Never throws.
 */
export function resolveStack(stack: string, options: ResolveStackOptions = {}): StackFrame[] {
  const contextLines = options.contextLines ?? 5;
  const maxContextFrames = options.maxContextFrames ?? 20;
  return parseStack(stack).map((raw, index) => {
    const { frame, content } = mapFrame(raw);
    if (index < maxContextFrames && !frame.internal) {
      const lines = content !== undefined ? content.split(/\r?\n/) : readLines(frame.file);
      if (lines && frame.line >= 1 && frame.line <= lines.length) {
        const start = Math.max(1, frame.line - contextLines);
        frame.context = { start, lines: lines.slice(start - 1, frame.line + contextLines) };
      }
    }
    return frame;
  });
}

/** Rebuilds a stack string from resolved frames (the message line first), as V8 prints it. */
export function formatStack(header: string, frames: StackFrame[]): string {
  return [header, ...frames.map((f) => `    at ${f.functionName ? `${f.functionName} (${f.file}:${f.line}:${f.column})` : `${f.file}:${f.line}:${f.column}`}`)].join('\n');
}
