/**
 * API versions, deprecation and sunset through the running gateway (issue 7 points 1 and 2; checklist items 10 and
 * 15): the `apis:` form expanded into routes, versions by path prefix (stripped before forwarding unless
 * stripPrefix: false), by header and by media-type parameter, 400/404 answers listing the supported versions,
 * RFC 9745 Deprecation / RFC 8594 Sunset / RFC 8288 Link headers in their exact formats, a brownout window, 410
 * after the sunset, usage counted per consumer, and config errors reported under the API's own paths.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SignJWT, exportJWK, generateKeyPair, type CryptoKey } from 'jose';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfigObject } from '../src/config/load.ts';
import { startRecordingUpstream, startTestGateway, type RecordingUpstream, type TestGateway } from './helpers.ts';

const DAY = 86_400_000;
const ISSUER = 'https://idp.test';

/** Dates relative to now, so the test never goes stale: whole days, as configs write them. */
const day = (offset: number) => new Date(Math.floor(Date.now() / DAY) * DAY + offset * DAY).toISOString().slice(0, 10);
const epochOf = (date: string) => Date.parse(`${date}T00:00:00Z`);

describe('API versions and deprecation', () => {
  let v1: RecordingUpstream;
  let v2: RecordingUpstream;
  let gw: TestGateway;
  let privateKey: CryptoKey;
  const deprecated = day(-30);
  const sunset = day(60);
  const token = async (sub: string) => {
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ iss: ISSUER, aud: 'api', sub, iat: now, exp: now + 600 }).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).sign(privateKey);
  };
  const get = (path: string, headers: Record<string, string> = {}) => fetch(gw.url + path, { headers });

  beforeAll(async () => {
    const pair = await generateKeyPair('ES256', { extractable: true });
    privateKey = pair.privateKey;
    const jwk = { ...(await exportJWK(pair.publicKey)) } as Record<string, unknown>;
    v1 = await startRecordingUpstream();
    v2 = await startRecordingUpstream();
    const now = Date.now();
    gw = await startTestGateway({
      admin: { host: '127.0.0.1', port: 0 },
      issuers: { corp: { issuer: ISSUER, audiences: ['api'], algorithms: ['ES256'], keys: [{ kid: 'k1', alg: 'ES256', jwk }] } },
      apis: [
        {
          id: 'orders',
          upstream: v1.url,
          defaults: { authenticate: [{ jwt: 'corp' }] },
          versions: [
            { version: 'v1', deprecated, sunset, link: 'https://docs.example.com/migrate-v2' },
            { version: 'v2', upstream: v2.url, stripPrefix: false },
            { version: 'v0', prefix: '/legacy/v0', deprecated: day(-400), sunset: day(-10), link: 'https://docs.example.com/v0-gone' },
          ],
          routes: [
            { id: 'list', match: { path: '/orders', methods: ['GET'] } },
            { id: 'one', match: { path: '/orders/{id}', methods: ['GET'] }, deprecation: { deprecated: day(-1) } },
            { id: 'health', match: { path: '/health', methods: ['GET'] }, public: true, authenticate: undefined },
          ],
        },
        {
          id: 'billing',
          upstream: v1.url,
          versioning: { by: 'header', header: 'Api-Version' },
          defaults: { public: true },
          versions: [
            { version: '1', deprecated: day(-5), sunset: day(30), brownouts: [{ from: new Date(now - 60_000).toISOString(), for: '1h' }] },
            { version: '2', upstream: v2.url },
          ],
          routes: [{ id: 'invoices', match: { path: '/invoices', methods: ['GET'] } }],
        },
        {
          id: 'catalog',
          upstream: v1.url,
          versioning: { by: 'media-type', default: '1' },
          defaults: { public: true },
          versions: [{ version: '1' }, { version: '2', upstream: v2.url }],
          routes: [{ id: 'items', match: { path: '/items', methods: ['GET'] } }],
        },
      ],
      routes: [{ id: 'status', match: { path: '/status' }, upstream: v1.url, public: true }],
    });
  });

  afterAll(async () => {
    await gw?.close();
    await v1?.close();
    await v2?.close();
  });

  it('path versions: the prefix is stripped before forwarding (unless stripPrefix: false), a version may override the upstream', async () => {
    const bearer = { authorization: `Bearer ${await token('alice')}` };
    expect((await get('/v1/orders', bearer)).status).toBe(200);
    expect(v1.seen.at(-1)!.url).toBe('/orders');
    expect((await get('/v2/orders?page=2', bearer)).status).toBe(200);
    expect(v2.seen.at(-1)!.url).toBe('/v2/orders?page=2');
    expect((await get('/v1/health')).status).toBe(200);
    expect(v1.seen.at(-1)!.url).toBe('/health');
    // Every API route keeps the API's authentication: deny by default holds for expanded routes.
    expect((await get('/v1/orders')).status).toBe(401);
  });

  it('an unknown version is 404 problem+json listing the versions; an unknown path is a plain 404', async () => {
    const res = await get('/v9/orders', { authorization: `Bearer ${await token('alice')}` });
    expect(res.status).toBe(404);
    const body = (await res.json()) as Record<string, unknown>;
    expect(body).toMatchObject({ code: 'RAMPART_ERR_VERSION_UNKNOWN', supportedVersions: ['v1', 'v2', 'v0'] });
    const plain = (await (await get('/v9/nothing-here')).json()) as Record<string, unknown>;
    expect(plain.code).toBe('RAMPART_ERR_ROUTE_NOT_FOUND');
    expect(plain.supportedVersions).toBeUndefined();
  });

  it('a deprecated version carries Deprecation (RFC 9745), Sunset (RFC 8594) and Link headers in their exact formats', async () => {
    const res = await get('/v1/orders', { authorization: `Bearer ${await token('alice')}` });
    expect(res.headers.get('deprecation')).toBe(`@${epochOf(deprecated) / 1000}`);
    expect(res.headers.get('sunset')).toBe(new Date(epochOf(sunset)).toUTCString());
    expect(res.headers.get('sunset')).toMatch(/^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} 00:00:00 GMT$/);
    expect(res.headers.get('link')).toBe(
      '<https://docs.example.com/migrate-v2>; rel="deprecation"; type="text/html", <https://docs.example.com/migrate-v2>; rel="sunset"; type="text/html"',
    );
    // Refusals carry them too: a client learns of the deprecation even from its 401.
    expect((await get('/v1/orders')).headers.get('deprecation')).toBe(`@${epochOf(deprecated) / 1000}`);
    const current = await get('/v2/orders', { authorization: `Bearer ${await token('alice')}` });
    expect(current.headers.get('deprecation')).toBeNull();
    expect(current.headers.get('sunset')).toBeNull();
  });

  it('a single deprecated route of a current version says so, without a sunset', async () => {
    const res = await get('/v2/orders/7', { authorization: `Bearer ${await token('alice')}` });
    expect(res.status).toBe(200);
    expect(res.headers.get('deprecation')).toBe(`@${epochOf(day(-1)) / 1000}`);
    expect(res.headers.get('sunset')).toBeNull();
  });

  it('after the sunset: 410 Gone problem+json with the link, and nothing reaches the upstream', async () => {
    const before = v1.seen.length;
    const res = await get('/legacy/v0/orders', { authorization: `Bearer ${await token('alice')}` });
    expect(res.status).toBe(410);
    expect(res.headers.get('content-type')).toBe('application/problem+json');
    expect(res.headers.get('link')).toContain('<https://docs.example.com/v0-gone>; rel="sunset"');
    expect(await res.json()).toMatchObject({ code: 'RAMPART_ERR_VERSION_GONE', link: 'https://docs.example.com/v0-gone' });
    expect(v1.seen.length).toBe(before);
  });

  it('header versions: required (400 listing versions), unknown (404), repeated (400), selected; a brownout answers 410', async () => {
    const missing = await get('/invoices');
    expect(missing.status).toBe(400);
    expect(await missing.json()).toMatchObject({ code: 'RAMPART_ERR_VERSION_REQUIRED', supportedVersions: ['1', '2'] });
    const unknown = await get('/invoices', { 'api-version': '7' });
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toMatchObject({ code: 'RAMPART_ERR_VERSION_UNKNOWN', supportedVersions: ['1', '2'] });
    for (const bad of ['1, 2', '../1', '']) {
      const res = await get('/invoices', { 'api-version': bad });
      expect(res.status, JSON.stringify(bad)).toBe(400);
    }
    const twice = await rawTwice(gw.port, '/invoices', 'Api-Version', ['2', '1']);
    expect(twice).toMatch(/^HTTP\/1\.1 400 /);
    expect(twice).toContain('RAMPART_ERR_VERSION_INVALID');
    const v2Before = v2.seen.length;
    expect((await get('/invoices', { 'api-version': '2' })).status).toBe(200);
    expect(v2.seen.length).toBe(v2Before + 1);
    expect(v2.seen.at(-1)!.url).toBe('/invoices');
    const brownout = await get('/invoices', { 'api-version': '1' });
    expect(brownout.status).toBe(410);
    expect(brownout.headers.get('deprecation')).toMatch(/^@\d+$/);
    expect(await brownout.json()).toMatchObject({ code: 'RAMPART_ERR_VERSION_BROWNOUT' });
  });

  it('media-type versions: Accept version parameter, the default when absent, conflicting parameters refused', async () => {
    const v2Before = v2.seen.length;
    expect((await get('/items', { accept: 'application/json; version=2' })).status).toBe(200);
    expect(v2.seen.length).toBe(v2Before + 1);
    const v1Before = v1.seen.length;
    expect((await get('/items', { accept: 'application/json' })).status).toBe(200);
    expect(v1.seen.length).toBe(v1Before + 1);
    expect((await get('/items', { accept: 'application/json; version=1, application/xml; version=2' })).status).toBe(400);
    expect((await get('/items', { accept: 'application/json; version=3' })).status).toBe(404);
  });

  it('counts calls to deprecated versions per consumer, for the deprecations report', async () => {
    await get('/v1/orders', { authorization: `Bearer ${await token('partner-42')}` });
    await get('/v1/orders', { authorization: `Bearer ${await token('partner-42')}` });
    const usage = (await (await fetch(`${gw.adminUrl}/deprecations`)).json()) as { entries: Array<Record<string, unknown>> };
    const partner = usage.entries.find((e) => e.consumer === 'partner-42');
    expect(partner).toMatchObject({ api: 'orders', version: 'v1', route: 'orders.v1.list', calls: 2, link: 'https://docs.example.com/migrate-v2' });
    expect(usage.entries.some((e) => e.version === 'v2' && e.route === 'orders.v2.list')).toBe(false);

    // `rampart deprecations report` reads the same from the running gateway; --notify writes one notice per consumer.
    const dir = mkdtempSync(join(tmpdir(), 'rampart-notices-'));
    const report = await cli('deprecations', 'report', '--admin', gw.adminUrl!, '--notify', dir);
    expect(report.code).toBe(0);
    expect(report.stdout).toMatch(/orders\s+v1\s+orders\.v1\.list\s+partner-42\s+2 /);
    const notice = JSON.parse(readFileSync(join(dir, 'partner-42.json'), 'utf8')) as { calls: Array<Record<string, unknown>> };
    expect(notice.calls).toEqual([expect.objectContaining({ api: 'orders', version: 'v1', calls: 2, sunset: `${sunset}T00:00:00.000Z`, link: 'https://docs.example.com/migrate-v2' })]);
    const bad = await cli('deprecations', 'report', '--admin', 'not a url');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^rampart: --admin must be an http\(s\) origin/);
    const none = await cli('deprecations', 'report');
    expect(none.code).toBe(2);
  });
});

function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [fileURLToPath(new URL('../bin/rampart.js', import.meta.url)), ...args], { timeout: 60_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

/** Sends one request with a header repeated (fetch would merge them). */
async function rawTwice(port: number, path: string, name: string, values: string[]): Promise<string> {
  const { connect } = await import('node:net');
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => {
      socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n${values.map((v) => `${name}: ${v}\r\n`).join('')}Connection: close\r\n\r\n`);
    });
    let data = '';
    socket.on('data', (c: Buffer) => (data += c.toString('latin1')));
    socket.on('end', () => resolve(data));
    socket.on('error', reject);
  });
}

describe('posture of versioned routes', () => {
  it('items 10 and 15: how a version is selected; deprecated, sunset, retired; hand-written routes say what they lack', async () => {
    const { evaluatePosture } = await import('../src/posture/posture.ts');
    const result = loadConfigObject({
      mode: 'development',
      listen: { host: '127.0.0.1', port: 0 },
      admin: false,
      routes: [{ id: 'legacy', match: { path: '/v1/old' }, upstream: 'http://127.0.0.1:1', public: true }],
      apis: [
        {
          id: 'orders',
          upstream: 'http://127.0.0.1:1',
          defaults: { public: true },
          versions: [
            { version: 'v1', deprecated: '2026-01-01', sunset: '2099-01-01', link: 'https://docs.example.com/m' },
            { version: 'v2', deprecated: '2026-06-01' },
            { version: 'v3' },
            { version: 'v0', deprecated: '2020-01-01', sunset: '2021-01-01', link: 'https://docs.example.com/gone' },
          ],
          routes: [{ id: 'list', match: { path: '/orders', methods: ['GET'] } }],
        },
      ],
    });
    if (!result.ok) throw new Error(result.errors.join('\n'));
    const cells = (item: number) => Object.fromEntries(evaluatePosture(result.config).routes.map((r) => [r.route, r.cells.find((c) => c.item === item)!]));
    const versions = cells(10);
    expect(versions['orders.v1.list']).toMatchObject({ status: 'enforced', reason: expect.stringContaining('path prefix /v1') });
    expect(versions.legacy!.status).toBe('partial');
    const sunset = cells(15);
    expect(sunset['orders.v1.list']).toMatchObject({ status: 'enforced', reason: expect.stringContaining('sunset 2099-01-01') });
    expect(sunset['orders.v2.list']).toMatchObject({ status: 'partial', reason: expect.stringContaining('lacks a sunset date and a migration link') });
    expect(sunset['orders.v3.list']!.status).toBe('enforced');
    expect(sunset['orders.v0.list']).toMatchObject({ status: 'enforced', reason: expect.stringContaining('retired on 2021-01-01') });
    expect(sunset.legacy!.status).toBe('missing');
  });
});

describe('config errors in apis: name the API path', () => {
  const base = { mode: 'development', listen: { host: '127.0.0.1', port: 0 }, admin: false, routes: [] };
  const errorsOf = (apis: unknown[]) => {
    const result = loadConfigObject({ ...base, apis });
    return result.ok ? [] : result.errors;
  };

  it('reports route errors under apis[a].routes[r], once for all versions', () => {
    const errors = errorsOf([
      { id: 'a', upstream: 'http://127.0.0.1:1', versions: [{ version: 'v1' }, { version: 'v2' }], routes: [{ id: 'x', match: { path: '/x' } }] },
    ]);
    expect(errors).toEqual([expect.stringMatching(/^apis\[0\]\.routes\[0\]: .*(public|authenticat)/)]);
  });

  it('refuses bad dates, an unknown default, duplicate versions, a missing upstream and bad shapes', () => {
    expect(errorsOf([{ id: 'a', upstream: 'http://127.0.0.1:1', versions: [{ version: 'v1', deprecated: '2027-01-01', sunset: '2026-01-01' }], routes: [{ id: 'x', match: { path: '/x' }, public: true }] }])).toEqual([
      'apis[0].versions[0].sunset: must not be before the deprecation date (RFC 8594 §3)',
    ]);
    expect(errorsOf([{ id: 'a', upstream: 'http://127.0.0.1:1', versions: [{ version: 'v1', sunset: '2027-01-01' }], routes: [{ id: 'x', match: { path: '/x' }, public: true }] }])).toEqual([
      'apis[0].versions[0]: a sunset or brownouts need a deprecation date (deprecated:)',
    ]);
    expect(
      errorsOf([{ id: 'a', upstream: 'http://127.0.0.1:1', versioning: { by: 'header', default: 'v3' }, versions: [{ version: 'v1' }, { version: 'v1' }], routes: [{ id: 'x', match: { path: '/x' }, public: true }] }]),
    ).toEqual(['apis[0].versions: version names must be unique', 'apis[0].versioning.default: "v3" is not one of the versions (v1, v1)']);
    expect(errorsOf([{ id: 'a', versions: [{ version: 'v1' }], routes: [{ id: 'x', match: { path: '/x' }, public: true }] }])).toContainEqual(
      'apis[0].upstream: required (or an upstream on each version or route)',
    );
    expect(errorsOf([{ id: 'a', upstream: 'http://127.0.0.1:1', versions: [{ version: 'v1', prefix: 'v1' }], routes: [] }])).toEqual([
      expect.stringMatching(/^apis\[0\]\.versions\[0\]\.prefix: must match pattern/),
    ]);
    expect(errorsOf([{ id: 'a', upstream: 'http://127.0.0.1:1', routes: [] }])).toEqual([
      'apis[0].routes: an API needs routes, or an openapi: document whose operations become routes',
    ]);
  });
});
