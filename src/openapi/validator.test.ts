/**
 * Request validation of one compiled operation, for what a contract route decodes before ajv sees it: prototype names
 * in form and multipart bodies (refused as the JSON reader refuses them), form-style lists split on the text as sent,
 * header lists with whitespace around their commas (RFC 9110 §5.6.1), header values taken as sent (OAS 3.1.2),
 * multipart text parts that are not UTF-8, matrix-style exploded objects, the cap on the list of failures, and
 * parameter names the document may not use.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ValidationError } from './json-schema.ts';
import { loadOpenApi } from './load.ts';
import type { MultipartPart } from './multipart.ts';
import { CompiledContract, add, isTruncated, type CompiledOperation } from './validator.ts';

const FIELDS = {
  type: 'object',
  properties: {
    name: { type: 'string' },
    ids: { type: 'array', items: { type: 'integer' } },
    color: { type: 'object' },
  },
};
const OPEN_FIELDS = { ...FIELDS, additionalProperties: true };
const encoding = { ids: { style: 'form', explode: false }, color: { style: 'deepObject', explode: true } };

const DOCUMENT = {
  openapi: '3.1.0',
  info: { title: 't', version: '1' },
  paths: {
    '/closed': {
      post: {
        requestBody: {
          content: {
            'application/x-www-form-urlencoded': { schema: FIELDS, encoding },
            'multipart/form-data': {
              schema: {
                type: 'object',
                properties: {
                  name: { type: 'string' },
                  blob: { type: 'string', format: 'binary' },
                  blobs: { type: 'array', items: { type: 'string', format: 'binary' } },
                  raw: { type: 'string' },
                  pic: { type: 'string', contentMediaType: 'image/png' },
                  b64: { type: 'string', contentMediaType: 'image/png', contentEncoding: 'base64' },
                  doc: { type: 'string' },
                },
              },
              encoding: { raw: { contentType: 'application/octet-stream' }, doc: { contentType: 'text/markdown' } },
            },
          },
        },
        responses: { '204': { description: 'ok' } },
      },
    },
    '/open': {
      post: {
        requestBody: {
          content: {
            'application/x-www-form-urlencoded': { schema: OPEN_FIELDS, encoding },
            'multipart/form-data': { schema: { type: 'object', additionalProperties: true, properties: { name: { type: 'string' } } } },
          },
        },
        responses: { '204': { description: 'ok' } },
      },
    },
    '/items/{color}': {
      get: {
        parameters: [
          { name: 'color', in: 'path', required: true, style: 'matrix', explode: true, schema: { type: 'object', additionalProperties: false, properties: { R: { type: 'integer', maximum: 255 }, G: { type: 'integer', maximum: 255 }, B: { type: 'integer', maximum: 255 } } } },
          { name: 'ids', in: 'query', explode: false, schema: { type: 'array', items: { type: 'integer' } } },
          { name: 'tags', in: 'query', style: 'pipeDelimited', explode: false, schema: { type: 'array', maxItems: 2, items: { type: 'string', enum: ['a', 'b'] } } },
          { name: 'X-Ids', in: 'header', schema: { type: 'array', items: { type: 'integer' } } },
          { name: 'X-Shade', in: 'header', explode: true, schema: { type: 'object', additionalProperties: false, properties: { R: { type: 'integer' }, G: { type: 'integer' } } } },
          { name: 'prefs', in: 'cookie', explode: false, schema: { type: 'array', items: { type: 'string', enum: ['a', 'b'] } } },
          { name: 'X-Mode', in: 'header', schema: { type: 'string', enum: ['name', 'age'] } },
          { name: 'X-Discount', in: 'header', schema: { type: 'string', pattern: '^[0-9]{1,2}%$' } },
        ],
        responses: { '204': { description: 'ok' } },
      },
    },
  },
};

let dir: string;
let contract: CompiledContract;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'rampart-validator-'));
  writeFileSync(join(dir, 'api.json'), JSON.stringify(DOCUMENT, null, 1));
  const loaded = await loadOpenApi(join(dir, 'api.json'), { noCache: true });
  if (!loaded.ok) throw new Error(loaded.errors.map((e) => e.text).join('\n'));
  const compiled = CompiledContract.compile(loaded.api, { rejectUndeclaredBody: true, rejectUndeclaredQuery: true });
  if (!compiled.ok) throw new Error(compiled.errors.map((e) => e.text).join('\n'));
  contract = compiled.contract;
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

function operation(method: string, path: string): { op: CompiledOperation; params: ReadonlyMap<string, string> } {
  const match = contract.index.match(method, path);
  if (match.kind !== 'found') throw new Error(`no operation for ${method} ${path}`);
  return { op: match.candidates[0]!.value, params: match.candidates[0]!.params };
}

function form(path: string, body: string): { errors: ValidationError[]; instance: Record<string, unknown> | undefined } {
  const { op } = operation('POST', path);
  const errors: ValidationError[] = [];
  const instance = op.validateForm(op.selectMedia('application/x-www-form-urlencoded')!, body, errors);
  return { errors, instance };
}

/** Parts as parseMultipart gives them; a third element `true` marks a text part whose bytes were not UTF-8. */
function multipart(path: string, fields: Array<[string, string] | [string, string, true]>): ValidationError[] {
  const { op } = operation('POST', path);
  const parts = new Map<string, MultipartPart[]>();
  for (const [name, value, invalid] of fields) parts.set(name, [...(parts.get(name) ?? []), { file: false, value, mediaType: '', ...(invalid ? { invalidUtf8: true as const } : {}) }]);
  const errors: ValidationError[] = [];
  op.validateMultipart(op.selectMedia('multipart/form-data')!, parts, errors);
  return errors;
}

function params(path: string, query = '', headers: Record<string, string | string[]> = {}): ValidationError[] {
  const { op, params: pathParams } = operation('GET', path);
  const errors: ValidationError[] = [];
  op.checkParameters(pathParams, query, headers, errors);
  return errors;
}

describe('prototype names in form and multipart bodies', () => {
  it.each(['/closed', '/open'])('%s: refuses __proto__, constructor and prototype fields, declared or not, by pointer', (path) => {
    for (const name of ['__proto__', 'constructor', 'prototype']) {
      expect(form(path, `name=a&${name}=x`).errors, name).toEqual([{ pointer: `/body/${name}`, rule: 'is a forbidden name' }]);
      expect(form(path, `${name}=x&${name}=y`).errors, `${name} repeated`).toEqual([{ pointer: `/body/${name}`, rule: 'is a forbidden name' }]);
      expect(multipart(path, [['name', 'a'], [name, '{"admin":true}']]), `multipart ${name}`).toEqual([{ pointer: `/body/${name}`, rule: 'is a forbidden name' }]);
    }
    expect(({} as Record<string, unknown>).admin).toBeUndefined();
  });

  it('refuses prototype names inside an object a field decodes to', () => {
    expect(form('/open', 'color[__proto__]=1').errors).toEqual([{ pointer: '/body/color/__proto__', rule: 'is a forbidden name' }]);
    expect(form('/open', 'color[R]=1&color[constructor]=2').errors).toEqual([{ pointer: '/body/color/constructor', rule: 'is a forbidden name' }]);
  });

  it('still takes ordinary names, and names that merely contain a prototype word', () => {
    expect(form('/closed', 'name=__proto__&ids=1,2&color[R]=1').errors).toEqual([]);
    const open = form('/open', 'name=a&__proto__x=1&my_constructor=2');
    expect(open.errors).toEqual([]);
    expect({ ...open.instance }).toEqual({ name: 'a', __proto__x: '1', my_constructor: '2' });
    expect(form('/closed', 'name=a&proto=1').errors).toEqual([{ pointer: '/body/proto', rule: 'is not declared' }]);
  });
});

describe('form lists split on the text as sent', () => {
  it('reads an encoded comma as data in a query list, as an RFC 6570 upstream does', () => {
    expect(params('/items/;R=1', 'ids=1,2')).toEqual([]);
    expect(params('/items/;R=1', 'ids=1%2C2')).toEqual([{ pointer: '/query/ids/0', rule: 'must be integer' }]);
  });

  it('reads an encoded comma as data in a form body list', () => {
    expect(form('/closed', 'ids=1,2').errors).toEqual([]);
    expect(form('/closed', 'ids=1%2C2').errors).toEqual([{ pointer: '/body/ids/0', rule: 'must be integer' }]);
  });

  it('reads an encoded comma as data in a cookie list', () => {
    expect(params('/items/;R=1', '', { cookie: 'prefs=a,b' })).toEqual([]);
    expect(params('/items/;R=1', '', { cookie: 'prefs=a%2Cb' })).toEqual([{ pointer: '/cookie/prefs/0', rule: 'must be equal to one of the allowed values' }]);
  });

  it('splits pipeDelimited values on an encoded pipe too (the specification encodes it), so maxItems sees every item', () => {
    expect(params('/items/;R=1', 'tags=a%7Cb')).toEqual([]);
    expect(params('/items/;R=1', 'tags=a%7Cb%7Ca')).toEqual([{ pointer: '/query/tags', rule: 'must NOT have more than 2 items' }]);
  });
});

describe('header lists', () => {
  it.each([
    ['one line', '1,2'],
    ['whitespace around commas', '1 , 2,\t3'],
    ['two header lines joined by Node', '1, 2'],
  ])('accepts an array header with %s', (_name, value) => {
    expect(params('/items/;R=1', '', { 'x-ids': value })).toEqual([]);
  });

  it('accepts an exploded object header with whitespace, and still judges each element', () => {
    expect(params('/items/;R=1', '', { 'x-shade': 'R=1, G=2' })).toEqual([]);
    expect(params('/items/;R=1', '', { 'x-ids': '1, x' })).toEqual([{ pointer: '/header/X-Ids/1', rule: 'must be integer' }]);
    expect(params('/items/;R=1', '', { 'x-shade': 'R=1, B=2' })).toEqual([{ pointer: '/header/X-Shade/B', rule: 'is not declared' }]);
  });
});

describe('matrix style, exploded object path parameter', () => {
  it('accepts the specification example and validates each property', () => {
    expect(params('/items/;R=100;G=200;B=150')).toEqual([]);
    expect(params('/items/;R=100;G=256')).toEqual([{ pointer: '/path/color/G', rule: 'must be <= 255' }]);
  });

  it.each([
    ['the parameter name as prefix', '/items/;color=R=100', '/path/color/color'],
    ['no leading ";"', '/items/R=100', '/path/color'],
    ['a repeated property', '/items/;R=1;R=999', '/path/color'],
  ])('refuses %s', (_name, path, pointer) => {
    const errors = params(path);
    expect(errors.map((e) => e.pointer)).toContain(pointer);
  });
});

describe('header values are taken as sent (OAS 3.1.2: percent-encoding is never applied to headers)', () => {
  it('judges an encoded value as the upstream reads it, not decoded', () => {
    expect(params('/items/;R=1', '', { 'x-mode': 'name' })).toEqual([]);
    expect(params('/items/;R=1', '', { 'x-mode': 'na%6De' })).toEqual([{ pointer: '/header/X-Mode', rule: 'must be equal to one of the allowed values' }]);
  });

  it('accepts a literal "%" the schema allows, and refuses its encoded form', () => {
    expect(params('/items/;R=1', '', { 'x-discount': '50%' })).toEqual([]);
    expect(params('/items/;R=1', '', { 'x-discount': '50%25' })).toEqual([{ pointer: '/header/X-Discount', rule: 'must match pattern "^[0-9]{1,2}%$"' }]);
  });
});

describe('multipart text parts that are not UTF-8', () => {
  it('refuses one, by its pointer, as JSON and form bodies are refused', () => {
    expect(multipart('/closed', [['name', 'a\ufffd', true]])).toEqual([{ pointer: '/body/name', rule: 'is not valid UTF-8' }]);
    expect(multipart('/closed', [['doc', 'a\ufffd', true]])).toEqual([{ pointer: '/body/doc', rule: 'is not valid UTF-8' }]);
    // base64 text is text: checked as UTF-8 (and then as base64).
    expect(multipart('/closed', [['b64', 'a\ufffd', true]])).toContainEqual({ pointer: '/body/b64', rule: 'is not valid UTF-8' });
  });

  it('names the part by its index when the field repeats, and refuses undeclared fields too', () => {
    expect(multipart('/open', [['other', 'a'], ['other', 'b\ufffd', true]])).toContainEqual({ pointer: '/body/other/1', rule: 'is not valid UTF-8' });
    expect(multipart('/closed', [['other', 'b\ufffd', true]])).toContainEqual({ pointer: '/body/other', rule: 'is not valid UTF-8' });
  });

  it('takes any bytes in a field the document declares binary: format binary, a binary encoding or contentMediaType', () => {
    for (const name of ['blob', 'raw', 'pic']) expect(multipart('/closed', [[name, '\ufffd', true]]), name).toEqual([]);
    expect(multipart('/closed', [['blobs', '\ufffd', true], ['blobs', 'x\ufffd', true]])).toEqual([]);
  });
});

describe('the list of failures is capped, and says so when cut', () => {
  const form = (path: string, body: string) => {
    const { op } = operation('POST', path);
    const errors: ValidationError[] = [];
    op.validateForm(op.selectMedia('application/x-www-form-urlencoded')!, body, errors);
    return errors;
  };

  it('keeps the first 25 failures and marks the list truncated beyond', () => {
    const ids = (n: number) => `ids=${Array.from({ length: n }, () => 'x').join(',')}`;
    const full = form('/closed', ids(25));
    expect(full.length).toBe(25);
    expect(isTruncated(full)).toBe(false);
    const cut = form('/closed', ids(26));
    expect(cut.length).toBe(25);
    expect(cut[24]).toEqual({ pointer: '/body/ids/24', rule: 'must be integer' });
    expect(isTruncated(cut)).toBe(true);
  });

  it('does not count a repeat of a listed failure as one more', () => {
    const errors: ValidationError[] = [];
    for (let i = 0; i < 25; i++) add(errors, { pointer: `/body/${i}`, rule: 'r' });
    add(errors, { pointer: '/body/3', rule: 'r' });
    expect(isTruncated(errors)).toBe(false);
    add(errors, { pointer: '/body/25', rule: 'r' });
    expect(errors.length).toBe(25);
    expect(isTruncated(errors)).toBe(true);
  });

  it('marks the list truncated when the undeclared-property walk listed fewer than it found (10 at most)', () => {
    const fields = (n: number) => Array.from({ length: n }, (_, i) => `extra${i}=1`).join('&');
    const ten = form('/closed', fields(10));
    expect(ten.length).toBe(10);
    expect(isTruncated(ten)).toBe(false);
    const eleven = form('/closed', fields(11));
    expect(eleven.map((e) => e.rule)).toEqual(Array(10).fill('is not declared'));
    expect(isTruncated(eleven)).toBe(true);
  });
});

describe('parameter names every JavaScript object inherits', () => {
  async function compile(document: unknown): Promise<string[]> {
    const file = join(dir, `names-${Math.random().toString(36).slice(2)}.json`);
    writeFileSync(file, JSON.stringify(document, null, 1));
    const loaded = await loadOpenApi(file, { noCache: true });
    if (!loaded.ok) return loaded.errors.map((e) => e.text);
    const compiled = CompiledContract.compile(loaded.api, { rejectUndeclaredBody: true, rejectUndeclaredQuery: true });
    return compiled.ok ? [] : compiled.errors.map((e) => e.text.replace(file, 'FILE'));
  }
  const doc = (parameters: unknown[], pathParameters: unknown[] = []) => ({
    openapi: '3.1.0',
    info: { title: 't', version: '1' },
    paths: { '/x': { parameters: pathParameters, get: { parameters, responses: { '204': { description: 'ok' } } }, post: { responses: { '204': { description: 'ok' } } } } },
  });

  it.each([
    ['query', '__proto__'],
    ['header', '__proto__'],
    ['cookie', '__proto__'],
    ['query', 'constructor'],
    ['header', 'Constructor'],
    ['cookie', 'toString'],
  ])('refuses a %s parameter named %s at load, naming the file, the line and the pointer', async (location, name) => {
    const errors = await compile(doc([{ name: 'ok', in: 'query', schema: { type: 'string' } }, { name, in: location, schema: { type: 'string' } }]));
    expect(errors).toEqual([
      expect.stringMatching(new RegExp(`^FILE:\\d+:\\d+ #/paths/~1x/get/parameters/1: ${location} parameter "${name}" has the name of a member every JavaScript object inherits`)),
    ]);
  });

  it('reports a parameter shared by the operations of a path once', async () => {
    const errors = await compile(doc([], [{ name: '__proto__', in: 'query', schema: { type: 'string' } }]));
    expect(errors).toEqual([expect.stringContaining('#/paths/~1x/parameters/0: query parameter "__proto__"')]);
  });

  it('accepts names that merely resemble them', async () => {
    expect(await compile(doc([{ name: 'proto', in: 'query', schema: { type: 'string' } }, { name: 'Constructor', in: 'cookie', schema: { type: 'string' } }, { name: 'X-Constructor', in: 'header', schema: { type: 'string' } }]))).toEqual([]);
  });
});

describe('body properties named like members of Object.prototype', () => {
  // ajv read `data.toString` and found Object.prototype's: a schema declaring an optional `toString` refused every
  // body that left it out ("must be string"), and `required: [valueOf]` counted the inherited member as present.
  const NAMES_DOCUMENT = {
    openapi: '3.1.0',
    info: { title: 'inherited names', version: '1' },
    paths: {
      '/x': {
        post: {
          requestBody: {
            required: true,
            content: {
              'application/json': {
                schema: {
                  type: 'object',
                  required: ['name'],
                  properties: {
                    name: { type: 'string' },
                    toString: { type: 'string', maxLength: 3 },
                    nested: { type: 'object', required: ['valueOf'], properties: { valueOf: { type: 'integer' } } },
                  },
                },
              },
            },
          },
          responses: { '204': { description: 'ok' } },
        },
      },
    },
  };
  let named: CompiledContract;
  beforeAll(async () => {
    writeFileSync(join(dir, 'names.json'), JSON.stringify(NAMES_DOCUMENT));
    const loaded = await loadOpenApi(join(dir, 'names.json'), { noCache: true });
    if (!loaded.ok) throw new Error(loaded.errors.map((e) => e.text).join('\n'));
    const compiled = CompiledContract.compile(loaded.api, { rejectUndeclaredBody: true, rejectUndeclaredQuery: true });
    if (!compiled.ok) throw new Error(compiled.errors.map((e) => e.text).join('\n'));
    named = compiled.contract;
  });

  it.each([
    ['the optional toString left out', { name: 'a' }, []],
    ['toString given', { name: 'a', toString: 'abc' }, []],
    ['toString too long', { name: 'a', toString: 'abcdef' }, ['/body/toString: must NOT have more than 3 characters']],
    ['toString of the wrong type', { name: 'a', toString: 5 }, ['/body/toString: must be string']],
    ['an undeclared valueOf', { name: 'a', valueOf: 'x' }, ['/body/valueOf: is not declared']],
    ['an undeclared hasOwnProperty', { name: 'a', hasOwnProperty: 'x' }, ['/body/hasOwnProperty: is not declared']],
    ['the required nested valueOf left out', { name: 'a', nested: {} }, ['/body/nested/valueOf: is required']],
    ['the required nested valueOf given', { name: 'a', nested: { valueOf: 1 } }, []],
    ['an undeclared nested toString', { name: 'a', nested: { valueOf: 1, toString: 2 } }, ['/body/nested/toString: is not declared']],
    ['the required name left out', { toString: 'x' }, ['/body/name: is required']],
  ])('%s', (_what, body, expected) => {
    const match = named.index.match('POST', '/x');
    if (match.kind !== 'found') throw new Error('no operation');
    const op = match.candidates[0]!.value;
    const errors: ValidationError[] = [];
    op.validateJson(op.selectMedia('application/json')!, body, errors);
    expect(errors.map((e) => `${e.pointer}: ${e.rule}`)).toEqual(expected);
  });
});
