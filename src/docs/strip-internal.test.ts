/**
 * x-internal removal (checklist item 14): nothing internal is published, and nothing published refers to what was
 * removed; every result loads with the project's OpenAPI loader (which refuses a `$ref` that names nothing).
 */
import { describe, expect, it } from 'vitest';
import { inlineLocalReferences, withoutDanglingReferences, withoutInternal } from './strip-internal.ts';
import { danglingReferences, expectLoads, loadPublished } from '../../test/docs-support.ts';

const ok = { '200': { description: 'ok' } };

function document30(extra: Record<string, unknown>): Record<string, unknown> {
  return { openapi: '3.0.3', info: { title: 't', version: '1' }, ...extra };
}

describe('withoutInternal', () => {
  it('removes references to internal components with the node that holds them, and loads', async () => {
    const source = document30({
      paths: {
        '/a': {
          get: {
            parameters: [{ $ref: '#/components/parameters/Debug' }, { name: 'q', in: 'query', schema: { type: 'string' } }],
            responses: {
              '200': { description: 'ok', content: { 'application/json': { schema: { $ref: '#/components/schemas/Thing' } } } },
              '418': { $ref: '#/components/responses/Teapot' },
            },
          },
          post: {
            requestBody: { $ref: '#/components/requestBodies/Secret' },
            responses: ok,
          },
        },
        '/only-internal-response': { get: { responses: { '500': { $ref: '#/components/responses/Teapot' } } } },
      },
      components: {
        parameters: { Debug: { name: 'debug', in: 'query', 'x-internal': true, schema: { type: 'boolean' } } },
        responses: { Teapot: { description: 'internal', 'x-internal': true } },
        requestBodies: { Secret: { 'x-internal': true, content: { 'application/json': { schema: { type: 'object' } } } } },
        schemas: {
          Thing: {
            type: 'object',
            required: ['id', 'cost', 'shadow'],
            properties: {
              id: { type: 'string' },
              cost: { $ref: '#/components/schemas/Cost' },
              shadow: { $ref: '#/components/schemas/CostAlias' },
              kind: { oneOf: [{ $ref: '#/components/schemas/Public' }, { $ref: '#/components/schemas/Cost' }] },
              only: { allOf: [{ $ref: '#/components/schemas/Cost' }] },
              list: { type: 'array', items: { $ref: '#/components/schemas/Cost' } },
            },
          },
          Public: { type: 'object', properties: { p: { type: 'string' } } },
          Cost: { 'x-internal': true, type: 'number' },
          // Only a reference to an internal schema: internal too, and so is what refers to it.
          CostAlias: { $ref: '#/components/schemas/CostAliasAlias' },
          CostAliasAlias: { $ref: '#/components/schemas/Cost' },
          Pet: {
            type: 'object',
            discriminator: { propertyName: 'kind', mapping: { public: '#/components/schemas/Public', cost: '#/components/schemas/Cost' } },
            oneOf: [{ $ref: '#/components/schemas/Public' }, { $ref: '#/components/schemas/Cost' }],
          },
        },
      },
    });
    const out = withoutInternal(source);
    expect(danglingReferences(out)).toEqual([]);
    const text = JSON.stringify(out);
    for (const hidden of ['x-internal', 'Debug', 'Teapot', 'Secret', 'Cost', '"shadow"']) expect(text, hidden).not.toContain(hidden);
    const paths = out.paths as Record<string, Record<string, Record<string, unknown>>>;
    expect(paths['/a']!.get!.parameters).toEqual([{ name: 'q', in: 'query', schema: { type: 'string' } }]);
    expect(Object.keys(paths['/a']!.get!.responses as object)).toEqual(['200']);
    // The request body was internal: the operation stays, without it.
    expect(paths['/a']!.post).toEqual({ responses: ok });
    // Every response of the operation was internal: the emptied list goes (it would be invalid).
    expect(paths['/only-internal-response']!.get).toEqual({});
    const thing = (out.components as { schemas: Record<string, { required?: string[]; properties?: Record<string, unknown> }> }).schemas.Thing!;
    expect(thing.required).toEqual(['id']);
    expect(thing.properties).toEqual({
      id: { type: 'string' },
      kind: { oneOf: [{ $ref: '#/components/schemas/Public' }] },
      // As `allOf: [{ x-internal: true, ... }]` would be: the branch goes, and the emptied allOf with it.
      only: {},
      list: { type: 'array' },
    });
    const pet = (out.components as { schemas: Record<string, unknown> }).schemas.Pet;
    expect(pet).toEqual({ type: 'object', discriminator: { propertyName: 'kind', mapping: { public: '#/components/schemas/Public' } }, oneOf: [{ $ref: '#/components/schemas/Public' }] });
    // The source document still loads as it was, and so does the published one (3.0 wants responses: the
    // operation whose every response was internal is what makes it fail, so that path is left out here).
    delete (out.paths as Record<string, unknown>)['/only-internal-response'];
    await expectLoads(out);
  });

  it('keeps what a public operation shares with an internal one through a path reference (the bundler writes those)', async () => {
    const shared = { type: 'object', properties: { id: { type: 'integer' } } };
    const source = document30({
      paths: {
        '/internal': { get: { 'x-internal': true, responses: { '200': { description: 'x', content: { 'application/json': { schema: shared } } } } } },
        '/public': {
          get: { responses: { '200': { description: 'y', content: { 'application/json': { schema: { $ref: '#/paths/~1internal/get/responses/200/content/application~1json/schema' } } } } } },
        },
      },
    });
    const out = withoutInternal(source);
    expect(Object.keys(out.paths as object)).toEqual(['/public']);
    expect(JSON.stringify(out)).not.toContain('#/paths');
    expect((out.paths as Record<string, Record<string, { responses: Record<string, { content: Record<string, { schema: unknown }> }> }>>)['/public']!.get!.responses['200']!.content['application/json']!.schema).toEqual(shared);
    await expectLoads(out);
  });

  it('drops security requirements naming an internal scheme; an operation left with none falls back to the document', () => {
    const out = withoutInternal(
      document30({
        security: [{ public: [] }],
        paths: {
          '/a': { get: { security: [{ hidden: [] }], responses: ok } },
          '/b': { get: { security: [{ hidden: [] }, { public: [] }], responses: ok } },
        },
        components: { securitySchemes: { public: { type: 'http', scheme: 'bearer' }, hidden: { type: 'apiKey', name: 'k', in: 'header', 'x-internal': true } } },
      }),
    );
    const paths = out.paths as Record<string, Record<string, Record<string, unknown>>>;
    expect(paths['/a']!.get!.security).toBeUndefined();
    expect(paths['/b']!.get!.security).toEqual([{ public: [] }]);
  });

  it('handles Swagger 2.0 definitions, parameters and responses the same way', async () => {
    const out = withoutInternal({
      swagger: '2.0',
      info: { title: 't', version: '1' },
      paths: {
        '/a': {
          get: {
            parameters: [{ $ref: '#/parameters/Debug' }],
            responses: { '200': { description: 'ok', schema: { $ref: '#/definitions/Thing' } }, '500': { $ref: '#/responses/Oops' } },
          },
        },
      },
      parameters: { Debug: { name: 'debug', in: 'query', type: 'boolean', 'x-internal': true } },
      responses: { Oops: { description: 'internal', 'x-internal': true } },
      definitions: { Thing: { type: 'object', required: ['cost'], properties: { cost: { $ref: '#/definitions/Cost' }, id: { type: 'string' } } }, Cost: { 'x-internal': true, type: 'number' } },
    });
    expect(danglingReferences(out)).toEqual([]);
    expect(JSON.stringify(out)).not.toMatch(/Debug|Oops|Cost|x-internal/);
    expect((out.definitions as Record<string, unknown>).Thing).toEqual({ type: 'object', properties: { id: { type: 'string' } } });
    await expectLoads(out);
  });

  it('the served fixture of the docs e2e test has no dangling reference (the old stripper left one here)', async () => {
    const source = document30({
      paths: { '/a': { get: { responses: { '200': { description: 'ok', content: { 'application/json': { schema: { $ref: '#/components/schemas/Hidden' } } } } } } } },
      components: { schemas: { Hidden: { 'x-internal': true, type: 'object' } } },
    });
    // What the stripper did before: the component gone, the reference kept; the loader refuses that document.
    const broken = structuredClone(source) as { components: { schemas: Record<string, unknown> } };
    delete broken.components.schemas.Hidden;
    expect((await loadPublished(broken)).ok).toBe(false);
    const out = withoutInternal(source);
    expect(danglingReferences(out)).toEqual([]);
    await expectLoads(out);
  });
});

describe('withoutDanglingReferences', () => {
  it('leaves a document without dangling references as it is', () => {
    const source = document30({ paths: { '/a': { get: { responses: ok } } }, components: { schemas: { A: { $ref: '#/components/schemas/B' }, B: { type: 'string' } } } });
    expect(withoutDanglingReferences(source)).toEqual(source);
  });

  it('refuses a chain of removals too long to follow (bounded work)', () => {
    const schemas: Record<string, unknown> = {};
    for (let i = 0; i < 400; i++) schemas[`S${i}`] = { $ref: `#/components/schemas/S${i + 1}` };
    expect(() => withoutDanglingReferences(document30({ components: { schemas } }))).toThrow(/too deep a chain/);
  });
});

describe('inlineLocalReferences', () => {
  it('inlines references outside the reusable sections, keeps component references, stops at a cycle', () => {
    const source = document30({
      paths: {
        '/a': { get: { responses: { '200': { description: 'a', content: { 'application/json': { schema: { type: 'object', properties: { self: { $ref: '#/paths/~1a/get/responses/200/content/application~1json/schema' } } } } } } } } },
        '/b': { get: { responses: { '200': { $ref: '#/paths/~1a/get/responses/200' } } } },
      },
      components: { schemas: { C: { type: 'string' } } },
      'x-c': { $ref: '#/components/schemas/C' },
    });
    const out = inlineLocalReferences(source) as { paths: Record<string, { get: { responses: Record<string, { description?: string }> } }>; 'x-c': unknown };
    expect(out.paths['/b']!.get.responses['200']!.description).toBe('a');
    expect(out['x-c']).toEqual({ $ref: '#/components/schemas/C' });
    // The self-reference stays a reference (inside the copy) rather than unrolling for ever.
    expect(JSON.stringify(out.paths['/b'])).toContain('"$ref":"#/paths/~1a/get/responses/200/content/application~1json/schema"');
  });
});
