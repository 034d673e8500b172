/**
 * `spliceJson` (response-body.ts): a minimised answer is written by copying the untouched parts of the upstream's text.
 * Whatever the text looks like (whitespace, escaped keys, awkward strings, numbers JSON.stringify would rewrite), the
 * result must parse to exactly the minimised value; and when the value does not line up with the text the way the
 * minimizer promises, the splice must refuse (undefined: the gateway then serialises the value whole).
 */
import { describe, expect, it } from 'vitest';
import { parseStrictJson, type JsonLayout } from './body.ts';
import { spliceJson } from './response-body.ts';
import { Minimizer } from '../openapi/minimize.ts';

const document = {
  openapi: '3.1.0',
  components: {
    schemas: {
      Node: {
        type: 'object',
        properties: {
          a: { $ref: '#/components/schemas/Node' },
          list: { type: 'array', items: { $ref: '#/components/schemas/Node' } },
          n: { type: 'number' },
          'q"': { type: 'string' },
          é: {},
          'k/l': { $ref: '#/components/schemas/Node' },
          pw: { type: 'string', writeOnly: true },
          free: { type: 'object' },
        },
        patternProperties: { '^x-': { $ref: '#/components/schemas/Node' } },
      },
    },
  },
};
const NODE = { schema: { $ref: '#/components/schemas/Node' }, pointer: '/test/Node' };
const minimizer = new Minimizer(document, '3.1');

function parse(text: string): { value: unknown; layout: JsonLayout } {
  const layout: JsonLayout = new Map();
  return { value: parseStrictJson(text, 128, layout), layout };
}

function minimizeAndSplice(text: string): { spliced: string | undefined; value: unknown; changed: boolean } {
  const { value, layout } = parse(text);
  const result = minimizer.minimize(NODE, value, 'remove');
  return { spliced: spliceJson(text, layout, value, result.dirty), value, changed: result.changed };
}

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

/** Random answers: declared and undeclared keys at every depth, in varied spellings and layouts. */
function generate(rand: () => number, depth: number): string {
  const pick = <T,>(items: readonly T[]): T => items[Math.floor(rand() * items.length)]!;
  const space = () => pick(['', '', ' ', '\n  ', '\t', '\r\n']);
  const spell = (name: string) => {
    const escape = rand() < 0.3;
    let out = '';
    for (const ch of name) {
      if (ch === '"' || ch === '\\') out += `\\${ch}`;
      else if (escape && ch.charCodeAt(0) < 0x10000) out += `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`;
      else out += ch;
    }
    return `"${out}"`;
  };
  const scalar = () => pick(['1', '1.50', '-0', '1e400', '12345678901234567890', 'true', 'null', '"s"', '"a\\"b, c}"', '"\\\\"', '"\\ud800"', '"ü 😀"', '""']);
  if (depth <= 0 || rand() < 0.25) return scalar();
  if (rand() < 0.3) {
    const n = Math.floor(rand() * 4);
    return `[${space()}${Array.from({ length: n }, () => generate(rand, depth - 1)).join(`${space()},${space()}`)}${space()}]`;
  }
  const names = ['a', 'list', 'n', 'q"', 'é', 'k/l', 'pw', 'free', 'x-ext', 'undeclared', 'secret', '😀', 'a b', ''];
  const used = new Set<string>();
  const members: string[] = [];
  for (let k = Math.floor(rand() * 6); k > 0; k--) {
    const name = pick(names);
    if (used.has(name)) continue;
    used.add(name);
    const value = name === 'list' ? `[${generate(rand, depth - 1)},${space()}${generate(rand, depth - 1)}]` : generate(rand, depth - 1);
    members.push(`${spell(name)}${space()}:${space()}${value}`);
  }
  return `${space()}{${space()}${members.join(`${space()},${space()}`)}${space()}}${space()}`;
}

describe('spliceJson', () => {
  it('writes exactly the minimised value for 3000 generated answers', () => {
    const rand = random(0xc0ffee);
    let changed = 0;
    for (let n = 0; n < 3000; n++) {
      const text = generate(rand, 1 + Math.floor(rand() * 5));
      const result = minimizeAndSplice(text);
      if (!result.changed) {
        expect(result.spliced).toBeUndefined();
        continue;
      }
      changed++;
      expect(result.spliced, text).toBeTypeOf('string');
      expect(parseStrictJson(result.spliced!, 128), text).toEqual(result.value);
    }
    expect(changed).toBeGreaterThan(1000);
  });

  it('keeps the upstream bytes of what it did not change (numbers JSON.stringify would rewrite included)', () => {
    const text = '{ "n": 1.50, "a": {"n": 12345678901234567890, "secret": 1},\n  "undeclared": [1, 2], "list": [ {"n": 1e2} ] }';
    const { spliced } = minimizeAndSplice(text);
    expect(spliced).toBe('{"n": 1.50,"a": {"n": 12345678901234567890},"list": [ {"n": 1e2} ]}');
  });

  it('removes a writeOnly member and undeclared ones spelled with escapes', () => {
    const { spliced } = minimizeAndSplice('{"\\u0070w":"hunter2","se\\u0063ret":1,"q\\"":"kept"}');
    expect(spliced).toBe('{"q\\"":"kept"}');
  });

  it('refuses when the value does not line up with the text', () => {
    const text = '{"a":{"n":1},"list":[{"n":1},{"n":2}],"n":3}';
    const check = (edit: (value: Record<string, unknown>) => Set<object>) => {
      const { value, layout } = parse(text);
      const dirty = edit(value as Record<string, unknown>);
      return spliceJson(text, layout, value, dirty);
    };
    // A member added (only removals are promised).
    expect(check((v) => ((v.added = 1), new Set([v])))).toBeUndefined();
    // An element removed from the middle of an array (only trailing elements may go).
    expect(
      check((v) => {
        const list = v.list as unknown[];
        list.splice(0, 1);
        return new Set([v, list]);
      }),
    ).toBeUndefined();
    // An object replaced by an array.
    expect(check((v) => ((v.a = []), new Set([v, v.a as object])))).toBeUndefined();
    // Nothing dirty: nothing to splice.
    expect(check(() => new Set())).toBeUndefined();
  });

  it('writes an emptied object and an emptied array; refuses an array shortened but not emptied', () => {
    const text = '{"a":{"x":1,"y":2},"list":[{"n":1},{"n":2}],"n":3}';
    const { value, layout } = parse(text);
    const v = value as { a: Record<string, unknown>; list: unknown[] };
    delete v.a.x;
    delete v.a.y;
    v.list.length = 1;
    expect(spliceJson(text, layout, value, new Set([v, v.a, v.list]))).toBeUndefined();
    v.list.length = 0;
    expect(spliceJson(text, layout, value, new Set([v, v.a, v.list]))).toBe('{"a":{},"list":[],"n":3}');
  });
});
