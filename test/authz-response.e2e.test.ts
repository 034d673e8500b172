/**
 * The response side of authorization through the running gateway (issue 4 points 3 and 4), on the proxy's
 * response-body stage: an ownership rule over `response.body` refuses another principal's object before any byte
 * of it leaves (BOLA on reads, 404 so nothing is confirmed), read rules remove properties a role may not see
 * (excessive data exposure), created objects are recorded from the id in the JSON answer, and answers the
 * gateway cannot inspect (too large, undecodable, not JSON) are refused, never passed on unchecked.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gzipSync, brotliCompressSync } from 'node:zlib';
import { SignJWT, exportJWK, generateKeyPair, type CryptoKey } from 'jose';
import { startRecordingUpstream, startTestGateway, withoutCorrelationIds, type RecordingUpstream, type TestGateway } from './helpers.ts';

const ISSUER = 'https://idp.test';
const AUDIENCE = 'orders-api';

const ORDERS: Record<string, Record<string, unknown>> = {
  '7': { id: 7, ownerId: 'alice', total: 42, status: 'open', margin: 12.5, items: [{ sku: 'a', price: 10, cost: 4 }], internal: { note: 'x' } },
  '8': { id: 8, ownerId: 'bob', total: 99, status: 'open', margin: 30, items: [], internal: { note: 'y' } },
};

describe('authorization on the upstream answer (response-body stage)', () => {
  let upstream: RecordingUpstream;
  let gw: TestGateway;
  let privateKey: CryptoKey;
  let nextId = 500;

  const token = (sub: string, roles: string[]) => {
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ iss: ISSUER, aud: AUDIENCE, sub, roles, iat: now, exp: now + 600 }).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).sign(privateKey);
  };
  const send = async (method: string, path: string, sub: string, roles: string[], body?: unknown) => {
    const headers: Record<string, string> = { authorization: `Bearer ${await token(sub, roles)}`, 'accept-encoding': 'gzip, br' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(`${gw.url}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await res.text();
    return { status: res.status, text, headers: res.headers, json: () => JSON.parse(text) as Record<string, unknown> };
  };

  beforeAll(async () => {
    const pair = await generateKeyPair('ES256', { extractable: true });
    privateKey = pair.privateKey;
    const jwk = { ...(await exportJWK(pair.publicKey)) } as Record<string, unknown>;
    upstream = await startRecordingUpstream((req, res) => {
      const url = req.url ?? '';
      const json = (status: number, value: unknown, headers: Record<string, string> = {}) =>
        res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(value));
      let m: RegExpExecArray | null;
      if ((m = /^\/orders\/(\d+)$/.exec(url))) {
        const order = ORDERS[m[1]!];
        if (!order) return json(404, { error: 'not found' });
        return json(200, order, { etag: '"v1"' });
      }
      if (url === '/gzip/orders/8') {
        // An upstream that compresses whatever the gateway asked for: the gateway decodes before checking.
        res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip' }).end(gzipSync(JSON.stringify(ORDERS['8'])));
        return;
      }
      if (url === '/gzip/orders/7') {
        res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'br' }).end(brotliCompressSync(JSON.stringify(ORDERS['7'])));
        return;
      }
      if (url === '/odd/orders/1') return res.writeHead(200, { 'content-type': 'text/html' }).end('<p>order 1 of bob</p>');
      if (url === '/odd/orders/2') return res.writeHead(200, { 'content-type': 'application/json' }).end('{"ownerId":"alice","ownerId":"bob"}');
      if (url === '/odd/orders/3') return res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'compress' }).end('xx');
      if (url === '/odd/orders/4') return json(200, { ownerId: 'alice', blob: 'z'.repeat(70_000) });
      if (url === '/odd/orders/5') return res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip' }).end(gzipSync('[' + '0,'.repeat(200_000) + '0]'));
      if (url === '/catalog/orders' && req.method === 'POST') return json(201, { order: { id: nextId++ }, status: 'created' });
      if (url.startsWith('/catalog/orders/')) return json(200, { id: Number(url.split('/').pop()), ownerId: 'whoever', status: 'open' });
      if (url === '/reports') return json(200, [{ id: 1, total: 5, margin: 1, secret: 's' }, { id: 2, total: 6, margin: 2 }]);
      return json(200, { url });
    });
    const authenticate = [{ jwt: 'corp' }];
    const roles = { customer: { permissions: ['orders:read', 'orders:write'] }, support: { inherits: ['customer'], permissions: ['orders:all'] }, finance: { inherits: ['customer'], permissions: ['reports:read'] } };
    gw = await startTestGateway({
      limits: { maxResponseBodySize: '64kb' },
      issuers: { corp: { issuer: ISSUER, audiences: [AUDIENCE], algorithms: ['ES256'], keys: [{ kid: 'k1', alg: 'ES256', jwk }], roles: { claim: 'roles' } } },
      roles,
      routes: [
        {
          id: 'order',
          match: { path: '/orders/{orderId}', methods: ['GET', 'HEAD'] },
          upstream: upstream.url,
          authenticate,
          authorize: {
            permissions: { GET: ['orders:read'] },
            object: { id: 'path.orderId', type: 'integer', owner: "response.body.ownerId == principal.sub || 'support' in principal.roles" },
            properties: { read: { customer: ['id', 'ownerId', 'total', 'status', 'items[].sku', 'items[].price'], support: ['margin', 'items[].cost'] } },
          },
        },
        {
          id: 'gzip-order',
          match: { path: '/gzip/orders/{orderId}', methods: ['GET'] },
          upstream: upstream.url,
          authenticate,
          authorize: { permissions: ['orders:read'], object: { id: 'path.orderId', type: 'integer', owner: 'response.body.ownerId == principal.sub' } },
        },
        {
          id: 'odd',
          match: { path: '/odd/orders/{orderId}', methods: ['GET'] },
          upstream: upstream.url,
          authenticate,
          authorize: { permissions: ['orders:read'], object: { id: 'path.orderId', type: 'integer', owner: 'response.body.ownerId == principal.sub' } },
        },
        {
          id: 'create',
          match: { path: '/catalog/orders', methods: ['POST'] },
          upstream: upstream.url,
          authenticate,
          authorize: { permissions: ['orders:write'], creates: { type: 'orders', from: 'body.order.id', idType: 'integer' } },
        },
        {
          id: 'catalog-order',
          match: { path: '/catalog/orders/{orderId}', methods: ['GET'] },
          upstream: upstream.url,
          authenticate,
          authorize: { permissions: ['orders:read'], object: { id: 'path.orderId', type: 'integer', lookup: { type: 'orders' } } },
        },
        {
          id: 'reports',
          match: { path: '/reports', methods: ['GET'] },
          upstream: upstream.url,
          authenticate,
          authorize: { permissions: ['orders:read'], properties: { read: { customer: ['[].id', '[].total'], finance: ['[].margin'] } } },
        },
      ],
    });
  });

  afterAll(async () => {
    await gw?.close();
    await upstream?.close();
  });

  it("BOLA on reads: another principal's object is refused with the same 404 as a missing one, and none of it leaks", async () => {
    const own = await send('GET', '/orders/7', 'alice', ['customer']);
    expect(own.status).toBe(200);
    expect(own.json().id).toBe(7);
    const other = await send('GET', '/orders/8', 'alice', ['customer']);
    const missing = await send('GET', '/orders/9', 'alice', ['customer']);
    expect(other.status).toBe(404);
    expect(other.headers.get('content-type')).toBe('application/problem+json');
    expect(other.text).not.toContain('bob');
    expect(withoutCorrelationIds(other.text)).not.toContain('99');
    // The upstream's own 404 passes unchanged, with the same status: the status tells nothing.
    expect(missing.status).toBe(404);
    const denial = gw.events.events.find((e) => e.type === 'authz.denied' && e.details?.objectId === '8');
    expect(denial?.details).toMatchObject({ subject: 'alice', check: 'owner', rule: 'authorize.object.owner' });
    // Support may read any order (the rule's second branch).
    expect((await send('GET', '/orders/8', 'sam', ['support'])).status).toBe(200);
  });

  it('ids in other encodings reach the same check (07, %37 → 7; 7.0 and [7] refused)', async () => {
    expect((await send('GET', '/orders/07', 'bob', ['customer'])).status).toBe(404);
    expect((await send('GET', '/orders/%38', 'bob', ['customer'])).status).toBe(200);
    expect((await send('GET', '/orders/7.0', 'alice', ['customer'])).status).toBe(404);
  });

  it('HEAD cannot be decided on an answer without a body, so it is refused', async () => {
    const res = await fetch(`${gw.url}/orders/7`, { method: 'HEAD', headers: { authorization: `Bearer ${await token('alice', ['customer'])}` } });
    expect(res.status).toBe(404);
  });

  it('read rules keep only what the roles may read (union over roles), nested and in arrays; the ETag turns weak', async () => {
    const customer = await send('GET', '/orders/7', 'alice', ['customer']);
    expect(customer.json()).toEqual({ id: 7, ownerId: 'alice', total: 42, status: 'open', items: [{ sku: 'a', price: 10 }] });
    expect(customer.headers.get('etag')).toBe('W/"v1"');
    expect(Number(customer.headers.get('content-length'))).toBe(Buffer.byteLength(customer.text));
    const support = await send('GET', '/orders/7', 'sam', ['support']);
    expect(support.json()).toEqual({ id: 7, ownerId: 'alice', total: 42, status: 'open', margin: 12.5, items: [{ sku: 'a', price: 10, cost: 4 }] });
    expect(support.text).not.toContain('internal');
  });

  it('read rules on a top-level array', async () => {
    expect((await send('GET', '/reports', 'alice', ['customer'])).json()).toEqual([{ id: 1, total: 5 }, { id: 2, total: 6 }]);
    expect((await send('GET', '/reports', 'fay', ['finance'])).json()).toEqual([{ id: 1, total: 5, margin: 1 }, { id: 2, total: 6, margin: 2 }]);
  });

  it('a compressed answer is decoded before the check (gzip and br), and the client gets it decoded', async () => {
    const own = await send('GET', '/gzip/orders/8', 'bob', ['customer']);
    expect(own.status).toBe(200);
    expect(own.headers.get('content-encoding')).toBeNull();
    expect(own.json().ownerId).toBe('bob');
    expect((await send('GET', '/gzip/orders/8', 'alice', ['customer'])).status).toBe(404);
    expect((await send('GET', '/gzip/orders/7', 'alice', ['customer'])).status).toBe(200);
    // The gateway asked the upstream for an unencoded answer.
    expect(upstream.seen.filter((s) => s.url.startsWith('/gzip/')).every((s) => s.headers['accept-encoding'] === 'identity')).toBe(true);
  });

  it('answers that cannot be inspected are refused, never passed on (fail closed), and the gateway keeps serving', async () => {
    const cases: Array<[string, number]> = [
      ['/odd/orders/1', 404], // HTML: ownership cannot be checked
      ['/odd/orders/2', 404], // duplicate keys: two parsers could disagree about the owner
      ['/odd/orders/3', 502], // an encoding the gateway cannot decode
      ['/odd/orders/4', 502], // larger than limits.maxResponseBodySize
      ['/odd/orders/5', 502], // a compression bomb beyond the limit once decoded
    ];
    for (const [path, status] of cases) {
      const res = await send('GET', path, 'alice', ['customer']);
      expect(res.status, path).toBe(status);
      expect(res.headers.get('content-type'), path).toBe('application/problem+json');
      expect(res.text, path).not.toContain('bob');
      expect(res.text, path).not.toContain('zzzz');
    }
    expect((await send('GET', '/orders/7', 'alice', ['customer'])).status).toBe(200);
  });

  it('creates: the id in the JSON answer is recorded as owned by the creator; others get 404 on it', async () => {
    const created = await send('POST', '/catalog/orders', 'carol', ['customer'], { item: 'x' });
    expect(created.status).toBe(201);
    const id = (created.json().order as { id: number }).id;
    expect((await send('GET', `/catalog/orders/${id}`, 'carol', ['customer'])).status).toBe(200);
    expect((await send('GET', `/catalog/orders/${id}`, 'dave', ['customer'])).status).toBe(404);
  });
});

describe('config check for response ownership rules', () => {
  it('refuses a response rule that would have to guard writes, naming the path', async () => {
    const { loadConfigObject } = await import('../src/config/load.ts');
    const result = loadConfigObject({
      mode: 'development',
      listen: { host: '127.0.0.1', port: 0 },
      admin: false,
      issuers: { corp: { issuer: ISSUER, audiences: [AUDIENCE], algorithms: ['ES256'], jwksUrl: 'https://idp.test/jwks' } },
      roles: { customer: { permissions: ['orders:read', 'orders:write'] } },
      routes: [
        {
          id: 'order',
          match: { path: '/orders/{orderId}', methods: ['GET', 'PATCH'] },
          upstream: 'http://127.0.0.1:1',
          authenticate: [{ jwt: 'corp' }],
          authorize: { permissions: { GET: ['orders:read'], PATCH: ['orders:write'] }, object: { id: 'path.orderId', owner: 'response.body.ownerId == principal.sub' } },
        },
      ],
    });
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.errors.join('\n')).toMatch(/routes\[0\]\.authorize\.object\.owner: reads response\.\*.*cannot protect PATCH/);
  });
});
