/**
 * Protected documentation (issue 5 point 5, checklist item 14) through the running gateway: the API's document is
 * served with its `x-internal` parts removed, and a rendered reference page, only to principals with `docs:read`;
 * anonymous callers get 401 and others 403. The page is opened in Debian's headless Chromium: zero CSP violations,
 * zero requests beyond the gateway, no console errors, and the nonce lets exactly the page's own script run.
 *
 * A second gateway fronts two APIs (one with a Swagger 2.0 document for its v2) and a hand-written contract route:
 * its docs route serves one merged OpenAPI 3.1 document with every API's operations under the paths the gateway
 * exposes, no internal part and no dangling reference (checked by loading it with the project's OpenAPI loader).
 * Config checks: a docs route that is neither public nor requires docs:read is refused unless acknowledged.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import { chromium } from 'playwright-core';
import { loadConfigObject } from '../src/config/load.ts';
import { evaluatePosture } from '../src/posture/posture.ts';
import { danglingReferences, loadPublished } from './docs-support.ts';
import { cachedMerged } from '../src/docs/publish.ts';
import { startRecordingUpstream, startTestGateway, type RecordingUpstream, type TestGateway } from './helpers.ts';

const SPEC = fileURLToPath(new URL('./fixtures/docs/orders.yaml', import.meta.url));
const ORDERS_V2 = fileURLToPath(new URL('./fixtures/docs/orders-v2.json', import.meta.url));
const PAYMENTS = fileURLToPath(new URL('./fixtures/docs/payments.yaml', import.meta.url));
const LEGACY = fileURLToPath(new URL('./fixtures/docs/legacy.yaml', import.meta.url));
const CHROMIUM = '/usr/bin/chromium';
const ISSUER = 'https://idp.test';

function documentFor(upstream: string, jwk: Record<string, unknown>, docs: Record<string, unknown> = { path: '/docs/orders' }) {
  return {
    issuers: { corp: { issuer: ISSUER, audiences: ['api'], algorithms: ['ES256'], keys: [{ kid: 'k1', alg: 'ES256', jwk }], roles: { claim: 'roles' } } },
    roles: { customer: { permissions: ['orders:read'] }, developer: { permissions: ['docs:read'] } },
    apis: [
      {
        id: 'orders',
        upstream,
        openapi: SPEC,
        defaults: { authenticate: [{ jwt: 'corp' }] },
        docs,
        routes: [{ id: 'list', match: { path: '/orders', methods: ['GET'] }, authorize: { permissions: ['orders:read'] } }],
      },
    ],
    routes: [],
  };
}

/** A gateway on `document(upstream, jwk)` with a recording upstream, and `token(roles)` signed for its issuer. */
async function docsGateway(document: (upstreamUrl: string, jwk: Record<string, unknown>) => Record<string, unknown>): Promise<{
  upstream: RecordingUpstream;
  gw: TestGateway;
  token: (roles: string[]) => Promise<string>;
}> {
  const pair = await generateKeyPair('ES256', { extractable: true });
  const jwk = { ...(await exportJWK(pair.publicKey)) } as Record<string, unknown>;
  const upstream = await startRecordingUpstream();
  const gw = await startTestGateway(document(upstream.url, jwk));
  const token = async (roles: string[]) => {
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ iss: ISSUER, aud: 'api', sub: `u-${roles.join('-') || 'none'}`, roles, iat: now, exp: now + 600 })
      .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
      .sign(pair.privateKey);
  };
  return { upstream, gw, token };
}

describe('documentation served by the gateway', () => {
  let upstream: RecordingUpstream;
  let gw: TestGateway;
  let token: (roles: string[]) => Promise<string>;

  beforeAll(async () => {
    ({ upstream, gw, token } = await docsGateway(documentFor));
  });

  afterAll(async () => {
    await gw?.close();
    await upstream?.close();
  });

  it('refuses anonymous callers (401) and principals without docs:read (403); nothing is asked of the upstream', async () => {
    for (const path of ['/docs/orders/', '/docs/orders/openapi.json', '/docs/orders/assets/docs.css']) {
      expect((await fetch(gw.url + path)).status, path).toBe(401);
      expect((await fetch(gw.url + path, { headers: { authorization: `Bearer ${await token(['customer'])}` } })).status, path).toBe(403);
    }
    expect(upstream.seen).toHaveLength(0);
  });

  it('serves the document without its x-internal parts to docs:read', async () => {
    const res = await fetch(`${gw.url}/docs/orders/openapi.json`, { headers: { authorization: `Bearer ${await token(['developer'])}` } });
    expect(res.status).toBe(200);
    const text = await res.text();
    const document = JSON.parse(text) as { paths: Record<string, Record<string, unknown>>; components: { schemas: Record<string, { required?: string[]; properties?: Record<string, unknown> }> } };
    expect(Object.keys(document.paths).sort()).toEqual(['/orders', '/orders/{id}']);
    expect(Object.keys(document.paths['/orders']!).sort()).toEqual(['get', 'post']);
    expect(Object.keys(document.components.schemas)).toEqual(['Order']);
    expect(document.components.schemas.Order!.required).toEqual(['id', 'total']);
    expect(Object.keys(document.components.schemas.Order!.properties!)).toEqual(['id', 'total']);
    for (const hidden of ['reindexEverything', 'adminStats', 'debugTrace', 'marginPercent', 'SupplierCost', 'x-internal']) expect(text).not.toContain(hidden);
    // The upstream's own documentation paths stay refused.
    expect((await fetch(`${gw.url}/orders/swagger.json`, { headers: { authorization: `Bearer ${await token(['customer'])}` } })).status).toBe(404);
  });

  it('renders the page with every document value escaped and a nonce CSP', async () => {
    const res = await fetch(`${gw.url}/docs/orders/`, { headers: { authorization: `Bearer ${await token(['developer'])}` } });
    expect(res.status).toBe(200);
    const csp = res.headers.get('content-security-policy')!;
    const nonce = /script-src 'nonce-([A-Za-z0-9+/=]+)'/.exec(csp)?.[1];
    expect(nonce).toBeDefined();
    expect(csp).toContain("default-src 'none'");
    expect(csp).not.toContain('unsafe');
    const html = await res.text();
    expect(html).toContain(`<script nonce="${nonce}">`);
    expect(html).not.toContain('<script>alert');
    expect(html).not.toContain('<img src=x');
    expect(html).toContain('&lt;img src=x onerror=alert(1)&gt;');
    // A fresh nonce per answer.
    const again = await fetch(`${gw.url}/docs/orders/`, { headers: { authorization: `Bearer ${await token(['developer'])}` } });
    expect(again.headers.get('content-security-policy')).not.toBe(csp);
  });

  it('the page in headless Chromium: no CSP violation, no external request, no console error, the script runs', async () => {
    await checkPageInChromium(gw, `${gw.url}/docs/orders/`, await token(['developer']), { operations: 3, filter: 'create', filtered: 1 });
  });
});

/**
 * Opens a docs page in headless Chromium as a principal with docs:read: the page's script runs (the filter narrows
 * the operations), the gateway's stylesheet applies, and nothing violates the CSP, logs an error or leaves the origin.
 */
async function checkPageInChromium(gw: TestGateway, url: string, bearer: string, expect_: { operations: number; filter: string; filtered: number }): Promise<void> {
  if (!existsSync(CHROMIUM)) throw new Error(`Debian's Chromium is required at ${CHROMIUM}: install it with \`apt-get install -y chromium\``);
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  try {
    const context = await browser.newContext({ extraHTTPHeaders: { authorization: `Bearer ${bearer}` } });
    const page = await context.newPage();
    const requests: string[] = [];
    const problems: string[] = [];
    page.on('request', (r) => requests.push(r.url()));
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') problems.push(m.text());
    });
    page.on('pageerror', (e) => problems.push(e.message));
    await page.addInitScript(() => {
      (window as unknown as { violations: string[] }).violations = [];
      document.addEventListener('securitypolicyviolation', (e) => (window as unknown as { violations: string[] }).violations.push(`${e.violatedDirective} ${e.blockedURI}`));
    });
    const cspEventsBefore = gw.events.events.filter((e) => e.type === 'csp.violation').length;
    await page.goto(url);
    await page.waitForSelector('body[data-ready="true"]');
    expect(await page.locator('section.operation').count()).toBe(expect_.operations);
    await page.fill('#filter', expect_.filter);
    expect(await page.textContent('#count')).toBe(`${expect_.filtered} operations`);
    expect(await page.locator('section.operation:not([hidden])').count()).toBe(expect_.filtered);
    // The stylesheet from the gateway applied.
    expect(await page.evaluate(() => getComputedStyle(document.querySelector('header')!).backgroundColor)).toBe('rgb(15, 42, 68)');
    expect(await page.evaluate(() => (window as unknown as { violations: string[] }).violations)).toEqual([]);
    expect(problems).toEqual([]);
    const origin = new URL(gw.url).origin;
    expect(requests.filter((u) => new URL(u).origin !== origin)).toEqual([]);
    expect(requests.length).toBeGreaterThanOrEqual(2);
    expect(gw.events.events.filter((e) => e.type === 'csp.violation').length).toBe(cspEventsBefore);
  } finally {
    await browser.close();
  }
}

describe('header-selected versions in the documentation', () => {
  let upstream: RecordingUpstream;
  let gw: TestGateway;
  let token: (roles: string[]) => Promise<string>;

  beforeAll(async () => {
    ({ upstream, gw, token } = await docsGateway((upstreamUrl, jwk) => ({
      ...documentFor(upstreamUrl, jwk),
      apis: [
        {
          id: 'orders',
          upstream: upstreamUrl,
          openapi: SPEC,
          defaults: { authenticate: [{ jwt: 'corp' }] },
          versioning: { by: 'header', header: 'Api-Version', default: 'v1' },
          versions: [{ version: 'v1' }, { version: 'v2', openapi: ORDERS_V2 }],
          docs: { path: '/docs/orders' },
        },
      ],
    })));
  });

  afterAll(async () => {
    await gw?.close();
    await upstream?.close();
  });

  /** GET as a principal with `roles` (default: a developer, who has docs:read), or anonymously with null. */
  const get = async (path: string, roles: string[] | null = ['developer']) =>
    fetch(gw.url + path, roles === null ? {} : { headers: { authorization: `Bearer ${await token(roles)}` } });

  it('built when the config was loaded, not by the first docs request: the root document and each version', () => {
    const config = gw.gateway.runtime.config;
    for (const version of [undefined, 'v1', 'v2']) expect(cachedMerged(config, 'orders.docs', version)?.ok, String(version)).toBe(true);
    expect(cachedMerged(config, 'orders.docs', 'v9')).toBeUndefined();
  });

  it('serves a document per version under versions/<name>/, the default one at the root, to docs:read only', async () => {
    const main = (await (await get('/docs/orders/openapi.json')).json()) as { paths: Record<string, Record<string, { summary: string }>> };
    expect(main.paths['/orders']!.get!.summary).toBe('List orders');
    const res = await get('/docs/orders/versions/v2/openapi.json');
    expect(res.status).toBe(200);
    const v2 = (await res.json()) as typeof main;
    expect(v2.paths['/orders']!.get!.summary).toBe('List orders (v2)');
    expect(JSON.stringify(v2)).not.toContain('x-internal');
    expect((await get('/docs/orders/versions/v2/openapi.json', null)).status).toBe(401);
    expect((await get('/docs/orders/versions/v2/', ['customer'])).status).toBe(403);
    for (const path of ['/docs/orders/versions/v9/openapi.json', '/docs/orders/versions/v2/other', '/docs/orders/versions/', '/docs/orders/versions/V2/openapi.json']) {
      expect((await get(path)).status, path).toBe(404);
    }
    expect(upstream.seen).toHaveLength(0);
  });

  it('the page links every version, says how a request selects it, and marks the one shown', async () => {
    const html = await (await get('/docs/orders/versions/v2/')).text();
    expect(html).toContain('<a href="/docs/orders/">v1 (default)</a>');
    expect(html).toContain('<li aria-current="page" title="orders: header api-version: v2"><strong>v2</strong></li>');
    expect(html).toContain('href="/docs/orders/versions/v2/openapi.json"');
    const root = await (await get('/docs/orders/')).text();
    expect(root).toContain('<a href="/docs/orders/versions/v2/">v2</a>');
    expect(root).toContain('<strong>v1 (default)</strong>');
  });

  it("a version's page in headless Chromium: no CSP violation, no external request, the script runs", async () => {
    await checkPageInChromium(gw, `${gw.url}/docs/orders/versions/v2/`, await token(['developer']), { operations: 3, filter: '(v2)', filtered: 2 });
  });
});

function mergedGatewayDocument(upstream: string, jwk: Record<string, unknown>, docs: Record<string, unknown> = { path: '/docs/all' }) {
  const authenticate = [{ jwt: 'corp' }];
  return {
    issuers: { corp: { issuer: ISSUER, audiences: ['api'], algorithms: ['ES256'], keys: [{ kid: 'k1', alg: 'ES256', jwk }], roles: { claim: 'roles' } } },
    roles: { customer: { permissions: ['orders:read'] }, developer: { permissions: ['docs:read'] } },
    apis: [
      {
        id: 'orders',
        upstream,
        openapi: SPEC,
        defaults: { authenticate },
        versions: [{ version: 'v1' }, { version: 'v2', openapi: ORDERS_V2 }],
        docs,
      },
      { id: 'payments', upstream, openapi: PAYMENTS, defaults: { authenticate } },
    ],
    routes: [
      { id: 'legacy', match: { path: '/legacy/**', methods: ['GET'] }, upstream, authenticate, contract: { openapi: LEGACY, stripPrefix: '/legacy' } },
      // A docs route naming one document: that document alone, as before (not merged, not converted, not prefixed).
      { id: 'legacy-docs', match: { path: '/docs/legacy/**', methods: ['GET'] }, upstream: 'rampart:docs', docs: { openapi: LEGACY }, authenticate, authorize: { permissions: ['docs:read'] } },
      // A hand-written docs route asking for the merged document, with no document of its own: its title heads it.
      {
        id: 'everything-docs',
        match: { path: '/docs/everything/**', methods: ['GET'] },
        upstream: 'rampart:docs',
        docs: { merge: 'gateway', title: 'Everything we serve' },
        authenticate,
        authorize: { permissions: ['docs:read'] },
      },
    ],
  };
}

describe('the merged document of every contract the gateway enforces', () => {
  let upstream: RecordingUpstream;
  let gw: TestGateway;
  let token: (roles: string[]) => Promise<string>;
  let served: { text: string; document: { openapi: string; servers: unknown; paths: Record<string, Record<string, { operationId?: string; parameters?: Array<{ name: string }>; security?: unknown }>>; components: Record<string, Record<string, unknown>> } };

  beforeAll(async () => {
    ({ upstream, gw, token } = await docsGateway(mergedGatewayDocument));
    const res = await fetch(`${gw.url}/docs/all/openapi.json`, { headers: { authorization: `Bearer ${await token(['developer'])}` } });
    expect(res.status).toBe(200);
    const text = await res.text();
    served = { text, document: JSON.parse(text) as typeof served.document };
  });

  afterAll(async () => {
    await gw?.close();
    await upstream?.close();
  });

  it('a hand-written route with docs.merge serves the same merged document, headed by its title, to docs:read only', async () => {
    expect((await fetch(`${gw.url}/docs/everything/openapi.json`)).status).toBe(401);
    expect((await fetch(`${gw.url}/docs/everything/openapi.json`, { headers: { authorization: `Bearer ${await token(['customer'])}` } })).status).toBe(403);
    const res = await fetch(`${gw.url}/docs/everything/openapi.json`, { headers: { authorization: `Bearer ${await token(['developer'])}` } });
    expect(res.status).toBe(200);
    const document = (await res.json()) as typeof served.document & { info: { title: string } };
    expect(document.info.title).toBe('Everything we serve');
    expect(Object.keys(document.paths).sort()).toEqual(Object.keys(served.document.paths).sort());
    expect(document.components).toEqual(served.document.components);
    expect(danglingReferences(document)).toEqual([]);
    const page = await fetch(`${gw.url}/docs/everything/`, { headers: { authorization: `Bearer ${await token(['developer'])}` } });
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('Everything we serve');
  });

  it('is refused to anonymous callers (401) and to principals without docs:read (403)', async () => {
    for (const path of ['/docs/all/', '/docs/all/openapi.json', '/docs/all/assets/docs.css']) {
      expect((await fetch(gw.url + path)).status, path).toBe(401);
      expect((await fetch(gw.url + path, { headers: { authorization: `Bearer ${await token(['customer'])}` } })).status, path).toBe(403);
      expect((await fetch(gw.url + path, { headers: { authorization: `Bearer ${await token([])}` } })).status, path).toBe(403);
    }
    expect(upstream.seen).toHaveLength(0);
  });

  it("has every API's and contract route's operations under the paths the gateway exposes, the gateway as server", () => {
    const { document } = served;
    expect(document.openapi).toBe('3.1.0');
    expect(document.servers).toEqual([{ url: '/', description: 'this gateway' }]);
    const operations = Object.entries(document.paths).flatMap(([path, item]) => Object.keys(item).filter((k) => k !== 'summary' && k !== 'description').map((m) => `${m.toUpperCase()} ${path}`));
    expect(operations.sort()).toEqual(
      [
        // orders v1 (OpenAPI 3.1), under the version prefix the gateway strips
        'GET /v1/orders',
        'POST /v1/orders',
        'GET /v1/orders/{id}',
        // orders v2 (Swagger 2.0, converted): the routes come from the API's document, so what v2 declares on them
        'GET /v2/orders',
        'POST /v2/orders',
        'GET /v2/orders/{id}',
        // payments (OpenAPI 3.0)
        'GET /payments',
        'GET /payments/{paymentId}',
        // the hand-written contract route, its stripPrefix put back
        'GET /legacy/status',
      ].sort(),
    );
    // Path-level parameters moved into the operations; the document-level security moved into the operations too.
    expect(document.paths['/payments/{paymentId}']!.get!.parameters!.map((p) => p.name)).toEqual(['paymentId']);
    // Two different schemes named `corp` (payments' bearer, orders v2's OAuth2): both renamed, requirements with them.
    expect(document.paths['/payments']!.get!.security).toEqual([{ 'payments.corp': [] }]);
    expect(document.paths['/v2/orders']!.get!.security).toEqual([{ 'orders.v2.corp': ['orders'] }]);
    expect(Object.keys(document.components.securitySchemes!).sort()).toEqual(['orders.v2.corp', 'payments.corp']);
  });

  it('resolves clashing component names and operationIds deterministically', () => {
    const { document } = served;
    // Three different `Order` schemas: each renamed after its API (and version: the orders versions have their own documents).
    expect(Object.keys(document.components.schemas!).sort()).toEqual(
      ['Card', 'LedgerEntry', 'Payment', 'Status', 'orders.v1.Order', 'orders.v2.Order', 'payments.Order'].sort(),
    );
    expect(served.text).toContain('"$ref":"#/components/schemas/orders.v2.Order"');
    expect((document.components.schemas!.Payment as { properties: { order: unknown } }).properties.order).toEqual({ $ref: '#/components/schemas/payments.Order' });
    // listOrders is in orders v1, orders v2 and payments.
    expect(document.paths['/v1/orders']!.get!.operationId).toBe('orders.v1.listOrders');
    expect(document.paths['/v2/orders']!.get!.operationId).toBe('orders.v2.listOrders');
    expect(document.paths['/payments']!.get!.operationId).toBe('payments.listOrders');
    expect(document.paths['/legacy/status']!.get!.operationId).toBe('status');
  });

  it('holds no x-internal part and no reference to one', async () => {
    for (const hidden of ['x-internal', 'reindexEverything', 'adminStats', 'debugTrace', 'marginPercent', 'SupplierCost', 'x-debug-shard', 'refundLedger', 'AuditTrail', '"audit"', 'TraceFlag', 'FraudHold', 'InternalTransfer', 'RiskScore', 'RiskAlias', '"risk"', 'statusDebug', 'orders.internal.example']) {
      expect(served.text, hidden).not.toContain(hidden);
    }
    expect(served.text.split('"$ref"').length).toBeGreaterThan(5);
    expect(danglingReferences(served.document)).toEqual([]);
    // What removing them leaves is still right: required lists without the removed properties, a oneOf without the internal branch.
    const schemas = served.document.components.schemas as Record<string, { required?: string[]; properties?: Record<string, { oneOf?: unknown[]; type?: unknown; exclusiveMinimum?: unknown }> }>;
    expect(schemas.Payment!.required).toEqual(['id', 'amount']);
    expect(schemas.Payment!.properties!.method!.oneOf).toEqual([{ $ref: '#/components/schemas/Card' }]);
    expect(schemas['orders.v2.Order']!.required).toEqual(['id', 'total']);
    // 3.0 and 2.0 schemas in their 3.1 form.
    expect(schemas.Payment!.properties!.note!.type).toEqual(['string', 'null']);
    expect(schemas.Payment!.properties!.amount!.exclusiveMinimum).toBe(0);
    expect(schemas['orders.v2.Order']!.properties!.currency!.type).toEqual(['string', 'null']);
  });

  it("loads with the project's OpenAPI loader: valid, every reference resolved, every operation there", async () => {
    const loaded = await loadPublished(served.document);
    if (!loaded.ok) throw new Error(loaded.errors.map((e) => e.text).join('\n'));
    expect(loaded.api.model.version).toBe('3.1');
    expect(loaded.api.model.operations).toHaveLength(9);
    expect(loaded.api.warnings.map((w) => w.text)).toEqual([]);
  });

  it('a docs route naming one document still serves that document alone, without its internal parts', async () => {
    expect((await fetch(`${gw.url}/docs/legacy/openapi.json`)).status).toBe(401);
    expect((await fetch(`${gw.url}/docs/legacy/openapi.json`, { headers: { authorization: `Bearer ${await token(['customer'])}` } })).status).toBe(403);
    const res = await fetch(`${gw.url}/docs/legacy/openapi.json`, { headers: { authorization: `Bearer ${await token(['developer'])}` } });
    expect(res.status).toBe(200);
    const text = await res.text();
    const document = JSON.parse(text) as { openapi: string; info: { title: string }; paths: Record<string, unknown>; servers?: unknown };
    expect(document.openapi).toBe('3.1.0');
    expect(document.info.title).toBe('Legacy status');
    expect(Object.keys(document.paths)).toEqual(['/status']);
    expect(document.servers).toBeUndefined();
    expect(text).not.toContain('statusDebug');
    expect(text).not.toContain('x-internal');
    const loaded = await loadPublished(document);
    expect(loaded.ok).toBe(true);
  });

  it('the merged page in headless Chromium: no CSP violation, no external request, no console error', async () => {
    await checkPageInChromium(gw, `${gw.url}/docs/all/`, await token(['developer']), { operations: 9, filter: '/payments', filtered: 2 });
  });
});

describe('docs config and posture', () => {
  const base = { mode: 'development', listen: { host: '127.0.0.1', port: 0 }, admin: false };
  it('a public docs route is reported by posture; a protected one is enforced', async () => {
    const jwk = { kty: 'EC', crv: 'P-256', x: 'f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU', y: 'x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0' };
    for (const [docs, status] of [
      [{ path: '/docs/orders', public: true }, 'weakened'],
      [{ path: '/docs/orders' }, 'enforced'],
    ] as const) {
      const result = loadConfigObject({ ...base, ...documentFor('http://127.0.0.1:1', jwk, docs) });
      if (!result.ok) throw new Error(result.errors.join('\n'));
      const cell = evaluatePosture(result.config).routes.find((r) => r.route === 'orders.docs')!.cells.find((c) => c.item === 14)!;
      expect(cell.status).toBe(status);
    }
  });

  const jwk = { kty: 'EC', crv: 'P-256', x: 'f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU', y: 'x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0' };
  const cellOf = (config: import('../src/config/load.ts').GatewayConfig, route: string) =>
    evaluatePosture(config).routes.find((r) => r.route === route)!.cells.find((c) => c.item === 14)!;
  /** A hand-written docs route that authenticates with the corp issuer; `route` adds or overrides its keys. */
  const handWritten = (route: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
    loadConfigObject({
      ...base,
      ...documentFor('http://127.0.0.1:1', jwk),
      apis: [],
      ...extra,
      routes: [{ id: 'docs', match: { path: '/docs/**', methods: ['GET'] }, upstream: 'rampart:docs', docs: { openapi: SPEC }, authenticate: [{ jwt: 'corp' }], ...route }],
    });
  const refusal = (path: string, add: string) =>
    `${path}: serves the API documentation to principals without the docs:read permission: ${add} (or say public: true, which posture reports) ` +
    `(weakens a default; to accept it add acknowledge: [{ rule: docs-without-docs-read, path: "${path}", reason, expires }])`;
  const ack = (path: string) => ({ acknowledge: [{ rule: 'docs-without-docs-read', path, reason: 'internal developer portal', expires: '2099-12-31' }] });

  it('refuses a docs route that authenticates but does not require docs:read, saying what to add', () => {
    for (const [route, extra] of [
      [{}, {}],
      [{ authorize: { permissions: ['orders:read'] } }, {}],
      [{ authorize: { permissions: [] } }, {}],
      [{ authorize: { permissions: { GET: ['docs:read'], HEAD: ['orders:read'] } } }, {}],
      [{ authorize: false }, { defaults: { authorize: { permissions: ['docs:read'] } } }],
      [{}, { defaults: { authorize: { permissions: ['orders:read'] } } }],
    ] as const) {
      const result = handWritten(route, extra);
      expect(result.ok, JSON.stringify(route)).toBe(false);
      if (!result.ok) expect(result.errors, JSON.stringify(route)).toContain(refusal('routes[0].authorize', 'add authorize: { permissions: [docs:read] }'));
    }
  });

  it('accepts a docs route requiring docs:read (for every method, per method, as docs:*, from defaults); posture: enforced', () => {
    for (const [route, extra] of [
      [{ authorize: { permissions: ['docs:read'] } }, {}],
      [{ authorize: { permissions: ['docs:read', 'orders:read'] } }, {}],
      [{ authorize: { permissions: { GET: ['docs:read'] } } }, {}],
      [{ authorize: { permissions: ['docs:*'] } }, {}],
      [{}, { defaults: { authorize: { permissions: ['docs:read'] } } }],
    ] as const) {
      const result = handWritten(route, extra);
      if (!result.ok) throw new Error(`${JSON.stringify(route)}: ${result.errors.join('\n')}`);
      const cell = cellOf(result.config, 'docs');
      expect(cell.status).toBe('enforced');
      expect(cell.reason).toContain('the named document served to principals holding');
    }
  });

  it('accepts a docs route without docs:read only when acknowledged; posture reports it as weakened, with the reason', () => {
    const result = handWritten({ authorize: { permissions: ['orders:read'] } }, ack('routes[0].authorize'));
    if (!result.ok) throw new Error(result.errors.join('\n'));
    expect(result.config.accepted.map((a) => [a.rule, a.path])).toEqual([['docs-without-docs-read', 'routes[0].authorize']]);
    const cell = cellOf(result.config, 'docs');
    expect(cell.status).toBe('weakened');
    expect(cell.reason).toContain('without the docs:read permission');
    expect(cell.reason).toContain('(acknowledged: internal developer portal)');
    // An acknowledgement for another path does not accept it.
    const other = handWritten({ authorize: { permissions: ['orders:read'] } }, ack('routes[1].authorize'));
    expect(other.ok).toBe(false);
  });

  it('apis[].docs whose require lacks docs:read: refused at apis[0].docs.require, accepted with its acknowledgement', () => {
    const docs = { path: '/docs/orders', require: ['orders:read'] };
    const refused = loadConfigObject({ ...base, ...documentFor('http://127.0.0.1:1', jwk, docs) });
    expect(refused.ok).toBe(false);
    if (!refused.ok) expect(refused.errors).toContain(refusal('apis[0].docs.require', 'put docs:read in require'));
    const accepted = loadConfigObject({ ...base, ...documentFor('http://127.0.0.1:1', jwk, docs), ...ack('apis[0].docs.require') });
    if (!accepted.ok) throw new Error(accepted.errors.join('\n'));
    const cell = cellOf(accepted.config, 'orders.docs');
    expect(cell.status).toBe('weakened');
    expect(cell.reason).toContain('(acknowledged: internal developer portal)');
    // The default require is docs:read: the merged document of the gateway's contracts, enforced.
    const plain = loadConfigObject({ ...base, ...documentFor('http://127.0.0.1:1', jwk) });
    if (!plain.ok) throw new Error(plain.errors.join('\n'));
    expect(cellOf(plain.config, 'orders.docs')).toEqual({
      item: 14,
      status: 'enforced',
      reason: `the merged document of the gateway's contracts served to principals holding ["docs:read"], x-internal parts removed, a nonce CSP, no external requests`,
    });
  });

  it('refuses docs without a loadable document, outside rampart:docs, or without a /** path', () => {
    const result = loadConfigObject({
      ...base,
      routes: [
        { id: 'a', match: { path: '/docs/**' }, upstream: 'rampart:docs', public: true },
        { id: 'b', match: { path: '/b/**' }, upstream: 'http://127.0.0.1:1', public: true, docs: { openapi: SPEC } },
        { id: 'c', match: { path: '/c' }, upstream: 'rampart:docs', public: true, docs: { openapi: SPEC } },
        { id: 'd', match: { path: '/d/**' }, upstream: 'rampart:docs', public: true, docs: { openapi: '/nonexistent/spec.yaml' } },
      ],
    });
    expect(result.ok).toBe(false);
    if (!result.ok) {
      expect(result.errors).toEqual(
        expect.arrayContaining([
          'routes[0].docs: rampart:docs needs docs: { openapi: FILE } or docs: { merge: gateway }',
          'routes[1].docs: only applies to routes with upstream: rampart:docs',
          'routes[2].match.path: a docs route serves a tree: end it with /**',
          expect.stringMatching(/^routes\[3\]\.docs\.openapi: .*spec\.yaml/),
        ]),
      );
    }
  });
});
