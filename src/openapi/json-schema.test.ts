import { describe, expect, it } from 'vitest';
import type { ValidateFunction } from 'ajv';
import type { OpenApiVersion } from './model.ts';
import { RequestSchemaTranslator, createAjv, describeError, type SchemaIssue } from './json-schema.ts';

/** Compiles `schema` (at #/s) of a document with `components` for one OpenAPI version. */
function compile(version: OpenApiVersion, schema: unknown, schemas: Record<string, unknown> = {}): { validate: ValidateFunction; issues: SchemaIssue[] } {
  const doc = version === '2.0' ? { swagger: '2.0', s: schema, definitions: schemas } : { openapi: version === '3.0' ? '3.0.3' : '3.1.0', s: schema, components: { schemas } };
  const ajv = createAjv();
  const issues: SchemaIssue[] = [];
  const t = new RequestSchemaTranslator(doc, version, ajv, issues);
  const translated = t.translate({ schema, pointer: '/s' });
  t.flush();
  return { validate: ajv.compile(translated), issues };
}

function errors(validate: ValidateFunction, value: unknown): string[] {
  if (validate(value)) return [];
  // Unique, as the validator lists them (a base's rule can fail once directly and once through a subtype).
  return [...new Set((validate.errors ?? []).flatMap((e) => {
    const d = describeError('', e);
    return d ? [`${d.pointer}: ${d.rule}`] : [];
  }))];
}

describe('OpenAPI schemas in ajv strict mode', () => {
  it('ignores OpenAPI-only and vendor keywords instead of failing strict mode', () => {
    const { validate, issues } = compile('3.0', {
      type: 'object',
      description: 'd',
      example: { a: 1 },
      xml: { name: 'x' },
      externalDocs: { url: 'https://example.com' },
      'x-vendor': { anything: true },
      deprecated: true,
      properties: { a: { type: 'integer', example: 3, 'x-unit': 'kg', format: 'int32' }, d: { type: 'string', format: 'date-time-rfc1123' } },
    });
    expect(issues).toEqual([]);
    expect(errors(validate, { a: 1, d: 'whatever' })).toEqual([]);
    expect(errors(validate, { a: 2 ** 31 })).toEqual(['/a: must match format "int32"']);
  });

  it.each([
    ['3.0 nullable on a typed schema', '3.0', { type: 'string', nullable: true }, [null, 'x'], [1]],
    ['3.0 nullable enum', '3.0', { type: 'string', enum: ['a'], nullable: true }, [null, 'a'], ['b']],
    ['3.0 nullable without type', '3.0', { allOf: [{ $ref: '#/components/schemas/N' }], nullable: true }, [null, { n: 1 }], [{ n: 'x' }]],
    ['3.0 without nullable', '3.0', { type: 'string' }, ['x'], [null]],
    ['3.1 type array', '3.1', { type: ['integer', 'null'] }, [null, 3], ['3', 1.5]],
    ['3.1 ignores nullable', '3.1', { type: 'string', nullable: true }, ['x'], [null]],
    ['2.0 x-nullable', '2.0', { type: 'integer', 'x-nullable': true }, [null, 1], ['1']],
    ['boolean exclusiveMinimum (draft 4)', '3.0', { type: 'number', minimum: 0, exclusiveMinimum: true }, [0.1], [0, -1]],
    ['boolean exclusiveMaximum false', '3.0', { type: 'number', maximum: 5, exclusiveMaximum: false }, [5], [6]],
    ['numeric exclusiveMinimum (3.1)', '3.1', { type: 'number', exclusiveMinimum: 0 }, [0.1], [0]],
    ['safe integers only', '3.1', { type: 'integer' }, [9007199254740991, -9007199254740991], [9007199254740992, Infinity]],
    ['finite numbers only', '3.1', { type: 'number' }, [1e308], [Infinity, -Infinity]],
    ['3.1 contentEncoding base64', '3.1', { type: 'string', contentEncoding: 'base64' }, ['SGk='], ['***', 'SGk=\n', 'not base64!\n']],
    ['3.1 boolean schema', '3.1', { type: 'object', properties: { no: false } }, [{}], [{ no: 1 }]],
    ['draft 4 tuple items', '3.0', { type: 'array', items: [{ type: 'string' }, { type: 'integer' }], additionalItems: false }, [['a', 1]], [['a', 'b'], ['a', 1, 2]]],
    ['pattern that only parses without the u flag', '3.0', { type: 'string', pattern: '^[\\w\\-]+\\_x$' }, ['a-b_x'], ['a b_x']],
  ] as const)('%s', (_name, version, schema, valid, invalid) => {
    const { validate, issues } = compile(version, schema, { N: { type: 'object', properties: { n: { type: 'integer' } } } });
    expect(issues).toEqual([]);
    for (const v of valid) expect(errors(validate, v), JSON.stringify(v)).toEqual([]);
    for (const v of invalid) expect(errors(validate, v).length, JSON.stringify(v)).toBeGreaterThan(0);
  });

  it.each([
    ['email', ['a@example.com'], ['a@', 'not an email']],
    ['uuid', ['0b6e4a39-1f0c-4c5d-8e7a-2d9f3b4c5a61'], ['0b6e4a39', 'zzzzzzzz-1f0c-4c5d-8e7a-2d9f3b4c5a61']],
    ['date-time', ['2024-01-01T00:00:00Z', '2024-01-01T00:00:00.5+02:00'], ['2024-01-01', '2024-13-01T00:00:00Z', 'yesterday']],
    ['uri', ['https://example.com/a?b#c', 'urn:isbn:123'], ['example.com', '/relative', 'http://exa mple.com']],
    ['ipv4', ['192.0.2.1', '0.0.0.0'], ['256.0.0.1', '1.2.3', '::1']],
    ['ipv6', ['::1', '2001:db8::8a2e:370:7334', '::ffff:192.0.2.1'], ['1.2.3.4', ':::', '2001:db8::g']],
    // A line break anywhere once made any string pass (ajv-formats' regex has the `m` flag).
    ['byte', ['SGVsbG8=', '', 'SGVsbA==', 'a+/9'], ['SGVsbG8', 'not base64!', 'not base64!\n', '\nnot base64!', 'SGVs\nbG8=', 'SGVsbG8=\n', 'SGVsbG8=\r\n', 'SGVs bG8=', 'SGVsbG8=====', 'SGVsbG8-', 'SGVsbG8_']],
    [
      'url',
      ['https://example.com/a?b#c', 'HTTP://EXAMPLE.COM', 'ftp://x.org/f', 'http://localhost:8080/x', 'http://[::1]/', 'http://user:pw@x.org/', 'http://é.com/ü'],
      ['example.com', '/relative', 'urn:isbn:123', 'javascript:alert(1)', 'mailto:a@b.c', 'http:x.org', 'http:///x.org', 'http://', 'http://?q', ' http://x.org', 'http://x.org/\tp', 'http://exa mple.com', 'http://x.org\\p', 'http://x.org:99999', 'http://a b/'],
    ],
  ])('format %s is enforced', (format, valid, invalid) => {
    const { validate } = compile('3.0', { type: 'string', format });
    for (const v of valid) expect(errors(validate, v), v).toEqual([]);
    for (const v of invalid) expect(errors(validate, v), v).toEqual([`: must match format "${format}"`]);
  });

  it('refuses readOnly properties in requests and drops them from required', () => {
    const { validate } = compile('3.0', { $ref: '#/components/schemas/U' }, {
      U: { type: 'object', required: ['id', 'name'], properties: { id: { type: 'integer', readOnly: true }, name: { type: 'string' }, ref: { $ref: '#/components/schemas/Id' } } },
      Id: { type: 'string', readOnly: true },
    });
    expect(errors(validate, { name: 'n' })).toEqual([]);
    expect(errors(validate, { name: 'n', id: 1, ref: 'x' })).toEqual(['/id: is read-only', '/ref: is read-only']);
  });

  it('translates a discriminator with mapping (by pointer and by name) and implicit names', () => {
    const schemas = {
      Pet: {
        type: 'object',
        required: ['kind'],
        properties: { kind: { type: 'string' } },
        oneOf: [{ $ref: '#/components/schemas/Cat' }, { $ref: '#/components/schemas/Dog' }, { $ref: '#/components/schemas/Eel' }],
        discriminator: { propertyName: 'kind', mapping: { c: '#/components/schemas/Cat', d: 'Dog' } },
      },
      Cat: { type: 'object', properties: { lives: { type: 'integer', maximum: 9 } } },
      Dog: { type: 'object', required: ['bark'], properties: { bark: { type: 'boolean' } } },
      Eel: { type: 'object', properties: { volts: { type: 'number' } } },
    };
    const { validate } = compile('3.1', { $ref: '#/components/schemas/Pet' }, schemas);
    expect(errors(validate, { kind: 'c', lives: 9 })).toEqual([]);
    expect(errors(validate, { kind: 'd', bark: true })).toEqual([]);
    expect(errors(validate, { kind: 'Eel', volts: 2 })).toEqual([]);
    // The mapped schema applies, and only it: Dog's rule is not checked for a cat.
    expect(errors(validate, { kind: 'c', lives: 10 })).toEqual(['/lives: must be <= 9']);
    expect(errors(validate, { kind: 'd' })).toEqual(['/bark: is required']);
    expect(errors(validate, { kind: 'Cat' })).toEqual(['/kind: must be equal to one of the allowed values']);
  });

  it('dispatches an allOf hierarchy without looping through the base', () => {
    const schemas = {
      Base: { type: 'object', required: ['t'], properties: { t: { type: 'string' }, n: { type: 'string' } }, discriminator: { propertyName: 't', mapping: { a: 'A' } } },
      A: { allOf: [{ $ref: '#/components/schemas/Base' }, { type: 'object', required: ['x'], properties: { x: { type: 'integer' } } }] },
      B: { allOf: [{ $ref: '#/components/schemas/Base' }, { type: 'object', properties: { y: { type: 'string' } } }] },
    };
    const { validate } = compile('3.0', { $ref: '#/components/schemas/Base' }, schemas);
    expect(errors(validate, { t: 'a', x: 1 })).toEqual([]);
    expect(errors(validate, { t: 'B', y: 'y' })).toEqual([]);
    expect(errors(validate, { t: 'a' })).toEqual(['/x: is required']);
    expect(errors(validate, { t: 'B', n: 3 })).toEqual(['/n: must be string']);
  });

  it('reports invalid schemas with their pointer', () => {
    const { issues } = compile('3.1', { type: 'object', properties: { a: { $ref: '#/components/schemas/Bad' } } }, { Bad: { type: 'strin', minimum: 'x' } });
    expect(issues.map((i) => `${i.pointer}: ${i.message}`)).toEqual(expect.arrayContaining([expect.stringMatching(/^\/components\/schemas\/Bad\/(type|minimum): invalid schema/)]));
  });

  it('never puts submitted values in messages', () => {
    const { validate } = compile('3.1', { type: 'object', properties: { s: { type: 'string', maxLength: 3, pattern: '^a' }, e: { enum: ['x'] }, c: { const: 'k' } } });
    const texts = errors(validate, { s: 'SECRET-VALUE', e: 'SECRET-VALUE', c: 'SECRET-VALUE' });
    expect(texts.length).toBe(4);
    for (const t of texts) expect(t).not.toContain('SECRET');
  });
});

describe('uniqueItems (linear: one canonical text per item)', () => {
  const O = { type: 'object', properties: { id: { type: 'integer' }, name: { type: 'string' } } };
  const schemas = { O, S: { type: 'string' }, Tags: { type: 'array', uniqueItems: true, items: { type: 'string' } }, Arr: { type: 'array' } };
  const any = { type: 'array', uniqueItems: true };
  const dup = (pointer: string, earlier: number, later: number): string[] => [`${pointer}: must NOT have duplicate items (items ${earlier} and ${later} are identical)`];

  // [name, version, schema, JSON text of the value (so that 1.0 and -0 are what a body holds), expected errors]
  it.each([
    ['objects with reordered keys', '3.1', any, '[{"a":1,"b":2},{"b":2,"a":1}]', dup('', 0, 1)],
    ['1 and 1.0', '3.1', any, '[1, 1.0]', dup('', 0, 1)],
    ['100 and 1e2, 0 and -0', '3.1', any, '[100, 0, 1e2]', dup('', 0, 2)],
    ['0 and -0', '3.1', any, '[0, -0]', dup('', 0, 1)],
    ['nested arrays, equal', '3.1', any, '[[1,[2,{"x":null,"y":"z"}]],[1,[2,{"y":"z","x":null}]]]', dup('', 0, 1)],
    ['nested arrays, order matters', '3.1', any, '[[1,2],[2,1],[[1],2],[1,[2]]]', []],
    ['strings, the first repeat named', '3.1', any, '["a","b","c","b","a"]', dup('', 1, 3)],
    ['null twice', '3.1', any, '[null, 1, null]', dup('', 0, 2)],
    ['mixed types are distinct', '3.1', any, '[1,"1",true,"true",null,"null",[],{},"[]","{}",[null],{"":null},false,0,""]', []],
    ['strings that spell the canonical text', '3.1', any, '["{\\"a\\":1}",{"a":1},"\\"a\\"","a",["a"],"[\\"a\\"]"]', []],
    ['objects differing in one member', '3.1', any, '[{"a":1},{"a":1,"b":2},{"a":"1"},{"b":1}]', []],
    ['lone surrogates and 40 levels (beyond the audit form\'s limits)', '3.1', any, `[{"a":"\\ud800"},{"a":"\\udc00"},{"a":"\\ud800"},${'['.repeat(40)}1${']'.repeat(40)}]`, dup('', 0, 2)],
    ['$ref object items (3.0)', '3.0', { type: 'array', uniqueItems: true, items: { $ref: '#/components/schemas/O' } }, '[{"id":1,"name":"a"},{"name":"a","id":1}]', dup('', 0, 1)],
    ['$ref string items (3.0)', '3.0', { type: 'array', uniqueItems: true, items: { $ref: '#/components/schemas/S' } }, '["a","b","a"]', dup('', 0, 2)],
    ['$ref object items (2.0)', '2.0', { type: 'array', uniqueItems: true, items: { $ref: '#/definitions/O' } }, '[{"id":1},{"id":2},{"id":2}]', dup('', 1, 2)],
    ['in a $ref\'d component', '3.0', { type: 'object', properties: { tags: { $ref: '#/components/schemas/Tags' } } }, '{"tags":["x","y","x"]}', dup('/tags', 0, 2)],
    ['3.1 beside a $ref', '3.1', { type: 'object', properties: { a: { $ref: '#/components/schemas/Arr', uniqueItems: true } } }, '{"a":[{"k":1},{"k":1}]}', dup('/a', 0, 1)],
    ['3.0 ignores it beside a $ref', '3.0', { type: 'object', properties: { a: { $ref: '#/components/schemas/Arr', uniqueItems: true } } }, '{"a":[{"k":1},{"k":1}]}', []],
    ['nested: each inner array', '3.1', { type: 'array', items: { type: 'array', uniqueItems: true } }, '[[1,2],[3,3],[4,4]]', [...dup('/1', 0, 1), ...dup('/2', 0, 1)]],
    ['nullable 3.0: null', '3.0', { type: 'array', nullable: true, uniqueItems: true, items: { type: 'integer' } }, 'null', []],
    ['nullable 3.0: duplicates', '3.0', { type: 'array', nullable: true, uniqueItems: true, items: { type: 'integer' } }, '[1,2,1]', dup('', 0, 2)],
    ['nullable without type', '3.0', { nullable: true, uniqueItems: true }, '[{"a":1},{"a":1}]', [': must be null', ...dup('', 0, 1), ': must match a schema in anyOf']],
    ['not an array: not its business', '3.1', { uniqueItems: true }, '{"a":1}', []],
    ['uniqueItems false is a no-op', '3.1', { type: 'array', uniqueItems: false }, '[1,1,{"a":1},{"a":1}]', []],
    ['empty and one item', '3.1', { type: 'array', items: { type: 'array', uniqueItems: true } }, '[[],[{"a":1}]]', []],
  ] as const)('%s', (_name, version, schema, json, expected) => {
    const { validate, issues } = compile(version, schema, schemas);
    expect(issues).toEqual([]);
    expect(errors(validate, JSON.parse(json))).toEqual(expected);
  });

  it('reports a non-boolean uniqueItems as an invalid schema', () => {
    const { issues } = compile('3.1', { $ref: '#/components/schemas/Bad' }, { Bad: { type: 'array', uniqueItems: 'yes' } });
    expect(issues.map((i) => `${i.pointer}: ${i.message}`)).toEqual(['/components/schemas/Bad/uniqueItems: invalid schema: must be boolean']);
  });

  // Bodies at the default 1 MB limit: ajv's pairwise comparison took seconds to minutes on these.
  const tagged = { type: 'object', properties: { items: { type: 'array', uniqueItems: true, items: { $ref: '#/components/schemas/O' } } } };
  const items = Array.from({ length: 20_000 }, (_, i) => ({ id: i, name: `item-${i}` }));

  it('accepts 20,000 distinct $ref object items', () => {
    const { validate } = compile('3.0', tagged, schemas);
    expect(errors(validate, { items })).toEqual([]);
  });

  it('names the first repeat among 20,000 $ref object items', () => {
    const { validate } = compile('3.0', tagged, schemas);
    expect(errors(validate, { items: [...items, { name: 'item-7', id: 7 }] })).toEqual(dup('/items', 7, 20_000));
  });

  it('names the first repeat among 20,000 $ref string items', () => {
    const { validate } = compile('3.0', { type: 'array', uniqueItems: true, items: { $ref: '#/components/schemas/S' } }, schemas);
    const strings = items.map((item) => item.name);
    expect(errors(validate, strings)).toEqual([]);
    expect(errors(validate, [...strings, 'item-19999'])).toEqual(dup('', 19_999, 20_000));
  });

  it('refuses a 1 MB url that made ajv-formats\' regex backtrack', () => {
    const { validate } = compile('3.0', { type: 'object', properties: { u: { type: 'string', format: 'url' } } });
    expect(errors(validate, { u: `http://${':'.repeat(1 << 20)}!` })).toEqual(['/u: must match format "url"']);
    expect(errors(validate, { u: `http://example.com/${'a:'.repeat(1 << 19)}` })).toEqual([]);
  });
});
