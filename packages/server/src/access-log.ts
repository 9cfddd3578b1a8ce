// The access-log record is owned by @stackware/gateway (one builder for every gateway and for accessLog()).
export { accessLogRecord, type AccessLogRecord } from '@stackware/gateway';
