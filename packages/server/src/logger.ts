// The logger is owned by @stackware/gateway (its "./logger" entry point, so that importing the
// gateway does not load pino); the server and accessLog() (@stackware/middleware) share it.
export { createLogger, flushLogger, prettyLine, type Logger, type LoggerOptions } from '@stackware/gateway/logger';
