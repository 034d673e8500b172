/**
 * Posture item 4 lists the operations whose contract leaves request input unbounded (OWASP API4:2023): strings
 * without maxLength (or an enum, a bounded format or an anchored finite pattern), arrays without maxItems, numbers
 * without both bounds, maps without maxProperties. Bounds are the scanner's, so posture and `rampart scan` agree.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfigObject, type GatewayConfig } from '../src/config/load.ts';
import { evaluatePosture } from '../src/posture/posture.ts';
import { routeServes, unboundedInputsOf } from '../src/posture/contract-bounds.ts';

const dir = mkdtempSync(join(tmpdir(), 'rampart-posture-bounds-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function spec(name: string, noteSchema: Record<string, unknown>, tagsSchema: Record<string, unknown> = { type: 'array', maxItems: 10, items: { type: 'string', maxLength: 20 } }): string {
  const file = join(dir, `${name}.json`);
  writeFileSync(
    file,
    JSON.stringify({
      openapi: '3.1.0',
      info: { title: name, version: '1' },
      paths: {
        '/orders': {
          post: {
            requestBody: { content: { 'application/json': { schema: { $ref: '#/components/schemas/Order' } } } },
            responses: { '201': { description: 'created' } },
          },
          get: {
            parameters: [{ name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 100 } }],
            responses: { '200': { description: 'ok' } },
          },
        },
        '/orders/{id}': {
          get: {
            parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string', format: 'uuid' } }],
            responses: { '200': { description: 'ok' } },
          },
        },
      },
      components: {
        schemas: {
          Order: {
            type: 'object',
            additionalProperties: false,
            properties: {
              id: { type: 'string', readOnly: true },
              sku: { type: 'string', pattern: '^[A-Z]{3}-[0-9]{4}$' },
              qty: { type: 'integer', minimum: 1, maximum: 1000 },
              state: { type: 'string', enum: ['new', 'paid'] },
              note: noteSchema,
              tags: tagsSchema,
            },
          },
        },
      },
    }),
  );
  return file;
}

function load(openapi: string, match: Record<string, unknown> = { path: '/**' }): GatewayConfig {
  const result = loadConfigObject(
    { mode: 'development', listen: { host: '127.0.0.1', port: 0 }, admin: false, routes: [{ id: 'api', match, upstream: 'http://127.0.0.1:9', public: true, contract: { openapi } }] },
    { env: {} },
  );
  if (!result.ok) throw new Error(result.errors.join('\n'));
  return result.config;
}

const item4 = (config: GatewayConfig) => evaluatePosture(config).routes[0]!.cells.find((c) => c.item === 4)!;

describe('posture item 4: unbounded input in the contract', () => {
  it('a contract bounding every input is enforced (readOnly properties are refused in requests, so not counted)', () => {
    const config = load(spec('bounded', { type: 'string', maxLength: 500 }));
    expect(unboundedInputsOf(config.routes[0]!)).toEqual([]);
    const cell = item4(config);
    expect(cell.status).toBe('enforced');
    expect(cell.reason).toContain('every string, array and number of the requests is bounded');
  });

  it.each([
    ['a string without maxLength', { type: 'string' }, undefined, '/components/schemas/Order/properties/note', 'string'],
    ['an unanchored pattern', { type: 'string', pattern: '[a-z]+' }, undefined, '/components/schemas/Order/properties/note', 'string'],
    ['a number with one bound', { type: 'number', minimum: 0 }, undefined, '/components/schemas/Order/properties/note', 'number'],
    ['an array without maxItems', { type: 'string', maxLength: 5 }, { type: 'array', items: { type: 'string', maxLength: 5 } }, '/components/schemas/Order/properties/tags', 'array'],
    ['a map without maxProperties', { type: 'object', additionalProperties: { type: 'string', maxLength: 5 } }, undefined, '/components/schemas/Order/properties/note', 'map'],
    ['an unbounded string inside oneOf', { oneOf: [{ type: 'string' }, { type: 'integer', minimum: 0, maximum: 9 }] }, undefined, '/components/schemas/Order/properties/note/oneOf/0', 'string'],
  ])('%s is partial and named with its operation and pointer', (name, note, tags, pointer, what) => {
    const config = load(spec(name.replace(/\W+/g, '-'), note, tags));
    expect(unboundedInputsOf(config.routes[0]!)).toEqual([{ operation: 'POST /orders', pointer, what }]);
    const cell = item4(config);
    expect(cell.status).toBe('partial');
    expect(cell.reason).toContain(`1 unbounded input in 1 operation (POST /orders ${pointer} (${what}))`);
  });

  it('counts only the operations the route serves', () => {
    const file = spec('served', { type: 'string' });
    expect(unboundedInputsOf(load(file, { path: '/orders/{id}', methods: ['GET'] }).routes[0]!)).toEqual([]);
    expect(unboundedInputsOf(load(file, { path: '/orders', methods: ['GET'] }).routes[0]!)).toEqual([]);
    expect(unboundedInputsOf(load(file, { path: '/orders' }).routes[0]!)).toHaveLength(1);
  });

  it.each([
    ['/**', undefined, 'GET', '/anything/{x}', true],
    ['/orders/{id}', undefined, 'GET', '/orders/{orderId}', true],
    ['/orders/{id}', ['POST'], 'get', '/orders/{orderId}', false],
    ['/orders/{id}', undefined, 'GET', '/orders', false],
    ['/orders', undefined, 'GET', '/orders/{id}', false],
    ['/orders/summary', undefined, 'GET', '/orders/{id}', false],
    ['/orders/{id}', undefined, 'GET', '/orders/summary', true],
    ['/v1/orders/**', undefined, 'GET', '/orders/{id}/items', false],
  ] as const)('route %s %j serves %s %s: %s', (path, methods, method, template, expected) => {
    expect(routeServes({ path, methods, api: undefined }, { method, path: template })).toBe(expected);
  });

  it('puts back the version prefix an apis: route strips', () => {
    const api = { stripPrefix: '/v1' } as never;
    expect(routeServes({ path: '/v1/orders/{id}', methods: undefined, api }, { method: 'GET', path: '/orders/{id}' })).toBe(true);
  });
});
