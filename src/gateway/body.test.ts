import { describe, expect, it } from 'vitest';
import { BodyError, parseStrictJson } from './body.ts';

describe('parseStrictJson: the hardened JSON parser', () => {
  const refused: Array<[string, string]> = [
    ['duplicate key', '{"a":1,"a":2}'],
    ['duplicate key, escaped spelling', '{"a":1,"\\u0061":2}'],
    ['duplicate nested key', '{"x":{"b":1,"b":1}}'],
    ['__proto__ key', '{"__proto__":{"admin":true}}'],
    ['escaped __proto__ key', '{"__pro\\u0074o__":{"admin":true}}'],
    ['constructor key', '{"constructor":{"prototype":{}}}'],
    ['prototype key nested in an array', '[{"prototype":1}]'],
    ['too deep', '['.repeat(40) + ']'.repeat(40)],
    ['truncated', '{"a":'],
    ['comments', '{"a":1 /* x */}'],
    ['trailing comma', '{"a":1,}'],
    ['single quotes', "{'a':1}"],
    ['NaN', '{"a":NaN}'],
    ['empty', ''],
    ['escaped duplicate of an unescaped key, both orders', '{"\\u0061":1,"a":2}'],
    ['duplicate key after a key with an escape', '{"a\\"b":1,"c":2,"c":3}'],
    ['a raw newline inside a key', '{"a\nb":1}'],
  ];
  it.each(refused)('refuses %s', (_name, text) => {
    expect(() => parseStrictJson(text)).toThrow(BodyError);
  });

  const accepted: Array<[string, string, unknown]> = [
    ['same key in sibling objects', '[{"a":1},{"a":2}]', [{ a: 1 }, { a: 2 }]],
    ['keys that look like values', '{"a":"b","b":"a"}', { a: 'b', b: 'a' }],
    ['strings with braces and quotes', '{"a":"{\\"a\\":1,\\"a\\":2}"}', { a: '{"a":1,"a":2}' }],
    ['a word proto inside a value', '{"note":"__proto__"}', { note: '__proto__' }],
    ['nesting at the limit', '['.repeat(32) + ']'.repeat(32), JSON.parse('['.repeat(32) + ']'.repeat(32))],
    ['unicode', '{"name":"O\'Brien – Zoë"}', { name: "O'Brien – Zoë" }],
    ['keys that differ only by an escaped quote', '{"a\\"":1,"a":2}', { 'a"': 1, a: 2 }],
  ];
  it.each(accepted)('accepts %s', (_name, text, value) => {
    expect(parseStrictJson(text)).toEqual(value);
  });
});
