/**
 * The hardened JSON reader against hostile input (issue 5 "Bad input"). `parseStrictJson` counts the colons outside
 * strings in one scan, parses with JSON.parse and compares the count with the members of the parsed value (body.ts):
 * these tables pin its verdicts, which are the verdicts of the previous reader (a character scan that kept a set of
 * keys per object, replaced for speed) on every row, and a differential test compares it with an independent
 * recursive-descent reference parser on generated and mutated documents.
 *
 * `readJson` is driven through a real HTTP server (port 0) with raw bytes on a socket, so byte-level cases (byte
 * order mark, invalid UTF-8, chunked bodies split inside a character) meet the reader as they would in the gateway.
 */
import http from 'node:http';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BodyError, parseStrictJson, readJson } from './body.ts';
import type { RequestContext } from '../policies/types.ts';

const deep = (open: string, close: string, n: number, inner = ''): string => open.repeat(n) + inner + close.repeat(n);
const nestedObjects = (n: number, inner: string): string => '{"k":'.repeat(n) + inner + '}'.repeat(n);

/** [name, text, maxDepth] refused with a BodyError (RAMPART_ERR_BAD_REQUEST). */
const refused: Array<[string, string, number?]> = [
  // Duplicate keys, at every depth and in every disguise.
  ['duplicate at the top level', '{"a":1,"a":1}'],
  ['duplicate, different values and types', '{"a":{"x":1},"a":[1]}'],
  ['duplicate separated by other members', '{"a":1,"b":2,"c":3,"a":4}'],
  ['duplicate empty key', '{"":1,"":2}'],
  ['duplicate in an object inside an array', '[1,{"b":1,"b":2}]'],
  ['duplicate in the last of many sibling objects', `[${'{"a":1,"b":2},'.repeat(50)}{"a":1,"a":2}]`],
  ...[2, 5, 16, 31].map((depth): [string, string] => [`duplicate at depth ${depth}`, nestedObjects(depth - 1, '{"x":1,"x":2}')]),
  ['duplicate spelled with a \\u escape', '{"a":1,"\\u0061":2}'],
  ['duplicate spelled with escapes on both sides', '{"\\u0061b":1,"a\\u0062":2}'],
  ['duplicate spelled with an escaped solidus', '{"a/b":1,"a\\/b":2}'],
  ['duplicate spelled with upper-case hex', '{"\\u00E9":1,"\\u00e9":2}'],
  ['duplicate of a non-ASCII key, raw and escaped', '{"é":1,"\\u00e9":2}'],
  ['duplicate of a key made of a surrogate pair', '{"😀":1,"\\ud83d\\ude00":2}'],
  ['duplicate of a key holding a colon', '{"a:b":1,"a:b":2}'],
  ['duplicate of a key holding a quote', '{"a\\"b":1,"a\\"b":2}'],
  ['duplicate of a key ending in a backslash', '{"a\\\\":1,"a\\\\":2}'],
  ['duplicate after a value full of structure characters', '{"s":"{[:,]}\\"{","t":1,"t":2}'],
  ['duplicate with whitespace everywhere', '{ "a" : 1 ,\n\t"a"\r\n:\n2 }'],
  ['duplicate numeric-looking keys', '{"1":1,"1":2}'],
  ['duplicate __proto__ keys', '{"__proto__":1,"__proto__":2}'],
  // Prototype keys (refused wherever they appear as a key, however spelled).
  ['__proto__ key', '{"__proto__":{"admin":true}}'],
  ['escaped __proto__ key', '{"__pro\\u0074o__":{"admin":true}}'],
  ['fully escaped __proto__ key', '{"\\u005f\\u005f\\u0070\\u0072\\u006f\\u0074\\u006f\\u005f\\u005f":1}'],
  ['constructor key', '{"constructor":{"prototype":{}}}'],
  ['prototype key', '{"prototype":1}'],
  ['prototype key nested in an array', '[{"prototype":1}]'],
  ['__proto__ key at depth 20', nestedObjects(19, '{"__proto__":null}')],
  ['constructor key after many members', `{${Array.from({ length: 40 }, (_, i) => `"k${i}":${i}`).join(',')},"constructor":1}`],
  // Nesting beyond the limit, refused before anything is built.
  ['arrays 33 deep (limit 32)', deep('[', ']', 33)],
  ['objects 33 deep (limit 32)', nestedObjects(33, '1')],
  ['mixed nesting 33 deep', deep('[{"a":', '}]', 16, '[1]')],
  ['10 000 open brackets', '['.repeat(10_000)],
  ['100 000 nested arrays, balanced', deep('[', ']', 100_000)],
  ['over a small custom limit', '[[[1]]]', 2],
  ['over the response limit (128)', deep('[', ']', 129), 128],
  // Not JSON (RFC 8259).
  ['empty', ''],
  ['whitespace only', ' \n\t'],
  ['truncated object', '{"a":'],
  ['truncated string', '{"a":"abc'],
  ['unterminated key', '{"a'],
  ['a string whose closing quote is escaped', '"abc\\"'],
  ['trailing garbage after an object', '{"a":1} x'],
  ['two documents', '{}{}'],
  ['an extra closing bracket', '[1]]'],
  ['a closing bracket before its opener', ']['],
  ['comments', '{"a":1 /* x */}'],
  ['line comment', '{"a":1} // x'],
  ['trailing comma in an object', '{"a":1,}'],
  ['trailing comma in an array', '[1,]'],
  ['leading comma', '[,1]'],
  ['missing colon', '{"a" 1}'],
  ['double colon', '{"a"::1}'],
  ['colon in an array', '[1:2]'],
  ['single quotes', "{'a':1}"],
  ['unquoted key', '{a:1}'],
  ['NaN', '{"a":NaN}'],
  ['Infinity literal', '[Infinity]'],
  ['leading plus', '[+1]'],
  ['leading zero', '[01]'],
  ['bare fraction', '[.5]'],
  ['hex number', '[0x10]'],
  ['invalid escape', '["\\x41"]'],
  ['short \\u escape', '["\\u12"]'],
  ['raw newline inside a key', '{"a\nb":1}'],
  ['raw tab inside a string', '["a\tb"]'],
  ['raw NUL inside a string', '["a\u0000b"]'],
  ['byte order mark as a character', '\ufeff{"a":1}'],
  ['undefined', 'undefined'],
  ['a JavaScript object literal with a getter', '{get a(){return 1}}'],
];

/** [name, text, expected value, maxDepth]: accepted, and the value is what JSON.parse makes of it. */
const accepted: Array<[string, string, unknown, number?]> = [
  ['same key in sibling objects', '[{"a":1},{"a":2}]', [{ a: 1 }, { a: 2 }]],
  ['same key at different depths', '{"a":{"a":{"a":1}}}', { a: { a: { a: 1 } } }],
  ['keys that look like values', '{"a":"b","b":"a"}', { a: 'b', b: 'a' }],
  ['strings with braces, colons and quotes', '{"a":"{\\"a\\":1,\\"a\\":2}"}', { a: '{"a":1,"a":2}' }],
  ['a word proto inside a value', '{"note":"__proto__","n":"constructor"}', { note: '__proto__', n: 'constructor' }],
  ['prototype words as array elements', '["__proto__","prototype"]', ['__proto__', 'prototype']],
  ['keys that merely contain a prototype word', '{"__proto__x":1,"my_constructor":2,"prototypes":3}', { __proto__x: 1, my_constructor: 2, prototypes: 3 }],
  ['nesting at the limit', deep('[', ']', 32), JSON.parse(deep('[', ']', 32))],
  ['objects nested at the limit', nestedObjects(31, '{"x":1}'), JSON.parse(nestedObjects(31, '{"x":1}'))],
  ['nesting at a custom limit', '[[1]]', [[1]], 2],
  ['unicode', '{"name":"O\'Brien – Zoë"}', { name: "O'Brien – Zoë" }],
  ['keys that differ only by an escaped quote', '{"a\\"":1,"a":2}', { 'a"': 1, a: 2 }],
  ['keys that differ only by case', '{"a":1,"A":2}', { a: 1, A: 2 }],
  ['keys "1" and "01"', '{"1":1,"01":2}', { 1: 1, '01': 2 }],
  ['a key ending in an escaped backslash', '{"a\\\\":1,"a":2}', { 'a\\': 1, a: 2 }],
  ['a value ending in an escaped backslash before a key', '{"v":"x\\\\","w":"y"}', { v: 'x\\', w: 'y' }],
  ['long runs of backslashes', '["\\\\\\\\\\\\","\\\\\\""]', ['\\\\\\', '\\"']],
  ['empty object and array', '{"o":{},"a":[]}', { o: {}, a: [] }],
  ['scalars at the top level', '"text"', 'text'],
  ['a number at the top level', '42', 42],
  ['null', 'null', null],
  ['whitespace around', ' \n\t{"a" : [ 1 , 2 ] }\r\n', { a: [1, 2] }],
  ['a huge number becomes Infinity (the schema refuses it: rampartFinite)', '{"n":1e400}', { n: Infinity }],
  ['an integer beyond 2^53 (the schema refuses it: rampartSafeInteger)', '{"n":9007199254740993}', { n: 9007199254740992 }],
  ['negative zero and exponents', '[-0,1E+2,1e-2,-1.5e3]', [-0, 100, 0.01, -1500]],
  ['a lone surrogate escape (JSON.parse keeps it as a code unit)', '{"s":"\\ud800"}', { s: '\ud800' }],
  ['escaped control characters', '["\\u0000\\n\\t"]', ['\u0000\n\t']],
  ['a string of 100 000 characters', `{"s":"${'x'.repeat(100_000)}"}`, { s: 'x'.repeat(100_000) }],
  ['many members', `{${Array.from({ length: 500 }, (_, i) => `"k${i}":${i}`).join(',')}}`, Object.fromEntries(Array.from({ length: 500 }, (_, i) => [`k${i}`, i]))],
];

describe('parseStrictJson: hostile input', () => {
  it.each(refused)('refuses %s', (_name, text, maxDepth) => {
    let error: unknown;
    try {
      parseStrictJson(text, maxDepth);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(BodyError);
    expect((error as BodyError).code).toBe('RAMPART_ERR_BAD_REQUEST');
  });

  it.each(accepted)('accepts %s', (_name, text, value, maxDepth) => {
    expect(parseStrictJson(text, maxDepth)).toEqual(value);
  });

  it('says which rule failed without echoing values', () => {
    const message = (text: string) => {
      try {
        parseStrictJson(text);
      } catch (e) {
        return (e as Error).message;
      }
      return 'accepted';
    };
    expect(message('{"secret-name":1,"secret-name":2}')).toBe('duplicate key in JSON object');
    expect(message('{"__pro\\u0074o__":1}')).toBe('forbidden key "__proto__"');
    expect(message(deep('[', ']', 33))).toBe('JSON nested deeper than 32');
    expect(message('{"password":"hunter2"')).toBe('body is not valid JSON');
  });

  it('builds prototype-free results: a refused __proto__ never reaches a value', () => {
    // If the key were accepted, JSON.parse would make it an own property; merging such an object pollutes prototypes.
    expect(() => parseStrictJson('[{"a":{"__proto__":{"polluted":true}}}]')).toThrow(BodyError);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

// --- differential test against an independent reference -----------------------------------------------------------

/**
 * A plain recursive-descent parser of RFC 8259 JSON that refuses what the reader must refuse: duplicate member names
 * (compared after unescaping), prototype keys, nesting deeper than `maxDepth`. Slow and obvious on purpose.
 */
function referenceParse(text: string, maxDepth: number): unknown {
  let i = 0;
  const fail = (): never => {
    throw new Error('refused');
  };
  const ws = () => {
    while (i < text.length && ' \t\n\r'.includes(text[i]!)) i++;
  };
  const string = (): string => {
    if (text[i] !== '"') fail();
    i++;
    let out = '';
    for (;;) {
      if (i >= text.length) fail();
      const c = text[i]!;
      if (c === '"') {
        i++;
        return out;
      }
      if (c.charCodeAt(0) < 0x20) fail();
      if (c === '\\') {
        const e = text[i + 1];
        const simple: Record<string, string> = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };
        if (e !== undefined && e in simple) {
          out += simple[e];
          i += 2;
        } else if (e === 'u' && /^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) {
          out += String.fromCharCode(parseInt(text.slice(i + 2, i + 6), 16));
          i += 6;
        } else fail();
      } else {
        out += c;
        i++;
      }
    }
  };
  const value = (depth: number): unknown => {
    ws();
    const c = text[i];
    if (c === '{' || c === '[') {
      if (depth + 1 > maxDepth) fail();
      i++;
      ws();
      if (c === '[') {
        const out: unknown[] = [];
        if (text[i] === ']') {
          i++;
          return out;
        }
        for (;;) {
          out.push(value(depth + 1));
          ws();
          if (text[i] === ',') i++;
          else if (text[i] === ']') {
            i++;
            return out;
          } else fail();
        }
      }
      const out: Record<string, unknown> = Object.create(null);
      const seen = new Set<string>();
      if (text[i] === '}') {
        i++;
        return { ...out };
      }
      for (;;) {
        ws();
        const key = string();
        if (seen.has(key) || key === '__proto__' || key === 'constructor' || key === 'prototype') fail();
        seen.add(key);
        ws();
        if (text[i] !== ':') fail();
        i++;
        out[key] = value(depth + 1);
        ws();
        if (text[i] === ',') i++;
        else if (text[i] === '}') {
          i++;
          return Object.assign({}, out);
        } else fail();
      }
    }
    if (c === '"') return string();
    const literal = /^(?:true|false|null|-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?)/.exec(text.slice(i, i + 400));
    if (!literal) fail();
    i += literal![0].length;
    return JSON.parse(literal![0]) as unknown;
  };
  const out = value(0);
  ws();
  if (i !== text.length) fail();
  return out;
}

/** Deterministic generator (mulberry32), so a failure names a reproducible seed. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Random JSON text with duplicate members, escaped key spellings, awkward strings and whitespace. */
function generate(rand: () => number, depth: number): string {
  const pick = <T,>(items: readonly T[]): T => items[Math.floor(rand() * items.length)]!;
  const space = () => pick(['', '', '', ' ', '\n', '\t ', ' \r\n']);
  const keyNames = ['a', 'b', 'id', 'a:b', 'q"', 'back\\', 'é', '😀', '', 'x/y', '__proto__', 'constructor', 'proto', '{', ']'];
  const spell = (name: string): string => {
    // One of several spellings of the same name, so duplicates may differ in text but not in value.
    const style = rand();
    let out = '';
    for (const ch of name) {
      const code = ch.codePointAt(0)!;
      if (ch === '"' || ch === '\\') out += `\\${ch}`;
      else if (style < 0.3 && code < 0x10000) out += `\\u${code.toString(16).padStart(4, '0')}`;
      else if (style < 0.4 && ch === '/') out += '\\/';
      else out += ch;
    }
    return `"${out}"`;
  };
  const scalar = () =>
    pick(['1', '-0', '1e400', '0.5', 'true', 'null', '"text"', '"a\\"b"', '"\\\\"', '"{\\"a\\":1,\\"a\\":2}"', '"x:y,[z]"', '"\\ud800"', '12345678901234567890']);
  if (depth <= 0 || rand() < 0.3) return scalar();
  if (rand() < 0.4) {
    const n = Math.floor(rand() * 4);
    return `[${space()}${Array.from({ length: n }, () => generate(rand, depth - 1)).join(`${space()},${space()}`)}${space()}]`;
  }
  const n = Math.floor(rand() * 5);
  const members: string[] = [];
  const used = new Set<string>();
  for (let k = 0; k < n; k++) {
    // Mostly distinct names; sometimes a repeat (a duplicate, possibly spelled differently).
    let name = pick(keyNames.filter((x) => x !== '__proto__' && x !== 'constructor'));
    if (rand() < 0.08) name = pick(keyNames);
    if (used.has(name) && rand() < 0.85) continue;
    used.add(name);
    members.push(`${spell(name)}${space()}:${space()}${generate(rand, depth - 1)}`);
  }
  return `{${space()}${members.join(`${space()},${space()}`)}${space()}}`;
}

/** Breaks a text the ways transport and attackers do: a character dropped, swapped, duplicated, or the end cut. */
function mutate(rand: () => number, text: string): string {
  if (text.length === 0) return text;
  const at = Math.floor(rand() * text.length);
  const noise = ['"', '\\', ':', ',', '{', '}', '[', ']', ' ', 'a', '\u0001'];
  switch (Math.floor(rand() * 4)) {
    case 0:
      return text.slice(0, at) + text.slice(at + 1);
    case 1:
      return text.slice(0, at) + noise[Math.floor(rand() * noise.length)]! + text.slice(at + 1);
    case 2:
      return text.slice(0, at) + text[at]! + text.slice(at);
    default:
      return text.slice(0, at);
  }
}

function verdict(parse: () => unknown): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: parse() };
  } catch {
    return { ok: false };
  }
}

describe('parseStrictJson agrees with an independent reference parser', () => {
  it('on 4000 generated documents and 4000 mutations of them', () => {
    const rand = random(0x5eed);
    let accepted = 0;
    let refusedCount = 0;
    for (let n = 0; n < 4000; n++) {
      const text = generate(rand, 1 + Math.floor(rand() * 6));
      for (const candidate of [text, mutate(rand, text)]) {
        const maxDepth = 1 + Math.floor(rand() * 6);
        const expected = verdict(() => referenceParse(candidate, maxDepth));
        const actual = verdict(() => parseStrictJson(candidate, maxDepth));
        if (expected.ok !== actual.ok) expect({ candidate, maxDepth, actual: actual.ok }).toEqual({ candidate, maxDepth, actual: expected.ok });
        if (expected.ok && actual.ok) expect(actual.value).toEqual(expected.value);
        if (actual.ok) accepted++;
        else refusedCount++;
      }
    }
    // Both verdicts well represented, so the comparison means something.
    expect(accepted).toBeGreaterThan(1000);
    expect(refusedCount).toBeGreaterThan(1000);
  });
});

// --- readJson over a real socket ----------------------------------------------------------------------------------

interface Outcome {
  readonly status: number;
  readonly body: string;
}

let server: http.Server;
let port = 0;

beforeAll(async () => {
  server = http.createServer((req, res) => {
    const ctx = { req, locals: {} } as unknown as RequestContext;
    const answer = (status: number, text: string) => {
      res.writeHead(status, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(text) });
      res.end(text);
    };
    readJson(ctx, 4096, 8).then(
      (value) => answer(200, JSON.stringify(value)),
      (error: unknown) => {
        answer(error instanceof BodyError ? 400 : 500, error instanceof BodyError ? error.code : String(error));
        // The body may not have been read to the end (413): do not reuse this connection.
        req.socket.destroySoon();
      },
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as net.AddressInfo).port;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

/** Sends raw bytes (headers and body exactly as given) and reads the answer. */
function send(head: string, body: Buffer | Buffer[]): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', reject);
    socket.on('close', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);
      resolve({ status, body: text.slice(text.indexOf('\r\n\r\n') + 4) });
    });
    socket.write(head);
    const parts = Array.isArray(body) ? body : [body];
    // Each part in its own write, so the reader sees separate chunks (a character may be split between them).
    let i = 0;
    const next = () => {
      if (i < parts.length) socket.write(parts[i++]!, () => setTimeout(next, 5));
      else socket.end();
    };
    next();
  });
}

function post(body: Buffer, type = 'application/json'): Promise<Outcome> {
  return send(`POST / HTTP/1.1\r\nHost: x\r\nContent-Type: ${type}\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`, body);
}

function chunked(parts: Buffer[]): Promise<Outcome> {
  const framed = parts.map((p) => Buffer.concat([Buffer.from(`${p.length.toString(16)}\r\n`), p, Buffer.from('\r\n')]));
  return send('POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n', [...framed, Buffer.from('0\r\n\r\n')]);
}

const bytes = (...parts: Array<string | number[]>): Buffer => Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'utf8') : Buffer.from(p))));

describe('readJson over HTTP: byte-level hostile input', () => {
  const refusedBytes: Array<[string, Buffer, string]> = [
    ['a UTF-8 byte order mark', bytes([0xef, 0xbb, 0xbf], '{"a":1}'), 'RAMPART_ERR_BAD_REQUEST'],
    ['a UTF-16 byte order mark', bytes([0xfe, 0xff], '{"a":1}'), 'RAMPART_ERR_BAD_REQUEST'],
    ['a lone continuation byte in a string', bytes('{"a":"', [0x80], '"}'), 'RAMPART_ERR_BAD_REQUEST'],
    ['an overlong encoding of "/"', bytes('{"a":"', [0xc0, 0xaf], '"}'), 'RAMPART_ERR_BAD_REQUEST'],
    ['an overlong encoding of a quote', bytes('{"a":"', [0xc0, 0xa2], '"}'), 'RAMPART_ERR_BAD_REQUEST'],
    ['a UTF-8 encoded lone surrogate', bytes('{"a":"', [0xed, 0xa0, 0x80], '"}'), 'RAMPART_ERR_BAD_REQUEST'],
    ['a code point beyond U+10FFFF', bytes('{"a":"', [0xf4, 0x90, 0x80, 0x80], '"}'), 'RAMPART_ERR_BAD_REQUEST'],
    ['a truncated multi-byte character at the end', bytes('"abc', [0xe2, 0x82]), 'RAMPART_ERR_BAD_REQUEST'],
    ['invalid UTF-8 inside a key', bytes('{"', [0xff], '":1}'), 'RAMPART_ERR_BAD_REQUEST'],
    ['UTF-16LE text', Buffer.from('{"a":1}', 'utf16le'), 'RAMPART_ERR_BAD_REQUEST'],
    ['a duplicate key', bytes('{"a":1,"a":2}'), 'RAMPART_ERR_BAD_REQUEST'],
    ['nesting beyond the reader limit (8)', bytes(deep('[', ']', 9)), 'RAMPART_ERR_BAD_REQUEST'],
    ['a body over the size limit', bytes(`"${'x'.repeat(5000)}"`), 'RAMPART_ERR_BODY_TOO_LARGE'],
  ];
  it.each(refusedBytes)('refuses %s', async (_name, body, code) => {
    expect(await post(body)).toEqual({ status: 400, body: code });
  });

  it('refuses a body that is not declared as JSON', async () => {
    expect(await post(bytes('{"a":1}'), 'text/plain')).toEqual({ status: 400, body: 'RAMPART_ERR_UNSUPPORTED_MEDIA_TYPE' });
  });

  it('accepts +json media types and multi-byte characters', async () => {
    const res = await post(bytes('{"name":"Zoë 😀","n":[1,2]}'), 'application/problem+json; charset=utf-8');
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body)).toEqual({ name: 'Zoë 😀', n: [1, 2] });
  });

  it('reads a chunked body split inside a multi-byte character and inside a key', async () => {
    const whole = bytes('{"città":"Zoë","k":"😀"}');
    const split = [whole.subarray(0, 6), whole.subarray(6, 13), whole.subarray(13, 22), whole.subarray(22)];
    const res = await chunked(split);
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body)).toEqual({ città: 'Zoë', k: '😀' });
  });

  it('refuses a duplicate key split across chunks', async () => {
    const res = await chunked([bytes('{"ab":1,"a'), bytes('b":2}')]);
    expect(res).toEqual({ status: 400, body: 'RAMPART_ERR_BAD_REQUEST' });
  });

  it('refuses a chunked body that grows over the limit', async () => {
    const res = await chunked(Array.from({ length: 6 }, () => bytes(' '.repeat(1000))));
    expect(res).toEqual({ status: 400, body: 'RAMPART_ERR_BODY_TOO_LARGE' });
  });
});
