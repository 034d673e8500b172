import { describe, expect, it } from 'vitest';
import { REPEATED_QUERY_TOKEN, authorizationHeaderCount, bearerToken, hasJwsShape, isB64Token, queryAccessToken } from './bearer.ts';
import { decodeProtectedHeader, duplicateOrDeepMember, splitCompactJws } from './jws-header.ts';

describe('bearerToken (RFC 6750 §2.1)', () => {
  it.each([
    ['Bearer abc', 'abc'],
    ['bearer abc', 'abc'],
    ['BEARER abc', 'abc'],
    ['Bearer', ''],
    ['Bearer  abc', ' abc'], // kept with its space, so the token syntax check refuses it
    ['Bearer\tabc', '\tabc'],
    ['Bearer abc def', 'abc def'],
    ['Basic YTpi', undefined],
    ['Bearerabc', undefined],
    ['Bear', undefined],
    ['', undefined],
    ['DPoP abc', undefined],
  ])('%j → %j', (header, expected) => {
    expect(bearerToken(header)).toBe(expected);
  });
});

describe('queryAccessToken (RFC 6750 §2.3)', () => {
  it.each([
    ['', undefined],
    ['a=1&b=2', undefined],
    ['access_token=abc', 'abc'],
    ['a=1&access_token=abc&b=2', 'abc'],
    ['access%5Ftoken=abc', 'abc'],
    ['access%5ftoken=abc', 'abc'],
    ['access_token=a%2Bb', 'a+b'],
    ['access_token=a+b', 'a b'],
    ['access_token', ''],
    ['access_token=', ''],
    ['access_tokenx=abc', undefined],
    ['xaccess_token=abc', undefined],
    ['access_token=%E0%A4%A', '%E0%A4%A'],
    ['%zz=1&access_token=abc', 'abc'],
    ['access_token=a&access_token=b', REPEATED_QUERY_TOKEN],
    ['access_token=a&access%5Ftoken=b', REPEATED_QUERY_TOKEN],
  ])('%j → %j', (query, expected) => {
    expect(queryAccessToken(query)).toBe(expected);
  });
});

describe('token shapes', () => {
  it.each([
    ['a.b.c', true],
    ['', true],
    ['eyJhbGciOiJFUzI1NiJ9.e30.sig extra.x', true],
    ['eyJhbGciOiJFUzI1NiJ9.a.b.c.d', true], // a JWE (5 parts) is still the jwt policy's to refuse
    ['2YotnFZFEjr1zCsicMWpAA', false],
    ['a.b', false],
    ['a.b.c.d', false],
    ['eyJnoDot', false],
  ])('hasJwsShape(%j) → %j', (token, expected) => {
    expect(hasJwsShape(token)).toBe(expected);
  });

  it.each([
    ['2YotnFZFEjr1zCsicMWpAA', true],
    ['abc-._~+/==', true],
    ['a b', false],
    ['abc=d', false],
    ['', false],
    ['tök', false],
  ])('isB64Token(%j) → %j', (token, expected) => {
    expect(isB64Token(token)).toBe(expected);
  });

  it('counts Authorization header lines in any case', () => {
    expect(authorizationHeaderCount(['Host', 'x', 'Authorization', 'a', 'AUTHORIZATION', 'b', 'authorization', 'c'])).toBe(3);
    expect(authorizationHeaderCount(['Host', 'x', 'Proxy-Authorization', 'a'])).toBe(0);
  });
});

describe('JWS header reading', () => {
  const b64u = (text: string) => Buffer.from(text).toString('base64url');

  it.each([
    ['{"alg":"ES256","alg":"none"}', 'appears twice'],
    ['{"alg":"ES256","\\u0061lg":"none"}', 'appears twice'],
    ['{"alg":"ES256","x":{"a":1,"a":2}}', 'appears twice'],
    ['{"alg":"ES256","x":[[[[[1]]]]]}', 'nests too deep'],
    ['{"alg":"ES256","x":"{\\"alg\\":1,\\"alg\\":2}"}', undefined], // inside a string value: not members
    ['{"alg":"ES256","kid":"a\\"b","x":{"kid":1}}', undefined], // same name in a nested object is fine
  ])('duplicateOrDeepMember(%s) → %j', (json, expected) => {
    JSON.parse(json);
    const found = duplicateOrDeepMember(json);
    if (expected === undefined) expect(found).toBeUndefined();
    else expect(found).toContain(expected);
  });

  it('refuses headers that are not UTF-8 JSON objects', () => {
    expect(decodeProtectedHeader(b64u('[1]'))).toBe('header is not a JSON object');
    expect(decodeProtectedHeader(b64u('null'))).toBe('header is not a JSON object');
    expect(decodeProtectedHeader(b64u('{'))).toBe('header is not JSON');
    expect(decodeProtectedHeader(Buffer.from([0xc3, 0x28]).toString('base64url'))).toBe('header is not UTF-8');
    expect(decodeProtectedHeader(b64u('{"alg":"ES256"}'))).toEqual({ alg: 'ES256' });
  });

  it('splits only well-formed compact serializations', () => {
    expect(splitCompactJws('ab.cd.ef')).toEqual(['ab', 'cd', 'ef']);
    expect(splitCompactJws('ab.cd')).toMatch(/2 parts/);
    expect(splitCompactJws('ab..ef')).toBe('empty payload');
    expect(splitCompactJws('ab.cd=.ef')).toBe('payload is not base64url');
    expect(splitCompactJws('ab.cd.e/')).toBe('signature is not base64url');
    // A length of 4n+1 is never base64url.
    expect(splitCompactJws('abcde.cd.ef')).toBe('header is not base64url');
  });
});
