/**
 * Protected documentation (issue 5 point 5, checklist item 14) through the running gateway: the API's document is
 * served with its `x-internal` parts removed, and a rendered reference page, only to principals with `docs:read`;
 * anonymous callers get 401 and others 403. The page is opened in Debian's headless Chromium: zero CSP violations,
 * zero requests beyond the gateway, no console errors, and the nonce lets exactly the page's own script run.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { SignJWT, exportJWK, generateKeyPair, type CryptoKey } from 'jose';
import { chromium } from 'playwright-core';
import { loadConfigObject } from '../src/config/load.ts';
import { evaluatePosture } from '../src/posture/posture.ts';
import { startRecordingUpstream, startTestGateway, type RecordingUpstream, type TestGateway } from './helpers.ts';

const SPEC = fileURLToPath(new URL('./fixtures/docs/orders.yaml', import.meta.url));
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

describe('documentation served by the gateway', () => {
  let upstream: RecordingUpstream;
  let gw: TestGateway;
  let privateKey: CryptoKey;
  const token = async (roles: string[]) => {
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ iss: ISSUER, aud: 'api', sub: `u-${roles.join('-') || 'none'}`, roles, iat: now, exp: now + 600 })
      .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
      .sign(privateKey);
  };

  beforeAll(async () => {
    const pair = await generateKeyPair('ES256', { extractable: true });
    privateKey = pair.privateKey;
    const jwk = { ...(await exportJWK(pair.publicKey)) } as Record<string, unknown>;
    upstream = await startRecordingUpstream();
    gw = await startTestGateway(documentFor(upstream.url, jwk));
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
    if (!existsSync(CHROMIUM)) throw new Error(`Debian's Chromium is required at ${CHROMIUM}: install it with \`apt-get install -y chromium\``);
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    try {
      const context = await browser.newContext({ extraHTTPHeaders: { authorization: `Bearer ${await token(['developer'])}` } });
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
      await page.goto(`${gw.url}/docs/orders/`);
      await page.waitForSelector('body[data-ready="true"]');
      expect(await page.locator('section.operation').count()).toBe(3);
      await page.fill('#filter', 'create');
      expect(await page.textContent('#count')).toBe('1 operations');
      expect(await page.locator('section.operation:not([hidden])').count()).toBe(1);
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
          'routes[0].docs: rampart:docs needs docs: { openapi: FILE }',
          'routes[1].docs: only applies to routes with upstream: rampart:docs',
          'routes[2].match.path: a docs route serves a tree: end it with /**',
          expect.stringMatching(/^routes\[3\]\.docs\.openapi: .*spec\.yaml/),
        ]),
      );
    }
  });
});
