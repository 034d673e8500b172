import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import {
  canonicalizeRequestTarget,
  DEFAULT_CANONICAL_OPTIONS,
  REASON_TOO_LONG,
  type CanonicalOptions,
} from './canonical-path.ts';
import { PATH_CONFUSION_CASES } from '../../test/fixtures/path-confusion-cases.ts';

type Row = [target: string, expected: string | { reject: string }, query?: string];

const rejects = (reason: string) => ({ reject: reason });

// Hostile-input table (default options). Expected: canonical path, or the rejection reason.
const TABLE: Row[] = [
  // origin-form only
  ['', rejects('empty request target')],
  ['*', rejects('asterisk-form request target')],
  ['http://example.com/a', rejects('absolute-form request target')],
  ['HTTP://example.com/a', rejects('absolute-form request target')],
  ['example.com:443', rejects('request target is not origin-form')],
  ['a/b', rejects('request target is not origin-form')],
  ['//example.com/a', rejects('scheme-relative request target')],
  ['//', rejects('scheme-relative request target')],
  ['///a', rejects('scheme-relative request target')],
  // unchanged (fast path)
  ['/', '/'],
  ['/a', '/a'],
  ['/a/b/', '/a/b/'],
  ['/a/b.json', '/a/b.json'],
  ['/a/b..c', '/a/b..c'],
  ['/a/...', '/a/...'],
  ["/a/!$&'()*+,=:@-_~", "/a/!$&'()*+,=:@-_~"],
  ['/users/me?x=1&y=%20', '/users/me', 'x=1&y=%20'],
  ['/a?', '/a', ''],
  ['/a??b', '/a', '?b'],
  ['/a?b/../c', '/a', 'b/../c'],
  // query hygiene
  ['/a?x=%zz', rejects('invalid percent escape in query')],
  ['/a?x=%4', rejects('invalid percent escape in query')],
  ['/a?x=1 2', rejects('raw space in query')],
  ['/a?x=\x00', rejects('control character in query')],
  ['/a?x=\t', rejects('control character in query')],
  ['/a?x=\x7f', rejects('control character in query')],
  ['/a?x=\u00e9', rejects('raw non-ascii in query')],
  ['/a?x=1#frag', rejects('fragment in request target')],
  ['/a?x=%00', '/a', 'x=%00'], // the query is the upstream's to parse; only its syntax is checked
  // raw characters in the path
  ['/a#b', rejects('fragment in request target')],
  ['/a b', rejects('raw space in path')],
  ['/a\x00b', rejects('control character in path')],
  ['/a\rb', rejects('control character in path')],
  ['/a\nb', rejects('control character in path')],
  ['/a\tb', rejects('control character in path')],
  ['/a\x7fb', rejects('control character in path')],
  ['/a\\b', rejects('backslash in path')],
  ['/a\u00e9', rejects('raw non-ascii in path')],
  ['/a\u00c0\u00ae', rejects('raw non-ascii in path')],
  ['/a\u2215b', rejects('raw non-ascii in path')], // DIVISION SLASH
  ['/a;b', rejects('path parameter (;) in path')],
  ['/a|b', rejects('character not allowed in path')],
  ['/a{b}', rejects('character not allowed in path')],
  ['/a<b>', rejects('character not allowed in path')],
  ['/a"b', rejects('character not allowed in path')],
  ['/a`b', rejects('character not allowed in path')],
  ['/a^b', rejects('character not allowed in path')],
  ['/a[0]', rejects('character not allowed in path')],
  // raw characters are also checked after the fast path bailed out
  ['/%61/a b', rejects('raw space in path')],
  ['/./a\\b', rejects('backslash in path')],
  ['/%61\u00e9', rejects('raw non-ascii in path')],
  ['/%61;x', rejects('path parameter (;) in path')],
  ['/%61#x', rejects('fragment in request target')],
  ['/%61?x y', rejects('raw space in query')],
  // percent escapes: syntax
  ['/a%', rejects('invalid percent escape')],
  ['/a%2', rejects('invalid percent escape')],
  ['/a%zz', rejects('invalid percent escape')],
  ['/a%2g', rejects('invalid percent escape')],
  ['/a%%41', rejects('invalid percent escape')],
  ['/a%2?x', rejects('invalid percent escape')],
  // unreserved escapes are decoded
  ['/%61%62%63', '/abc'],
  ['/%41%5A%30%39', '/AZ09'],
  ['/%2D%2E%5F%7E', '/-._~'],
  ['/%2d%5f%7e', '/-_~'],
  ['/a%2Eb', '/a.b'],
  // reserved and other escapes stay encoded, with upper-case hex
  ['/a%3a', '/a%3A'],
  ['/a%3A', '/a%3A'],
  ['/a%20b', '/a%20b'],
  ['/a%2b', '/a%2B'],
  ['/a%3b', '/a%3B'],
  ['/a%40b', '/a%40b'],
  ['/%7b%7d', '/%7B%7D'],
  ['/100%25', '/100%25'],
  ['/100%25x', '/100%25x'],
  ['/a%2c%2C', '/a%2C%2C'],
  // forbidden escapes
  ['/a%2Fb', rejects('encoded slash')],
  ['/a%2fb', rejects('encoded slash')],
  ['/a%5Cb', rejects('encoded backslash')],
  ['/a%5cb', rejects('encoded backslash')],
  ['/a%00', rejects('encoded null byte')],
  ['/a%01', rejects('encoded control character')],
  ['/a%0a', rejects('encoded control character')],
  ['/a%0D%0AX-Injected:1', rejects('encoded control character')],
  ['/a%1F', rejects('encoded control character')],
  ['/a%7F', rejects('encoded control character')],
  ['/a%2500', rejects('double percent-encoding')],
  ['/a%252e', rejects('double percent-encoding')],
  ['/a%252F', rejects('double percent-encoding')],
  ['/a%25%32%65', rejects('double percent-encoding')], // decodes to "%252e": caught after decoding
  ['/a%25a%61', rejects('double percent-encoding')], // decodes to "%25aa"
  ['/a%25%2e', '/a%25.'],
  ['/a%23b', rejects('encoded fragment delimiter')],
  ['/a%3Fb', rejects('encoded query delimiter')],
  ['/a%3fb', rejects('encoded query delimiter')],
  // UTF-8 in escapes
  ['/caf%C3%A9', '/caf%C3%A9'],
  ['/caf%c3%a9', '/caf%C3%A9'],
  ['/%E2%82%AC', '/%E2%82%AC'], // U+20AC, three bytes
  ['/%e2%82%ac/x', '/%E2%82%AC/x'],
  ['/%F0%9F%98%80', '/%F0%9F%98%80'], // U+1F600, four bytes
  ['/%F4%8F%BF%BF', '/%F4%8F%BF%BF'], // U+10FFFF, the last code point
  ['/%EF%BF%BD', '/%EF%BF%BD'], // U+FFFD
  ['/%C0%AE', rejects('overlong utf-8')],
  ['/%C1%81', rejects('overlong utf-8')],
  ['/%E0%80%AE', rejects('overlong utf-8')],
  ['/%E0%9F%BF', rejects('overlong utf-8')],
  ['/%F0%8F%BF%BF', rejects('overlong utf-8')],
  ['/%ED%A0%80', rejects('invalid utf-8 (surrogate)')],
  ['/%ED%BF%BF', rejects('invalid utf-8 (surrogate)')],
  ['/%F4%90%80%80', rejects('invalid utf-8 (code point beyond U+10FFFF)')],
  ['/%F5%80%80%80', rejects('invalid utf-8 (code point beyond U+10FFFF)')],
  ['/%FF', rejects('invalid utf-8 (code point beyond U+10FFFF)')],
  ['/%80', rejects('invalid utf-8 (stray continuation byte)')],
  ['/a%BF', rejects('invalid utf-8 (stray continuation byte)')],
  ['/%C3', rejects('invalid utf-8 (truncated sequence)')],
  ['/%C3a', rejects('invalid utf-8 (truncated sequence)')],
  ['/%E2%82', rejects('invalid utf-8 (truncated sequence)')],
  ['/%E2%82/', rejects('invalid utf-8 (truncated sequence)')],
  ['/%C3%41', rejects('invalid utf-8 (bad continuation byte)')],
  ['/%C3%C3', rejects('invalid utf-8 (bad continuation byte)')],
  ['/%C3%zz', rejects('invalid percent escape')],
  // duplicate slashes and dot segments (RFC 3986 §5.2.4)
  ['/a//b', '/a/b'],
  ['/a///b//', '/a/b/'],
  ['/a/./b', '/a/b'],
  ['/a/../b', '/b'],
  ['/a/b/../../c', '/c'],
  ['/a/b/.', '/a/b/'],
  ['/a/b/..', '/a/'],
  ['/a/..', '/'],
  ['/.', '/'],
  ['/./', '/'],
  ['/a/./', '/a/'],
  ['/a/.b', '/a/.b'],
  ['/.well-known/x', '/.well-known/x'],
  ['/a/..b/c', '/a/..b/c'],
  ['/..', rejects('dot segment escapes root')],
  ['/../a', rejects('dot segment escapes root')],
  ['/a/../..', rejects('dot segment escapes root')],
  ['/a/../../b', rejects('dot segment escapes root')],
  ['/a//../..', rejects('dot segment escapes root')],
  ['/%2e%2e', rejects('dot segment escapes root')],
  ['/a/%2e%2e', '/'],
  ['/a/b/%2E%2E/c', '/a/c'],
  ['/a/.%2e/c', '/c'],
  ['/a/%2e./c', '/c'],
  ['/a/%2e/c', '/a/c'],
  ['/a/%2e%2e%2e/c', '/a/.../c'],
  ['/a/%2e%2e?x=/../..', '/', 'x=/../..'],
  // length
  ['/' + 'a'.repeat(8191), '/' + 'a'.repeat(8191)],
  ['/' + 'a'.repeat(8192), rejects(REASON_TOO_LONG)],
];

function check(target: string, options: CanonicalOptions = DEFAULT_CANONICAL_OPTIONS) {
  return canonicalizeRequestTarget(target, options);
}

describe('canonicalizeRequestTarget: hostile-input table', () => {
  it('has a large table', () => {
    expect(TABLE.length).toBeGreaterThanOrEqual(60);
  });

  it.each(TABLE.map((row) => [JSON.stringify(row[0]).slice(0, 80), row] as const))('%s', (_label, row) => {
    const [target, expected, query] = row;
    const result = check(target);
    if (typeof expected === 'string') {
      expect(result).toEqual({ ok: true, path: expected, query: query ?? '' });
    } else {
      expect(result).toEqual({ ok: false, reason: expected.reject });
    }
  });
});

describe('canonicalizeRequestTarget: path-confusion CVE cases', () => {
  it.each(PATH_CONFUSION_CASES.map((c) => [c.id, c] as const))('%s', (_id, testCase) => {
    const result = check(testCase.request);
    if (testCase.expect.reject) {
      expect(result.ok, `${testCase.advisory}: ${testCase.description}`).toBe(false);
      return;
    }
    expect(result).toEqual({ ok: true, path: testCase.expect.canonical, query: testCase.expect.query ?? '' });
  });

  it('never lets a request that reaches the public tree carry a protected path', () => {
    for (const testCase of PATH_CONFUSION_CASES) {
      const result = check(testCase.request);
      if (!result.ok) continue;
      const underPublic = result.path === '/public' || result.path.startsWith('/public/');
      if (underPublic) expect(result.path.startsWith('/admin')).toBe(false);
    }
  });

  it('covers every advisory named in the architecture', () => {
    const advisories = new Set(PATH_CONFUSION_CASES.map((c) => c.advisory));
    for (const name of ['CVE-2019-9901', 'CVE-2021-29492', 'CVE-2021-43557', 'GHSA-7rh7-c77v-6434', 'GHSA-pxq7-h93f-9jrg', 'GHSA-p224-6x5r-fjpm']) {
      const cases = PATH_CONFUSION_CASES.filter((c) => c.advisory.includes(name));
      expect(cases.length, name).toBeGreaterThanOrEqual(2);
    }
    expect(advisories.size).toBeGreaterThanOrEqual(12);
    expect(new Set(PATH_CONFUSION_CASES.map((c) => c.id)).size).toBe(PATH_CONFUSION_CASES.length);
  });
});

describe('canonicalizeRequestTarget: options', () => {
  const semicolons: CanonicalOptions = { ...DEFAULT_CANONICAL_OPTIONS, allowSemicolons: true };

  it('accepts path parameters when allowed, keeping them as data', () => {
    expect(check('/a;v=1/b', semicolons)).toEqual({ ok: true, path: '/a;v=1/b', query: '' });
    expect(check('/a/b;jsessionid=x', semicolons)).toEqual({ ok: true, path: '/a/b;jsessionid=x', query: '' });
    expect(check('/%61;x//b', semicolons)).toEqual({ ok: true, path: '/a;x/b', query: '' });
  });

  it('still refuses dot and empty segments that carry parameters (the "..;/" class)', () => {
    for (const target of ['/a/..;/b', '/a/..;x=1/b', '/a/.;/b', '/a/%2e%2e;/b', '/;x/admin', '/a/;/b', '/a/.%2E;jsessionid=1']) {
      expect(check(target, semicolons), target).toEqual({ ok: false, reason: 'dot or empty segment with path parameter' });
    }
    // a parameter after an ordinary segment followed by ".." is resolved like any segment
    expect(check('/a/b;x/../c', semicolons)).toEqual({ ok: true, path: '/a/c', query: '' });
  });

  it('accepts %23 and %3F when encoded delimiters are allowed, normalising the hex', () => {
    const delimiters: CanonicalOptions = { ...DEFAULT_CANONICAL_OPTIONS, allowEncodedDelimiters: true };
    expect(check('/tags/c%23', delimiters)).toEqual({ ok: true, path: '/tags/c%23', query: '' });
    expect(check('/a%3fb', delimiters)).toEqual({ ok: true, path: '/a%3Fb', query: '' });
  });

  it('applies maxLength to the whole request-target, query included', () => {
    const short: CanonicalOptions = { ...DEFAULT_CANONICAL_OPTIONS, maxLength: 10 };
    expect(check('/abcdefghi', short).ok).toBe(true);
    expect(check('/abcdefghij', short)).toEqual({ ok: false, reason: REASON_TOO_LONG });
    expect(check('/a?bcdefghij', short)).toEqual({ ok: false, reason: REASON_TOO_LONG });
  });

  it('defaults to the default options', () => {
    expect(canonicalizeRequestTarget('/a;b')).toEqual({ ok: false, reason: 'path parameter (;) in path' });
    expect(canonicalizeRequestTarget('/' + 'a'.repeat(9000))).toEqual({ ok: false, reason: REASON_TOO_LONG });
  });
});

/** Deterministic PRNG (mulberry32) so property runs are reproducible. */
function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('canonicalizeRequestTarget: properties (seeded random targets)', () => {
  const pieces = ['/', '/', '/', 'a', 'b', '.', '..', '%2e', '%2E', '%61', '%3a', '%3A', '%C3%A9', '%c3%a9', '%2F', '%25', '%252e',
    ';', '?', '#', '%', '%zz', '\\', '~', '%7e', '%C0%AE', '%E2%82%AC', '-', '_', ':', '@', '%20', 'x=1', '%32', '%65', '2e',
    '%3', 'F', '%2', '%41'];

  function randomTarget(random: () => number): string {
    let target = '/';
    const count = 1 + Math.floor(random() * 10);
    for (let i = 0; i < count; i++) target += pieces[Math.floor(random() * pieces.length)];
    return target;
  }

  it('is idempotent and its output has no dot segments, duplicate slashes or non-canonical escapes', () => {
    const random = mulberry32(0x5eed);
    let accepted = 0;
    for (let n = 0; n < 20000; n++) {
      const target = randomTarget(random);
      const first = check(target);
      if (!first.ok) continue;
      accepted++;
      const again = check(first.path + (first.query === '' ? '' : '?' + first.query));
      expect(again, target).toEqual(first);
      const path = first.path;
      expect(path.startsWith('/'), target).toBe(true);
      expect(path.includes('//'), target).toBe(false);
      expect(/(^|\/)\.\.?(\/|$)/.test(path), target).toBe(false);
      expect(/%[0-9A-F]?[a-f]/.test(path), target).toBe(false);
      expect(/%25[0-9A-Fa-f]{2}/.test(path), target).toBe(false);
      expect(/%(?:[46][1-9A-F]|[57][0-9A]|3[0-9]|2D|2E|5F|7E)/.test(path), target).toBe(false);
    }
    expect(accepted).toBeGreaterThan(1000);
  });

  it('gives the same answer on the fast path and the full path', () => {
    // A leading "/." forces the full algorithm on an otherwise identical target ("/./x" == "/x").
    const random = mulberry32(42);
    for (let n = 0; n < 5000; n++) {
      const target = randomTarget(random);
      if (target.startsWith('//')) continue;
      const direct = check(target);
      const viaSlowPath = check('/.' + target);
      expect(viaSlowPath, target).toEqual(direct);
    }
  });
});

describe('canonicalizeRequestTarget on what node:http really hands over as req.url', () => {
  let server: http.Server;
  let port: number;
  const seen: string[] = [];

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      seen.push(req.url ?? '');
      res.end(JSON.stringify(canonicalizeRequestTarget(req.url ?? '')));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });

  afterAll(async () => {
    await new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
  });

  function sendRaw(target: string): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(port, '127.0.0.1', () => {
        socket.write(`GET ${target} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n`, 'latin1');
      });
      let response = '';
      socket.setEncoding('latin1');
      socket.on('data', (chunk: string) => (response += chunk));
      socket.on('error', reject);
      socket.on('end', () => {
        const status = Number(response.slice(9, 12));
        const body = response.slice(response.indexOf('\r\n\r\n') + 4);
        resolve({ status, body });
      });
    });
  }

  it.each(PATH_CONFUSION_CASES.map((c) => [c.id, c] as const))('%s arrives verbatim and canonicalises as the table says', async (_id, testCase) => {
    const { status, body } = await sendRaw(testCase.request);
    // node's own parser may already refuse a target (400); anything it passes on must be handled by us
    if (status === 400) {
      expect(testCase.expect.reject).toBe(true);
      return;
    }
    expect(status).toBe(200);
    expect(seen).toContain(testCase.request);
    const result = JSON.parse(body) as ReturnType<typeof canonicalizeRequestTarget>;
    if (testCase.expect.reject) expect(result.ok).toBe(false);
    else expect(result).toEqual({ ok: true, path: testCase.expect.canonical, query: testCase.expect.query ?? '' });
  });
});
