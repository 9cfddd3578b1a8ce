import { describe, it, expect } from '@jest/globals';
import {
  RecordParser, RecordType, FastCGIProtocolError, encodeRecord, encodeStream, encodeEndRequest, encodeUnknownType,
  encodeBeginRequest, decodeBeginRequest, encodeNameValuePairs, decodeNameValuePairs, paddingFor, FCGI_MAX_CONTENT,
} from '../src/fastcgi/records.js';

describe('FastCGI record codec', () => {
  it('encodes a header, the content and zero padding to a multiple of 8', () => {
    const record = encodeRecord(RecordType.STDOUT, 258, Buffer.from('hello'));
    expect([...record.subarray(0, 8)]).toEqual([1, 6, 1, 2, 0, 5, 3, 0]);
    expect(record.subarray(8, 13).toString()).toBe('hello');
    expect([...record.subarray(13)]).toEqual([0, 0, 0]);
    expect(record.length % 8).toBe(0);
    expect(encodeRecord(RecordType.STDOUT, 1).length).toBe(8);
    expect([0, 1, 7, 8, 9, 65535].map(paddingFor)).toEqual([0, 7, 1, 0, 7, 1]);
  });

  it('refuses content over 65535 bytes and splits streams into records of at most 65535', () => {
    expect(() => encodeRecord(RecordType.STDOUT, 1, Buffer.alloc(FCGI_MAX_CONTENT + 1))).toThrow(RangeError);
    const data = Buffer.alloc(200_000, 7);
    const records = encodeStream(RecordType.STDOUT, 3, data);
    expect(records.length).toBe(4);
    const parsed = new RecordParser().push(Buffer.concat(records));
    for (const r of parsed) expect(r.content.length).toBeLessThanOrEqual(FCGI_MAX_CONTENT);
    expect(Buffer.concat(parsed.map((r) => r.content)).equals(data)).toBe(true);
    for (const r of records) expect(r.length % 8).toBe(0);
    expect(encodeStream(RecordType.STDOUT, 3, Buffer.alloc(0))).toEqual([]);
  });

  it('parses records split at every byte boundary, keeping the rest for the next push', () => {
    const wire = Buffer.concat([encodeBeginRequest(1, 1, 1), encodeRecord(RecordType.PARAMS, 1, Buffer.from('abc')), encodeRecord(RecordType.STDIN, 1)]);
    for (let cut = 0; cut <= wire.length; cut++) {
      const parser = new RecordParser();
      const records = [...parser.push(wire.subarray(0, cut)), ...parser.push(wire.subarray(cut))];
      expect(records.map((r) => [r.type, r.requestId, r.content.toString()])).toEqual([[1, 1, records[0]!.content.toString()], [4, 1, 'abc'], [5, 1, '']]);
      expect(parser.pendingBytes).toBe(0);
    }
  });

  it('keeps a truncated record pending instead of delivering it', () => {
    const parser = new RecordParser();
    const record = encodeRecord(RecordType.STDIN, 1, Buffer.from('0123456789'));
    expect(parser.push(record.subarray(0, 12))).toEqual([]);
    expect(parser.pendingBytes).toBe(12);
    expect(parser.push(Buffer.alloc(0))).toEqual([]);
  });

  it('honours padding sent by the peer, whatever its length', () => {
    const header = Buffer.from([1, 5, 0, 1, 0, 2, 255, 0]);
    const wire = Buffer.concat([header, Buffer.from('hi'), Buffer.alloc(255), encodeRecord(RecordType.STDIN, 1)]);
    const records = new RecordParser().push(wire);
    expect(records.map((r) => r.content.toString())).toEqual(['hi', '']);
  });

  it('rejects a record version other than 1', () => {
    const bad = encodeRecord(RecordType.STDIN, 1, Buffer.from('x'));
    bad[0] = 2;
    expect(() => new RecordParser().push(bad)).toThrow(FastCGIProtocolError);
    expect(() => new RecordParser().push(bad)).toThrow(/version 2/);
  });

  it('encodes END_REQUEST, UNKNOWN_TYPE and BEGIN_REQUEST bodies', () => {
    const end = new RecordParser().push(encodeEndRequest(9, 0x01020304, 2))[0]!;
    expect(end.type).toBe(RecordType.END_REQUEST);
    expect([...end.content]).toEqual([1, 2, 3, 4, 2, 0, 0, 0]);
    const unknown = new RecordParser().push(encodeUnknownType(42))[0]!;
    expect([unknown.type, unknown.requestId, unknown.content[0]]).toEqual([RecordType.UNKNOWN_TYPE, 0, 42]);
    const begin = new RecordParser().push(encodeBeginRequest(5, 1, 1))[0]!;
    expect(decodeBeginRequest(begin.content)).toEqual({ role: 1, flags: 1 });
    expect(() => decodeBeginRequest(Buffer.alloc(4))).toThrow(FastCGIProtocolError);
  });

  it('round-trips name-value pairs with 1-byte and 4-byte lengths, repeats and raw bytes', () => {
    const long = 'x'.repeat(300);
    const encoded = encodeNameValuePairs([['A', 'b'], ['LONG', long], ['N'.repeat(128), ''], ['PATH_INFO', Buffer.from([0x2f, 0xff])], ['A', 'c']]);
    // "A"/"b": 1-byte lengths; LONG: value length 300 takes 4 bytes with the high bit set.
    expect([...encoded.subarray(0, 4)]).toEqual([1, 1, 0x41, 0x62]);
    expect([...encoded.subarray(4, 9)]).toEqual([4, 0x80, 0, 1, 44]);
    const decoded = decodeNameValuePairs(encoded);
    expect(decoded.map(([n, v]) => [n, v.length])).toEqual([['A', 1], ['LONG', 300], ['N'.repeat(128), 0], ['PATH_INFO', 2], ['A', 1]]);
    expect([...decoded[3]![1]]).toEqual([0x2f, 0xff]);
  });

  it('rejects truncated name-value pairs', () => {
    const encoded = encodeNameValuePairs([['NAME', 'value']]);
    for (let cut = 1; cut < encoded.length; cut++) expect(() => decodeNameValuePairs(encoded.subarray(0, cut))).toThrow(FastCGIProtocolError);
    expect(() => decodeNameValuePairs(Buffer.from([0x80, 0, 0]))).toThrow(/Truncated/);
    // a 4-byte length claiming 2 GiB
    expect(() => decodeNameValuePairs(Buffer.from([0xff, 0xff, 0xff, 0xff, 1, 0x41]))).toThrow(/past the end/);
  });
});
