/**
 * minimizeJsonText against the path it replaces on the hot path: the hardened parser (parseStrictJson), the
 * Minimizer on the parsed value and spliceJson. Same refusals, same removals and reports, same bytes out, on
 * hand-written cases and on seeded random documents and random corruptions of them.
 */
import { describe, expect, it } from 'vitest';
import { Minimizer, type ResponseMode } from './minimize.ts';
import { INVALID_JSON, NEEDS_VALUE, minimizeJsonText } from './minimize-text.ts';
import { parseStrictJson, type JsonLayout } from '../gateway/body.ts';
import { spliceJson } from '../gateway/response-body.ts';
import type { SchemaAt } from './model.ts';
import { mulberry32 } from '../detect/traces.ts';

const schemas: Record<string, unknown> = {
  User: {
    type: 'object',
    properties: {
      id: { type: 'integer' },
      email: { type: 'string' },
      password: { type: 'string', writeOnly: true },
      secretRef: { $ref: '#/components/schemas/Secret' },
      profile: { $ref: '#/components/schemas/Profile' },
      tags: { type: 'array', items: { $ref: '#/components/schemas/Tag' } },
      labels: { type: 'object', additionalProperties: { type: 'object', properties: { v: { type: 'string' } } } },
      free: { type: 'object' },
      anything: {},
      pair: { type: 'array', prefixItems: [{ $ref: '#/components/schemas/Tag' }, { type: 'integer' }] },
      matrix: { type: 'array', items: { type: 'array', items: { $ref: '#/components/schemas/Named' } } },
      next: { $ref: '#/components/schemas/User' },
    },
  },
  Secret: { type: 'string', writeOnly: true },
  Profile: { allOf: [{ $ref: '#/components/schemas/Named' }, { type: 'object', properties: { bio: { type: 'string' } } }] },
  Named: { type: 'object', properties: { name: { type: 'string' } } },
  Tag: { type: 'object', properties: { name: { type: 'string' } }, patternProperties: { '^x-': { type: 'string' } } },
  Shape: {
    oneOf: [{ $ref: '#/components/schemas/Circle' }, { $ref: '#/components/schemas/Square' }],
    discriminator: { propertyName: 'type', mapping: { round: '#/components/schemas/Circle' } },
  },
  Circle: { type: 'object', properties: { type: { type: 'string' }, r: { type: 'number' } } },
  Square: { type: 'object', properties: { type: { type: 'string' }, side: { type: 'number' } } },
  Holder: { type: 'object', properties: { shape: { $ref: '#/components/schemas/Shape' }, n: { type: 'integer' } } },
  Users: { type: 'array', items: { $ref: '#/components/schemas/User' } },
};
const doc = { openapi: '3.1.0', components: { schemas } };
const at = (name: string): SchemaAt => ({ schema: { $ref: `#/components/schemas/${name}` }, pointer: `/x/${name}` });
const DEPTH = 128;

type Outcome = typeof INVALID_JSON | { text: string | undefined; removed: number; changed: boolean; undeclared: string[] };

/** The path minimizeJsonText replaces: strict parse with layout, minimize the value, splice (stringify if it cannot). */
function reference(minimizer: Minimizer, schema: SchemaAt, text: string, mode: ResponseMode, depth = DEPTH): Outcome {
  const layout: JsonLayout = new Map();
  let value: unknown;
  try {
    value = parseStrictJson(text, depth, layout);
  } catch {
    return INVALID_JSON;
  }
  const result = minimizer.minimize(schema, value, mode);
  const out = result.changed ? (spliceJson(text, layout, value, result.dirty) ?? JSON.stringify(value)) : undefined;
  return { text: out, removed: result.removed, changed: result.changed, undeclared: [...result.undeclared].sort() };
}

function actual(minimizer: Minimizer, schema: SchemaAt, text: string, mode: ResponseMode, depth = DEPTH): Outcome | typeof NEEDS_VALUE {
  const got = minimizeJsonText(minimizer, schema, text, mode, depth);
  if (got === INVALID_JSON || got === NEEDS_VALUE) return got;
  return { text: got.text, removed: got.result.removed, changed: got.result.changed, undeclared: [...got.result.undeclared].sort() };
}

function same(schema: SchemaAt, text: string, mode: ResponseMode = 'remove', depth = DEPTH): Outcome {
  const expected = reference(new Minimizer(doc, '3.1'), schema, text, mode, depth);
  expect(actual(new Minimizer(doc, '3.1'), schema, text, mode, depth), text).toEqual(expected);
  return expected;
}


const NAMES = ['id', 'email', 'password', 'secretRef', 'profile', 'tags', 'labels', 'free', 'anything', 'pair', 'matrix', 'next', 'name', 'bio', 'v', 'w', 'x-color', 'hidden', 'ssn', 'type', 'r', 'side', 'e\\u006dail', 'caf\u00e9', 'a"b', '0', '7'];
const SCALARS = ['0', '-1', '12345678901234567891', '1.50', '-0.0e+5', '2E-3', 'true', 'false', 'null', '""', '"x"', '"a\\"b\\\\c\\n\\u00e9\\/"', '"\u00e9\u{1F600}"'];

function generate(next: () => number, depth: number, pretty: boolean): string {
  const ws = () => (pretty ? [' ', '\n  ', '\t', '\r\n', ''][Math.floor(next() * 5)]! : '');
  const roll = next();
  if (depth > 4 || roll < 0.35) return SCALARS[Math.floor(next() * SCALARS.length)]!;
  if (roll < 0.55) {
    const n = Math.floor(next() * 4);
    const items = Array.from({ length: n }, () => ws() + generate(next, depth + 1, pretty) + ws());
    return `[${items.join(',')}${n === 0 ? ws() : ''}]`;
  }
  const n = Math.floor(next() * 6);
  const used = new Set<string>();
  const members: string[] = [];
  for (let i = 0; i < n; i++) {
    const name = NAMES[Math.floor(next() * NAMES.length)]!;
    const decoded = JSON.parse(`"${name.replace('"', '\\"')}"`) as string;
    if (used.has(decoded)) continue;
    used.add(decoded);
    members.push(`${ws()}${JSON.stringify(decoded) === `"${name}"` ? `"${name}"` : `"${name.replace('"', '\\"')}"`}${ws()}:${ws()}${generate(next, depth + 1, pretty)}${ws()}`);
  }
  return `{${members.join(',')}${members.length === 0 ? ws() : ''}}`;
}

describe('minimizeJsonText', () => {
  it('removes what the Minimizer removes and writes what spliceJson writes', () => {
    const text = JSON.stringify({
      id: 1,
      email: 'e',
      password: 'p',
      secretRef: 's',
      passwordHash: 'h',
      profile: { name: 'n', bio: 'b', ssn: '123' },
      tags: [{ name: 't', 'x-color': 'red', hidden: 1 }, { name: 'u' }],
      labels: { any: { v: '1', w: '2' }, other: { v: '3' } },
      free: { whatever: { deep: true } },
      pair: [{ name: 'p', junk: 1 }, 5, { kept: true }],
    });
    const out = same(at('User'), text);
    expect(out).not.toBe(INVALID_JSON);
    const result = out as Exclude<Outcome, typeof INVALID_JSON>;
    expect(JSON.parse(result.text!)).toEqual({
      id: 1,
      email: 'e',
      profile: { name: 'n', bio: 'b' },
      tags: [{ name: 't', 'x-color': 'red' }, { name: 'u' }],
      labels: { any: { v: '1' }, other: { v: '3' } },
      free: { whatever: { deep: true } },
      pair: [{ name: 'p' }, 5, { kept: true }],
    });
    expect(result.removed).toBe(7);
  });

  it('keeps the exact bytes of what it keeps (int64, number spellings, escapes, whitespace of clean containers)', () => {
    const text = '{ "id" : 12345678901234567891 , "junk":1, "tags": [ {"name":"\\u0074"} ], "free": { "a" :  1.50 } }';
    const out = same(at('User'), text) as Exclude<Outcome, typeof INVALID_JSON>;
    expect(out.text).toBe('{"id" : 12345678901234567891,"tags": [ {"name":"\\u0074"} ],"free": { "a" :  1.50 }}');
  });

  it('empties an object whose members are all undeclared, and leaves a conforming answer untouched', () => {
    expect((same(at('Named'), '{"a":1,"b":[2],"c":{}}') as { text: string }).text).toBe('{}');
    expect(same(at('User'), '{"id":1,"tags":[{"name":"x"}]}')).toMatchObject({ text: undefined, changed: false });
    expect(same(at('User'), ' [ 1 , 2 ] ')).toMatchObject({ text: undefined });
    expect(same(at('User'), '"just a string"')).toMatchObject({ text: undefined });
  });

  it('reports in reject mode and removes only writeOnly properties in allow mode, like the Minimizer', () => {
    const text = '{"id":1,"password":"p","x":{"y":1},"profile":{"ssn":"1"}}';
    expect(same(at('User'), text, 'reject')).toMatchObject({ undeclared: ['/profile/ssn', '/x'], removed: 1 });
    expect(same(at('User'), text, 'allow')).toMatchObject({ undeclared: [], removed: 1 });
  });

  it('gives up on plans that depend on the data (oneOf, discriminator): the caller parses instead', () => {
    const m = new Minimizer(doc, '3.1');
    expect(minimizeJsonText(m, at('Holder'), '{"n":1,"shape":{"type":"round","r":1,"x":2}}', 'remove', DEPTH)).toBe(NEEDS_VALUE);
    // A dynamic schema the data never reaches costs nothing.
    expect(minimizeJsonText(m, at('Holder'), '{"n":1,"junk":true}', 'remove', DEPTH)).toMatchObject({ text: '{"n":1}' });
  });

  it('refuses what the hardened parser refuses', () => {
    const refused = [
      '',
      ' ',
      '{',
      '{"id":1',
      '{"id":1,}',
      '[1,]',
      '[,1]',
      '{"id" 1}',
      '{id:1}',
      "{'id':1}",
      '{"id":01}',
      '{"id":1.}',
      '{"id":.5}',
      '{"id":1e}',
      '{"id":+1}',
      '{"id":-}',
      '{"id":NaN}',
      '{"id":Infinity}',
      '{"id":tru}',
      '{"id":truex}',
      '{"id":"a\tb"}',
      '{"id":"a\nb"}',
      '{"id":"\u0000"}',
      '{"id":"\\x41"}',
      '{"id":"\\u12G4"}',
      '{"id":"\\u123"}',
      '{"id":"abc}',
      '{"id":1}x',
      '{"id":1}{"id":2}',
      '{"id":1,"id":2}',
      '{"email":"a","e\\u006dail":"b"}',
      '{"__proto__":{"x":1}}',
      '{"free":{"constructor":1}}',
      '{"tags":[{"prototype":1}]}',
      '{"free":{"a":{"a":1,"a":2}}}',
      '\u00a0{}',
      '{"id":1}\u2028',
    ];
    for (const text of refused) {
      expect(reference(new Minimizer(doc, '3.1'), at('User'), text, 'remove'), text).toBe(INVALID_JSON);
      expect(minimizeJsonText(new Minimizer(doc, '3.1'), at('User'), text, 'remove', DEPTH), text).toBe(INVALID_JSON);
    }
  });

  it('checks the names of large objects with a set: repeats found anywhere, the rest minimized as the reference does', () => {
    // Past 16 members the duplicate check moves from a list to a set (linear, not quadratic, in the member count).
    const members = (n: number) => Array.from({ length: n }, (_, i) => `"k${i}":{"v":"${i}","junk":${i}}`);
    const large = `{"labels":{${members(5000).join(',')}},"id":1,"hidden":true}`;
    const kept = same(at('User'), large);
    expect(kept).not.toBe(INVALID_JSON);
    if (kept !== INVALID_JSON) expect(kept.removed).toBe(5001);
    for (const [where, repeat] of [
      [16, 'k0'],
      [17, 'k16'],
      [4999, 'k1234'],
      [2500, 'k4999'],
    ] as const) {
      const list = members(5000);
      list.splice(where, 0, `"${repeat}":{"v":"again"}`);
      same(at('User'), `{"labels":{${list.join(',')}}}`);
      expect(minimizeJsonText(new Minimizer(doc, '3.1'), at('User'), `{"labels":{${list.join(',')}}}`, 'remove', DEPTH)).toBe(INVALID_JSON);
    }
    // The escaped spelling of a name seen long before is the same name.
    const escaped = members(40);
    escaped.push('"k\\u0031":{}');
    expect(minimizeJsonText(new Minimizer(doc, '3.1'), at('User'), `{"free":{${escaped.join(',')}}}`, 'remove', DEPTH)).toBe(INVALID_JSON);
  });

  it('enforces the depth limit exactly where the hardened parser does', () => {
    for (const depth of [3, 4, 5]) {
      for (const text of ['[[[1]]]', '[[[[1]]]]', '{"free":{"a":{"b":{}}}}', '{"next":{"next":{"next":{"junk":1}}}}']) same(at('User'), text, 'remove', depth);
    }
  });

  it('agrees with parse + minimize + splice on random documents, compact and pretty-printed', () => {
    const next = mulberry32(20261128);
    const roots = ['User', 'Users', 'Named', 'Tag', 'Profile'];
    for (let i = 0; i < 3000; i++) {
      const text = generate(next, 0, i % 2 === 1);
      const root = roots[i % roots.length]!;
      const mode = (['remove', 'reject', 'allow'] as const)[i % 3]!;
      same(at(root), text, mode);
    }
  });

  it('refuses exactly what the hardened parser refuses on random corruptions', () => {
    const next = mulberry32(42);
    const noise = ['"', '\\', ',', ':', '{', '}', '[', ']', ' ', '\n', '\u0001', '0', '-', 'e', '.', 'u', 't', 'a'];
    for (let i = 0; i < 4000; i++) {
      const text = generate(next, 0, i % 2 === 0);
      const chars = [...text];
      const edits = 1 + Math.floor(next() * 3);
      for (let e = 0; e < edits; e++) {
        const where = Math.floor(next() * (chars.length + 1));
        const kind = next();
        if (kind < 0.4) chars.splice(where, 1);
        else if (kind < 0.8) chars.splice(where, 0, noise[Math.floor(next() * noise.length)]!);
        else chars[where] = noise[Math.floor(next() * noise.length)]!;
      }
      same(at(['User', 'Users', 'Tag'][i % 3]!), chars.join(''), 'remove');
    }
  });
});
