import { describe, expect, it } from 'vitest';
import { RE2 } from 're2-wasm';
import { LONG_INPUT, MAX_LOOKAROUND_INPUT, UnsafePatternError, compilePattern, forRe2, hasBoundedBacktracking } from './pattern-engine.ts';
import { RequestSchemaTranslator, createAjv, type SchemaIssue } from './json-schema.ts';
import { Minimizer } from './minimize.ts';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadOpenApi } from './load.ts';
import { CompiledContract } from './validator.ts';
import type { ValidationError } from './json-schema.ts';

/** Inputs that take a backtracking engine exponential time on these patterns (never finishing on V8). */
const HOSTILE: Array<[string, string, boolean]> = [
  ['^(a+)+$', `${'a'.repeat(5000)}!`, false],
  // Unanchored at the start: the empty match at the end makes it true, which V8 finds only after trying every split.
  ['(\\w+\\s?)*$', `${'ab '.repeat(3000)}!`, true],
  ['^([a-zA-Z0-9])(([\\-.]|[_]+)?([a-zA-Z0-9]+))*(@){1}[a-z0-9]+[.]{1}(([a-z]{2,3})|([a-z]{2,3}[.]{1}[a-z]{2,3}))$', `${'a'.repeat(5000)}!`, false],
  ['^(\\d+)*x$', `${'1'.repeat(5000)}y`, false],
];

describe('pattern engine: document patterns never backtrack catastrophically on client input', () => {
  it.each(HOSTILE)('runs %s on the linear-time engine: a near-match is answered at once', (source, input, expected) => {
    expect(hasBoundedBacktracking(source)).toBe(false);
    const matcher = compilePattern(source);
    expect(matcher).not.toBeInstanceOf(RegExp);
    expect(matcher.test(input)).toBe(expected);
  });

  it.each([
    ['^[a-z0-9-]{1,63}$', ['abc-1'], ['ABC', '']],
    ['^\\d{3}-\\d{4}$', ['555-1234'], ['5551234']],
    ['^[\\w\\-]+\\_x$', ['a-b_x'], ['a b_x']],
    ['^\\p{Lu}\\p{Ll}+$', ['Émile'], ['émile']],
    ['^.$', ['😀'], ['ab']],
  ])('keeps bounded patterns on V8 for short inputs, with Unicode semantics: %s', (source, good, bad) => {
    const matcher = compilePattern(source);
    for (const text of good) expect(matcher.test(text), text).toBe(true);
    for (const text of bad) expect(matcher.test(text), text).toBe(false);
  });

  it('answers long inputs of polynomial patterns on RE2, as V8 would but in linear time (a common e-mail pattern)', () => {
    // Quadratic on V8: every `.` is a place the second [^@]+ may give back, each tried to the end of the input.
    const email = compilePattern('^[^@]+@[^@]+\\.[^@]+$');
    expect(email).not.toBeInstanceOf(RegExp);
    expect(email.test(`a@${'.'.repeat(200_000)}@`)).toBe(false);
    expect(email.test(`${'a'.repeat(LONG_INPUT)}@example.org`)).toBe(true);
    expect(email.test('a@example.org')).toBe(true);
  });

  it.each([
    ['^[a-z0-9-]{1,63}$'],
    ['^[^@]+@[^@]+\\.[^@]+$'],
    ['^\\p{Lu}[\\p{Ll}\\d ]+$'],
    ['^[\\u{1F600}-\\u{1F64F}]+x$'],
    ['(?:ab|a)+c'],
    ['^\\d{3}(?:-\\d{4})?$'],
    ['^.+@.+$'],
    ['^a.*c$'],
    ['^\\S+\\s\\S+$'],
    ['^[^\\s@]+(?:@[^\\s@]+)?$'],
  ])('gives the same answers on both sides of LONG_INPUT as V8: %s', (source) => {
    const matcher = compilePattern(source);
    const v8 = new RegExp(source, 'u');
    const bodies = ['abc-def', 'a@b.c', 'Émile 42', '😀😁', 'ababac', '555-1234', 'x', '', 'A\u00a0b', 'ab\r\nc', 'a\u2028c', 'a b', 'a\u3000b'];
    for (const body of bodies) {
      for (const text of [body, body.padEnd(LONG_INPUT + 5, body === '' ? 'a' : body), `${'a'.repeat(LONG_INPUT)}${body}`]) {
        expect(matcher.test(text), `${source} on ${JSON.stringify(text)}`).toBe(v8.test(text));
      }
    }
  });

  it('keeps distinct patterns distinct in ajv, which shares compiled patterns by their string form', () => {
    expect(String(compilePattern('^[a-z]{2}$'))).toBe('/^[a-z]{2}$/u');
    const ajv = createAjv();
    const validate = ajv.compile({ type: 'object', properties: { a: { type: 'string', pattern: '^[a-z]{2}$' }, b: { type: 'string', pattern: '^[0-9]{3}$' } } });
    expect(validate({ a: 'xy', b: '123' })).toBe(true);
    expect(validate({ a: 'xy', b: 'xyz' })).toBe(false);
    expect(validate({ a: '12', b: '123' })).toBe(false);
  });

  it.each([
    ['non-space inside a class', '^[\\S\\d]+$'],
    ['non-Unicode syntax', '^\\w+\\_x$'],
  ])('keeps V8 for every input where RE2 cannot answer as V8 does: %s', (_name, source) => {
    expect(compilePattern(source)).toBeInstanceOf(RegExp);
  });

  it.each([
    ['an unanchored password rule from ../shared/specs', '(?=.*[a-z])(?=.*[A-Z])(?=.*[0-9])', 'aB3', 'ab3'],
    ['an anchored lookahead', '^(?=x)[a-z]+$', 'xyz', 'yz'],
    ['a lookbehind', '^[a-z]+(?<!q)$', 'abc', 'abq'],
    ['a backreference', '^([a-z])\\1$', 'aa', 'ab'],
  ])('runs lookaround and backreferences on V8 for inputs up to MAX_LOOKAROUND_INPUT only: %s', (_name, source, good, bad) => {
    const matcher = compilePattern(source);
    expect(matcher).not.toBeInstanceOf(RegExp);
    expect(String(matcher)).toBe(String(new RegExp(source, 'u')));
    expect(matcher.test(good)).toBe(true);
    expect(matcher.test(bad)).toBe(false);
    // Longer inputs do not match, whatever they hold: fail closed instead of a polynomial on V8.
    expect(matcher.test(good.padStart(MAX_LOOKAROUND_INPUT + 1, good[0]))).toBe(false);
  });

  it('answers a long input of the quadratic password rule at once (it took 181 ms at 8,000 characters on V8)', () => {
    expect(compilePattern('(?=.*[a-z])(?=.*[A-Z])(?=.*[0-9])').test('a'.repeat(1_000_000))).toBe(false);
  });

  it('spells `.`, `\\s` and `\\S` for RE2 as ECMAScript means them, checked over the code points', () => {
    const classes: Array<[string, RegExp]> = [['^.$', /^.$/u], ['^\\s$', /^\s$/u], ['^\\S$', /^\S$/u], ['^[\\s@]$', /^[\s@]$/u], ['^[^\\s@]$', /^[^\s@]$/u]];
    for (const [source, v8] of classes) {
      const spelled = forRe2(source)!;
      const re2 = new RE2(spelled, 'u');
      const differs: string[] = [];
      // Every BMP code point (where every white space and line terminator is) and every 97th astral one.
      for (let cp = 0; cp <= 0x10ffff; cp += cp < 0x10000 ? 1 : 97) {
        if (cp >= 0xd800 && cp <= 0xdfff) continue;
        const c = String.fromCodePoint(cp);
        if (re2.test(c) !== v8.test(c)) differs.push(cp.toString(16));
      }
      expect(differs, source).toEqual([]);
    }
    expect(forRe2('^a.b\\.c\\s[\\s-]\\S$')).toBe('^a[^\\u000a\\u000d\\u2028\\u2029]b\\.c[\\u0009-\\u000d\\u0020\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000\\ufeff][\\u0009-\\u000d\\u0020\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000\\ufeff-][^\\u0009-\\u000d\\u0020\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000\\ufeff]$');
    expect(forRe2('[\\S]')).toBeUndefined();
  });

  it.each([
    // Every '@' is a place the first part may end, every later one a place the second may: no '.', no match.
    ['^.+@.+\\..+$', '@'.repeat(100_000)],
    ['^\\S+@\\S+\\.\\S+$', '@'.repeat(100_000)],
    ['^\\s*\\w+\\s*\\w+\\s*$', `${'a '.repeat(50_000)}!`],
  ])('answers long near-matches of common polynomial patterns in linear time: %s', (source, input) => {
    const matcher = compilePattern(source);
    expect(matcher).not.toBeInstanceOf(RegExp);
    expect(matcher.test(input)).toBe(false);
  });

  it.each([
    ['^(a+)+$', ['aaa'], ['aab', '']],
    ['^(?:\\p{L}+\\s?)+$', ['Grüße aus Köln'], ['x1']],
    ['^(.+)+$', ['😀😀'], ['']],
    ['^\\+(?:[0-9]-?){6,14}[0-9]$', ['+1-555-123-4567'], ['+12']],
  ])('matches on RE2 as on V8 for what both accept: %s', (source, good, bad) => {
    const matcher = compilePattern(source);
    expect(matcher).not.toBeInstanceOf(RegExp);
    for (const text of good) expect(matcher.test(text), text).toBe(true);
    for (const text of bad) expect(matcher.test(text), text).toBe(false);
  });

  it.each([
    ['lookahead', '^(?=.*[A-Z])(\\w+)*$'],
    ['backreference', '^(a+)+\\1$'],
  ])('refuses at load a nested-repetition pattern RE2 cannot run (%s), saying why', (_name, source) => {
    expect(() => compilePattern(source)).toThrow(UnsafePatternError);
    expect(() => compilePattern(source)).toThrow(/nests repetition .* rewrite it/);
  });

  it('compiles each distinct RE2 pattern once, so config reloads do not leak WebAssembly memory', () => {
    expect(compilePattern('^(b+)+$')).toBe(compilePattern('^(b+)+$'));
    expect(compilePattern('^(b+)+$')).not.toBe(compilePattern('^(c+)+$'));
  });

  it('treats a pattern its checker cannot read as unsafe (absurd nesting), and invalid syntax as invalid', () => {
    const deep = `${'('.repeat(20_000)}a${')'.repeat(20_000)}`;
    expect(hasBoundedBacktracking(deep)).toBe(false);
    expect(() => compilePattern('(')).toThrow(SyntaxError);
  });

  it('is the engine of request validation (ajv) and of the minimizer (patternProperties)', () => {
    const ajv = createAjv();
    const issues: SchemaIssue[] = [];
    const doc = { openapi: '3.1.0', s: { type: 'string', pattern: '^(a+)+$' } };
    const t = new RequestSchemaTranslator(doc, '3.1', ajv, issues);
    const translated = t.translate({ schema: doc.s, pointer: '/s' });
    t.flush();
    const validate = ajv.compile(translated);
    expect(validate('aaaa')).toBe(true);
    expect(validate(`${'a'.repeat(5000)}!`)).toBe(false);
    const minimizer = new Minimizer({ openapi: '3.1.0', s: { type: 'object', patternProperties: { '^(a+)+$': { type: 'string' } } } }, '3.1');
    const value: Record<string, unknown> = { aaa: 'kept', [`${'a'.repeat(5000)}!`]: 'undeclared' };
    expect(minimizer.minimize({ schema: { $ref: '#/s' }, pointer: '/s' }, value, 'remove').removed).toBe(1);
    expect(Object.keys(value)).toEqual(['aaa']);
  });

  it('in a contract: a nested-repetition pattern validates requests in linear time, one RE2 cannot run is a load error at its line', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rampart-patterns-'));
    const document = (pattern: string) =>
      JSON.stringify({
        openapi: '3.1.0',
        info: { title: 't', version: '1' },
        paths: {
          '/users': {
            post: {
              requestBody: { content: { 'application/json': { schema: { type: 'object', properties: { name: { type: 'string', pattern } } } } } },
              responses: { '201': { description: 'ok' } },
            },
          },
        },
      }, null, 1);
    writeFileSync(join(dir, 'nested.json'), document('^(a+)+$'));
    writeFileSync(join(dir, 'lookahead.json'), document('^(?=.*[A-Z])(\\w+)*$'));
    const nested = await loadOpenApi(join(dir, 'nested.json'), { noCache: true });
    if (!nested.ok) throw new Error(nested.errors.map((e) => e.text).join('\n'));
    const compiled = CompiledContract.compile(nested.api, { rejectUndeclaredBody: true, rejectUndeclaredQuery: true });
    if (!compiled.ok) throw new Error(compiled.errors.map((e) => e.text).join('\n'));
    const match = compiled.contract.index.match('POST', '/users');
    if (match.kind !== 'found') throw new Error('no operation');
    const operation = match.candidates[0]!.value;
    const media = operation.selectMedia('application/json')!;
    const errors: ValidationError[] = [];
    operation.validateJson(media, { name: `${'a'.repeat(5000)}!` }, errors);
    expect(errors.map((e) => e.pointer)).toEqual(['/body/name']);
    const lookahead = await loadOpenApi(join(dir, 'lookahead.json'), { noCache: true });
    if (!lookahead.ok) throw new Error(lookahead.errors.map((e) => e.text).join('\n'));
    const refused = CompiledContract.compile(lookahead.api, { rejectUndeclaredBody: true, rejectUndeclaredQuery: true });
    expect(refused.ok).toBe(false);
    if (!refused.ok) expect(refused.errors.map((e) => e.text).join('\n')).toMatch(/lookahead\.json:\d+:\d+ .*nests repetition/);
  });
});
