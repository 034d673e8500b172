/**
 * Parameter deserialisation against the examples table of OpenAPI 3.1 §4.8.12.4 ("Style Examples"): the value
 * `color` is the string "blue", the array ["blue", "black", "brown"] or the object {R: 100, G: 200, B: 150}.
 */
import { describe, expect, it } from 'vitest';
import type { ParameterStyle } from './model.ts';
import { buildDecoder, decodeForm, decodePathValue, decodeSimple, parseCookies, parseFormPairs, type DecodeIssue } from './params.ts';

const STRING = { type: 'string' };
const ARRAY = { type: 'array', items: { type: 'string' } };
const OBJECT = { type: 'object', properties: { R: { type: 'integer' }, G: { type: 'integer' }, B: { type: 'integer' } } };
const BLUE = 'blue';
const COLORS = ['blue', 'black', 'brown'];
const RGB = { R: 100, G: 200, B: 150 };

function decoder(schema: unknown, style: ParameterStyle, explode: boolean) {
  return buildDecoder({}, '3.1', 'color', { schema, pointer: '' }, style, explode, false);
}

function path(raw: string, schema: unknown, style: ParameterStyle, explode: boolean): unknown {
  const issues: DecodeIssue[] = [];
  const value = decodePathValue(raw, decoder(schema, style, explode), issues);
  expect(issues).toEqual([]);
  return value;
}

function query(text: string, schema: unknown, style: ParameterStyle, explode: boolean): unknown {
  const issues: DecodeIssue[] = [];
  const groups = parseFormPairs(text, 100);
  if (!(groups instanceof Map)) throw new Error('bad query');
  const out: Record<string, unknown> = {};
  const unclaimed = decodeForm(groups, [decoder(schema, style, explode)], out, issues);
  expect(issues).toEqual([]);
  expect(unclaimed.size).toBe(0);
  return out.color;
}

describe('style examples of the specification', () => {
  it.each([
    ['.blue', STRING, 'label', false, BLUE],
    ['.blue,black,brown', ARRAY, 'label', false, COLORS],
    ['.blue.black.brown', ARRAY, 'label', true, COLORS],
    ['.R,100,G,200,B,150', OBJECT, 'label', false, RGB],
    [';color=blue', STRING, 'matrix', false, BLUE],
    [';color=blue,black,brown', ARRAY, 'matrix', false, COLORS],
    [';color=blue;color=black;color=brown', ARRAY, 'matrix', true, COLORS],
    [';color=R,100,G,200,B,150', OBJECT, 'matrix', false, RGB],
    ['blue', STRING, 'simple', false, BLUE],
    ['blue,black,brown', ARRAY, 'simple', false, COLORS],
    ['R,100,G,200,B,150', OBJECT, 'simple', false, RGB],
    ['R=100,G=200,B=150', OBJECT, 'simple', true, RGB],
  ] as const)('path %s (%s, explode %s)', (raw, schema, style, explode, expected) => {
    expect(path(raw, schema, style as ParameterStyle, explode)).toEqual(expected);
  });

  it.each([
    ['color=blue', STRING, 'form', true, BLUE],
    ['color=blue&color=black&color=brown', ARRAY, 'form', true, COLORS],
    ['color=blue,black,brown', ARRAY, 'form', false, COLORS],
    ['color=R,100,G,200,B,150', OBJECT, 'form', false, RGB],
    ['R=100&G=200&B=150', OBJECT, 'form', true, RGB],
    ['color=blue%20black%20brown', ARRAY, 'spaceDelimited', false, COLORS],
    ['color=blue|black|brown', ARRAY, 'pipeDelimited', false, COLORS],
    ['color[R]=100&color[G]=200&color[B]=150', OBJECT, 'deepObject', true, RGB],
  ] as const)('query %s (%s, explode %s)', (text, schema, style, explode, expected) => {
    expect(query(text, schema, style as ParameterStyle, explode)).toEqual(expected);
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

  it('parses cookies per RFC 6265 and keeps duplicates apart', () => {
    expect(parseCookies('a=1; b="two"; a=3; c=%41')).toEqual(new Map([['a', ['1', '3']], ['b', ['two']], ['c', ['A']]]));
  });
});
