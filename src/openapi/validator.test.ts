/**
 * Request validation of one compiled operation, for what a contract route decodes before ajv sees it: prototype names
 * in form and multipart bodies (refused as the JSON reader refuses them), form-style lists split on the text as sent,
 * header lists with whitespace around their commas (RFC 9110 §5.6.1), and matrix-style exploded objects.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ValidationError } from './json-schema.ts';
import { loadOpenApi } from './load.ts';
import type { MultipartPart } from './multipart.ts';
import { CompiledContract, type CompiledOperation } from './validator.ts';

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
            'multipart/form-data': { schema: { type: 'object', properties: { name: { type: 'string' } } } },
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

function multipart(path: string, fields: Array<[string, string]>): ValidationError[] {
  const { op } = operation('POST', path);
  const parts = new Map<string, MultipartPart[]>();
  for (const [name, value] of fields) parts.set(name, [...(parts.get(name) ?? []), { file: false, value, mediaType: '' }]);
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
