/**
 * The Prometheus series of issue 6 point 4, scraped from the admin listener's /metrics after real requests through
 * a gateway: authentication failures by method and reason, authorization denials by deciding rule, validation
 * failures by kind, rate-limit refusals by limit, upstream latency and errors, and requests per consumer with a
 * bounded consumer label (1,000 distinct principals make at most max + 2 consumer values) that never holds an
 * e-mail address in clear. Counts are exact: each route is driven by one test only.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SignJWT, exportJWK, generateKeyPair, type CryptoKey, type JWK } from 'jose';
import { startRecordingUpstream, startTestGateway, tempDir, type RecordingUpstream, type TestGateway } from './helpers.ts';
import { openConfiguredStores, type ConfiguredStores } from '../src/storage/configured.ts';
import { generateApiKey } from '../src/policies/api-key/keys.ts';
import { hashSecret } from '../src/crypto/hashing.ts';

const ISSUER = 'https://idp.test';
const AUDIENCE = 'metrics-api';

/** Every sample of one metric as [labels, value]. */
function samples(text: string, name: string): Array<[Record<string, string>, number]> {
  const out: Array<[Record<string, string>, number]> = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const close = line.lastIndexOf('}');
    const labels: Record<string, string> = {};
    for (const match of line.slice(name.length + 1, close).matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[match[1]!] = match[2]!;
    out.push([labels, Number(line.slice(close + 1).trim())]);
  }
  return out;
}

/** The value of the sample with exactly these labels, or undefined when the series is absent. */
function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  const wanted = Object.entries(labels);
  const found = samples(text, name).find(([l]) => Object.keys(l).length === wanted.length && wanted.every(([k, v]) => l[k] === v));
  return found?.[1];
}

async function waitFor(check: () => Promise<boolean>, what: string, limitMs = 10_000): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what} not met within ${limitMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function status(url: string, init?: RequestInit): Promise<number> {
  const res = await fetch(url, init);
  await res.arrayBuffer();
  return res.status;
}

const SPEC = `openapi: 3.1.0
info: { title: items, version: '1' }
paths:
  /items/{id}:
    get:
      parameters:
        - { name: id, in: path, required: true, schema: { type: integer, minimum: 1 } }
      responses:
        '200': { description: ok }
`;

describe('refusal and upstream metrics on /metrics', () => {
  let upstream: RecordingUpstream;
  let failing: RecordingUpstream;
  let stores: ConfiguredStores;
  let gw: TestGateway;
  let privateKey: CryptoKey;
  let keys: Record<string, string>;

  const token = (claims: Record<string, unknown>) => {
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ iss: ISSUER, aud: AUDIENCE, iat: now, exp: now + 300, ...claims }).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).sign(privateKey);
  };
  const scrape = async () => (await fetch(`${gw.adminUrl}/metrics`)).text();
  /** Waits until the route's rampart_requests_total sum reaches `count` (the counters move when the response closes). */
  const settled = (route: string, count: number) =>
    waitFor(async () => samples(await scrape(), 'rampart_requests_total').filter(([l]) => l.route === route).reduce((sum, [, v]) => sum + v, 0) === count, `${count} requests on ${route}`);

  beforeAll(async () => {
    const pair = await generateKeyPair('ES256', { extractable: true });
    privateKey = pair.privateKey;
    const jwk: JWK = { ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'ES256' };
    upstream = await startRecordingUpstream();
    failing = await startRecordingUpstream((_req, res) => {
      res.writeHead(503, { 'content-type': 'text/plain' });
      res.end('down');
    });
    stores = await openConfiguredStores({ mode: 'development', storage: 'memory:', masterKey: undefined });
    keys = {};
    for (const name of ['alpha', 'beta']) {
      const consumer = await stores.stores.identities.createConsumer({ name, roles: [], createdAt: Date.now() });
      const { key, recordPrefix } = generateApiKey();
      await stores.stores.identities.createApiKey({ consumerId: consumer.id, prefix: recordPrefix, hash: hashSecret(key, stores.pepper), scopes: null, expiresAt: null, createdAt: Date.now() });
      keys[name] = key;
    }
    const specFile = join(tempDir(), 'items.yaml');
    writeFileSync(specFile, SPEC);
    const corp = { jwt: 'corp' };
    gw = await startTestGateway(
      {
        admin: { host: '127.0.0.1', port: 0 },
        storage: 'memory:',
        issuers: { corp: { issuer: ISSUER, audiences: [AUDIENCE], algorithms: ['ES256'], keys: [{ kid: 'k1', alg: 'ES256', jwk }], roles: { claim: 'roles' } } },
        roles: { customer: { permissions: ['orders:read'] } },
        routes: [
          { id: 'keys', match: { path: '/keys/**' }, upstream: upstream.url, authenticate: ['api-key'], 'rate-limit': { limits: [{ name: 'per-consumer', key: 'consumer', rate: '2/d' }] } },
          { id: 'mixed', match: { path: '/mixed/**' }, upstream: upstream.url, authenticate: ['api-key', corp] },
          { id: 'orders', match: { path: '/orders/**' }, upstream: upstream.url, authenticate: [corp], authorize: { permissions: ['orders:read'] } },
          { id: 'sales', match: { path: '/sales/**' }, upstream: upstream.url, authenticate: [corp], authorize: { permissions: [], rule: "principal.claims.department == 'sales'" } },
          { id: 'screened', match: { path: '/screened/**' }, upstream: upstream.url, public: true, screen: { in: ['query'] } },
          { id: 'contracted', match: { path: '/items/**' }, upstream: upstream.url, public: true, contract: { openapi: specFile } },
          { id: 'flaky', match: { path: '/flaky/**' }, upstream: { targets: [failing.url], retries: { attempts: 0 } }, public: true },
          { id: 'dead', match: { path: '/dead/**' }, upstream: { targets: ['http://127.0.0.1:9'], retries: { attempts: 0 } }, public: true },
        ],
      },
      { stores },
    );
  });

  afterAll(async () => {
    await gw?.close();
    await stores?.stores.close();
    await upstream?.close();
    await failing?.close();
  });

  it('counts authentication failures by route, method and reason (the answer\'s catalogue code)', async () => {
    expect(await status(`${gw.url}/keys/a`)).toBe(401); // no credential: the pipeline answers
    expect(await status(`${gw.url}/keys/a`, { headers: { 'x-api-key': `rk_${'A'.repeat(12)}_${'b'.repeat(43)}` } })).toBe(401);
    expect(await status(`${gw.url}/keys/a`, { headers: { 'x-api-key': `rk_${'C'.repeat(12)}_${'d'.repeat(43)}` } })).toBe(401);
    const expired = await token({ sub: 'client-x', exp: Math.floor(Date.now() / 1000) - 3600 });
    expect(await status(`${gw.url}/mixed/a`, { headers: { authorization: `Bearer ${expired}` } })).toBe(401);
    // Two kinds of credential at once (RFC 6750 §3.1): the pipeline refuses before any authenticator runs.
    expect(await status(`${gw.url}/mixed/a`, { headers: { authorization: `Bearer ${expired}`, 'x-api-key': keys.alpha! } })).toBe(400);
    await settled('mixed', 2);
    await settled('keys', 3);
    const text = await scrape();
    expect(text).toContain('# TYPE rampart_auth_failures_total counter');
    expect(sample(text, 'rampart_auth_failures_total', { route: 'keys', method: 'gateway', reason: 'missing-credential' })).toBe(1);
    expect(sample(text, 'rampart_auth_failures_total', { route: 'keys', method: 'api-key', reason: 'invalid-credential' })).toBe(2);
    expect(sample(text, 'rampart_auth_failures_total', { route: 'mixed', method: 'jwt', reason: 'invalid-credential' })).toBe(1);
    expect(sample(text, 'rampart_auth_failures_total', { route: 'mixed', method: 'gateway', reason: 'credential-conflict' })).toBe(1);
    expect(samples(text, 'rampart_auth_failures_total').filter(([l]) => l.route === 'keys' || l.route === 'mixed')).toHaveLength(4);
    // The refused callers had no principal: they count as anonymous.
    expect(sample(text, 'rampart_consumer_requests_total', { route: 'keys', consumer: 'anonymous', status_class: '4xx' })).toBe(3);
  });

  it('counts rate-limit refusals by limit name and requests per API-key consumer', async () => {
    const statuses: number[] = [];
    for (const name of ['alpha', 'alpha', 'alpha', 'beta']) statuses.push(await status(`${gw.url}/keys/b`, { headers: { 'x-api-key': keys[name]! } }));
    expect(statuses).toEqual([200, 200, 429, 200]);
    await settled('keys', 3 + 4);
    const text = await scrape();
    // The refusal carries the consumer it refused (alpha's third request).
    expect(sample(text, 'rampart_rate_limited_total', { route: 'keys', limit: 'per-consumer', consumer: 'alpha' })).toBe(1);
    expect(samples(text, 'rampart_rate_limited_total').filter(([l]) => l.route === 'keys')).toHaveLength(1);
    expect(sample(text, 'rampart_consumer_requests_total', { route: 'keys', consumer: 'alpha', status_class: '2xx' })).toBe(2);
    expect(sample(text, 'rampart_consumer_requests_total', { route: 'keys', consumer: 'alpha', status_class: '4xx' })).toBe(1);
    expect(sample(text, 'rampart_consumer_requests_total', { route: 'keys', consumer: 'beta', status_class: '2xx' })).toBe(1);
    expect(sample(text, 'rampart_consumer_request_duration_seconds_count', { route: 'keys', consumer: 'alpha' })).toBe(3);
    expect(sample(text, 'rampart_consumer_request_duration_seconds_bucket', { route: 'keys', consumer: 'beta', le: '+Inf' })).toBe(1);
  });

  it('counts authorization denials by the deciding rule from config, never the request', async () => {
    const noRole = await token({ sub: 'client-y', client_id: 'client-y', roles: [] });
    const customer = await token({ sub: 'client-y', client_id: 'client-y', roles: ['customer'] });
    expect(await status(`${gw.url}/orders/1`, { headers: { authorization: `Bearer ${noRole}` } })).toBe(403);
    expect(await status(`${gw.url}/orders/2`, { headers: { authorization: `Bearer ${noRole}` } })).toBe(403);
    expect(await status(`${gw.url}/orders/3`, { headers: { authorization: `Bearer ${customer}` } })).toBe(200);
    const marketing = await token({ sub: 'client-y', client_id: 'client-y', department: 'marketing' });
    expect(await status(`${gw.url}/sales/x`, { headers: { authorization: `Bearer ${marketing}` } })).toBe(403);
    // Another client denied by the same rule: a series of its own (denials per route and consumer).
    const other = await token({ sub: 'client-z', client_id: 'client-z', roles: [] });
    expect(await status(`${gw.url}/orders/4`, { headers: { authorization: `Bearer ${other}` } })).toBe(403);
    await settled('orders', 4);
    await settled('sales', 1);
    const text = await scrape();
    expect(sample(text, 'rampart_authz_denials_total', { route: 'orders', rule: 'permission orders:read', consumer: 'client-y' })).toBe(2);
    expect(sample(text, 'rampart_authz_denials_total', { route: 'orders', rule: 'permission orders:read', consumer: 'client-z' })).toBe(1);
    expect(sample(text, 'rampart_authz_denials_total', { route: 'sales', rule: 'authorize.rule', consumer: 'client-y' })).toBe(1);
    expect(samples(text, 'rampart_authz_denials_total')).toHaveLength(3);
    // Every security event is counted by type too (the four denials above are the only ones of this file).
    expect(text).toContain('# TYPE rampart_security_events_total counter');
    expect(sample(text, 'rampart_security_events_total', { type: 'authz.denied' })).toBe(4);
    // A denial is not an authentication failure.
    expect(samples(text, 'rampart_auth_failures_total').filter(([l]) => l.route === 'orders' || l.route === 'sales')).toHaveLength(0);
    // A client-credentials principal (sub = client_id) is labelled with its client id.
    expect(sample(text, 'rampart_consumer_requests_total', { route: 'orders', consumer: 'client-y', status_class: '4xx' })).toBe(2);
    expect(sample(text, 'rampart_consumer_requests_total', { route: 'orders', consumer: 'client-y', status_class: '2xx' })).toBe(1);
  });

  it('counts validation failures by kind: screen and contract', async () => {
    expect(await status(`${gw.url}/screened/x?q=${encodeURIComponent("' OR 1=1 --")}`)).toBe(400);
    expect(await status(`${gw.url}/screened/x?q=shoes`)).toBe(200);
    expect(await status(`${gw.url}/items/abc`)).toBe(400);
    expect(await status(`${gw.url}/items/0`)).toBe(400);
    expect(await status(`${gw.url}/items/7`)).toBe(200);
    await settled('screened', 2);
    await settled('contracted', 3);
    const text = await scrape();
    // Public routes: the refused callers are anonymous.
    expect(sample(text, 'rampart_validation_failures_total', { route: 'screened', kind: 'screen', consumer: 'anonymous' })).toBe(1);
    expect(sample(text, 'rampart_validation_failures_total', { route: 'contracted', kind: 'contract', consumer: 'anonymous' })).toBe(2);
    expect(samples(text, 'rampart_validation_failures_total')).toHaveLength(2);
  });

  it('records upstream latency and errors per route', async () => {
    for (let i = 0; i < 3; i++) expect(await status(`${gw.url}/flaky/x`)).toBe(503);
    expect(await status(`${gw.url}/dead/x`)).toBe(502);
    await settled('flaky', 3);
    await settled('dead', 1);
    const text = await scrape();
    expect(sample(text, 'rampart_upstream_errors_total', { route: 'flaky', kind: 'server-error' })).toBe(3);
    expect(sample(text, 'rampart_upstream_errors_total', { route: 'dead', kind: 'connect-error' })).toBe(1);
    // Latency to the upstream's headers: every answered attempt, none for a target that never answered.
    expect(sample(text, 'rampart_upstream_duration_seconds_count', { route: 'flaky' })).toBe(3);
    expect(sample(text, 'rampart_upstream_duration_seconds_bucket', { route: 'flaky', le: '+Inf' })).toBe(3);
    expect(sample(text, 'rampart_upstream_duration_seconds_count', { route: 'dead' })).toBe(0);
    expect(sample(text, 'rampart_consumer_requests_total', { route: 'flaky', consumer: 'anonymous', status_class: '5xx' })).toBe(3);
  });
});

describe('the consumer label is bounded and never personal data in clear', () => {
  let upstream: RecordingUpstream;
  let gw: TestGateway;
  let privateKey: CryptoKey;
  const MAX = 10;

  const token = (claims: Record<string, unknown>) => {
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ iss: ISSUER, aud: AUDIENCE, iat: now, exp: now + 300, ...claims }).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).sign(privateKey);
  };
  const scrape = async () => (await fetch(`${gw.adminUrl}/metrics`)).text();

  beforeAll(async () => {
    const pair = await generateKeyPair('ES256', { extractable: true });
    privateKey = pair.privateKey;
    const jwk: JWK = { ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'ES256' };
    upstream = await startRecordingUpstream();
    gw = await startTestGateway({
      admin: { host: '127.0.0.1', port: 0 },
      observability: { metrics: { consumers: { max: MAX } } },
      issuers: { corp: { issuer: ISSUER, audiences: [AUDIENCE], algorithms: ['ES256'], keys: [{ kid: 'k1', alg: 'ES256', jwk }] } },
      routes: [
        { id: 'people', match: { path: '/people/**' }, upstream: upstream.url, authenticate: [{ jwt: 'corp' }] },
        { id: 'apps', match: { path: '/apps/**' }, upstream: upstream.url, authenticate: [{ jwt: 'corp' }] },
        { id: 'open', match: { path: '/open/**' }, upstream: upstream.url, public: true },
      ],
    });
  });

  afterAll(async () => {
    await gw?.close();
    await upstream?.close();
  });

  it('labels users by their client claim, and e-mail subjects or client ids only by a keyed pseudonym', async () => {
    const viaApp = await token({ sub: 'bob@example.com', azp: 'mobile-app' });
    const noClient = await token({ sub: 'carol@example.com' });
    const mailClient = await token({ client_id: 'svc@example.com' });
    for (const bearer of [viaApp, viaApp, noClient, mailClient]) expect(await status(`${gw.url}/people/me`, { headers: { authorization: `Bearer ${bearer}` } })).toBe(200);
    await waitFor(async () => samples(await scrape(), 'rampart_consumer_requests_total').filter(([l]) => l.route === 'people').reduce((s, [, v]) => s + v, 0) === 4, '4 requests');
    const text = await scrape();
    const people = samples(text, 'rampart_consumer_requests_total').filter(([l]) => l.route === 'people');
    expect(sample(text, 'rampart_consumer_requests_total', { route: 'people', consumer: 'mobile-app', status_class: '2xx' })).toBe(2);
    const pseudonyms = people.map(([l]) => l.consumer!).filter((c) => c !== 'mobile-app');
    expect(pseudonyms).toHaveLength(2);
    for (const value of pseudonyms) expect(value).toMatch(/^p:[0-9a-f]{32}$/);
    expect(new Set(pseudonyms).size).toBe(2);
    // No subject or client id with an "@" appears anywhere in the scrape.
    expect(text).not.toContain('example.com');
    expect(text).not.toContain('bob');
    expect(text).not.toContain('carol');
  });

  it(`keeps 1,000 distinct principals to at most ${MAX} + 2 consumer values`, async () => {
    const before = await scrape();
    const admittedBefore = new Set(samples(before, 'rampart_consumer_requests_total').map(([l]) => l.consumer));
    const tokens = await Promise.all(Array.from({ length: 1000 }, (_, i) => token({ client_id: `app-${i}` })));
    // Ten at a time: a real client pattern, and the gateway verifies each distinct token once.
    for (let i = 0; i < tokens.length; i += 10) {
      const batch = await Promise.all(tokens.slice(i, i + 10).map((t) => status(`${gw.url}/apps/x`, { headers: { authorization: `Bearer ${t}` } })));
      expect(batch.every((s) => s === 200)).toBe(true);
    }
    for (let i = 0; i < 5; i++) expect(await status(`${gw.url}/open/x`)).toBe(200);
    await waitFor(async () => sample(await scrape(), 'rampart_requests_total', { route: 'apps', status: '200' }) === 1000, '1000 requests on apps');
    await waitFor(async () => sample(await scrape(), 'rampart_requests_total', { route: 'open', status: '200' }) === 5, '5 requests on open');
    const text = await scrape();
    const consumers = new Set(samples(text, 'rampart_consumer_requests_total').map(([l]) => l.consumer));
    expect(consumers.size).toBeLessThanOrEqual(MAX + 2);
    expect(consumers.has('other')).toBe(true);
    expect(consumers.has('anonymous')).toBe(true);
    // The first test admitted 3 values; the rest of the MAX went to the first app-N seen, then everything is other.
    const apps = samples(text, 'rampart_consumer_requests_total').filter(([l]) => l.route === 'apps');
    const own = apps.filter(([l]) => l.consumer !== 'other');
    expect(own).toHaveLength(MAX - admittedBefore.size);
    for (const [labels, value] of own) {
      expect(labels.consumer).toMatch(/^app-\d{1,3}$/);
      expect(value).toBe(1);
    }
    expect(sample(text, 'rampart_consumer_requests_total', { route: 'apps', consumer: 'other', status_class: '2xx' })).toBe(1000 - own.length);
    expect(sample(text, 'rampart_consumer_requests_total', { route: 'open', consumer: 'anonymous', status_class: '2xx' })).toBe(5);
    const histogramConsumers = new Set(samples(text, 'rampart_consumer_request_duration_seconds_count').map(([l]) => l.consumer));
    expect(histogramConsumers).toEqual(consumers);
  });
});
