import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { request as httpRequest, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http';
import { fileURLToPath } from 'node:url';
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import YAML from 'yaml';
import { SAMPLE_API_ROUTES, startSampleApi, type SampleApiHandle } from './server.ts';

const SERVER_FILE = fileURLToPath(new URL('./server.ts', import.meta.url));
const OPENAPI_FILE = fileURLToPath(new URL('./openapi.yaml', import.meta.url));

interface RawResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
  /** Body chunks as the HTTP parser delivered them (one per chunked-encoding chunk at most). */
  chunks: string[];
}

/** node:http rather than fetch: fetch forbids hop-by-hop headers and hides chunk boundaries. */
function send(
  base: string,
  method: string,
  path: string,
  options: { headers?: OutgoingHttpHeaders; body?: string | Buffer } = {},
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${base}${path}`, { method, headers: options.headers, agent: false }, (res) => {
      const chunks: string[] = [];
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: chunks.join(''), chunks }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

function json(response: RawResponse): unknown {
  expect(response.headers['content-type']).toBe('application/json; charset=utf-8');
  return JSON.parse(response.body) as unknown;
}

type Order = { id: string; customerId: string; items: Array<{ sku: string; qty: number }>; note?: string; status: string; total: number };

let api: SampleApiHandle;
beforeAll(async () => {
  api = await startSampleApi({ port: 0 });
});
afterAll(async () => {
  await api.close();
});

// ---------------------------------------------------------------------------------------------
// The contract, loaded once: used both to check the document and to check live responses against it.

type OpenApiDoc = {
  openapi: string;
  security?: Array<Record<string, string[]>>;
  paths: Record<string, Record<string, unknown>>;
  components: { schemas: Record<string, unknown>; securitySchemes: Record<string, Record<string, unknown>> };
};
type Operation = {
  operationId: string;
  security?: Array<Record<string, string[]>>;
  responses: Record<string, unknown>;
  parameters?: Array<Record<string, unknown>>;
  'x-internal'?: boolean;
};
const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

const openapiText = readFileSync(OPENAPI_FILE, 'utf8');
const doc = YAML.parse(openapiText) as OpenApiDoc;

function operations(): Array<{ path: string; method: string; op: Operation; pathParameters: Array<Record<string, unknown>> }> {
  const result = [];
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const method of HTTP_METHODS) {
      if (item[method] === undefined) continue;
      const pathParameters = (item.parameters ?? []) as Array<Record<string, unknown>>;
      result.push({ path, method, op: item[method] as Operation, pathParameters });
    }
  }
  return result;
}

function resolvePointer(pointer: string): unknown {
  expect(pointer.startsWith('#/'), pointer).toBe(true);
  let node: unknown = doc;
  for (const raw of pointer.slice(2).split('/')) {
    const key = raw.replaceAll('~1', '/').replaceAll('~0', '~');
    if (typeof node !== 'object' || node === null || !Object.hasOwn(node, key)) return undefined;
    node = (node as Record<string, unknown>)[key];
  }
  return node;
}

function deref<T>(node: unknown): T {
  const ref = (node as { $ref?: string }).$ref;
  return (ref === undefined ? node : resolvePointer(ref)) as T;
}

// Component schemas under $defs so that a strict JSON Schema 2020-12 compiler sees plain schemas.
const ajv = new Ajv2020({ strict: true, allowUnionTypes: true, validateFormats: false, allErrors: true });
ajv.addSchema({
  $id: 'urn:sample-api:schemas',
  $defs: JSON.parse(JSON.stringify(doc.components.schemas).replaceAll('"#/components/schemas/', '"#/$defs/')) as object,
});
const validators = new Map<string, ValidateFunction>();
function schema(name: string): ValidateFunction {
  let validate = validators.get(name);
  if (validate === undefined) {
    validate = ajv.compile({ $ref: `urn:sample-api:schemas#/$defs/${name}` });
    validators.set(name, validate);
  }
  return validate;
}
function expectConforms(name: string, value: unknown): void {
  const validate = schema(name);
  expect(validate(value), `${name}: ${ajv.errorsText(validate.errors)}`).toBe(true);
}

// ---------------------------------------------------------------------------------------------

describe('sample API: health and banners', () => {
  it('answers GET /health with {"status":"ok"}', async () => {
    const res = await send(api.url, 'GET', '/health');
    expect(res.status).toBe(200);
    expect(json(res)).toEqual({ status: 'ok' });
    expectConforms('Health', JSON.parse(res.body));
  });

  it('sends the Server and X-Powered-By banners on every kind of response', async () => {
    const responses = await Promise.all([
      send(api.url, 'GET', '/health'),
      send(api.url, 'GET', '/orders'),
      send(api.url, 'GET', '/no/such/path'),
      send(api.url, 'PUT', '/orders'),
      send(api.url, 'GET', '/debug/crash'),
      send(api.url, 'GET', '/stream/events'),
      send(api.url, 'POST', '/orders', { body: '{' }),
    ]);
    expect(responses.map((r) => r.status)).toEqual([200, 200, 404, 405, 500, 200, 400]);
    for (const res of responses) {
      expect(res.headers.server).toBe('SampleAPI/1.0 (Node.js)');
      expect(res.headers['x-powered-by']).toBe('Express');
    }
  });
});

describe('sample API: orders', () => {
  it('lists the seeded orders of alice and bob with numeric string ids', async () => {
    const res = await send(api.url, 'GET', '/orders');
    expect(res.status).toBe(200);
    const body = json(res) as { orders: Order[] };
    expectConforms('OrderList', body);
    const seeded = body.orders.filter((o) => ['1', '2', '3', '4'].includes(o.id));
    expect(seeded.map((o) => [o.id, o.customerId])).toEqual([
      ['1', 'alice'],
      ['2', 'alice'],
      ['3', 'bob'],
      ['4', 'bob'],
    ]);
    expect(seeded[0]!.total).toBe(2 * 1299);
  });

  it('filters by customerId and honours limit', async () => {
    const bob = json(await send(api.url, 'GET', '/orders?customerId=bob')) as { orders: Order[] };
    expect(bob.orders.length).toBeGreaterThanOrEqual(2);
    expect(bob.orders.every((o) => o.customerId === 'bob')).toBe(true);
    const nobody = json(await send(api.url, 'GET', '/orders?customerId=mallory')) as { orders: Order[] };
    expect(nobody.orders).toEqual([]);
    const one = json(await send(api.url, 'GET', '/orders?limit=1')) as { orders: Order[] };
    expect(one.orders.map((o) => o.id)).toEqual(['1']);
  });

  it.each(['0', '101', 'abc', '1.5', '-1', ''])('refuses limit=%j with a 400 JSON error', async (limit) => {
    const res = await send(api.url, 'GET', `/orders?limit=${limit}`);
    expect(res.status).toBe(400);
    expect(json(res)).toMatchObject({ error: 'validation_failed', status: 400 });
    expectConforms('Error', JSON.parse(res.body));
  });

  it('creates an order owned by x-rampart-subject and serves it back', async () => {
    const created = await send(api.url, 'POST', '/orders', {
      headers: { 'content-type': 'application/json', 'x-rampart-subject': 'alice' },
      body: JSON.stringify({ items: [{ sku: 'SKU-2001', qty: 3 }], note: 'ring twice' }),
    });
    expect(created.status).toBe(201);
    const order = json(created) as Order;
    expectConforms('Order', order);
    expect(order).toMatchObject({ customerId: 'alice', status: 'pending', note: 'ring twice', total: 3 * 499 });
    expect(order.id).toMatch(/^[0-9]+$/);
    expect(Number(order.id)).toBeGreaterThan(4);
    expect(created.headers.location).toBe(`/orders/${order.id}`);

    const read = await send(api.url, 'GET', `/orders/${order.id}`);
    expect(read.status).toBe(200);
    expect(json(read)).toEqual(order);
  });

  it('assigns anonymous when no subject header is present', async () => {
    const created = await send(api.url, 'POST', '/orders', { body: JSON.stringify({ items: [{ sku: 'SKU-1001', qty: 1 }] }) });
    expect(created.status).toBe(201);
    expect((json(created) as Order).customerId).toBe('anonymous');
  });

  it.each([
    ['malformed JSON', '{"items": [', 'invalid_json'],
    ['truncated JSON', '{', 'invalid_json'],
    ['empty body', '', 'invalid_json'],
    ['a JSON array', '[]', 'validation_failed'],
    ['no items', '{}', 'validation_failed'],
    ['empty items', '{"items":[]}', 'validation_failed'],
    ['qty zero', '{"items":[{"sku":"SKU-1001","qty":0}]}', 'validation_failed'],
    ['qty not an integer', '{"items":[{"sku":"SKU-1001","qty":"2"}]}', 'validation_failed'],
    ['unknown sku', '{"items":[{"sku":"SKU-9999","qty":1}]}', 'unknown_sku'],
    ['note not a string', '{"items":[{"sku":"SKU-1001","qty":1}],"note":{}}', 'validation_failed'],
  ])('answers %s with a 400 JSON error of its own', async (_name, body, error) => {
    const res = await send(api.url, 'POST', '/orders', { headers: { 'content-type': 'application/json' }, body });
    expect(res.status).toBe(400);
    expect(json(res)).toMatchObject({ error, status: 400 });
  });

  it('is verbose about malformed JSON (the parser message reaches the client)', async () => {
    const res = await send(api.url, 'POST', '/orders', { body: '{"items": [' });
    expect((json(res) as { message: string }).message).toMatch(/^Malformed JSON body: .*JSON/);
  });

  it('patches an order, and (deliberately) accepts read-only fields the contract refuses', async () => {
    const patch = { note: 'moved', customerId: 'mallory', status: 'shipped' };
    // The contract refuses this body: customerId and status are read-only, so the gateway must block it.
    expect(schema('OrderPatch')(patch)).toBe(false);
    const res = await send(api.url, 'PATCH', '/orders/3', { body: JSON.stringify(patch) });
    expect(res.status).toBe(200);
    expect(json(res)).toMatchObject({ id: '3', note: 'moved', customerId: 'mallory', status: 'shipped' });

    const items = await send(api.url, 'PATCH', '/orders/3', { body: JSON.stringify({ items: [{ sku: 'SKU-1002', qty: 2 }] }) });
    expect(json(items)).toMatchObject({ items: [{ sku: 'SKU-1002', qty: 2 }], total: 2 * 2499 });
  });

  it('leaves an order unchanged when a patch is refused', async () => {
    const before = json(await send(api.url, 'GET', '/orders/2'));
    const res = await send(api.url, 'PATCH', '/orders/2', { body: JSON.stringify({ note: 'x', status: 'lost' }) });
    expect(res.status).toBe(400);
    expect(json(await send(api.url, 'GET', '/orders/2'))).toEqual(before);
  });

  it('deletes an order with 204, then answers 404 JSON for it', async () => {
    const created = json(
      await send(api.url, 'POST', '/orders', { body: JSON.stringify({ items: [{ sku: 'SKU-1001', qty: 1 }] }) }),
    ) as Order;
    const deleted = await send(api.url, 'DELETE', `/orders/${created.id}`);
    expect(deleted.status).toBe(204);
    expect(deleted.body).toBe('');
    for (const method of ['GET', 'PATCH', 'DELETE']) {
      const res = await send(api.url, method, `/orders/${created.id}`, method === 'PATCH' ? { body: '{"note":"x"}' } : {});
      expect(res.status, method).toBe(404);
      expect(json(res)).toEqual({ error: 'not_found', message: `order ${created.id} not found`, status: 404 });
    }
  });

  it('answers 400 for a path segment that is not valid percent-encoding', async () => {
    const res = await send(api.url, 'GET', '/orders/%E0%A4%A');
    expect(res.status).toBe(400);
    expect(json(res)).toMatchObject({ error: 'bad_path' });
  });
});

describe('sample API: users', () => {
  it('returns user objects with the internal fields a gateway must minimize', async () => {
    const res = await send(api.url, 'GET', '/users/alice');
    expect(res.status).toBe(200);
    const user = json(res) as Record<string, unknown>;
    expect(user).toMatchObject({ id: 'alice', email: 'alice@example.com', role: 'customer' });
    expect(user.passwordHash).toMatch(/^\$argon2id\$/);
    // The raw response breaks the contract only by its undeclared fields: without them it conforms.
    expect(schema('User')(user)).toBe(false);
    const { passwordHash: _hash, lastLoginIp: _ip, internalNotes: _notes, ...declared } = user;
    expectConforms('User', declared);
  });

  it('answers 404 JSON for an unknown user', async () => {
    const res = await send(api.url, 'GET', '/users/mallory');
    expect(res.status).toBe(404);
    expect(json(res)).toMatchObject({ error: 'not_found' });
  });

  it('lists every user with hashes on /admin/users, to anyone (the gateway must restrict it)', async () => {
    const res = await send(api.url, 'GET', '/admin/users');
    expect(res.status).toBe(200);
    const { users } = json(res) as { users: Array<Record<string, unknown>> };
    expect(users.map((u) => u.id)).toEqual(['alice', 'bob', 'carol']);
    for (const user of users) expect(typeof user.passwordHash).toBe('string');
  });
});

describe('sample API: flaws the gateway covers', () => {
  it('answers /debug/crash with 500 and an HTML page holding the stack trace and internal paths', async () => {
    const res = await send(api.url, 'GET', '/debug/crash');
    expect(res.status).toBe(500);
    expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(res.body).toContain('<pre>Error: ledger connection lost');
    expect(res.body).toMatch(/<br> {4}at /);
    expect(res.body).toContain(SERVER_FILE);
    expect(res.body).toContain(`cwd: ${process.cwd()}`);
  });
});

describe('sample API: streaming', () => {
  it('sends five server-sent events as separate chunks, then ends', async () => {
    const res = await send(api.url, 'GET', '/stream/events');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('text/event-stream; charset=utf-8');
    expect(res.headers['transfer-encoding']).toBe('chunked');
    // Each event is written 50 ms after the previous one, so each arrives as its own chunk.
    expect(res.chunks).toEqual(
      [1, 2, 3, 4, 5].map((n) => `id: ${n}\nevent: tick\ndata: {"seq":${n},"of":5}\n\n`),
    );
  });

  it('stops writing when the client goes away mid-stream', async () => {
    const firstChunk = await new Promise<string>((resolve, reject) => {
      const req = httpRequest(`${api.url}/stream/events`, { agent: false }, (res) => {
        res.setEncoding('utf8');
        res.once('data', (chunk: string) => {
          req.destroy();
          resolve(chunk);
        });
      });
      req.on('error', (err: NodeJS.ErrnoException) => (err.code === 'ECONNRESET' ? undefined : reject(err)));
      req.end();
    });
    expect(firstChunk).toContain('id: 1\n');
    // The server is still healthy afterwards (a write after close would have crashed the process).
    expect((await send(api.url, 'GET', '/health')).status).toBe(200);
  });
});

describe('sample API: echo', () => {
  it('reflects method, the raw request target and the headers as received', async () => {
    const target = '/echo?a=%2F..%2F&b=1&b=2&empty';
    const res = await send(api.url, 'GET', target, {
      headers: {
        'X-Forwarded-For': '198.51.100.7',
        'X-Request-Id': 'req-123',
        Connection: 'keep-alive, X-Hop',
        'X-Hop': 'should-be-dropped-by-a-proxy',
        'X-Multi': ['one', 'two'],
      },
    });
    expect(res.status).toBe(200);
    const echo = json(res) as {
      method: string;
      url: string;
      path: string;
      query: string;
      headers: Record<string, string>;
      rawHeaders: Array<[string, string]>;
      remoteAddress: string;
    };
    expectConforms('Echo', echo);
    expect(echo.method).toBe('GET');
    expect(echo.url).toBe(target);
    expect(echo.path).toBe('/echo');
    expect(echo.query).toBe('a=%2F..%2F&b=1&b=2&empty');
    expect(echo.headers['x-forwarded-for']).toBe('198.51.100.7');
    expect(echo.headers['x-request-id']).toBe('req-123');
    expect(echo.headers.connection).toBe('keep-alive, X-Hop');
    expect(echo.headers['x-hop']).toBe('should-be-dropped-by-a-proxy');
    // rawHeaders keep case, order and repetition, so "overwritten, never appended" can be checked.
    expect(echo.rawHeaders.filter(([name]) => name === 'X-Multi')).toEqual([
      ['X-Multi', 'one'],
      ['X-Multi', 'two'],
    ]);
    expect(echo.remoteAddress).toBe('127.0.0.1');
  });

  it('reports the length and SHA-256 of a POST body whatever its content type', async () => {
    const body = Buffer.alloc(256 * 1024, 'rampart');
    const res = await send(api.url, 'POST', '/echo?x=1', {
      headers: { 'content-type': 'application/octet-stream', 'content-length': body.length },
      body,
    });
    expect(res.status).toBe(200);
    const echo = json(res) as { method: string; url: string; bodyLength: number; bodySha256: string };
    expect(echo).toMatchObject({ method: 'POST', url: '/echo?x=1', bodyLength: body.length });
    expect(echo.bodySha256).toBe(createHash('sha256').update(body).digest('hex'));
  });
});

describe('sample API: unknown routes', () => {
  it.each(['/', '/nope', '/orders/1/extra', '/orders/', '/Orders', '/health/', '/admin', '/users'])(
    'answers 404 JSON for %s',
    async (path) => {
      const res = await send(api.url, 'GET', path);
      expect(res.status).toBe(404);
      expect(json(res)).toMatchObject({ error: 'not_found', status: 404 });
    },
  );

  it('answers 405 with Allow for a known path and an unsupported method', async () => {
    const res = await send(api.url, 'PUT', '/orders/1', { body: '{}' });
    expect(res.status).toBe(405);
    expect(res.headers.allow).toBe('GET, PATCH, DELETE');
    expect(json(res)).toMatchObject({ error: 'method_not_allowed' });
  });
});

describe('startSampleApi', () => {
  it('gives each instance its own freshly seeded store', async () => {
    const other = await startSampleApi();
    try {
      expect(other.port).not.toBe(api.port);
      expect(other.url).toBe(`http://127.0.0.1:${other.port}`);
      await send(other.url, 'DELETE', '/orders/1');
      expect((await send(other.url, 'GET', '/orders/1')).status).toBe(404);
      expect((await send(api.url, 'GET', '/orders/1')).status).toBe(200);
    } finally {
      await other.close();
    }
  });

  it('closes even while a keep-alive connection is open', async () => {
    const other = await startSampleApi();
    const res = await fetch(`${other.url}/health`); // undici keeps the connection alive
    expect(await res.json()).toEqual({ status: 'ok' });
    await other.close();
    await expect(fetch(`${other.url}/health`)).rejects.toThrow();
  });
});

describe('openapi.yaml', () => {
  it('is an OpenAPI 3.1 document', () => {
    expect(doc.openapi).toMatch(/^3\.1\.\d+$/);
    expect(YAML.parseDocument(openapiText).errors).toEqual([]);
  });

  it('describes exactly the operations the server serves, under the same operationIds', () => {
    const documented = operations().map(({ method, path, op }) => `${method.toUpperCase()} ${path} ${op.operationId}`);
    const served = SAMPLE_API_ROUTES.map((r) => `${r.method} ${r.path} ${r.operationId}`);
    expect(documented.sort()).toEqual(served.sort());
    const ids = operations().map(({ op }) => op.operationId);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('declares every path template parameter as a required path parameter', () => {
    for (const { path, op, pathParameters } of operations()) {
      const declared = [...pathParameters, ...(op.parameters ?? [])]
        .map((p) => deref<{ name: string; in: string; required?: boolean }>(p))
        .filter((p) => p.in === 'path');
      const names = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]);
      expect(declared.map((p) => p.name).sort(), `${op.operationId}`).toEqual(names.sort());
      for (const p of declared) expect(p.required, `${op.operationId} ${p.name}`).toBe(true);
    }
  });

  it('resolves every $ref', () => {
    const refs = [...openapiText.matchAll(/\$ref: '([^']+)'/g)].map((m) => m[1]!);
    expect(refs.length).toBeGreaterThan(20);
    for (const ref of refs) expect(resolvePointer(ref), ref).toBeDefined();
  });

  it('secures everything with a bearer JWT except /health, and /admin with the admin role', () => {
    expect(doc.components.securitySchemes.bearerAuth).toMatchObject({ type: 'http', scheme: 'bearer', bearerFormat: 'JWT' });
    expect(doc.security).toEqual([{ bearerAuth: [] }]);
    for (const { path, op } of operations()) {
      const effective = op.security ?? doc.security;
      if (path === '/health') expect(effective).toEqual([]);
      else if (path.startsWith('/admin/')) expect(effective).toEqual([{ bearerAuth: ['admin'] }]);
      else expect(effective, op.operationId).toEqual([{ bearerAuth: [] }]);
    }
  });

  it('declares 401, 403, 429 and 500 on every secured operation, and 404 where an id is looked up', () => {
    for (const { path, op } of operations()) {
      const codes = Object.keys(op.responses);
      expect(codes, op.operationId).toEqual(expect.arrayContaining(['429', '500']));
      if (path !== '/health') expect(codes, op.operationId).toEqual(expect.arrayContaining(['401', '403']));
      if (path.includes('{')) expect(codes, op.operationId).toContain('404');
    }
  });

  it('marks /debug/crash and /echo as x-internal, and nothing else', () => {
    const internal = operations()
      .filter(({ op }) => op['x-internal'] === true)
      .map(({ method, path }) => `${method} ${path}`);
    expect(internal.sort()).toEqual(['get /debug/crash', 'get /echo', 'post /echo']);
  });

  it('bounds every string, array and number in the request schemas', () => {
    const unbounded: string[] = [];
    const walk = (node: unknown, where: string): void => {
      if (typeof node !== 'object' || node === null) return;
      const s = node as Record<string, unknown>;
      if (s.$ref === undefined) {
        if (s.type === 'string' && s.maxLength === undefined && s.enum === undefined) unbounded.push(where);
        if (s.type === 'array' && s.maxItems === undefined) unbounded.push(where);
        if (s.type === 'integer' && s.maximum === undefined) unbounded.push(where);
      }
      for (const [key, child] of Object.entries(s)) walk(child, `${where}/${key}`);
    };
    for (const name of ['OrderCreate', 'OrderPatch', 'OrderLine', 'OrderLines', 'Sku', 'Note', 'OrderId', 'CustomerId']) {
      walk(doc.components.schemas[name], name);
    }
    walk(
      (doc.paths['/orders']!.get as Operation).parameters,
      'listOrders.parameters',
    );
    expect(unbounded).toEqual([]);
  });

  it('marks server-assigned order fields readOnly', () => {
    const order = doc.components.schemas.Order as { properties: Record<string, { readOnly?: boolean }> };
    for (const field of ['id', 'customerId', 'status', 'total', 'createdAt']) {
      expect(order.properties[field]!.readOnly, field).toBe(true);
    }
    expect(order.properties.items!.readOnly).toBeUndefined();
    expect(openapiText).not.toContain('writeOnly');
  });

  it('has component schemas that compile as strict JSON Schema 2020-12', () => {
    for (const name of Object.keys(doc.components.schemas)) expect(() => schema(name), name).not.toThrow();
  });
});
