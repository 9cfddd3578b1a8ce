import { BadRequestError, addInterfaceKeys, decodePath, unsafePathReason, type Environ, type InterfaceOptions } from '@stackware/gateway';

/** What a CGI-style gateway (FastCGI, SCGI, CGI) knows besides the variables: the inputs of the `stackware.*` keys. */
export type CgiEnvironOptions = InterfaceOptions;

/** A CGI variable value: bytes as received (FastCGI/SCGI) or an already-decoded string (process.env). */
export type CgiValue = string | Uint8Array;

const NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;
const METHOD_RE = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Latin-1 for request bytes (HTTP_*, REQUEST_URI, QUERY_STRING: as node:http decodes them), UTF-8 for the rest (paths, names). */
function asText(value: CgiValue, name = ''): string {
  if (typeof value === 'string') return value;
  const bytes = Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  const latin1 = name.startsWith('HTTP_') || name === 'REQUEST_URI' || name === 'QUERY_STRING';
  return bytes.toString(latin1 ? 'latin1' : 'utf8');
}

/** Names already checked against NAME_RE (front servers send the same few dozen names every time). */
const validNames = new Set<string>();

function isCgiName(name: string): boolean {
  if (validNames.has(name)) return true;
  if (!NAME_RE.test(name) || name === '__proto__') return false;
  if (validNames.size < 1024) validNames.add(name);
  return true;
}

function asUtf8(name: string, value: CgiValue): string {
  if (typeof value === 'string') return value;
  try {
    return utf8.decode(value);
  } catch {
    throw new BadRequestError(`${name} is not valid UTF-8`);
  }
}

/**
 * Builds the environ for one request from CGI meta-variables (RFC 3875 §4.1), as a front server
 * sends them over FastCGI or SCGI, or as a CGI process finds them in its environment.
 * Used by every CGI-style gateway so that they agree:
 * - Variables are taken as given; a name given twice keeps the later value (nginx sends
 *   SCRIPT_NAME twice when a config overrides `fastcgi_params`). Names that are not
 *   `[A-Za-z_][A-Za-z0-9_]*` are dropped, so no variable can set a `stackware.*` key.
 * - SCRIPT_NAME and PATH_INFO are decoded as UTF-8 (400 when not valid). A trailing "/" of
 *   SCRIPT_NAME moves to PATH_INFO ("/" alone becomes ""); PATH_INFO, when absent, is what
 *   REQUEST_URI's decoded path has beyond SCRIPT_NAME, or "".
 * - REQUEST_URI, when given, must be valid percent-encoded UTF-8 (400), like the HTTP server's path.
 * - Neither REQUEST_URI's decoded path nor SCRIPT_NAME + PATH_INFO may contain NUL (`%00`) or a
 *   dot segment ("/a/../b", "%2e%2e"): 400, as from the HTTP server (packages/gateway/SPEC.md).
 * - Values given as bytes: HTTP_*, REQUEST_URI and QUERY_STRING are decoded as Latin-1 (each byte
 *   one character, as node:http decodes headers); other variables (DOCUMENT_ROOT, SERVER_NAME...)
 *   as UTF-8.
 * - `stackware.url_scheme` is "https" when HTTPS is "on"/"1" or REQUEST_SCHEME is "https".
 * - An empty value counts as unset (§4.1: nginx sends REMOTE_USER "" without authentication),
 *   except for HTTP_* and QUERY_STRING.
 * - CONTENT_LENGTH must be decimal digits; HTTP_CONTENT_LENGTH and HTTP_CONTENT_TYPE are dropped.
 * @throws BadRequestError (status 400) for an invalid path, method or CONTENT_LENGTH.
 */
export function environFromCgi(variables: Iterable<readonly [string, CgiValue]>, options: CgiEnvironOptions = {}): Environ {
  const vars = new Map<string, CgiValue>();
  for (const [name, value] of variables) if (isCgiName(name)) vars.set(name, value);

  const requestUri = vars.has('REQUEST_URI') ? asText(vars.get('REQUEST_URI')!, 'REQUEST_URI') : undefined;
  let rawPath: string | undefined;
  if (requestUri !== undefined && requestUri !== '') {
    const q = requestUri.indexOf('?');
    rawPath = q === -1 ? requestUri : requestUri.slice(0, q);
    if (decodePath(rawPath) === undefined) throw new BadRequestError(`The request path is not valid percent-encoded UTF-8: ${JSON.stringify(rawPath.slice(0, 200))}`);
  }

  let scriptName = vars.has('SCRIPT_NAME') ? asUtf8('SCRIPT_NAME', vars.get('SCRIPT_NAME')!) : '';
  let pathInfo: string;
  if (vars.has('PATH_INFO')) {
    pathInfo = asUtf8('PATH_INFO', vars.get('PATH_INFO')!);
  } else {
    const decoded = rawPath !== undefined ? decodePath(rawPath)! : '';
    pathInfo = decoded.startsWith(scriptName) ? decoded.slice(scriptName.length) : '';
  }
  if (scriptName && !scriptName.startsWith('/')) scriptName = '/' + scriptName;
  while (scriptName.endsWith('/')) {
    scriptName = scriptName.slice(0, -1);
    if (!pathInfo.startsWith('/')) pathInfo = '/' + pathInfo;
  }
  if (pathInfo && !pathInfo.startsWith('/')) pathInfo = '/' + pathInfo;
  const unsafe = (rawPath !== undefined ? unsafePathReason(decodePath(rawPath)!) : undefined) ?? unsafePathReason(scriptName + pathInfo);
  if (unsafe !== undefined) throw new BadRequestError(`${unsafe}: ${JSON.stringify((rawPath ?? scriptName + pathInfo).slice(0, 200))}`);

  const method = vars.has('REQUEST_METHOD') ? asText(vars.get('REQUEST_METHOD')!) : 'GET';
  if (!METHOD_RE.test(method)) throw new BadRequestError(`Invalid REQUEST_METHOD ${JSON.stringify(method.slice(0, 50))}`);
  const https = vars.has('HTTPS') ? asText(vars.get('HTTPS')!).toLowerCase() : '';
  const requestScheme = vars.has('REQUEST_SCHEME') ? asText(vars.get('REQUEST_SCHEME')!).toLowerCase() : '';
  const scheme = https === 'on' || https === '1' || requestScheme === 'https' ? 'https' : 'http';

  const environ: Environ = addInterfaceKeys({
    REQUEST_METHOD: method,
    SCRIPT_NAME: scriptName,
    PATH_INFO: pathInfo,
    QUERY_STRING: '',
    SERVER_NAME: 'localhost',
    SERVER_PORT: scheme === 'https' ? '443' : '80',
    SERVER_PROTOCOL: 'HTTP/1.1',
  }, scheme, options);
  for (const [name, value] of vars) {
    if (name === 'REQUEST_METHOD' || name === 'SCRIPT_NAME' || name === 'PATH_INFO') continue;
    if (name === 'HTTP_CONTENT_LENGTH' || name === 'HTTP_CONTENT_TYPE') continue;
    const text = asText(value, name);
    // RFC 3875 §4.1: a zero-length value is the same as unset. nginx sends REMOTE_USER "" without
    // authentication; an application must not see an authenticated empty user. HTTP_* (an empty
    // header is still a header) and QUERY_STRING keep "".
    if (text === '' && !name.startsWith('HTTP_') && name !== 'QUERY_STRING') continue;
    environ[name] = text;
  }
  if (environ.CONTENT_LENGTH !== undefined && !/^\d{1,15}$/.test(environ.CONTENT_LENGTH)) throw new BadRequestError(`Invalid CONTENT_LENGTH ${JSON.stringify(environ.CONTENT_LENGTH.slice(0, 50))}`);
  if (environ.SERVER_NAME === '' && typeof environ.HTTP_HOST === 'string') environ.SERVER_NAME = environ.HTTP_HOST.replace(/:\d+$/, '');
  return environ;
}
