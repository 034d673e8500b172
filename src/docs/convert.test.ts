/**
 * Contracts of every version as OpenAPI 3.1 (what the merged document is written in): schema keywords converted as
 * the gateway's validator reads them, Swagger 2.0 rebuilt from the loader's operation model; every result loads
 * with the project's OpenAPI loader as 3.1 with the same operations.
 */
import { describe, expect, it } from 'vitest';
import { loadOpenApi } from '../openapi/load.ts';
import { toOpenApi31 } from './convert.ts';
import { withoutInternal } from './strip-internal.ts';
import { expectLoads } from '../../test/docs-support.ts';
import { SHARED_SPECS, sharedSpecsPresent } from '../../test/shared-specs.ts';

type Json = Record<string, unknown>;

describe('OpenAPI 3.0 to 3.1', () => {
  const converted = toOpenApi31({
    openapi: '3.0.3',
    info: { title: 't', version: '1' },
    paths: {
      '/a': {
        get: {
          parameters: [
            { name: 'q', in: 'query', allowEmptyValue: true, schema: { type: 'integer', minimum: 1, exclusiveMinimum: true, maximum: 9, exclusiveMaximum: false } },
            { name: 'h', in: 'header', allowEmptyValue: false, schema: { type: 'string' } },
          ],
          responses: {
            '200': {
              description: 'ok',
              headers: { 'x-rate': { schema: { type: 'integer', nullable: true } } },
              content: { 'application/json': { schema: { $ref: '#/components/schemas/Thing' }, example: { nullable: true, exclusiveMinimum: true } } },
            },
          },
        },
      },
    },
    components: {
      schemas: {
        Thing: {
          type: 'object',
          properties: {
            name: { type: 'string', nullable: true, enum: ['a', 'b'] },
            either: { nullable: true, allOf: [{ $ref: '#/components/schemas/Other' }] },
            ref: { $ref: '#/components/schemas/Other', nullable: true, description: 'kept: an annotation' },
            list: { type: 'array', items: { type: 'number', nullable: true } },
          },
        },
        Other: { type: 'string', nullable: false },
      },
    },
  });

  it('converts nullable, boolean exclusive bounds and $ref siblings as the gateway reads them', () => {
    const thing = (converted.components as { schemas: Record<string, { properties: Record<string, Json> }> }).schemas.Thing!;
    expect(converted.openapi).toBe('3.1.0');
    expect(thing.properties.name).toEqual({ type: ['string', 'null'], enum: ['a', 'b', null] });
    expect(thing.properties.either).toEqual({ anyOf: [{ type: 'null' }, { allOf: [{ $ref: '#/components/schemas/Other' }] }] });
    expect(thing.properties.ref).toEqual({ $ref: '#/components/schemas/Other', description: 'kept: an annotation' });
    expect(thing.properties.list).toEqual({ type: 'array', items: { type: ['number', 'null'] } });
    expect((converted.components as { schemas: Record<string, Json> }).schemas.Other).toEqual({ type: 'string' });
    const op = (converted.paths as Record<string, Record<string, { parameters: Json[]; responses: Record<string, { headers: Record<string, Json>; content: Record<string, Json> }> }>>)['/a']!.get!;
    expect(op.parameters[0]).toEqual({ name: 'q', in: 'query', allowEmptyValue: true, schema: { type: 'integer', exclusiveMinimum: 1, maximum: 9 } });
    // allowEmptyValue is for query parameters only in 3.1.
    expect(op.parameters[1]).toEqual({ name: 'h', in: 'header', schema: { type: 'string' } });
    expect(op.responses['200']!.headers['x-rate']).toEqual({ schema: { type: ['integer', 'null'] } });
    // Examples are data: untouched.
    expect(op.responses['200']!.content['application/json']!.example).toEqual({ nullable: true, exclusiveMinimum: true });
  });

  it('loads as 3.1', async () => {
    const api = await expectLoads(converted);
    expect(api.model.version).toBe('3.1');
  });
});

describe('Swagger 2.0 to 3.1', () => {
  const source: Json = {
    swagger: '2.0',
    info: { title: 'Pets', version: '1' },
    host: 'pets.internal.example',
    basePath: '/api',
    consumes: ['application/json'],
    produces: ['application/json'],
    securityDefinitions: {
      basic: { type: 'basic', description: 'b' },
      key: { type: 'apiKey', name: 'k', in: 'header' },
      oauth: { type: 'oauth2', flow: 'accessCode', authorizationUrl: 'https://idp/authorize', tokenUrl: 'https://idp/token', scopes: { read: 'read' } },
      machine: { type: 'oauth2', flow: 'application', tokenUrl: 'https://idp/token', scopes: {} },
    },
    security: [{ key: [] }],
    paths: {
      '/pets': {
        parameters: [{ name: 'tenant', in: 'header', type: 'string', required: true, description: 'the tenant' }],
        get: {
          operationId: 'listPets',
          tags: ['pets'],
          parameters: [
            { name: 'tags', in: 'query', type: 'array', items: { type: 'string' }, collectionFormat: 'multi', description: 'any of' },
            { name: 'ids', in: 'query', type: 'array', items: { type: 'integer' }, collectionFormat: 'pipes' },
            { name: 'limit', in: 'query', type: 'integer', maximum: 100, 'x-example': 10 },
          ],
          responses: {
            '200': {
              description: 'pets',
              headers: { 'X-Total': { type: 'integer', description: 'how many' } },
              schema: { type: 'array', items: { $ref: '#/definitions/Pet' } },
              examples: { 'application/json': [{ id: 1 }] },
            },
            default: { $ref: '#/responses/Error' },
          },
        },
        post: {
          operationId: 'addPet',
          security: [{ oauth: ['read'] }],
          parameters: [{ name: 'pet', in: 'body', required: true, description: 'the pet', schema: { $ref: '#/definitions/Pet' } }],
          responses: { '201': { description: 'created' } },
        },
      },
      '/pets/{id}/photo': {
        post: {
          consumes: ['multipart/form-data'],
          parameters: [
            { $ref: '#/parameters/PetId' },
            { name: 'file', in: 'formData', type: 'file', required: true, description: 'the photo' },
            { name: 'caption', in: 'formData', type: 'string' },
          ],
          responses: { '204': { description: 'stored' } },
        },
      },
    },
    parameters: { PetId: { name: 'id', in: 'path', required: true, type: 'integer' } },
    responses: { Error: { description: 'error', schema: { $ref: '#/definitions/Error' } } },
    definitions: {
      Pet: {
        type: 'object',
        discriminator: 'kind',
        required: ['id', 'kind'],
        properties: { id: { type: 'integer', minimum: 0, exclusiveMinimum: true }, kind: { type: 'string' }, name: { type: 'string', 'x-nullable': true } },
      },
      Error: { type: 'object', properties: { message: { type: 'string' } } },
    },
  };
  const converted = toOpenApi31(withoutInternal(source));
  const paths = converted.paths as Record<string, Record<string, Json>>;

  it('rebuilds parameters, bodies, responses and security from the operation model', () => {
    expect(converted.openapi).toBe('3.1.0');
    expect(converted).not.toHaveProperty('host');
    expect(converted).not.toHaveProperty('basePath');
    const list = paths['/pets']!.get!;
    expect(list.tags).toEqual(['pets']);
    expect(list.parameters).toEqual([
      { name: 'tenant', in: 'header', description: 'the tenant', required: true, schema: { type: 'string' } },
      // multi is form with explode, the 3.x default for a query parameter; pipes is pipeDelimited (explode false by default).
      { name: 'tags', in: 'query', description: 'any of', schema: { type: 'array', items: { type: 'string' } } },
      { name: 'ids', in: 'query', style: 'pipeDelimited', schema: { type: 'array', items: { type: 'integer' } } },
      // csv is form without explode; x- keys of the parameter are kept on the parameter.
      { name: 'limit', in: 'query', explode: false, schema: { type: 'integer', maximum: 100 }, 'x-example': 10 },
    ]);
    expect(list.responses).toEqual({
      '200': {
        description: 'pets',
        headers: { 'X-Total': { description: 'how many', schema: { type: 'integer' } } },
        content: { 'application/json': { schema: { type: 'array', items: { $ref: '#/components/schemas/Pet' } }, example: [{ id: 1 }] } },
      },
      default: { description: 'error', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } },
    });
    expect(paths['/pets']!.post).toEqual({
      operationId: 'addPet',
      security: [{ oauth: ['read'] }],
      // The path-level parameter applies to every operation of the path.
      parameters: [{ name: 'tenant', in: 'header', description: 'the tenant', required: true, schema: { type: 'string' } }],
      requestBody: { description: 'the pet', required: true, content: { 'application/json': { schema: { $ref: '#/components/schemas/Pet' } } } },
      responses: { '201': { description: 'created' } },
    });
    expect(paths['/pets/{id}/photo']!.post).toEqual({
      parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'integer' } }],
      requestBody: {
        required: true,
        content: {
          'multipart/form-data': {
            schema: {
              type: 'object',
              properties: { file: { type: 'string', format: 'binary', description: 'the photo' }, caption: { type: 'string' } },
              required: ['file'],
            },
            encoding: { file: { explode: false }, caption: { explode: false } },
          },
        },
      },
      responses: { '204': { description: 'stored' } },
    });
  });

  it('turns definitions and securityDefinitions into components', () => {
    const components = converted.components as { schemas: Record<string, Json>; securitySchemes: Record<string, Json> };
    expect(components.schemas.Pet).toEqual({
      type: 'object',
      discriminator: { propertyName: 'kind' },
      required: ['id', 'kind'],
      properties: { id: { type: 'integer', exclusiveMinimum: 0 }, kind: { type: 'string' }, name: { type: ['string', 'null'] } },
    });
    expect(components.securitySchemes).toEqual({
      basic: { type: 'http', scheme: 'basic', description: 'b' },
      key: { type: 'apiKey', name: 'k', in: 'header' },
      oauth: { type: 'oauth2', flows: { authorizationCode: { authorizationUrl: 'https://idp/authorize', tokenUrl: 'https://idp/token', scopes: { read: 'read' } } } },
      machine: { type: 'oauth2', flows: { clientCredentials: { tokenUrl: 'https://idp/token', scopes: {} } } },
    });
    expect(converted.security).toEqual([{ key: [] }]);
  });

  it('loads as 3.1 with the same operations', async () => {
    const api = await expectLoads(converted);
    expect(api.model.operations.map((o) => `${o.method} ${o.path}`).sort()).toEqual(['GET /pets', 'POST /pets', 'POST /pets/{id}/photo']);
  });
});

const SPECS = SHARED_SPECS.endsWith('/') ? SHARED_SPECS : `${SHARED_SPECS}/`;
/** Small and mid-sized public documents of ../shared/specs, every version (box.com once failed: allowEmptyValue on a header). */
const CORPUS = [
  '1forge.com__0.0.1.yaml',
  'yelp.com__v3.yaml',
  'azure.com_addons-Addons__2017-05-15.yaml',
  'healthcare.gov__1.0.0.yaml',
  'redoc-demo_petstore-swagger2__1.0.0.yaml',
  'netlify.com__2.55.0.yaml',
  'xkcd.com__1.0.0.yaml',
  'nytimes.com_article_search__1.0.0.yaml',
  'oai-examples_callback-example__1.0.0.json',
  'oai-examples_link-example__1.0.0.yaml',
  'oai-examples_uspto__1.0.0.json',
  'readme-oas-examples_discriminators__1.0.0.yaml',
  'readme-oas-examples_security-multiple__1.0.0.json',
  'box.com__2025.0.json',
  'readme-oas-examples_security-3.1__1.0.0.yaml',
];

describe.skipIf(!sharedSpecsPresent('converting public documents of ../shared/specs'))('public documents of ../shared/specs as 3.1', () => {
  it.each(CORPUS)('%s converts into a valid 3.1 document with every operation not marked x-internal', { timeout: 60_000 }, async (file) => {
    const loaded = await loadOpenApi(SPECS + file);
    if (!loaded.ok) throw new Error(loaded.errors.map((e) => e.text).join('\n'));
    const stripped = withoutInternal(loaded.api.model.document);
    const api = await expectLoads(toOpenApi31(stripped));
    expect(api.model.version).toBe('3.1');
    const published = await expectLoads(stripped);
    expect(api.model.operations.map((o) => `${o.method} ${o.path}`).sort()).toEqual(published.model.operations.map((o) => `${o.method} ${o.path}`).sort());
  });
});
