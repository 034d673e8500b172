/**
 * The merged document (checklist item 14): paths as the gateway exposes them, clashing names resolved the same way
 * every time, and a result the project's OpenAPI loader accepts with every reference resolved.
 */
import { describe, expect, it } from 'vitest';
import { loadOpenApi } from '../openapi/load.ts';
import { mergeContracts, type MergeDocument, type MergeSource } from './merge.ts';
import { toOpenApi31 } from './convert.ts';
import { withoutInternal } from './strip-internal.ts';
import { danglingReferences, expectLoads } from '../../test/docs-support.ts';
import { SHARED_SPECS, sharedSpecsPresent } from '../../test/shared-specs.ts';

type Json = Record<string, unknown>;
const info = { title: 'Gateway', version: '1' };
const json = (schema: unknown) => ({ description: 'ok', content: { 'application/json': { schema } } });

function doc(paths: Json, components: Json = {}, extra: Json = {}): Json {
  return { openapi: '3.1.0', info: { title: 'x', version: '1' }, paths, ...(Object.keys(components).length > 0 ? { components } : {}), ...extra };
}

const orders = doc(
  {
    '/orders': { get: { operationId: 'list', responses: { '200': json({ type: 'array', items: { $ref: '#/components/schemas/Order' } }) } } },
    '/orders/{id}': {
      parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'integer' } }],
      get: { operationId: 'get', responses: { '200': json({ $ref: '#/components/schemas/Envelope' }), default: json({ $ref: '#/components/schemas/Error' }) } },
    },
  },
  {
    schemas: {
      Order: { type: 'object', properties: { id: { type: 'integer' } } },
      // Same text in both documents, but Order differs: Envelope must be renamed too.
      Envelope: { type: 'object', properties: { data: { $ref: '#/components/schemas/Order' } } },
      // Same text and nothing renamed below it: shared, kept once under its own name.
      Error: { type: 'object', properties: { message: { type: 'string' } } },
      Pet: { type: 'object', discriminator: { propertyName: 'kind' }, oneOf: [{ $ref: '#/components/schemas/Order' }, { $ref: '#/components/schemas/Error' }] },
    },
    securitySchemes: { key: { type: 'apiKey', name: 'x-key', in: 'header' } },
  },
  { security: [{ key: [] }] },
);

const payments = doc(
  {
    '/payments': { get: { operationId: 'list', responses: { '200': json({ $ref: '#/components/schemas/Envelope' }) } } },
    // The same exposed path as orders' /orders/{id} once prefixed differently below; here to test parameter renames.
    '/orders/{orderId}': { post: { operationId: 'pay', parameters: [{ name: 'orderId', in: 'path', required: true, schema: { type: 'string' } }], responses: { '201': { description: 'paid' } } } },
  },
  {
    schemas: {
      Order: { type: 'object', properties: { reference: { type: 'string' } } },
      Envelope: { type: 'object', properties: { data: { $ref: '#/components/schemas/Order' } } },
      Error: { type: 'object', properties: { message: { type: 'string' } } },
      'orders.Order': { type: 'string', description: 'a name that is already what the rename would choose' },
    },
    securitySchemes: { key: { type: 'http', scheme: 'bearer' } },
  },
);

describe('mergeContracts', () => {
  const documents: MergeDocument[] = [
    { label: 'orders', document: orders },
    { label: 'payments', document: payments },
  ];
  const sources: MergeSource[] = [
    { document: 0, label: 'orders', prefix: '/v1' },
    { document: 1, label: 'payments', prefix: '/v1' },
  ];
  const { document, omitted } = mergeContracts({ documents, sources, info });
  const schemas = (document.components as { schemas: Record<string, Json> }).schemas;
  const paths = document.paths as Record<string, Record<string, Json>>;

  it('renames clashing component names after their document, rewriting every reference; identical ones are shared', () => {
    expect(Object.keys(schemas).sort()).toEqual(['Error', 'Pet', 'orders.Envelope', 'orders.Order', 'orders.Order_2', 'payments.Envelope', 'payments.Order'].sort());
    // payments already had a schema literally named orders.Order: orders' Order became orders.Order_2.
    expect(schemas['orders.Order']).toEqual({ type: 'string', description: 'a name that is already what the rename would choose' });
    expect(schemas['orders.Envelope']).toEqual({ type: 'object', properties: { data: { $ref: '#/components/schemas/orders.Order_2' } } });
    expect(schemas['payments.Envelope']).toEqual({ type: 'object', properties: { data: { $ref: '#/components/schemas/payments.Order' } } });
    expect(paths['/v1/orders']!.get!.responses).toEqual({ '200': json({ type: 'array', items: { $ref: '#/components/schemas/orders.Order_2' } }) });
    expect((paths['/v1/orders/{id}']!.get!.responses as Json).default).toEqual(json({ $ref: '#/components/schemas/Error' }));
    expect(danglingReferences(document)).toEqual([]);
  });

  it('gives implicit discriminator values a mapping when a rename would change them', () => {
    expect(schemas.Pet!.discriminator).toEqual({ propertyName: 'kind', mapping: { Order: '#/components/schemas/orders.Order_2' } });
  });

  it('renames clashing security schemes and the requirements naming them; document security moves into operations', () => {
    expect(Object.keys((document.components as { securitySchemes: Json }).securitySchemes).sort()).toEqual(['orders.key', 'payments.key']);
    expect(paths['/v1/orders']!.get!.security).toEqual([{ 'orders.key': [] }]);
    expect(paths['/v1/payments']!.get!.security).toBeUndefined();
    expect(document.security).toBeUndefined();
  });

  it('prefixes paths, moves path-level parameters into operations and joins paths that differ only in parameter names', () => {
    expect(Object.keys(paths).sort()).toEqual(['/v1/orders', '/v1/orders/{id}', '/v1/payments']);
    expect(paths['/v1/orders/{id}']!.get!.parameters).toEqual([{ name: 'id', in: 'path', required: true, schema: { type: 'integer' } }]);
    expect(paths['/v1/orders/{id}']!.parameters).toBeUndefined();
    // payments' POST /v1/orders/{orderId} joined the item written /v1/orders/{id}, its parameter renamed.
    expect(paths['/v1/orders/{id}']!.post!.parameters).toEqual([{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }]);
    expect(omitted).toEqual([]);
  });

  it('prefixes operationIds used by more than one source', () => {
    expect(paths['/v1/orders']!.get!.operationId).toBe('orders.list');
    expect(paths['/v1/payments']!.get!.operationId).toBe('payments.list');
    expect(paths['/v1/orders/{id}']!.get!.operationId).toBe('get');
  });

  it('points servers at the gateway and takes info from the caller', () => {
    expect(document.servers).toEqual([{ url: '/', description: 'this gateway' }]);
    expect(document.info).toEqual(info);
    expect(document.openapi).toBe('3.1.0');
  });

  it('is deterministic: the same input gives the same text', () => {
    expect(JSON.stringify(mergeContracts({ documents, sources, info }).document)).toBe(JSON.stringify(document));
  });

  it('loads with the project loader, every operation there', async () => {
    const api = await expectLoads(document);
    expect(api.model.operations.map((o) => `${o.method} ${o.path}`).sort()).toEqual(['GET /v1/orders', 'GET /v1/orders/{id}', 'GET /v1/payments', 'POST /v1/orders/{id}'].sort());
  });
});

describe('mergeContracts: one document under several prefixes, reachability and clashes of paths', () => {
  it('emits a shared document once and its operations under each prefix; ids clash between the two sources', () => {
    const { document } = mergeContracts({
      documents: [{ label: 'orders', document: orders }],
      sources: [
        { document: 0, label: 'orders.v1', prefix: '/v1' },
        { document: 0, label: 'orders.v2', prefix: '/v2' },
      ],
      info,
    });
    expect(Object.keys(document.paths as Json).sort()).toEqual(['/v1/orders', '/v1/orders/{id}', '/v2/orders', '/v2/orders/{id}']);
    expect(Object.keys((document.components as { schemas: Json }).schemas).sort()).toEqual(['Envelope', 'Error', 'Order', 'Pet']);
    const paths = document.paths as Record<string, Record<string, Json>>;
    expect(paths['/v2/orders']!.get!.operationId).toBe('orders.v2.list');
  });

  it('keeps only what the gateway routes to the source, and the first source of a method and path', () => {
    const { document, omitted } = mergeContracts({
      documents: [
        { label: 'a', document: orders },
        { label: 'b', document: orders },
      ],
      sources: [
        { document: 0, label: 'a', prefix: '', reaches: (method, path) => !(method === 'GET' && path === '/orders') },
        { document: 1, label: 'b', prefix: '' },
      ],
      info,
    });
    const paths = document.paths as Record<string, Record<string, Json>>;
    // GET /orders is not routed to a: b documents it; GET /orders/{id} is a's, b's copy is left out (so no id clashes).
    expect(paths['/orders']!.get!.operationId).toBe('list');
    expect(paths['/orders/{id}']!.get!.operationId).toBe('get');
    expect(omitted).toEqual(['GET /orders/{id} (b; a documents it)']);
  });

  it('leaves out webhooks and servers of paths and operations (they would point past the gateway)', () => {
    const { document } = mergeContracts({
      documents: [
        {
          label: 'x',
          document: doc(
            { '/a': { servers: [{ url: 'https://upstream.internal' }], get: { servers: [{ url: 'https://upstream.internal' }], responses: { '200': { description: 'ok' } } } } },
            {},
            { servers: [{ url: 'https://upstream.internal' }], webhooks: { ping: { post: { responses: { '200': { description: 'ok' } } } } } },
          ),
        },
      ],
      sources: [{ document: 0, label: 'x', prefix: '' }],
      info,
    });
    expect(JSON.stringify(document)).not.toContain('upstream.internal');
    expect(document.webhooks).toBeUndefined();
  });
});

const SPECS = SHARED_SPECS.endsWith('/') ? SHARED_SPECS : `${SHARED_SPECS}/`;
const PETSTORES = ['redoc-demo_petstore-swagger2__1.0.0.yaml', 'swagger.io_petstore3__1.0.27-SNAPSHOT.yaml', 'redoc-demo_petstore-3.1__1.0.0.yaml'];

describe.skipIf(!sharedSpecsPresent('merging the petstores of ../shared/specs'))('mergeContracts on three public petstores (2.0, 3.0, 3.1) of ../shared/specs', () => {
  it('merges them into one valid 3.1 document with every operation, every Pet renamed, no dangling reference', async () => {
    const documents: MergeDocument[] = [];
    let operations = 0;
    for (const [i, file] of PETSTORES.entries()) {
      const loaded = await loadOpenApi(SPECS + file);
      if (!loaded.ok) throw new Error(loaded.errors.map((e) => e.text).join('\n'));
      operations += loaded.api.model.operations.length;
      documents.push({ label: `store${i + 1}`, document: toOpenApi31(withoutInternal(loaded.api.model.document)) });
    }
    const { document, omitted } = mergeContracts({ documents, sources: documents.map((d, i) => ({ document: i, label: d.label, prefix: `/${d.label}` })), info });
    expect(omitted).toEqual([]);
    expect(danglingReferences(document)).toEqual([]);
    const schemas = Object.keys((document.components as { schemas: Json }).schemas);
    expect(schemas).toEqual(expect.arrayContaining(['store1.Pet', 'store2.Pet', 'store3.Pet']));
    expect(schemas).not.toContain('Pet');
    const api = await expectLoads(document);
    expect(api.model.operations).toHaveLength(operations);
  });
});
