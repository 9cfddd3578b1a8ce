import { dirname, resolve } from 'node:path';
import { parse as parseCookieHeader } from 'cookie';
import { getResourcePath, HTTPError, readBody, requestHeader, requestUri, type Environ, type InputStream } from '@stackware/gateway';
import { DEFAULT_FORM_LIMITS, isFormContentType, parseForm, type FormLimits, type ParsedForm, type UploadedFile } from './form.js';

/** Environ key holding the parsed form body, shared with forwarded and included servlets. */
export const FORM_KEY = 'stackware.servlet.form';
/** Environ key a loader (the deploy-file factory, or any other) may set to the servlet's file on disk. */
export const SERVER_SIDE_PATH_KEY = 'stackware.servlet.serverSidePath';

/** Options of {@link HTTPRequest.create}. */
export interface RequestOptions {
  /** Limits on form bodies. Defaults: {@link DEFAULT_FORM_LIMITS}. */
  limits?: Partial<FormLimits>;
  /** Where uploaded files are stored while the request runs. Default: `os.tmpdir()`. */
  tempDir?: string;
}

type FieldValue = string | string[];

function addField(target: Map<string, FieldValue>, name: string, value: string): void {
  const previous = target.get(name);
  if (previous === undefined) target.set(name, value);
  else if (Array.isArray(previous)) previous.push(value);
  else target.set(name, [previous, value]);
}

/**
 * The request of one transaction, built from the environ (Webware's HTTPRequest).
 * Form bodies (urlencoded and multipart/form-data) are parsed **once, before the servlet is
 * awakened**, so `field()` and `fields()` are synchronous as in Webware; other bodies are left
 * unread for {@link HTTPRequest.json}, {@link HTTPRequest.bytes} or {@link HTTPRequest.input}.
 *
 * Fields merge the query string and the form body: query values first, then body values; a
 * name given more than once has an array of all its values (Webware's FieldStorage). Uploaded
 * files are separate: {@link HTTPRequest.file}, {@link HTTPRequest.files}.
 */
export class HTTPRequest {
  /** The environ of this request. */
  readonly environ: Environ;
  readonly #fields = new Map<string, FieldValue>();
  readonly #files: UploadedFile[];
  readonly #form: ParsedForm | undefined;
  readonly #limits: FormLimits;
  readonly #ownsForm: boolean;
  #cookies: Record<string, string | undefined> | undefined;
  #bodyRead = false;

  private constructor(environ: Environ, form: ParsedForm | undefined, limits: FormLimits, ownsForm: boolean) {
    this.environ = environ;
    this.#form = form;
    this.#ownsForm = ownsForm;
    this.#limits = limits;
    for (const [name, value] of new URLSearchParams(environ.QUERY_STRING)) addField(this.#fields, name, value);
    for (const [name, value] of form?.fields ?? []) addField(this.#fields, name, value);
    this.#files = form?.files ?? [];
    if (form) this.#bodyRead = true;
  }

  /**
   * Builds the request; reads a form body (see {@link parseForm}) unless an enclosing servlet
   * already did (forward/include share it through the environ).
   * @throws HTTPError 413/400 from {@link parseForm} (nothing to clean up then).
   */
  static async create(environ: Environ, options: RequestOptions = {}): Promise<HTTPRequest> {
    const limits = { ...DEFAULT_FORM_LIMITS, ...options.limits };
    let form = environ[FORM_KEY] as ParsedForm | undefined;
    const shared = form !== undefined;
    if (!form && isFormContentType(environ.CONTENT_TYPE) && environ.REQUEST_METHOD !== 'GET' && environ.REQUEST_METHOD !== 'HEAD') {
      form = await parseForm(environ, limits, options.tempDir);
      environ[FORM_KEY] = form;
    }
    return new HTTPRequest(environ, form, limits, !shared);
  }

  /**
   * Removes the uploaded files' temporary files (when this request parsed them; a forwarded or
   * included request leaves that to the outer one). Called by the servlet application at the end.
   */
  async cleanup(): Promise<void> {
    if (this.#ownsForm) await this.#form?.cleanup();
  }

  // -- Fields ---------------------------------------------------------------------------------

  /**
   * The value of field `name`: a string, or an array when the name was given more than once.
   * @returns `defaultValue` (undefined when not given) when the field is absent.
   */
  field(name: string): FieldValue | undefined;
  field<T>(name: string, defaultValue: T): FieldValue | T;
  field(name: string, defaultValue?: unknown): unknown {
    return this.#fields.has(name) ? this.#fields.get(name) : defaultValue;
  }

  /** Every value of field `name` as an array ([] when absent). */
  fieldValues(name: string): string[] {
    const value = this.#fields.get(name);
    return value === undefined ? [] : Array.isArray(value) ? [...value] : [value];
  }

  /** True when field `name` or an uploaded file named `name` is present. */
  hasField(name: string): boolean {
    return this.#fields.has(name) || this.#files.some((f) => f.fieldName === name);
  }

  /** All fields (query + form body), as a new object. */
  fields(): Record<string, FieldValue> {
    const out: Record<string, FieldValue> = {};
    for (const [name, value] of this.#fields) out[name] = Array.isArray(value) ? [...value] : value;
    return out;
  }

  /** Sets (replaces) a field, as Webware's setField. */
  setField(name: string, value: FieldValue): void {
    this.#fields.set(name, value);
  }

  /** Removes a field, as Webware's delField. */
  delField(name: string): void {
    this.#fields.delete(name);
  }

  /** The first uploaded file of field `name`, or undefined. */
  file(name: string): UploadedFile | undefined {
    return this.#files.find((f) => f.fieldName === name);
  }

  /** Uploaded files, all or those of field `name`, in arrival order. */
  files(name?: string): UploadedFile[] {
    return name === undefined ? [...this.#files] : this.#files.filter((f) => f.fieldName === name);
  }

  // -- Cookies (RFC 6265 §5.4, parsed with the cookie package) --------------------------------

  /** All request cookies: name → value (percent-decoded). */
  cookies(): Record<string, string> {
    this.#cookies ??= parseCookieHeader(requestHeader(this.environ, 'cookie') ?? '');
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(this.#cookies)) if (v !== undefined) out[k] = v;
    return out;
  }

  /** The value of cookie `name`, or `defaultValue` (undefined). */
  cookie(name: string, defaultValue?: string): string | undefined {
    return Object.hasOwn(this.cookies(), name) ? this.cookies()[name] : defaultValue;
  }

  /** True when the request carries cookie `name` (RFC 6265 Cookie header). */
  hasCookie(name: string): boolean {
    return Object.hasOwn(this.cookies(), name);
  }

  /** A field, else a cookie, else `defaultValue` (Webware's `value()`). */
  value(name: string, defaultValue?: FieldValue): FieldValue | undefined {
    return this.field(name) ?? this.cookie(name) ?? defaultValue;
  }

  // -- Headers and the request line -------------------------------------------------------------

  /** Request header `name` (case-insensitive); repeated headers joined with ", ". */
  header(name: string, defaultValue?: string): string | undefined {
    return requestHeader(this.environ, name) ?? defaultValue;
  }

  /** True when the request has header `name` (case-insensitive; from the environ's HTTP_* keys). */
  hasHeader(name: string): boolean {
    return requestHeader(this.environ, name) !== undefined;
  }

  /** All request headers, lower-case names ("user-agent") → value. */
  headers(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [key, value] of Object.entries(this.environ)) {
      if (typeof value !== 'string') continue;
      if (key.startsWith('HTTP_')) out[key.slice(5).toLowerCase().replace(/_/g, '-')] = value;
      else if (key === 'CONTENT_TYPE' || key === 'CONTENT_LENGTH') out[key.toLowerCase().replace('_', '-')] = value;
    }
    return out;
  }

  /** The request method, upper case ("GET"). */
  method(): string {
    return this.environ.REQUEST_METHOD;
  }

  /** The request URI as the client sent it ("/app/page?x=1"): REQUEST_URI, else rebuilt. */
  uri(): string {
    const raw = this.environ.REQUEST_URI;
    if (raw) return raw;
    const query = this.environ.QUERY_STRING;
    return `${encodeURI(this.environ.SCRIPT_NAME + this.environ.PATH_INFO) || '/'}${query ? `?${query}` : ''}`;
  }

  /** The full URL of this request ("http://host/app/page?x=1"). */
  url(): string {
    return requestUri(this.environ);
  }

  /** The path of the resource without extra path info: SCRIPT_NAME (where this servlet is mounted). */
  urlPath(): string {
    return this.environ.SCRIPT_NAME;
  }

  /**
   * The path left over after the servlet was found (PATH_INFO left by the URL parser):
   * for `/shop/item.ts/42`, "/42". "" when none.
   */
  extraURLPath(): string {
    return this.environ.PATH_INFO;
  }

  /**
   * The servlet's file on disk when a loader recorded it (the deploy-file factory under
   * `stackware.servlet.serverSidePath`, or the URL parser's resolved file); with `path`, that path resolved against the
   * servlet's directory. Undefined when unknown (a servlet built with `servletApp` in code).
   */
  serverSidePath(path?: string): string | undefined {
    const own = this.environ[SERVER_SIDE_PATH_KEY] ?? getResourcePath(this.environ);
    if (typeof own !== 'string') return undefined;
    if (path === undefined) return own;
    return resolve(dirname(own), path);
  }

  /** The client's address (REMOTE_ADDR). */
  remoteAddress(): string | undefined {
    return this.environ.REMOTE_ADDR;
  }

  /** True for https requests. */
  isSecure(): boolean {
    return this.environ['stackware.url_scheme'] === 'https';
  }

  // -- Raw bodies -------------------------------------------------------------------------------

  /**
   * The raw body stream (`stackware.input`). Single consumer; not available when the body was
   * a form (already parsed) or was read by {@link bytes}/{@link json}.
   * @throws Error naming the reason when the body was already read.
   */
  input(): InputStream {
    if (this.#bodyRead) throw new Error('The request body was already read (forms are parsed before awake(); use field()/files(), or read the body once)');
    this.#bodyRead = true;
    return this.environ['stackware.input'];
  }

  /**
   * The whole body as bytes, up to `maxBodyBytes` (the form limit, default 100 MiB).
   * @throws HTTPError 413 when larger.
   */
  async bytes(): Promise<Buffer> {
    this.input();
    return readBody(this.environ, { maxBytes: this.#limits.maxBodyBytes });
  }

  /**
   * The body parsed as JSON (RFC 8259).
   * @throws HTTPError 415 when Content-Type is not application/json or `+json`; 400 when the
   *   body is not valid JSON; 413 when larger than `maxBodyBytes`.
   */
  async json<T = unknown>(): Promise<T> {
    const type = (this.environ.CONTENT_TYPE ?? '').split(';')[0]!.trim().toLowerCase();
    if (type !== 'application/json' && !type.endsWith('+json')) {
      throw new HTTPError(415, `Expected a JSON body (Content-Type: application/json), got ${JSON.stringify(type || 'none')}`);
    }
    const body = await this.bytes();
    try {
      return JSON.parse(body.toString('utf8')) as T;
    } catch (error) {
      throw new HTTPError(400, `The request body is not valid JSON: ${(error as Error).message}`);
    }
  }
}
