import { describe, expect, it } from 'vitest';
import { Minimizer, itemSchemas } from './minimize.ts';
import { minimizeJsonText } from './minimize-text.ts';
import { mulberry32 } from '../detect/traces.ts';

const schemas: Record<string, unknown> = {
  User: {
    type: 'object',
    properties: {
      id: { type: 'integer', readOnly: true },
      email: { type: 'string' },
      password: { type: 'string', writeOnly: true },
      secretRef: { $ref: '#/components/schemas/Secret' },
      profile: { $ref: '#/components/schemas/Profile' },
      tags: { type: 'array', items: { $ref: '#/components/schemas/Tag' } },
      labels: { type: 'object', additionalProperties: { type: 'object', properties: { v: { type: 'string' } } } },
      free: { type: 'object' },
      anything: {},
      pair: { type: 'array', prefixItems: [{ $ref: '#/components/schemas/Tag' }, { type: 'integer' }] },
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
  Either: { anyOf: [{ type: 'object', required: ['a'], properties: { a: { type: 'string' }, a2: { type: 'string' } } }, { type: 'object', required: ['b'], properties: { b: { type: 'string' } } }] },
  Node: { type: 'object', properties: { v: { type: 'integer' }, next: { $ref: '#/components/schemas/Node' } } },
  Loop1: { allOf: [{ $ref: '#/components/schemas/Loop2' }], properties: { one: {} } },
  Loop2: { allOf: [{ $ref: '#/components/schemas/Loop1' }], properties: { two: {} } },
};
const doc = { openapi: '3.1.0', components: { schemas } };
const at = (name: string) => ({ schema: { $ref: `#/components/schemas/${name}` }, pointer: `/x/${name}` });

describe('Minimizer (responses)', () => {
  it('removes undeclared properties at every depth and writeOnly ones (direct or through $ref)', () => {
    const m = new Minimizer(doc, '3.1');
    const value = {
      id: 1,
      email: 'e',
      password: 'p',
      secretRef: 's',
      passwordHash: 'h',
      profile: { name: 'n', bio: 'b', ssn: '123' },
      tags: [{ name: 't', 'x-color': 'red', hidden: 1 }, { name: 'u' }],
      labels: { any: { v: '1', w: '2' }, other: { v: '3' } },
      free: { whatever: { deep: true } },
      anything: { a: 1 },
      pair: [{ name: 'p', junk: 1 }, 5],
    };
    const result = m.minimize(at('User'), value, 'remove');
    expect(value).toEqual({
      id: 1,
      email: 'e',
      profile: { name: 'n', bio: 'b' },
      tags: [{ name: 't', 'x-color': 'red' }, { name: 'u' }],
      labels: { any: { v: '1' }, other: { v: '3' } },
      free: { whatever: { deep: true } },
      anything: { a: 1 },
      pair: [{ name: 'p' }, 5],
    });
    expect(result.changed).toBe(true);
    expect(result.undeclared).toEqual(['/passwordHash', '/profile/ssn', '/tags/0/hidden', '/labels/any/w', '/pair/0/junk']);
    expect(result.removed).toBe(7);
  });

  it('reject mode reports without modifying; allow mode keeps undeclared but still drops writeOnly', () => {
    const m = new Minimizer(doc, '3.1');
    const rejected = { email: 'e', password: 'p', extra: 1 };
    const r = m.minimize(at('User'), rejected, 'reject');
    expect(r.undeclared).toEqual(['/extra']);
    expect(rejected).toEqual({ email: 'e', extra: 1 });
    const allowed = { email: 'e', password: 'p', extra: 1 };
    const a = m.minimize(at('User'), allowed, 'allow');
    expect(a.undeclared).toEqual([]);
    expect(allowed).toEqual({ email: 'e', extra: 1 });
  });

  it('never names a member whose name holds PII (a map keyed by e-mail): its pointers say * instead, on the value and on the text', () => {
    const m = new Minimizer(doc, '3.1');
    const answer = {
      labels: { 'ann@example.com': { v: '1', w: '2' } },
      'bob@example.com': 1,
      'call +1 415 555 2671': 2,
      [`${'x'.repeat(58)} carol@example.com`]: 3,
      passwordHash: 'h',
    };
    const expected = ['/labels/*/w', '/*', '/*', '/*', '/passwordHash'];
    expect(m.minimize(at('User'), structuredClone(answer), 'remove').undeclared).toEqual(expected);
    const text = minimizeJsonText(m, at('User'), JSON.stringify(answer), 'remove', 32);
    if (typeof text === 'string') throw new Error(`not minimized on the text: ${text}`);
    expect(text.result.undeclared).toEqual(expected);
    for (const pointer of expected) expect(pointer).not.toMatch(/@|415/);
    // A long name without PII is still cut at 64 characters.
    const long = { [`k${'y'.repeat(100)}`]: 1 };
    expect(m.minimize(at('User'), long, 'reject').undeclared).toEqual([`/k${'y'.repeat(63)}…`]);
  });

  it('the request direction keeps writeOnly properties and only lists undeclared ones', () => {
    const m = new Minimizer(doc, '3.1');
    const value = { email: 'e', password: 'p', extra: 1 };
    expect(m.minimize(at('User'), value, 'reject', 'request').undeclared).toEqual(['/extra']);
    expect(value).toEqual({ email: 'e', password: 'p', extra: 1 });
  });

  it('a discriminator selects the branch whose properties are declared', () => {
    const m = new Minimizer(doc, '3.1');
    const round = { type: 'round', r: 1, side: 2 };
    m.minimize(at('Shape'), round, 'remove');
    expect(round).toEqual({ type: 'round', r: 1 });
    const square = { type: 'Square', r: 1, side: 2 };
    m.minimize(at('Shape'), square, 'remove');
    expect(square).toEqual({ type: 'Square', side: 2 });
    const unknown = { type: 'hexagon', r: 1, side: 2 };
    m.minimize(at('Shape'), unknown, 'remove');
    expect(unknown).toEqual({});
  });

  it('anyOf without a discriminator: branches whose required properties are present apply', () => {
    const m = new Minimizer(doc, '3.1');
    const a = { a: '1', a2: '2', b2: 3 };
    m.minimize(at('Either'), a, 'remove');
    expect(a).toEqual({ a: '1', a2: '2' });
    const both = { a: '1', b: '2', z: 0 };
    m.minimize(at('Either'), both, 'remove');
    expect(both).toEqual({ a: '1', b: '2' });
  });

  it('follows recursive schemas as deep as the data goes, and cuts schema-only cycles', () => {
    const m = new Minimizer(doc, '3.1');
    let value: Record<string, unknown> = { v: 0, junk: 0 };
    const root = value;
    for (let i = 1; i < 50; i++) {
      const next = { v: i, junk: i };
      value.next = next;
      value = next;
    }
    expect(m.minimize(at('Node'), root, 'remove').removed).toBe(50);
    expect(JSON.stringify(root)).not.toContain('junk');
    const loop = { one: 1, two: 2, three: 3 };
    m.minimize(at('Loop1'), loop, 'remove');
    expect(loop).toEqual({ one: 1, two: 2 });
  });

  it('plans that depend on the object are kept by the choices they made, and give what building them anew gives', () => {
    // A polymorphic list makes a few plans, not one per element: a shared Minimizer replays the discriminator and
    // branch choices; a fresh one per object builds the plan. Both must agree on every random object.
    const poly: Record<string, unknown> = {
      ...schemas,
      Pet: {
        oneOf: [{ $ref: '#/components/schemas/Cat' }, { $ref: '#/components/schemas/Dog' }, { $ref: '#/components/schemas/Either' }],
        discriminator: { propertyName: 'kind', mapping: { cat: '#/components/schemas/Cat', dog: 'Dog', either: '#/components/schemas/Either' } },
      },
      Cat: { type: 'object', required: ['kind'], properties: { kind: { type: 'string' }, lives: { type: 'integer' }, shape: { $ref: '#/components/schemas/Shape' } } },
      Dog: { allOf: [{ $ref: '#/components/schemas/Named' }, { type: 'object', properties: { kind: { type: 'string' }, bark: { type: 'string' }, pal: { $ref: '#/components/schemas/Pet' } } }] },
      Any: { anyOf: [{ $ref: '#/components/schemas/Either' }, { type: 'object', required: ['c'], properties: { c: { $ref: '#/components/schemas/Pet' } } }] },
    };
    const polyDoc = { openapi: '3.1.0', components: { schemas: poly } };
    const next = mulberry32(7);
    const pick = <T,>(list: readonly T[]): T => list[Math.floor(next() * list.length)]!;
    const NAMES = ['kind', 'lives', 'shape', 'name', 'bark', 'pal', 'a', 'a2', 'b', 'c', 'type', 'r', 'side', 'junk', 'password'];
    const KINDS = ['cat', 'dog', 'either', 'Cat', 'Dog', 'bird', 7, null];
    const object = (depth: number): Record<string, unknown> => {
      const out: Record<string, unknown> = {};
      for (let i = Math.floor(next() * 6); i > 0; i--) {
        const name = pick(NAMES);
        out[name] = name === 'kind' ? pick(KINDS) : name === 'type' ? pick(['round', 'Square', 'Circle', 'x']) : depth < 3 && next() < 0.4 ? object(depth + 1) : 'v';
      }
      return out;
    };
    const shared = new Minimizer(polyDoc, '3.1');
    // One SchemaAt per root, as a compiled contract holds them: the shared Minimizer's plans are found by identity.
    const roots = new Map(['Pet', 'Any', 'Shape', 'Either'].map((name) => [name, at(name)]));
    let replayed = 0;
    for (let i = 0; i < 3000; i++) {
      const root = pick([...roots.keys()]);
      const value = object(0);
      const text = JSON.stringify(value);
      const fresh = new Minimizer(polyDoc, '3.1').minimize(at(root), JSON.parse(text), 'reject');
      const before = shared.plansBuilt;
      const warm = shared.minimize(roots.get(root)!, JSON.parse(text), 'reject');
      if (shared.plansBuilt === before) replayed++;
      expect([warm.removed, [...warm.undeclared].sort()], `${root} ${text}`).toEqual([fresh.removed, [...fresh.undeclared].sort()]);
      const a = JSON.parse(text);
      const b = JSON.parse(text);
      new Minimizer(polyDoc, '3.1').minimize(at(root), a, 'remove');
      shared.minimize(roots.get(root)!, b, 'remove');
      expect(b, `${root} ${text}`).toEqual(a);
    }
    // Most objects were answered from kept plans, and only a few plans were ever built.
    expect(replayed).toBeGreaterThan(2500);
    expect(shared.plansBuilt).toBeLessThan(300);
  });

  it('minimizes tuples (prefixItems, then items) alike in both minimizers, each element with a list the plans are cached by', () => {
    const tupleDoc = {
      openapi: '3.1.0',
      components: {
        schemas: {
          Row: {
            type: 'array',
            prefixItems: [{ $ref: '#/components/schemas/Named' }, { type: 'object', properties: { n: { type: 'integer' } } }],
            items: { $ref: '#/components/schemas/Tag' },
          },
          Named: { type: 'object', properties: { name: { type: 'string' } } },
          Tag: { type: 'object', properties: { name: { type: 'string' } } },
        },
      },
    };
    const row = (length: number) => [{ name: 'a', x: 1 }, { n: 1, x: 2 }, ...Array.from({ length }, (_, i) => ({ name: `t${i}`, x: i }))];
    const m = new Minimizer(tupleDoc, '3.1');
    const root = { schema: { $ref: '#/components/schemas/Row' }, pointer: '/x/Row' };
    const short = row(2);
    expect(m.minimize(root, short, 'remove').removed).toBe(4);
    expect(short).toEqual([{ name: 'a' }, { n: 1 }, { name: 't0' }, { name: 't1' }]);
    const built = m.plansBuilt;
    const long = row(2000);
    expect(m.minimize(root, long, 'remove').removed).toBe(2002);
    const text = minimizeJsonText(m, root, JSON.stringify(row(2000)), 'remove', 32);
    if (typeof text === 'string') throw new Error(`not minimized on its text: ${text}`);
    expect(JSON.parse(text.text!)).toEqual(long);
    expect(m.plansBuilt).toBe(built);
    // The element schemas are the lists Items holds (plans are found by list identity first), never a copy per element.
    const items = m.itemsOf(m.rootOf(root))!;
    expect(itemSchemas(items, 0)).toBe(itemSchemas(items, 0));
    expect(itemSchemas(items, 2)).toBe(items.rest);
    expect(itemSchemas(items, 1999)).toBe(items.rest);
  });

  it('without a schema nothing is declared', () => {
    const m = new Minimizer(doc, '3.1');
    const object = { a: 1, b: { c: 2 } };
    expect(m.minimize(undefined, object, 'remove').undeclared).toEqual(['/a', '/b']);
    expect(object).toEqual({});
    const array = [{ a: 1 }];
    m.minimize(undefined, array, 'remove');
    expect(array).toEqual([]);
  });

  it('says whether any response schema carries writeOnly properties', () => {
    const m = new Minimizer(doc, '3.1');
    expect(m.hasWriteOnly(at('User'))).toBe(true);
    expect(m.hasWriteOnly(at('Shape'))).toBe(false);
    expect(m.hasWriteOnly(at('Loop1'))).toBe(false);
  });
});

describe('member names that Object.prototype also has', () => {
  // A schema declaring `toString` and an answer carrying `valueOf`, `hasOwnProperty`, `constructor`: only what the
  // schema declares is kept, in both walks (an inherited member is not a declared one).
  const inherited = {
    openapi: '3.1.0',
    components: { schemas: { Named: { type: 'object', properties: { toString: { type: 'string' }, name: { type: 'string' } } } } },
  };
  const named = { schema: { $ref: '#/components/schemas/Named' }, pointer: '/x/Named' };
  const text = '{"name":"n","toString":"t","valueOf":"v","hasOwnProperty":"h","isPrototypeOf":1,"constructor":{"a":1}}';

  it('the value walk removes the undeclared ones and keeps the declared toString', () => {
    const value = JSON.parse(text) as Record<string, unknown>;
    const result = new Minimizer(inherited, '3.1').minimize(named, value, 'remove');
    expect(value).toEqual({ name: 'n', toString: 't' });
    expect(result.undeclared).toEqual(['/valueOf', '/hasOwnProperty', '/isPrototypeOf', '/constructor']);
  });

  it('the one-pass text walk does the same (a constructor key it refuses as the strict reader does)', () => {
    const m = new Minimizer(inherited, '3.1');
    const withoutConstructor = text.replace(',"constructor":{"a":1}', '');
    expect(minimizeJsonText(m, named, withoutConstructor, 'remove', 64)).toMatchObject({ text: '{"name":"n","toString":"t"}' });
    expect(minimizeJsonText(m, named, text, 'remove', 64)).toBe('invalid');
  });
});
