// The request id and its environ key are owned by @stackware/gateway (src/keys.ts).
export { requestId, getRequestId, REQUEST_ID_KEY } from '@stackware/gateway';
