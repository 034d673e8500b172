/**
 * Parameter deserialisation against the examples table of OpenAPI 3.1.2 (Parameter Object, "Style Examples"; the
 * same table as 3.0.4's, with the query delimiters percent-encoded as RFC 3986 requires): the value `color` is the
 * empty string, the string "blue", the array ["blue", "black", "brown"] or the object {R: 100, G: 200, B: 150}. Every
 * row of the table is decoded here (the _n/a_ cells have nothing to decode), then hostile variants are refused.
 */
import { describe, expect, it } from 'vitest';
import type { ParameterStyle } from './model.ts';
import { buildDecoder, decodeCookieValue, decodeForm, decodePathValue, decodeSimple, formDecode, parseCookies, parseFormPairs, type DecodeIssue } from './params.ts';

const STRING = { type: 'string' };
const ARRAY = { type: 'array', items: { type: 'string' } };
const INTEGERS = { type: 'array', items: { type: 'integer' } };
const OBJECT = { type: 'object', properties: { R: { type: 'integer' }, G: { type: 'integer' }, B: { type: 'integer' } } };
const BLUE = 'blue';
const COLORS = ['blue', 'black', 'brown'];
const RGB = { R: 100, G: 200, B: 150 };

function decoder(schema: unknown, style: ParameterStyle, explode: boolean, name = 'color') {
  return buildDecoder({}, '3.1', name, { schema, pointer: '' }, style, explode, false);
}

function path(raw: string, schema: unknown, style: ParameterStyle, explode: boolean): unknown {
  const issues: DecodeIssue[] = [];
  const value = decodePathValue(raw, decoder(schema, style, explode), issues);
  expect(issues).toEqual([]);
  return value;
}

/** A header value, as the validator decodes one: simple style, list whitespace (OWS) trimmed. */
function header(text: string, schema: unknown, explode: boolean): unknown {
  const issues: DecodeIssue[] = [];
  const value = decodeSimple(text, ',', decoder(schema, 'simple', explode), issues, true);
  expect(issues).toEqual([]);
  return value;
}

/** A query string, as the validator decodes one (with the values as sent, for form lists). */
function decodeQuery(text: string, schema: unknown, style: ParameterStyle, explode: boolean): { value: unknown; issues: DecodeIssue[]; unclaimed: Set<string> } {
  const issues: DecodeIssue[] = [];
  const encoded = new Map<string, string[]>();
  const groups = parseFormPairs(text, 100, encoded);
  if (!(groups instanceof Map)) throw new Error('bad query');
  const out: Record<string, unknown> = {};
  const unclaimed = decodeForm(groups, [decoder(schema, style, explode)], out, issues, encoded, formDecode);
  return { value: out.color, issues, unclaimed };
}

function query(text: string, schema: unknown, style: ParameterStyle, explode: boolean): unknown {
  const { value, issues, unclaimed } = decodeQuery(text, schema, style, explode);
  expect(issues).toEqual([]);
  expect(unclaimed.size).toBe(0);
  return value;
}

function pathIssues(raw: string, schema: unknown, style: ParameterStyle, explode: boolean): string[] {
  const issues: DecodeIssue[] = [];
  decodePathValue(raw, decoder(schema, style, explode), issues);
  return issues.map((i) => i.rule);
}

describe('style examples of the specification', () => {
  // [serialised, schema, style, explode, decoded]: the table's path rows (undefined/empty, string, array, object).
  it.each([
    [';color', STRING, 'matrix', false, ''],
    [';color=blue', STRING, 'matrix', false, BLUE],
    [';color=blue,black,brown', ARRAY, 'matrix', false, COLORS],
    [';color=R,100,G,200,B,150', OBJECT, 'matrix', false, RGB],
    [';color', STRING, 'matrix', true, ''],
    [';color=blue', STRING, 'matrix', true, BLUE],
    [';color=blue;color=black;color=brown', ARRAY, 'matrix', true, COLORS],
    [';R=100;G=200;B=150', OBJECT, 'matrix', true, RGB],
    ['.', STRING, 'label', false, ''],
    ['.blue', STRING, 'label', false, BLUE],
    ['.blue,black,brown', ARRAY, 'label', false, COLORS],
    ['.R,100,G,200,B,150', OBJECT, 'label', false, RGB],
    ['.', STRING, 'label', true, ''],
    ['.blue', STRING, 'label', true, BLUE],
    ['.blue.black.brown', ARRAY, 'label', true, COLORS],
    ['.R=100.G=200.B=150', OBJECT, 'label', true, RGB],
    ['', STRING, 'simple', false, ''],
    ['blue', STRING, 'simple', false, BLUE],
    ['blue,black,brown', ARRAY, 'simple', false, COLORS],
    ['R,100,G,200,B,150', OBJECT, 'simple', false, RGB],
    ['', STRING, 'simple', true, ''],
    ['blue', STRING, 'simple', true, BLUE],
    ['blue,black,brown', ARRAY, 'simple', true, COLORS],
    ['R=100,G=200,B=150', OBJECT, 'simple', true, RGB],
  ] as const)('path %j (%s, %s, explode %s)', (raw, _schema, style, explode, expected) => {
    expect(path(raw, _schema, style as ParameterStyle, explode)).toEqual(expected);
  });

  // The table's query rows; 3.1.0's unencoded `|` and `[ ]` (which "seem to work in some environments", Appendix E)
  // and form-urlencoded `+` for the space delimiter are read the same way.
  it.each([
    ['color=', STRING, 'form', false, ''],
    ['color=blue', STRING, 'form', false, BLUE],
    ['color=blue,black,brown', ARRAY, 'form', false, COLORS],
    ['color=R,100,G,200,B,150', OBJECT, 'form', false, RGB],
    ['color=', STRING, 'form', true, ''],
    ['color=blue', STRING, 'form', true, BLUE],
    ['color=blue&color=black&color=brown', ARRAY, 'form', true, COLORS],
    ['R=100&G=200&B=150', OBJECT, 'form', true, RGB],
    ['color=blue%20black%20brown', ARRAY, 'spaceDelimited', false, COLORS],
    ['color=R%20100%20G%20200%20B%20150', OBJECT, 'spaceDelimited', false, RGB],
    ['color=blue+black+brown', ARRAY, 'spaceDelimited', false, COLORS],
    ['color=blue%7Cblack%7Cbrown', ARRAY, 'pipeDelimited', false, COLORS],
    ['color=R%7C100%7CG%7C200%7CB%7C150', OBJECT, 'pipeDelimited', false, RGB],
    ['color=blue|black|brown', ARRAY, 'pipeDelimited', false, COLORS],
    ['color=R|100|G|200|B|150', OBJECT, 'pipeDelimited', false, RGB],
    ['color%5BR%5D=100&color%5BG%5D=200&color%5BB%5D=150', OBJECT, 'deepObject', true, RGB],
    ['color[R]=100&color[G]=200&color[B]=150', OBJECT, 'deepObject', true, RGB],
  ] as const)('query %s (%s, %s, explode %s)', (text, schema, style, explode, expected) => {
    expect(query(text, schema, style as ParameterStyle, explode)).toEqual(expected);
  });

  // Headers are simple style; a list-valued field may carry whitespace around its commas, or arrive from several
  // lines joined by ", " (RFC 9110 §5.3, §5.6.1).
  it.each([
    ['blue', STRING, false, BLUE],
    ['blue,black,brown', ARRAY, false, COLORS],
    ['blue, black, brown', ARRAY, false, COLORS],
    ['blue ,\tblack\t, brown', ARRAY, false, COLORS],
    ['R,100,G,200,B,150', OBJECT, false, RGB],
    ['R, 100, G, 200, B, 150', OBJECT, false, RGB],
    ['R=100,G=200,B=150', OBJECT, true, RGB],
    ['R=100, G=200, B=150', OBJECT, true, RGB],
  ] as const)('header %j (%s, explode %s)', (text, schema, explode, expected) => {
    expect(header(text, schema, explode)).toEqual(expected);
  });
});

describe('hostile variants of the styles', () => {
  it.each([
    // matrix, exploded object: the parameter's name is not part of it, every piece is one name=value pair
    ['R=100;G=200;B=150', OBJECT, 'matrix', true, 'must start with ";" (matrix style)'],
    [';R=100;;G=200', OBJECT, 'matrix', true, 'must be a list of name=value pairs'],
    [';R=100;G=200;R=255', OBJECT, 'matrix', true, 'must not repeat a property name'],
    [';R=%zz', OBJECT, 'matrix', true, 'must be a list of name=value pairs'],
    // matrix, other shapes: the name must be this parameter's
    [';colour=blue', STRING, 'matrix', false, 'must start with ";name" (matrix style)'],
    [';colorful=blue', STRING, 'matrix', false, 'is not a valid matrix-style value'],
    [';color=blue;colour=black', ARRAY, 'matrix', true, 'is not a valid matrix-style list'],
    // label
    ['R=100.G=200', OBJECT, 'label', true, 'must start with "." (label style)'],
    ['.R=100.G=200.R=1', OBJECT, 'label', true, 'must not repeat a property name'],
    ['.R,100,R,1', OBJECT, 'label', false, 'must not repeat a property name'],
    // simple
    ['R=100,G', OBJECT, 'simple', true, 'must be a list of name=value pairs'],
    ['R=1,R=2', OBJECT, 'simple', true, 'must not repeat a property name'],
    ['R,1,G', OBJECT, 'simple', false, 'must be a list of name,value pairs'],
  ] as const)('path %j (%s, %s, explode %s) is refused: %s', (raw, schema, style, explode, rule) => {
    expect(pathIssues(raw, schema, style as ParameterStyle, explode)).toEqual([rule]);
  });

  it('reads an empty exploded matrix item or property as RFC 6570 writes it (a name without "=")', () => {
    expect(path(';color;color=black', ARRAY, 'matrix', true)).toEqual(['', 'black']);
    expect(path(';R;G=200', { type: 'object' }, 'matrix', true)).toEqual({ R: '', G: '200' });
  });

  it('keeps encoded separators as data in path values', () => {
    expect(path('a%2Cb,c', ARRAY, 'simple', false)).toEqual(['a,b', 'c']);
    expect(path('.a%2Cb,c', ARRAY, 'label', false)).toEqual(['a,b', 'c']);
    expect(path(';color=a%2Cb,c', ARRAY, 'matrix', false)).toEqual(['a,b', 'c']);
    expect(path(';R=1%3BG%3D2', { type: 'object' }, 'matrix', true)).toEqual({ R: '1;G=2' });
  });

  it.each([
    // form without explode: split on the text as sent, so an encoded comma is data (RFC 6570 §3.2.8)
    ['color=1%2C2', ['1,2'], INTEGERS],
    ['color=1%2c2,3', ['1,2', 3], INTEGERS],
    ['color=a+b,c%20d', ['a b', 'c d'], ARRAY],
    ['color=%C3%A9,%E2%82%AC', ['é', '€'], ARRAY],
  ] as const)('query %s (form, explode false) → %j', (text, expected, schema) => {
    expect(query(text, schema, 'form', false)).toEqual(expected);
  });

  it('reads an encoded comma in a name,value list as data, so the pairs no longer add up', () => {
    const { value, issues } = decodeQuery('color=R,1%2CG,2', OBJECT, 'form', false);
    expect(issues.map((i) => i.rule)).toEqual(['must be a list of name,value pairs']);
    expect(value).toBeUndefined();
  });

  it.each([
    ['color=R,1,R,2', OBJECT, 'form', false, 'must not repeat a property name'],
    ['color=R%7C1%7CR%7C2', OBJECT, 'pipeDelimited', false, 'must not repeat a property name'],
    ['color=a,b&color=c', ARRAY, 'form', false, 'must not be repeated'],
    ['color=a%7Cb&color=c', ARRAY, 'pipeDelimited', false, 'must not be repeated'],
    ['color[R]=1&color%5BR%5D=2', OBJECT, 'deepObject', true, 'must not be repeated'],
  ] as const)('query %s (%s, %s, explode %s) is refused: %s', (text, schema, style, explode, rule) => {
    expect(decodeQuery(text, schema, style as ParameterStyle, explode).issues.map((i) => i.rule)).toEqual([rule]);
  });

  it('splits space- and pipe-delimited values after decoding: the delimiter is percent-encoded when sent (OAS Appendix E)', () => {
    expect(query('color=a%20b+c d', ARRAY, 'spaceDelimited', false)).toEqual(['a', 'b', 'c', 'd']);
    expect(query('color=a%7Cb|c', ARRAY, 'pipeDelimited', false)).toEqual(['a', 'b', 'c']);
    // a comma is no delimiter of theirs
    expect(query('color=a,b%7Cc', ARRAY, 'pipeDelimited', false)).toEqual(['a,b', 'c']);
  });

  it('without the values as sent (multipart parts are literal text), a form list splits the literal value', () => {
    const issues: DecodeIssue[] = [];
    const out: Record<string, unknown> = {};
    decodeForm(new Map([['color', ['a%2Cb,c']]]), [decoder(ARRAY, 'form', false)], out, issues);
    expect(issues).toEqual([]);
    expect(out.color).toEqual(['a%2Cb', 'c']);
  });

  it('splits a cookie form list on the value as sent, then decodes each piece', () => {
    const encoded = new Map<string, string[]>();
    const cookies = parseCookies('color=a%2Cb,c; other=1', encoded);
    const out: Record<string, unknown> = {};
    const issues: DecodeIssue[] = [];
    decodeForm(cookies, [decoder(ARRAY, 'form', false)], out, issues, encoded, decodeCookieValue);
    expect(issues).toEqual([]);
    expect(out.color).toEqual(['a,b', 'c']);
  });

  it('trims only header list whitespace (SP, HTAB): not other spaces, not in path or query values, not empty elements', () => {
    expect(header('blue,\u000bblack, \u00a0brown', ARRAY, false)).toEqual(['blue', '\u000bblack', '\u00a0brown']);
    expect(header('blue, , black', ARRAY, false)).toEqual(['blue', '', 'black']);
    expect(header('blue,%20black', ARRAY, false)).toEqual(['blue', '%20black']);
    const issues: DecodeIssue[] = [];
    expect(decodeSimple('blue, black', ',', decoder(ARRAY, 'simple', false), issues)).toEqual(['blue', ' black']);
    expect(query('color=blue,+black', ARRAY, 'form', false)).toEqual(['blue', ' black']);
    decodeSimple('R=1, R=2', ',', decoder(OBJECT, 'simple', true), issues, true);
    expect(issues.map((i) => i.rule)).toEqual(['must not repeat a property name']);
  });
});

describe('header values are taken as sent (OAS 3.1.2: no percent-encoding in headers)', () => {
  it.each([
    ['a string', 'na%6De', STRING, 'na%6De'],
    ['a string with a lone "%"', '50%', STRING, '50%'],
    ['a string that is not valid percent-encoding', '%E0%A4%A', STRING, '%E0%A4%A'],
    ['list items (an encoded comma is not a separator, nor decoded)', 'a%2Cb,c%20d', ARRAY, ['a%2Cb', 'c%20d']],
    ['an integer', '%35', { type: 'integer' }, '%35'],
    ['name,value pairs', 'R,1%30,G,2', OBJECT, { R: '1%30', G: 2 }],
  ] as const)('%s', (_name, text, schema, expected) => {
    expect(header(text, schema, false)).toEqual(expected);
  });

  it('takes exploded pairs and content-serialised JSON as sent too', () => {
    expect(header('R=1%30,G=2', OBJECT, true)).toEqual({ R: '1%30', G: 2 });
    const issues: DecodeIssue[] = [];
    const json = { ...decoder({ type: 'object' }, 'simple', false), json: true };
    expect(decodeSimple('{"off":"50%"}', ',', json, issues, true)).toEqual({ off: '50%' });
    expect(issues).toEqual([]);
  });

  it('still percent-decodes path values', () => {
    expect(path('na%6De', STRING, 'simple', false)).toBe('name');
    expect(path('a%2Cb,c%20d', ARRAY, 'simple', false)).toEqual(['a,b', 'c d']);
  });
});

describe('coercion and refusal', () => {
  it('splits before percent-decoding, so an encoded separator stays data', () => {
    expect(path('a%2Cb,c', ARRAY, 'simple', false)).toEqual(['a,b', 'c']);
  });

  it.each([
    ['5', { type: 'integer' }, 5],
    ['-1.5e3', { type: 'number' }, -1500],
    ['true', { type: 'boolean' }, true],
    ['', { type: ['integer', 'null'] }, null],
    ['5', { type: ['string', 'integer'] }, '5'],
    ['0x10', { type: 'integer' }, '0x10'],
    [' 5', { type: 'integer' }, ' 5'],
    ['Infinity', { type: 'number' }, 'Infinity'],
  ])('"%s" as %j → %j', (raw, schema, expected) => {
    expect(path(raw, schema, 'simple', false)).toEqual(expected);
  });

  it('refuses a repeated scalar, an odd object list and a malformed label', () => {
    const issues: DecodeIssue[] = [];
    const groups = parseFormPairs('color=a&color=b', 10) as Map<string, string[]>;
    decodeForm(groups, [decoder(STRING, 'form', true)], {}, issues);
    decodePathValue('R,100,G', decoder(OBJECT, 'simple', false), issues);
    decodePathValue('blue', decoder(STRING, 'label', false), issues);
    decodeSimple('%E0%A4%A', ',', decoder(STRING, 'simple', false), issues);
    expect(issues.map((i) => i.rule)).toEqual(['must not be repeated', 'must be a list of name,value pairs', 'must start with "." (label style)', 'is not valid percent-encoding']);
  });

  it('returns undeclared keys and refuses nested deepObject keys', () => {
    const groups = parseFormPairs('color[R]=1&color[x][y]=2&other=3', 10) as Map<string, string[]>;
    const out: Record<string, unknown> = {};
    const unclaimed = decodeForm(groups, [decoder(OBJECT, 'deepObject', true)], out, []);
    expect(out).toEqual({ color: { R: 1 } });
    expect([...unclaimed].sort()).toEqual(['color[x][y]', 'other']);
  });

  it('parses form pairs strictly: bad escapes refused, + is a space, bounded count', () => {
    expect(parseFormPairs('a=%zz', 10)).toBeUndefined();
    expect(parseFormPairs('a=b+c&d', 10)).toEqual(new Map([['a', ['b c']], ['d', ['']]]));
    expect(parseFormPairs('a=1&b=2&c=3', 2)).toBe('too-many');
  });

  it('decoded object keys are plain data (no prototype)', () => {
    const value = query('color[__proto__]=1&color[constructor]=2', OBJECT, 'deepObject', true) as Record<string, unknown>;
    expect(Object.getPrototypeOf(value)).toBeNull();
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('writes a declared field named __proto__ as an own key, never as the prototype of the instance', () => {
    const groups = parseFormPairs('__proto__=x&constructor=y', 10) as Map<string, string[]>;
    const out: Record<string, unknown> = {};
    const unclaimed = decodeForm(groups, [decoder(STRING, 'form', true, '__proto__'), decoder(STRING, 'form', true, 'constructor')], out, []);
    expect(unclaimed.size).toBe(0);
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
    expect(Object.keys(out)).toEqual(['__proto__', 'constructor']);
    expect(Object.getOwnPropertyDescriptor(out, '__proto__')?.value).toBe('x');
  });

  it('hands back the values as sent next to the decoded ones', () => {
    const encoded = new Map<string, string[]>();
    expect(parseFormPairs('a=1%2C2&a=b+c&%62=%7C', 10, encoded)).toEqual(new Map([['a', ['1,2', 'b c']], ['b', ['|']]]));
    expect(encoded).toEqual(new Map([['a', ['1%2C2', 'b+c']], ['b', ['%7C']]]));
  });

  it('parses cookies per RFC 6265 and keeps duplicates apart', () => {
    expect(parseCookies('a=1; b="two"; a=3; c=%41')).toEqual(new Map([['a', ['1', '3']], ['b', ['two']], ['c', ['A']]]));
  });
});
