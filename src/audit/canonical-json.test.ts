import { describe, expect, it } from 'vitest';
import { CanonicalJsonError, MAX_DEPTH, canonicalJson } from './canonical-json.ts';

describe('canonicalJson (RFC 8785)', () => {
  it('sorts members by UTF-16 code units, recursively (RFC 8785 §3.2.3 example)', () => {
    const input = {
      '\u20ac': 'Euro Sign',
      '\r': 'Carriage Return',
      '\ufb33': 'Hebrew Letter Dalet With Dagesh',
      '1': 'One',
      '\ud83d\ude00': 'Emoji: Grinning Face',
      '\u0080': 'Control',
      '\u00f6': 'Latin Small Letter O With Diaeresis',
    };
    // Compared as text: Object.keys of a parsed object would list the integer-like "1" first.
    expect(canonicalJson(input)).toBe(
      '{"\\r":"Carriage Return","1":"One","\u0080":"Control","\u00f6":"Latin Small Letter O With Diaeresis",' +
        '"\u20ac":"Euro Sign","\ud83d\ude00":"Emoji: Grinning Face","\ufb33":"Hebrew Letter Dalet With Dagesh"}',
    );
    expect(canonicalJson({ b: { d: 1, c: [3, { z: 1, a: 2 }] }, a: null })).toBe('{"a":null,"b":{"c":[3,{"a":2,"z":1}],"d":1}}');
  });

  it('serialises numbers as ECMAScript does (RFC 8785 Appendix B samples)', () => {
    const samples: Array<[number, string]> = [
      [0, '0'],
      [-0, '0'],
      [1e21, '1e+21'],
      [1e-7, '1e-7'],
      [333333333.3333333, '333333333.3333333'],
      [9007199254740992, '9007199254740992'],
      [295147905179352830000, '295147905179352830000'],
      [5e-324, '5e-324'],
      [1.7976931348623157e308, '1.7976931348623157e+308'],
    ];
    for (const [value, text] of samples) expect(canonicalJson(value)).toBe(text);
  });

  it('serialises strings as JSON.stringify does (RFC 8785 §3.2.2.2)', () => {
    expect(canonicalJson('\u0000\u001f"\\/\u2028é😀')).toBe('"\\u0000\\u001f\\"\\\\/\u2028é😀"');
  });

  it('gives the same text for the same value built in a different order', () => {
    const a = { type: 'x', details: { reason: 'r', n: 1 }, seq: 2 };
    const b = { seq: 2, details: { n: 1, reason: 'r' }, type: 'x' };
    expect(canonicalJson(a)).toBe(canonicalJson(b));
  });

  it('accepts objects without a prototype', () => {
    const bare = Object.create(null) as Record<string, unknown>;
    bare.k = 'v';
    expect(canonicalJson(bare)).toBe('{"k":"v"}');
  });

  const cyclic: Record<string, unknown> = {};
  cyclic.self = cyclic;
  let deep: unknown = 1;
  for (let i = 0; i < MAX_DEPTH + 1; i++) deep = [deep];
  const hostile: Array<[string, unknown]> = [
    ['undefined', undefined],
    ['undefined member', { a: undefined }],
    ['function', () => 1],
    ['symbol', Symbol('s')],
    ['bigint', 10n],
    ['NaN', Number.NaN],
    ['Infinity', Number.POSITIVE_INFINITY],
    ['-Infinity in array', [Number.NEGATIVE_INFINITY]],
    ['lone high surrogate', '\ud800'],
    ['lone low surrogate in a key', { '\udc00': 1 }],
    ['Date', new Date(0)],
    ['Map', new Map()],
    ['Buffer', Buffer.from('x')],
    ['class instance', new (class Thing {})()],
    ['cycle', cyclic],
    ['too deep', deep],
  ];
  it.each(hostile)('refuses %s instead of guessing', (_name, value) => {
    expect(() => canonicalJson(value)).toThrow(CanonicalJsonError);
  });

  it('serialises a value referenced twice (not a cycle)', () => {
    const shared = { x: 1 };
    expect(canonicalJson({ a: shared, b: shared })).toBe('{"a":{"x":1},"b":{"x":1}}');
  });
});
