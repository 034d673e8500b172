/**
 * What the merged documentation is made of, from a loaded config (src/docs/publish.ts): the contracts of every route,
 * or of one API (`scope: api`), each operation only where the gateway's router sends it to that contract.
 */
import { describe, expect, it } from 'vitest';
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfigObject, type GatewayConfig } from '../src/config/load.ts';
import { cachedMerged, prewarmMerged, publishMerged, type Publication } from '../src/docs/publish.ts';
import { danglingReferences, expectLoads } from './docs-support.ts';

const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/docs/${name}`, import.meta.url));
const SPEC = fixture('orders.yaml');
const ORDERS_V2 = fixture('orders-v2.json');
const PAYMENTS = fixture('payments.yaml');
const LEGACY = fixture('legacy.yaml');
const upstream = 'http://127.0.0.1:1';
const base = { mode: 'development', listen: { host: '127.0.0.1', port: 0 }, admin: false, roles: { developer: { permissions: ['docs:read'] } } };
const authenticate = ['api-key'];

function load(document: Record<string, unknown>): GatewayConfig {
  const result = loadConfigObject({ ...base, ...document });
  if (!result.ok) throw new Error(result.errors.join('\n'));
  return result.config;
}

async function published(config: GatewayConfig, routeId: string): Promise<Extract<Publication, { ok: true }>> {
  const route = config.routes.find((r) => r.id === routeId)!;
  const publication = await publishMerged(config, route);
  if (!publication.ok) throw new Error(publication.error);
  return publication;
}

function operations(document: Record<string, unknown>): string[] {
  return Object.entries(document.paths as Record<string, Record<string, unknown>>)
    .flatMap(([path, item]) => Object.keys(item).filter((k) => k !== 'summary' && k !== 'description').map((m) => `${m.toUpperCase()} ${path}`))
    .sort();
}

/** The orders API with v1 (orders.yaml) and v2 (orders-v2.json) told apart by a header; `extra` adds to or overrides it. */
function headerVersionedOrders(versioning: Record<string, unknown>, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    id: 'orders',
    upstream,
    openapi: SPEC,
    defaults: { authenticate },
    versioning: { by: 'header', ...versioning },
    versions: [{ version: 'v1' }, { version: 'v2', openapi: ORDERS_V2 }],
    docs: { path: '/docs/orders' },
    ...extra,
  };
}

describe('the merged document from the config', () => {
  it('scope: api takes the versions of one API only', async () => {
    const config = load({
      apis: [
        { id: 'orders', upstream, openapi: SPEC, defaults: { authenticate }, versions: [{ version: 'v1' }, { version: 'v2', openapi: ORDERS_V2 }], docs: { path: '/docs/orders', scope: 'api' } },
        { id: 'payments', upstream, openapi: PAYMENTS, defaults: { authenticate } },
      ],
    });
    expect(config.routes.find((r) => r.id === 'orders.docs')!.docs!.merge).toEqual({ scope: 'api', api: 'orders' });
    const { document } = await published(config, 'orders.docs');
    expect(operations(document)).toEqual(['GET /v1/orders', 'GET /v1/orders/{id}', 'GET /v2/orders', 'GET /v2/orders/{id}', 'POST /v1/orders', 'POST /v2/orders']);
    // Only the two orders documents clash now.
    expect(Object.keys((document.components as { schemas: object }).schemas).sort()).toEqual(['LedgerEntry', 'orders.v1.Order', 'orders.v2.Order']);
    await expectLoads(document);
  });

  it('an operation a more specific route without that contract takes is not documented; nor one no route reaches', async () => {
    const config = load({
      apis: [{ id: 'payments', upstream, openapi: PAYMENTS, defaults: { authenticate }, docs: { path: '/docs/all' } }],
      routes: [
        { id: 'legacy', match: { path: '/legacy/**', methods: ['GET'] }, upstream, authenticate, contract: { openapi: LEGACY, stripPrefix: '/legacy' } },
        // Takes GET /legacy/status away from the contract route.
        { id: 'status', match: { path: '/legacy/status', methods: ['GET'] }, upstream, public: true },
        // POST is not routed at all: /legacy/** is GET only.
      ],
    });
    const { document } = await published(config, 'payments.docs');
    expect(operations(document)).toEqual(['GET /payments', 'GET /payments/{paymentId}']);
    expect(JSON.stringify(document)).not.toContain('/legacy');
    expect(danglingReferences(document)).toEqual([]);
    await expectLoads(document);
  });

  it('versions selected by a header share their paths: the first version documents them, the others are listed as omitted', async () => {
    const config = load({ apis: [headerVersionedOrders({ default: 'v1' })] });
    const { document, omitted } = await published(config, 'orders.docs');
    expect(operations(document)).toEqual(['GET /orders', 'GET /orders/{id}', 'POST /orders']);
    expect((document.paths as Record<string, Record<string, { summary?: string }>>)['/orders']!.get!.summary).toBe('List orders');
    expect(omitted).toEqual(['GET /orders (orders.v2; orders.v1 documents it)', 'POST /orders (orders.v2; orders.v1 documents it)', 'GET /orders/{id} (orders.v2; orders.v1 documents it)']);
    await expectLoads(document);
  });

  it('header-selected versions: the default version documents the shared paths, and each version has a document of its own', async () => {
    const config = load({
      apis: [
        // Requests naming no version get v2: the main document must show v2, not the first version written.
        headerVersionedOrders({ header: 'Api-Version', default: 'v2' }),
        { id: 'payments', upstream, openapi: PAYMENTS, defaults: { authenticate } },
      ],
    });
    const summaries = (document: Record<string, unknown>) => {
      const paths = document.paths as Record<string, Record<string, { summary?: string }>>;
      return [paths['/orders']!.get!.summary, paths['/orders']!.post!.summary];
    };
    const main = await published(config, 'orders.docs');
    expect(summaries(main.document)).toEqual(['List orders (v2)', 'Create an order (v2)']);
    expect(main.versions).toEqual([
      { api: 'orders', version: 'v1', selection: 'header', header: 'api-version', isDefault: false },
      { api: 'orders', version: 'v2', selection: 'header', header: 'api-version', isDefault: true },
    ]);
    expect(main.omitted).toEqual(expect.arrayContaining(['GET /orders (orders.v1; orders.v2 documents it)']));
    const v1 = await publishMerged(config, config.routes.find((r) => r.id === 'orders.docs')!, 'v1');
    if (!v1.ok) throw new Error(v1.error);
    expect(summaries(v1.document)).toEqual(['List orders', 'Create an order']);
    // Other APIs are the same in every version's document.
    expect(operations(v1.document).filter((o) => o.includes('payments'))).toEqual(operations(main.document).filter((o) => o.includes('payments')));
    await expectLoads(v1.document);
    await expectLoads(main.document);
    // Cached per version; an unknown version is an error, not the default in disguise.
    expect(await publishMerged(config, config.routes.find((r) => r.id === 'orders.docs')!, 'v1')).toBe(v1);
    const unknown = await publishMerged(config, config.routes.find((r) => r.id === 'orders.docs')!, 'v9');
    expect(unknown).toEqual({ ok: false, error: 'no header- or media-type-selected version "v9"' });
  });

  it('path-selected versions are all in the one document: no version documents to choose', async () => {
    const config = load({
      apis: [{ id: 'orders', upstream, openapi: SPEC, defaults: { authenticate }, versions: [{ version: 'v1' }, { version: 'v2', openapi: ORDERS_V2 }], docs: { path: '/docs/orders' } }],
    });
    const main = await published(config, 'orders.docs');
    expect(main.versions).toEqual([]);
    expect(main.omitted).toEqual([]);
  });

  it('is cached while the config and the files stay the same, and rebuilt when a file changes', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rampart-docs-merge-'));
    const spec = join(dir, 'payments.yaml');
    copyFileSync(PAYMENTS, spec);
    const config = load({ apis: [{ id: 'payments', upstream, openapi: spec, defaults: { authenticate }, docs: { path: '/docs/all' } }] });
    const first = await published(config, 'payments.docs');
    expect(await published(config, 'payments.docs')).toBe(first);
    writeFileSync(spec, readFileSync(spec, 'utf8').replace('summary: List payments', 'summary: All the payments'));
    const second = await published(config, 'payments.docs');
    expect(second).not.toBe(first);
    expect(second.json).toContain('All the payments');
  });

  it('a hand-written docs route asks for the merged document with merge: gateway or merge: { api }', async () => {
    const docsRoute = (id: string, docs: Record<string, unknown>) => ({
      id,
      match: { path: `/docs/${id}/**`, methods: ['GET'] },
      upstream: 'rampart:docs',
      docs,
      authenticate,
      authorize: { permissions: ['docs:read'] },
    });
    const config = load({
      apis: [{ id: 'payments', upstream, openapi: PAYMENTS, defaults: { authenticate } }],
      routes: [
        { id: 'legacy', match: { path: '/legacy/**', methods: ['GET'] }, upstream, authenticate, contract: { openapi: LEGACY, stripPrefix: '/legacy' } },
        docsRoute('all', { merge: 'gateway', title: 'All of it' }),
        docsRoute('headed', { merge: 'gateway', openapi: SPEC }),
        docsRoute('pay', { merge: { api: 'payments' } }),
      ],
    });
    expect(config.routes.find((r) => r.id === 'all')!.docs).toMatchObject({ merge: { scope: 'gateway' }, openapi: undefined, title: 'All of it' });
    const all = await published(config, 'all');
    expect(operations(all.document)).toEqual(['GET /legacy/status', 'GET /payments', 'GET /payments/{paymentId}']);
    expect(all.document.info).toEqual({ title: 'All of it', version: '1' });
    await expectLoads(all.document);
    // An openapi beside merge only heads the merged document (its info), it adds no operation.
    const headed = await published(config, 'headed');
    expect(operations(headed.document)).toEqual(operations(all.document));
    expect((headed.document.info as { title: string }).title).toBe((await import('yaml')).parse(readFileSync(SPEC, 'utf8')).info.title);
    const pay = await published(config, 'pay');
    expect(operations(pay.document)).toEqual(['GET /payments', 'GET /payments/{paymentId}']);
  });

  it('refuses a docs route naming neither a document nor merge, an unknown merge scope and an unknown API', () => {
    const refused = (docs: unknown, apis: unknown[] = []) => {
      const result = loadConfigObject({
        ...base,
        apis,
        routes: [{ id: 'd', match: { path: '/docs/**', methods: ['GET'] }, upstream: 'rampart:docs', docs, authenticate, authorize: { permissions: ['docs:read'] } }],
      });
      expect(result.ok, JSON.stringify(docs)).toBe(false);
      return result.ok ? '' : result.errors.join('\n');
    };
    expect(refused({})).toMatch(/routes\[0\]\.docs/);
    expect(refused({ title: 'x' })).toMatch(/routes\[0\]\.docs/);
    expect(refused({ merge: 'everything' })).toMatch(/routes\[0\]\.docs\.merge/);
    expect(refused({ merge: { api: 'payments', extra: 1 } })).toMatch(/routes\[0\]\.docs\.merge/);
    expect(refused({ merge: { api: 'nope' } }, [{ id: 'payments', upstream, openapi: PAYMENTS, defaults: { authenticate } }])).toContain(
      'routes[0].docs.merge.api: no API with id "nope" (known: payments)',
    );
    expect(refused({ merge: { api: 'nope' } })).toContain('no API with id "nope" (the config has no apis:)');
  });

  it('prewarmMerged builds every docs route and selectable version now, and names what does not build', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rampart-docs-merge-'));
    const spec = join(dir, 'payments.yaml');
    copyFileSync(PAYMENTS, spec);
    const config = load({
      apis: [
        headerVersionedOrders({ default: 'v1' }, { docs: { path: '/docs/orders', scope: 'api' } }),
        { id: 'payments', upstream, openapi: spec, defaults: { authenticate }, docs: { path: '/docs/payments', scope: 'api' } },
      ],
    });
    expect(await prewarmMerged(config)).toEqual({ built: 4, failed: [] });
    for (const [route, version] of [['orders.docs', undefined], ['orders.docs', 'v1'], ['orders.docs', 'v2'], ['payments.docs', undefined]] as const) {
      expect(cachedMerged(config, route, version)?.ok, `${route} ${String(version)}`).toBe(true);
    }
    // The same config after payments' document broke (a reload would see it): named, the others still built.
    const again = load({ apis: [{ id: 'payments', upstream, openapi: spec, defaults: { authenticate }, docs: { path: '/docs/payments', scope: 'api' } }] });
    writeFileSync(spec, 'openapi: 3.0.3\npaths: [');
    const outcome = await prewarmMerged(again);
    expect(outcome.built).toBe(1);
    expect(outcome.failed.map((f) => f.routeId)).toEqual(['payments.docs']);
    expect(outcome.failed[0]!.error).toContain('payments.yaml');
  });

  it('a file that no longer loads is an error, not a partial document', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rampart-docs-merge-'));
    const spec = join(dir, 'payments.yaml');
    copyFileSync(PAYMENTS, spec);
    const config = load({ apis: [{ id: 'payments', upstream, openapi: spec, defaults: { authenticate }, docs: { path: '/docs/all' } }] });
    writeFileSync(spec, 'openapi: 3.0.3\npaths: [');
    const publication = await publishMerged(config, config.routes.find((r) => r.id === 'payments.docs')!);
    expect(publication.ok).toBe(false);
  });
});
