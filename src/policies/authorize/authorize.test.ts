/**
 * The authorize policy on a real node:http server: each request is canonicalised and routed like the gateway does,
 * its principal is set from a test header (what an authenticator would have done), and the policy's onRequest
 * decides. An allowed request answers 200 with the body a later reader would see (so stripping is visible);
 * a denied one answers the policy's problem exactly as the gateway would.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Ajv } from 'ajv';
import { pino } from 'pino';
import { canonicalizeRequestTarget } from '../../gateway/canonical-path.ts';
import { Router } from '../../gateway/router.ts';
import { readJson } from '../../gateway/body.ts';
import { sendProblem } from '../../gateway/respond.ts';
import { SharedResourcePool } from '../../gateway/runtime.ts';
import { RecordingSecurityEvents } from '../../observe/events.ts';
import { MemoryOwnershipStore } from '../../authz/object.ts';
import type { Outcome, PolicyHandlers, Principal, RequestContext, RouteInfo } from '../types.ts';
import { authorizePolicy, createAuthorizeHandlers, type AuthorizeConfig } from './index.ts';

const ROLES = {
  customer: { permissions: ['orders:read', 'orders:write'] },
  support: { inherits: ['customer'], permissions: ['users:read'] },
  admin: { inherits: ['support'], permissions: ['admin:users'] },
};

const ajv = new Ajv({ allErrors: true, useDefaults: true, strict: false, allowUnionTypes: true });
const validate = ajv.compile(authorizePolicy.schema);

/** Validates like the loader: inherited roles, schema with defaults, then check(); throws on any error. */
function configFor(raw: Record<string, unknown>, route: Partial<RouteInfo> = {}): AuthorizeConfig {
  const config = { ...authorizePolicy.inheritConfig!({ roles: ROLES }), ...structuredClone(raw) };
  if (!validate(config)) throw new Error(JSON.stringify(validate.errors));
  const issues = authorizePolicy.check!(config as unknown as AuthorizeConfig, 'authorize', { id: 'r', public: false, methods: undefined, tls: true, ...route });
  const errors = issues.filter((i) => i.severity !== 'warning');
  if (errors.length > 0) throw new Error(errors.map((i) => `${i.path}: ${i.message}`).join('; '));
  return config as unknown as AuthorizeConfig;
}

function issuesFor(raw: Record<string, unknown>, route: Partial<RouteInfo> = {}) {
  const config = { ...authorizePolicy.inheritConfig!({ roles: ROLES }), ...structuredClone(raw) };
  if (!validate(config)) return [{ path: 'schema', message: JSON.stringify(validate.errors) }];
  return authorizePolicy.check!(config as unknown as AuthorizeConfig, 'routes[3].authorize', { id: 'r', public: false, methods: undefined, tls: true, ...route });
}

interface TestRoute {
  readonly id: string;
  readonly path: string;
  readonly config: Record<string, unknown>;
}

const principalHeader = (p: Partial<Principal> & { subject: string }) =>
  Buffer.from(JSON.stringify({ kind: 'user', method: 'jwt', roles: [], ...p, permissions: p.permissions ? [...p.permissions] : undefined })).toString('base64url');

describe('authorize policy', () => {
  let server: Server;
  let base: string;
  let opaServer: Server;
  let opaBase: string;
  const opaInputs: unknown[] = [];
  const events = new RecordingSecurityEvents();
  const ownership = new MemoryOwnershipStore();
  let clock = Date.parse('2026-03-02T10:00:00Z');
  const handlers = new Map<string, PolicyHandlers>();
  let router: Router<TestRoute>;

  const routes: TestRoute[] = [
    { id: 'orders', path: '/orders', config: { permissions: { GET: ['orders:read'], POST: ['orders:write'] }, creates: { type: 'orders', idType: 'integer' } } },
    {
      id: 'order',
      path: '/orders/{orderId}',
      config: { permissions: { GET: ['orders:read'], PATCH: ['orders:write'], DELETE: ['orders:write'] }, object: { id: 'path.orderId', type: 'integer', lookup: { type: 'orders' } } },
    },
    { id: 'order-by-query', path: '/order', config: { permissions: ['orders:read'], object: { id: 'query.orderId', type: 'integer', lookup: { type: 'orders' } } } },
    { id: 'order-by-body', path: '/orders-lookup', config: { permissions: ['orders:read'], object: { id: 'body.order.id', type: 'integer', lookup: { type: 'orders' }, deny: 403 } } },
    { id: 'user-orders', path: '/users/{userId}/orders', config: { permissions: ['orders:read'], object: { id: 'path.userId', owner: "object.id == principal.sub || 'support' in principal.roles" } } },
    { id: 'any', path: '/any', config: { permissions: [] } },
    { id: 'office-hours', path: '/reports', config: { permissions: ['orders:read'], rule: 'now.getHours() >= 8 && now.getHours() < 18' } },
    { id: 'claims', path: '/claims', config: { permissions: [], rule: "principal.claims.department == 'sales'" } },
    { id: 'body-rule', path: '/body-rule', config: { permissions: [], rule: 'request.body.items.all(i, i.quantity < 100)' } },
    { id: 'tenant', path: '/tenants/{tenantId}/orders', config: { permissions: ['orders:read'], tenant: { from: ['path.tenantId', 'header.x-tenant-id', 'query.tenant', 'body.tenant'] } } },
    {
      id: 'profile',
      path: '/profile',
      config: { permissions: ['orders:write'], properties: { write: { customer: ['name', 'address.city', 'items[].sku', 'items[].quantity'], admin: ['role'] } } },
    },
    {
      id: 'profile-strip',
      path: '/profile-strip',
      config: { permissions: ['orders:write'], properties: { write: { customer: ['name', 'items[].sku'] }, onWriteViolation: 'strip' } },
    },
    { id: 'admin', path: '/admin/users', config: { permissions: { GET: ['admin:users'], DELETE: ['admin:users'] } } },
    { id: 'small-body', path: '/small', config: { permissions: [], rule: "request.body.a == 'b'", maxBodySize: 64 } },
  ];

  beforeAll(async () => {
    opaServer = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const { input } = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { input: { principal: { roles: string[] }; request: { method: string } } };
        opaInputs.push(input);
        const allow = input.principal.roles.includes('support') && input.request.method === 'GET';
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ result: { allow } }));
      });
    });
    await new Promise<void>((resolve) => opaServer.listen(0, '127.0.0.1', resolve));
    opaBase = `http://127.0.0.1:${(opaServer.address() as AddressInfo).port}`;
    routes.push({ id: 'opa', path: '/opa/{orderId}', config: { permissions: [], object: { id: 'path.orderId', owner: 'true' }, opa: { url: opaBase, path: 'rampart/orders/allow', headers: ['x-channel', 'user-agent'] } } });

    router = new Router(routes.map((r) => ({ id: r.id, path: r.path, value: r })));
    const logger = pino({ level: 'silent' });
    for (const route of routes) {
      const deps = { logger, events, routeId: route.id, development: false, shared: new SharedResourcePool() };
      handlers.set(route.id, createAuthorizeHandlers(configFor(route.config), deps, { ownership, now: () => clock }));
    }

    server = createServer((req, res) => {
      const target = canonicalizeRequestTarget(req.url ?? '/');
      if (!target.ok) {
        sendProblem(res, 'RAMPART_ERR_AMBIGUOUS_PATH', 't');
        return;
      }
      const match = router.match(req.method ?? 'GET', undefined, target.path);
      if (match.kind !== 'found') {
        res.writeHead(599).end();
        return;
      }
      const header = req.headers['x-test-principal'];
      let principal: Principal | undefined;
      if (typeof header === 'string') {
        const p = JSON.parse(Buffer.from(header, 'base64url').toString('utf8')) as Principal & { permissions?: string[] };
        principal = Object.freeze({ ...p, permissions: p.permissions === undefined ? undefined : new Set(p.permissions) });
      }
      const ctx: RequestContext = {
        req,
        requestId: 'req-1',
        method: req.method ?? 'GET',
        path: target.path,
        query: target.query,
        clientAddress: '127.0.0.1',
        secure: true,
        routeId: match.value.id,
        params: match.params,
        principal,
        responseHeaders: [],
        locals: {},
      };
      const policy = handlers.get(match.value.id)!;
      const finish = async (outcome: Outcome, synchronous: boolean) => {
        if (outcome !== undefined && typeof outcome === 'object' && outcome.kind === 'problem') {
          sendProblem(res, outcome.code, ctx.requestId);
          return;
        }
        // What a later reader (validation, the proxy) would read: the stripped body when properties were stripped.
        const hasBody = req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0';
        const body = hasBody ? await readJson(ctx, 1 << 20).catch((e: Error) => `unreadable: ${e.message}`) : null;
        const upstream = { status: req.headers['x-test-upstream-status'] ? Number(req.headers['x-test-upstream-status']) : 200, headers: { location: req.headers['x-test-location'] as string | undefined } };
        policy.onResponse?.(ctx, upstream);
        res.writeHead(upstream.status, { 'content-type': 'application/json', 'x-synchronous': String(synchronous) }).end(JSON.stringify({ allowed: true, body }));
      };
      const outcome = policy.onRequest!(ctx);
      if (outcome instanceof Promise) void outcome.then((o) => finish(o, false));
      else void finish(outcome, true);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    for (const h of handlers.values()) await h.close?.();
    server?.closeAllConnections();
    opaServer?.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await new Promise<void>((resolve) => opaServer.close(() => resolve()));
  });

  const alice = { subject: 'alice', roles: ['customer'], tenant: 'acme' };
  const bob = { subject: 'bob', roles: ['customer'], tenant: 'acme' };
  const carol = { subject: 'carol', roles: ['support'], tenant: 'acme' };
  const root = { subject: 'root', roles: ['admin'], tenant: 'acme' };

  async function call(
    method: string,
    path: string,
    who: (Partial<Principal> & { subject: string }) | undefined,
    init: { body?: string; headers?: Record<string, string> } = {},
  ): Promise<{ status: number; json: Record<string, unknown>; synchronous: string | null; text: string }> {
    const headers: Record<string, string> = { ...init.headers };
    if (who) headers['x-test-principal'] = principalHeader(who);
    if (init.body !== undefined) headers['content-type'] ??= 'application/json';
    const res = await fetch(`${base}${path}`, { method, headers, body: init.body });
    const text = await res.text();
    return { status: res.status, json: text ? (JSON.parse(text) as Record<string, unknown>) : {}, synchronous: res.headers.get('x-synchronous'), text };
  }

  describe('RBAC and BFLA', () => {
    it('requires the method\'s permissions; HEAD uses GET\'s; an unlisted method is denied', async () => {
      ownership.record('orders', '1', { owner: 'alice', tenant: 'acme' });
      expect((await call('GET', '/orders', alice)).status).toBe(200);
      expect((await call('HEAD', '/orders', alice)).status).toBe(200);
      expect((await call('POST', '/orders', { ...alice, roles: [] })).status).toBe(403);
      expect((await call('PUT', '/orders', root)).status).toBe(403);
    });

    it('denies every admin function to every non-admin role, and answers 403 with the catalogue only', async () => {
      for (const who of [alice, carol, { subject: 'x', roles: [] }, { subject: 'y', roles: ['Admin', 'admin '] }]) {
        for (const method of ['GET', 'DELETE']) {
          const res = await call(method, '/admin/users', who);
          expect(res.status).toBe(403);
          expect(Object.keys(res.json).sort()).toEqual(['code', 'correlationId', 'status', 'title', 'type']);
          expect(res.json.code).toBe('RAMPART_ERR_FORBIDDEN');
          expect(res.text).not.toContain('admin:users');
        }
      }
      expect((await call('GET', '/admin/users', root)).status).toBe(200);
    });

    it('scopes narrow: an admin token scoped to orders:read cannot reach admin functions', async () => {
      const scoped = { ...root, permissions: new Set(['orders:read']), claims: { scope: 'orders:read' } };
      expect((await call('GET', '/admin/users', scoped)).status).toBe(403);
      expect((await call('GET', '/orders', scoped)).status).toBe(200);
      expect((await call('POST', '/orders', scoped)).status).toBe(403);
    });

    it('permissions: [] lets any authenticated principal through, but never an anonymous request', async () => {
      expect((await call('GET', '/any', { subject: 'nobody', roles: [] })).status).toBe(200);
      expect((await call('GET', '/any', undefined)).status).toBe(403);
    });

    it('decides RBAC plus a request-only rule synchronously (no Promise on the hot path)', async () => {
      expect((await call('GET', '/reports', alice)).synchronous).toBe('true');
    });
  });

  describe('CEL rules', () => {
    it('time windows use the injected clock', async () => {
      clock = Date.parse('2026-03-02T10:00:00Z');
      expect((await call('GET', '/reports', alice)).status).toBe(200);
      clock = Date.parse('2026-03-02T22:00:00Z');
      expect((await call('GET', '/reports', alice)).status).toBe(403);
      clock = Date.parse('2026-03-02T10:00:00Z');
    });

    it('a rule over a missing claim denies and records the rule path, not its text, in the audit event', async () => {
      expect((await call('GET', '/claims', { ...alice, claims: { department: 'sales' } })).status).toBe(200);
      const before = events.events.length;
      const res = await call('GET', '/claims', { ...alice, claims: {} });
      expect(res.status).toBe(403);
      expect(res.text).not.toContain('department');
      const event = events.events.slice(before).find((e) => e.type === 'authz.denied')!;
      expect(event).toMatchObject({ type: 'authz.denied', severity: 'medium', routeId: 'claims', details: { subject: 'alice', route: 'claims', check: 'rule', rule: 'authorize.rule', objectId: null } });
      expect(JSON.stringify(event)).not.toContain("principal.claims.department == 'sales'");
    });

    it('a rule over the body: bounded input, missing fields deny', async () => {
      expect((await call('POST', '/body-rule', alice, { body: JSON.stringify({ items: [{ quantity: 1 }] }) })).status).toBe(200);
      expect((await call('POST', '/body-rule', alice, { body: JSON.stringify({ items: [{ quantity: 500 }] }) })).status).toBe(403);
      expect((await call('POST', '/body-rule', alice, { body: JSON.stringify({ things: [] }) })).status).toBe(403);
      expect((await call('POST', '/body-rule', alice)).status).toBe(403);
      const huge = JSON.stringify({ items: Array.from({ length: 300 }, () => ({ quantity: 1 })) });
      expect((await call('POST', '/body-rule', alice, { body: huge })).status).toBe(403);
    });
  });

  describe('hostile bodies cannot change a decision', () => {
    const hostile: Array<[string, string, number]> = [
      ['__proto__ key', '{"__proto__":{"items":[]},"items":[{"quantity":1}]}', 400],
      ['escaped __proto__ key', '{"__pro\\u0074o__":{},"items":[{"quantity":1}]}', 400],
      ['constructor key', '{"constructor":{"prototype":{"x":1}},"items":[]}', 400],
      ['duplicate keys (last one would win in JSON.parse)', '{"items":[{"quantity":500}],"items":[{"quantity":1}]}', 400],
      ['deep nesting', `{"items":[{"quantity":1}],"x":${'['.repeat(40)}${']'.repeat(40)}}`, 400],
      ['not JSON', '{"items": [', 400],
    ];
    for (const [name, body, status] of hostile) {
      it(name, async () => {
        expect((await call('POST', '/body-rule', alice, { body })).status).toBe(status);
      });
    }

    it('a body that is not JSON by media type is refused (415), a body over the limit with 413', async () => {
      expect((await call('POST', '/body-rule', alice, { body: '{"items":[]}', headers: { 'content-type': 'text/plain' } })).status).toBe(415);
      expect((await call('POST', '/small', alice, { body: JSON.stringify({ a: 'b', pad: 'x'.repeat(100) }) })).status).toBe(413);
      expect((await call('POST', '/small', alice, { body: JSON.stringify({ a: 'b' }) })).status).toBe(200);
    });
  });

  describe('object-level authorization (BOLA)', () => {
    it('records the creator from Location on 201 and lets only them at the object, in path, query and body', async () => {
      const created = await call('POST', '/orders', alice, { headers: { 'x-test-upstream-status': '201', 'x-test-location': '/orders/42' } });
      expect(created.status).toBe(201);
      expect(ownership.owner('orders', '42')).toEqual({ owner: 'alice', tenant: 'acme' });
      // A failed create records nothing.
      await call('POST', '/orders', bob, { headers: { 'x-test-upstream-status': '409', 'x-test-location': '/orders/43' } });
      expect(ownership.owner('orders', '43')).toBeUndefined();

      for (const method of ['GET', 'PATCH', 'DELETE']) {
        expect((await call(method, '/orders/42', alice)).status).toBe(200);
        expect((await call(method, '/orders/42', bob)).status).toBe(404);
      }
      expect((await call('GET', '/order?orderId=42', alice)).status).toBe(200);
      expect((await call('GET', '/order?orderId=42', bob)).status).toBe(404);
      expect((await call('POST', '/orders-lookup', alice, { body: '{"order":{"id":42}}' })).status).toBe(200);
      expect((await call('POST', '/orders-lookup', bob, { body: '{"order":{"id":42}}' })).status).toBe(403);
    });

    it('the same answer for someone else\'s object and for one that does not exist', async () => {
      const foreign = await call('GET', '/orders/42', bob);
      const missing = await call('GET', '/orders/999999', bob);
      expect(foreign.status).toBe(missing.status);
      expect({ ...foreign.json, correlationId: '' }).toEqual({ ...missing.json, correlationId: '' });
    });

    it('other encodings of someone else\'s id cannot bypass the check', async () => {
      ownership.record('orders', '7', { owner: 'alice', tenant: 'acme' });
      for (const path of ['/orders/7', '/orders/07', '/orders/%37', '/orders/7.0', '/orders/+7', '/orders/7%20', '/orders/0x7']) {
        expect((await call('GET', path, bob)).status, path).toBe(404);
      }
      for (const query of ['orderId=7', 'orderId=%37', 'orderId=07', 'orderId=8&orderId=7', 'orderId[]=7', 'orderId=7&orderId[]=7']) {
        expect((await call('GET', `/order?${query}`, bob)).status, query).toBe(404);
      }
      for (const body of ['{"order":{"id":7}}', '{"order":{"id":"7"}}', '{"order":{"id":[7]}}', '{"order":{"id":{"$eq":7}}}', '{"order":{"id":7.0}}', '{"order":{"id":"07"}}']) {
        expect((await call('POST', '/orders-lookup', bob, { body })).status, body).toBe(403);
      }
      // And the owner is not locked out by the canonical spelling.
      expect((await call('GET', '/orders/%37', alice)).status).toBe(200);
      expect((await call('POST', '/orders-lookup', alice, { body: '{"order":{"id":7.0}}' })).status).toBe(200);
      expect((await call('GET', '/orders/07', alice)).status).toBe(404);
    });

    it('ownership by a rule on the request: own path, or support', async () => {
      expect((await call('GET', '/users/alice/orders', alice)).status).toBe(200);
      expect((await call('GET', '/users/bob/orders', alice)).status).toBe(404);
      expect((await call('GET', '/users/Alice/orders', alice)).status).toBe(404);
      expect((await call('GET', '/users/bob/orders', carol)).status).toBe(200);
      const before = events.events.length;
      await call('GET', '/users/bob/orders', alice);
      expect(events.events.slice(before)[0]).toMatchObject({ details: { subject: 'alice', objectId: 'bob', check: 'owner', rule: 'authorize.object.owner' } });
    });
  });

  describe('tenancy', () => {
    it('allows the principal\'s own tenant wherever it is named', async () => {
      expect((await call('GET', '/tenants/acme/orders', alice, { headers: { 'x-tenant-id': 'acme' } })).status).toBe(200);
      expect((await call('POST', '/tenants/acme/orders?tenant=acme', alice, { body: '{"tenant":"acme"}' })).status).toBe(200);
    });

    it('refuses a tenant crossing in path, header, query or body, and ambiguity', async () => {
      expect((await call('GET', '/tenants/globex/orders', alice)).status).toBe(404);
      expect((await call('GET', '/tenants/acme/orders', alice, { headers: { 'x-tenant-id': 'globex' } })).status).toBe(404);
      expect((await call('GET', '/tenants/acme/orders?tenant=globex', alice)).status).toBe(404);
      expect((await call('GET', '/tenants/acme/orders?tenant=acme&tenant=globex', alice)).status).toBe(404);
      expect((await call('POST', '/tenants/acme/orders', alice, { body: '{"tenant":"globex"}' })).status).toBe(404);
      expect((await call('POST', '/tenants/acme/orders', alice, { body: '{"tenant":["acme"]}' })).status).toBe(404);
      expect((await call('GET', '/tenants/ACME/orders', alice)).status).toBe(404);
      expect((await call('GET', '/tenants/acme/orders', { ...alice, tenant: undefined })).status).toBe(404);
      const res = await fetch(`${base}/tenants/acme/orders`, { headers: [['x-test-principal', principalHeader(alice)], ['x-tenant-id', 'acme'], ['x-tenant-id', 'globex']] });
      expect(res.status).toBe(404);
    });
  });

  describe('property-level authorization (mass assignment)', () => {
    it('rejects role, isAdmin and items[].price for a customer', async () => {
      for (const body of ['{"name":"a","role":"admin"}', '{"isAdmin":true}', '{"items":[{"sku":"a","price":0}]}', '{"address":{"city":"x","verified":true}}']) {
        const res = await call('PATCH', '/profile', alice, { body });
        expect(res.status, body).toBe(403);
        expect(res.text).not.toContain('role');
      }
      expect((await call('PATCH', '/profile', alice, { body: '{"name":"a","items":[{"sku":"a","quantity":2}],"address":{"city":"x"}}' })).status).toBe(200);
    });

    it('the union over roles: an admin (inheriting customer) may write role', async () => {
      expect((await call('PATCH', '/profile', root, { body: '{"name":"a","role":"support"}' })).status).toBe(200);
    });

    it('strips instead, and a later reader sees only the stripped body', async () => {
      const res = await call('PATCH', '/profile-strip', alice, { body: '{"name":"a","role":"admin","isAdmin":true,"items":[{"sku":"s","price":0}]}' });
      expect(res.status).toBe(200);
      expect(res.json.body).toEqual({ name: 'a', items: [{ sku: 's' }] });
    });
  });

  describe('OPA', () => {
    it('sends the documented input without credentials, and follows the decision', async () => {
      const allowed = await call('GET', '/opa/9?view=full', carol, { headers: { authorization: 'Bearer secret', 'x-channel': 'web', cookie: 'sid=1' } });
      expect(allowed.status).toBe(200);
      expect(opaInputs.at(-1)).toEqual({
        principal: { subject: 'carol', kind: 'user', method: 'jwt', roles: ['customer', 'support'], permissions: ['orders:read', 'orders:write', 'users:read'], tenant: 'acme', mfa: false },
        request: { method: 'GET', path: '/opa/9', params: { orderId: '9' }, query: { view: 'full' }, headers: { 'x-channel': 'web', 'user-agent': expect.any(String) } },
        route: 'opa',
        object: { id: '9' },
      });
      expect(JSON.stringify(opaInputs.at(-1))).not.toContain('secret');
      expect((await call('DELETE', '/opa/9', carol)).status).toBe(403);
      expect((await call('GET', '/opa/9', alice)).status).toBe(403);
    });
  });

  describe('config check', () => {
    const messages = (issues: Array<{ path: string; message: string; severity?: string }>) => issues.map((i) => `${i.severity === 'warning' ? 'warning ' : ''}${i.path}: ${i.message}`);

    it('names the exact path of a bad rule', () => {
      expect(messages(issuesFor({ permissions: [], rule: 'request.params.id == ' }))).toEqual(['routes[3].authorize.rule: syntax error: Unexpected token: EOF']);
      expect(messages(issuesFor({ permissions: [], object: { id: 'path.id', owner: 'object.idd == principal.sub' } }))).toEqual([
        'routes[3].authorize.object.owner: object has no field "idd" (fields: id)',
      ]);
    });

    it('accepts response-side checks on reads, and refuses a response ownership rule that would have to guard writes', () => {
      const ok = messages(
        issuesFor({
          permissions: [],
          object: { id: 'path.orderId', owner: 'response.body.customerId == principal.sub' },
          properties: { read: { customer: ['id'] } },
          creates: { type: 'orders', from: 'body.id' },
        }),
      );
      // issuesFor's route accepts any method: a response rule cannot protect writes.
      expect(ok).toHaveLength(1);
      expect(ok[0]).toMatch(/^routes\[3\]\.authorize\.object\.owner: reads response\.\*, which is known only after the upstream acted, so it cannot protect \*/);
      expect(messages(issuesFor({ permissions: { GET: [] }, object: { id: 'path.orderId', owner: 'response.body.customerId == principal.sub' } }))).toEqual([]);
      expect(
        messages(issuesFor({ permissions: { GET: [], PATCH: [] }, object: { id: 'path.orderId', owner: 'response.body.customerId == principal.sub', lookup: { type: 'orders' } } })),
      ).toEqual([]);
      expect(messages(issuesFor({ permissions: [], creates: { type: 'orders', from: 'body.__proto__.id' } }))).toEqual([
        'routes[3].authorize.creates.from: body.PATH must name properties (no empty or prototype segments)',
      ]);
    });

    it('requires a way to decide ownership, valid property paths, and no credentials to OPA', () => {
      expect(messages(issuesFor({ permissions: [], object: { id: 'path.orderId' } }))).toEqual([
        'routes[3].authorize.object: says where the id is but not how ownership is decided: add owner (a rule) or lookup',
      ]);
      expect(messages(issuesFor({ permissions: [], properties: { write: { customer: ['items[0].price'], ghost: ['x'] } } }))).toEqual([
        'routes[3].authorize.properties.write.customer[0]: segment "items[0]" is not NAME or NAME[] (letters, digits, _ $ @ -)',
        'warning routes[3].authorize.properties.write.ghost: no role named "ghost" in roles',
      ]);
      expect(messages(issuesFor({ permissions: [], opa: { url: 'http://opa.internal:8181', path: 'a/b', headers: ['authorization'] } }))).toEqual([
        'routes[3].authorize.opa.url: must use https (plain http is only accepted for a loopback host); keys or token answers over http can be forged in transit',
        'routes[3].authorize.opa.headers[0]: "authorization" carries credentials and is never sent to OPA',
      ]);
    });

    it('BFLA: an admin route must require an admin permission on every method', () => {
      const admin = { sensitivity: 'admin' } as Partial<RouteInfo>;
      expect(messages(issuesFor({ permissions: { GET: ['admin:users'], DELETE: ['users:read'] } }, admin))).toEqual([
        'routes[3].authorize.permissions.DELETE: this route has sensitivity: admin; every method must require an admin:* permission',
      ]);
      expect(messages(issuesFor({ permissions: [] }, admin))).toEqual([
        'routes[3].authorize.permissions: this route has sensitivity: admin; every method must require an admin:* permission',
      ]);
      expect(issuesFor({ permissions: ['admin:users'] }, admin)).toEqual([]);
    });

    it('refuses authorize on a public route and warns about uncovered methods', () => {
      expect(messages(issuesFor({ permissions: [] }, { public: true }))).toEqual([
        'routes[3].authorize: authorize needs an authenticated principal; this route is public: true (every request would be denied)',
      ]);
      expect(messages(issuesFor({ permissions: { GET: ['orders:read'], PUT: ['orders:write'] } }, { methods: ['GET', 'DELETE'] }))).toEqual([
        'warning routes[3].authorize.permissions: no permissions for DELETE: those methods are always denied',
        'warning routes[3].authorize.permissions.PUT: the route does not accept PUT',
      ]);
    });

    it('schema: unknown keys, bad permissions and bad deny statuses are refused', () => {
      for (const bad of [{ permissions: [], extra: 1 }, { permissions: ['orders'] }, { permissions: [], object: { id: 'path.x', owner: 'true', deny: 401 } }, { permissions: { get: ['a:b'] } }, {}]) {
        const config = { roles: {}, ...bad };
        expect(validate(config), JSON.stringify(bad)).toBe(false);
      }
    });
  });
});
