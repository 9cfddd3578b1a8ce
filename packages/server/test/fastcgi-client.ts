/** A minimal FastCGI client for tests: raw records over a socket, collected per request id. */
import { connect, type Socket } from 'node:net';
import { decodePath } from '@stackware/gateway';
import { RecordParser, RecordType, encodeBeginRequest, encodeNameValuePairs, encodeRecord, encodeStream, type FcgiRecord } from '../src/fastcgi/records.js';

export interface FcgiResult {
  stdout: Buffer;
  stderr: string;
  appStatus: number;
  protocolStatus: number;
  records: FcgiRecord[];
}

export class FcgiTestClient {
  readonly socket: Socket;
  readonly records: FcgiRecord[] = [];
  closed = false;
  private readonly parser = new RecordParser();
  private waiters: Array<() => void> = [];

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => {
      this.records.push(...this.parser.push(chunk));
      this.wake();
    });
    socket.on('close', () => { this.closed = true; this.wake(); });
    socket.on('error', () => undefined);
  }

  static async connect(target: { port: number } | { socket: string }): Promise<FcgiTestClient> {
    const socket = 'port' in target ? connect(target.port, '127.0.0.1') : connect(target.socket);
    await new Promise<void>((resolve, reject) => { socket.once('connect', resolve); socket.once('error', reject); });
    return new FcgiTestClient(socket);
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  /** Waits until `predicate` holds over the records received (or the connection closed); bounded. */
  async until(predicate: () => boolean, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate()) {
      if (this.closed) return;
      if (Date.now() > deadline) throw new Error('FastCGI test client: timed out waiting for records');
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 200);
        this.waiters.push(() => { clearTimeout(t); resolve(); });
      });
    }
  }

  write(data: Buffer | Buffer[]): void {
    this.socket.write(Array.isArray(data) ? Buffer.concat(data) : data);
  }

  /** Sends BEGIN_REQUEST, PARAMS (with the empty terminator) and STDIN (with the terminator unless `stdinOpen`). */
  begin(id: number, params: Array<[string, string | Buffer]>, options: { keepConn?: boolean; stdin?: Buffer; stdinOpen?: boolean; role?: number } = {}): void {
    const parts = [encodeBeginRequest(id, options.role ?? 1, options.keepConn ? 1 : 0)];
    parts.push(...encodeStream(RecordType.PARAMS, id, encodeNameValuePairs(params)), encodeRecord(RecordType.PARAMS, id));
    if (options.stdin) parts.push(...encodeStream(RecordType.STDIN, id, options.stdin));
    if (!options.stdinOpen) parts.push(encodeRecord(RecordType.STDIN, id));
    this.write(parts);
  }

  ended(id: number): boolean {
    return this.records.some((r) => r.type === RecordType.END_REQUEST && r.requestId === id);
  }

  result(id: number): FcgiResult {
    const mine = this.records.filter((r) => r.requestId === id);
    const end = mine.find((r) => r.type === RecordType.END_REQUEST);
    return {
      stdout: Buffer.concat(mine.filter((r) => r.type === RecordType.STDOUT).map((r) => r.content)),
      stderr: Buffer.concat(mine.filter((r) => r.type === RecordType.STDERR).map((r) => r.content)).toString(),
      appStatus: end ? end.content.readUInt32BE(0) : -1,
      protocolStatus: end ? end.content[4]! : -1,
      records: mine,
    };
  }

  async request(id: number, params: Array<[string, string | Buffer]>, options: { keepConn?: boolean; stdin?: Buffer } = {}): Promise<FcgiResult> {
    this.begin(id, params, options);
    await this.until(() => this.ended(id));
    return this.result(id);
  }

  close(): void {
    this.socket.destroy();
  }
}

/** CGI variables for a GET of `uri` ("/a/b?x=1") at the root mount, as nginx would send them. */
export function cgiParams(uri: string, extra: Array<[string, string | Buffer]> = [], method = 'GET'): Array<[string, string | Buffer]> {
  const q = uri.indexOf('?');
  const path = q === -1 ? uri : uri.slice(0, q);
  return [
    ['REQUEST_METHOD', method], ['REQUEST_URI', uri], ['SCRIPT_NAME', ''], ['PATH_INFO', decodePath(path) ?? path],
    ['QUERY_STRING', q === -1 ? '' : uri.slice(q + 1)], ['SERVER_NAME', 'localhost'], ['SERVER_PORT', '80'],
    ['SERVER_PROTOCOL', 'HTTP/1.1'], ['REMOTE_ADDR', '127.0.0.1'], ['HTTP_HOST', 'localhost'], ...extra,
  ];
}

/** Splits a CGI response into status, headers and body. */
export function parseCgiResponse(data: Buffer): { status: string; headers: Array<[string, string]>; body: Buffer } {
  const end = data.indexOf('\r\n\r\n');
  if (end === -1) throw new Error(`No end of headers in ${JSON.stringify(data.subarray(0, 200).toString())}`);
  const lines = data.subarray(0, end).toString('latin1').split('\r\n');
  const headers = lines.map((l) => { const i = l.indexOf(':'); return [l.slice(0, i), l.slice(i + 1).trim()] as [string, string]; });
  const status = headers.find(([n]) => n === 'Status')?.[1] ?? '';
  return { status, headers: headers.filter(([n]) => n !== 'Status'), body: data.subarray(end + 4) };
}
