/**
 * createEnviron remembers the environ key of each header name it has seen (and the last Host's
 * SERVER_NAME): the answers must be the same as computing them afresh, whatever the spelling, the
 * order, and past the cache's bound of 1024 names.
 */
import { describe, expect, it } from '@jest/globals';
import { createEnviron } from '../src/index.js';

const environ = (headers: Array<[string, string]>) => createEnviron({ method: 'GET', target: '/', headers });

describe('createEnviron header keys', () => {
  it('gives every spelling of a name the same key, drops names with "_", joins repeats', () => {
    for (let round = 0; round < 3; round++) {
      const e = environ([['x-thing', 'a'], ['X-Thing', 'b'], ['X_Thing', 'dropped'], ['content-type', 'text/plain'], ['Cookie', 'a=1'], ['cookie', 'b=2']]);
      expect(e.HTTP_X_THING).toBe('a, b');
      expect(e.CONTENT_TYPE).toBe('text/plain');
      expect(e.HTTP_CONTENT_TYPE).toBeUndefined();
      expect(e.HTTP_COOKIE).toBe('a=1; b=2');
      expect(Object.keys(e).filter((k) => k.includes('X_THING') && k !== 'HTTP_X_THING')).toEqual([]);
    }
  });

  it('stays right past 1024 distinct names (made-up names are not all remembered)', () => {
    for (let i = 0; i < 1500; i++) {
      const e = environ([[`X-Made-Up-${i}`, String(i)]]);
      expect(e[`HTTP_X_MADE_UP_${i}`]).toBe(String(i));
    }
    expect(environ([['Content-Length', '5'], ['Content-Length', '5']]).CONTENT_LENGTH).toBe('5');
    expect(() => environ([['Content-Length', '5'], ['content-length', '6']])).toThrow('Conflicting');
  });

  it('SERVER_NAME follows the Host of each request', () => {
    expect(environ([['Host', 'a.example:8080']]).SERVER_NAME).toBe('a.example');
    expect(environ([['Host', 'a.example:8080']]).SERVER_NAME).toBe('a.example');
    expect(environ([['Host', '[::1]:8080']]).SERVER_NAME).toBe('::1');
    expect(environ([['Host', 'b.example']]).SERVER_NAME).toBe('b.example');
    expect(environ([]).SERVER_NAME).toBe('localhost');
  });
});
