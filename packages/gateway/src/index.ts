/**
 * @stackware/gateway — the Stackware gateway interface (SPEC.md): types, the validator,
 * the TestClient, the shared response driver for servers, and small helpers.
 */
export type {
  Application, Middleware, Environ, StartResponse, WriteFunction, ResponseBody, Header, Headers,
  InputStream, ErrorStream, FileWrapper, FileWrapperFactory, FileWrapperOptions,
} from './types.js';
export { VERSION } from './types.js';
export { getHeader, getHeaders, setHeader, removeHeader, requestHeader, environKey, HOP_BY_HOP_HEADERS, isHopByHop } from './headers.js';
export { requestUri, applicationUri, hostUrl, shiftPathInfo, decodePath, unsafePathReason, quotePath, iriToUri } from './uri.js';
export { HTTPError, isHTTPError, statusLine, statusCode, type HTTPErrorOptions } from './http-error.js';
export { text, html, json, redirect, notFound, bytesResponse, escapeHtml, type ResponseInit } from './responses.js';
export { formatBytes } from './format-bytes.js';
export { prettyLogLine, logFormatFor, type PrettyLogOptions } from './log-format.js';
export { compose } from './compose.js';
export { bytes, readBody, collectBody, isIterableBody, onBodyClose, type ReadBodyOptions } from './body.js';
export { createInput, emptyInput, InputConsumedError } from './input.js';
export { fileWrapper, isFileWrapper, resolveFileWrapperLength } from './file-wrapper.js';
export { createEnviron, addInterfaceKeys, BadRequestError, stderrErrors, type RequestInit, type InterfaceOptions, type InterfaceKeys } from './environ.js';
export { runApplication, ClientDisconnectedError, type ResponseSink, type SinkSignal, type RunOptions, type RunResult, type ErrorPhase } from './run.js';
export { validator, checkEnviron, checkResponseStart, checkBodiesClosed, ValidationError, RULES, type ValidationRule } from './validator.js';
export { TestClient, type TestClientOptions, type RequestOptions, type TestResponse } from './test-client.js';
export { CookieJar, type StoredCookie } from './cookies.js';
export type {
  OptionType, FactoryContext, FactoryOptions, AppFactory, FilterFactory, ServerFactory, RunningServer, StackwareFactories,
} from './factories.js';
export { TO_APPLICATION, asApplication, type ApplicationSource } from './to-application.js';
export {
  REQUEST_ID_KEY, requestId, getRequestId, FORWARDED_ORIGINAL_KEY, getOriginalRemote, RESOURCE_PATH_KEY, getResourcePath,
  SESSION_KEY, hasSession, CONFIG_SETTINGS_KEY, CONFIG_LOCATION_KEY, type OriginalRemote,
} from './keys.js';
export { accessLogRecord, type AccessLogRecord, type AccessLogRequest } from './access-log.js';
