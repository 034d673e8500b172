/**
 * The `apis:` form with an OpenAPI contract (issue 5 point 1, issue 7 points 1 and 2): every operation of the
 * document becomes a route with the API's policies, the contract is enforced after the version prefix is removed,
 * a deprecated operation takes its dates from `x-deprecation-date` / `x-sunset-date`, and an operation deprecated
 * without a date, or left without authentication, is a config error naming the operation.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfigObject } from '../src/config/load.ts';
import { deprecationAnswer } from '../src/gateway/versions.ts';
import { startRecordingUpstream, startTestGateway, tempDir, withoutCorrelationIds, type RecordingUpstream, type TestGateway } from './helpers.ts';

const SPEC = fileURLToPath(new URL('./fixtures/apis/orders.yaml', import.meta.url));

describe('apis with an OpenAPI document', () => {
  let upstream: RecordingUpstream;
  let gw: TestGateway;

  beforeAll(async () => {
    upstream = await startRecordingUpstream();
    gw = await startTestGateway({
      apis: [{ id: 'orders', upstream: upstream.url, openapi: SPEC, defaults: { public: true }, versions: [{ version: 'v1' }] }],
      routes: [],
    });
  });

  afterAll(async () => {
    await gw?.close();
    await upstream?.close();
  });

  it('routes every operation of the document, under the version prefix, stripped before forwarding', async () => {
    expect(gw.gateway.runtime.routes.map((r) => r.id).sort()).toEqual(['orders.v1.createOrder', 'orders.v1.deleteOrder', 'orders.v1.getFile', 'orders.v1.getOrder', 'orders.v1.listOrders']);
    expect((await fetch(`${gw.url}/v1/orders`)).status).toBe(200);
    expect(upstream.seen.at(-1)!.url).toBe('/orders');
    expect((await fetch(`${gw.url}/v1/files/report.json`)).status).toBe(200);
    expect(upstream.seen.at(-1)!.url).toBe('/files/report.json');
    // A segment-embedded parameter is still checked by the contract.
    expect((await fetch(`${gw.url}/v1/files/REPORT.json`)).status).toBe(400);
    expect((await fetch(`${gw.url}/v1/nothing`)).status).toBe(404);
    expect((await fetch(`${gw.url}/v1/orders`, { method: 'PUT' })).status).toBe(405);
  });

  it('enforces the contract on the path without the prefix', async () => {
    const before = upstream.seen.length;
    const bad = await fetch(`${gw.url}/v1/orders`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ qty: 500 }) });
    expect(bad.status).toBe(400);
    const problem = (await bad.json()) as { errors: Array<{ pointer: string; rule: string }> };
    expect(problem.errors).toEqual([expect.objectContaining({ pointer: '/body/qty' })]);
    expect(withoutCorrelationIds(JSON.stringify(problem))).not.toContain('500');
    expect((await fetch(`${gw.url}/v1/orders/abc`)).status).toBe(400);
    expect(upstream.seen.length).toBe(before);
    expect((await fetch(`${gw.url}/v1/orders`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"qty":5}' })).status).toBe(200);
  });

  it('posture: items 4 and 16 enforced by the contract; a route without one says what is missing', async () => {
    const { evaluatePosture } = await import('../src/posture/posture.ts');
    const report = evaluatePosture(gw.gateway.runtime.config);
    const cell = (route: string, item: number) => report.routes.find((r) => r.route === route)!.cells.find((c) => c.item === item)!;
    expect(cell('orders.v1.createOrder', 4)).toMatchObject({ status: 'enforced', reason: expect.stringContaining('orders.yaml') });
    expect(cell('orders.v1.createOrder', 16)).toMatchObject({ status: 'enforced', reason: expect.stringContaining('undeclared properties removed') });
    const plain = loadConfigObject({ mode: 'development', listen: { host: '127.0.0.1', port: 0 }, admin: false, routes: [{ id: 'a', match: { path: '/a' }, upstream: 'http://127.0.0.1:1', public: true }] });
    if (!plain.ok) throw new Error(plain.errors.join('\n'));
    const bare = evaluatePosture(plain.config).routes[0]!.cells;
    expect(bare.find((c) => c.item === 4)!.status).toBe('missing');
    expect(bare.find((c) => c.item === 16)!.status).toBe('partial');
  });

  it('a deprecated operation answers with its RFC 9745/8594 headers from the document', async () => {
    const res = await fetch(`${gw.url}/v1/orders/7`, { method: 'DELETE' });
    expect(res.status).toBe(200);
    expect(res.headers.get('deprecation')).toBe(`@${Date.parse('2026-01-15T00:00:00Z') / 1000}`);
    expect(res.headers.get('sunset')).toBe('Thu, 01 Jan 2099 00:00:00 GMT');
    expect(res.headers.get('link')).toContain('<https://docs.example.com/orders-delete>; rel="deprecation"');
    expect((await fetch(`${gw.url}/v1/orders/7`)).headers.get('deprecation')).toBeNull();
  });
});

describe('apis config errors from the document', () => {
  const base = { mode: 'development', listen: { host: '127.0.0.1', port: 0 }, admin: false, routes: [] };

  it('refuses an operation deprecated without a date, naming it', () => {
    const dir = tempDir();
    const spec = join(dir, 'orders.yaml');
    writeFileSync(spec, readFileSync(SPEC, 'utf8').replace("      x-deprecation-date: '2026-01-15'\n", ''));
    const result = loadConfigObject({ ...base, apis: [{ id: 'orders', upstream: 'http://127.0.0.1:1', openapi: spec, defaults: { public: true } }] });
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.errors).toContain('apis[0].openapi: DELETE /orders/{id} is deprecated: give it x-deprecation-date (RFC 9745 needs a date), or a route of this API with deprecation:');
  });

  // The document's x-deprecation-link goes into a Link header: it once went in as written, so a line break or a
  // non-Latin-1 character made the first call crash the gateway (Node refuses the header value) and `>` added
  // relations of the author's choosing. Now: an absolute http(s) URL, serialised by the URL parser, or a config error.
  it.each([
    ['javascript:alert(document.domain)', undefined],
    ['https://x.example/a>; rel="alternate", <https://evil.example/', undefined],
    ['https://x.example/a>;rel="alternate",<https://evil.example/', '<https://x.example/a%3E;rel=%22alternate%22,%3Chttps://evil.example/>; rel="deprecation"'],
    ['https://x.example/\r\nSet-Cookie: a=1', undefined],
    ['https://x.example/\u2028', undefined],
    [' https://x.example/', undefined],
    ['https://例え.jp/移行', '<https://xn--r8jz45g.jp/%E7%A7%BB%E8%A1%8C>; rel="deprecation"'],
    ['/relative/notes', undefined],
    ['https://', undefined],
    [42, undefined],
    ['https://docs.example.com', '<https://docs.example.com/>; rel="deprecation"'],
  ] as const)('x-deprecation-link %j: a safe Link header or a config error naming the route', (link, header) => {
    const dir = tempDir();
    const spec = join(dir, 'orders.yaml');
    writeFileSync(spec, readFileSync(SPEC, 'utf8').replace('x-deprecation-link: https://docs.example.com/orders-delete', `x-deprecation-link: ${JSON.stringify(link)}`));
    const result = loadConfigObject({ ...base, apis: [{ id: 'orders', upstream: 'http://127.0.0.1:1', openapi: spec, defaults: { public: true } }] });
    if (header === undefined) {
      expect(result.ok).toBe(false);
      if (!result.ok) expect(result.errors.some((e) => /deleteOrder|orders\/\{id\}|routes\[/.test(e) && e.includes('.link: not an absolute http or https URL'))).toBe(true);
      return;
    }
    if (!result.ok) throw new Error(result.errors.join('\n'));
    const deprecation = result.config.routes.find((r) => r.id === 'orders.deleteOrder')!.api!.deprecation!;
    expect(deprecationAnswer(deprecation).headers).toContain(`${header}; type="text/html", ${header!.replace('rel="deprecation"', 'rel="sunset"')}; type="text/html"`);
  });

  it('refuses operations left without authentication, naming each one', () => {
    const dir = tempDir();
    copyFileSync(SPEC, join(dir, 'orders.yaml'));
    const result = loadConfigObject({ ...base, apis: [{ id: 'orders', upstream: 'http://127.0.0.1:1', openapi: 'orders.yaml' }] }, { baseDir: dir });
    expect(result.ok).toBe(false);
    if (!result.ok) {
      expect(result.errors.some((e) => e.startsWith('apis[0].openapi(GET /orders): '))).toBe(true);
      expect(result.errors.some((e) => e.startsWith('apis[0].openapi(DELETE /orders/{id}): '))).toBe(true);
    }
  });

  it('a weakened default on a route of apis: is acknowledged by the path its refusal shows, and posture puts it on that route only', async () => {
    const document = {
      ...base,
      apis: [
        {
          id: 'orders',
          upstream: 'http://127.0.0.1:1',
          openapi: SPEC,
          defaults: { public: true },
          routes: [{ id: 'orders', match: { path: '/orders', methods: ['GET', 'POST'] }, 'security-headers': false }],
        },
      ],
    };
    const refused = loadConfigObject(document);
    expect(refused.ok).toBe(false);
    if (refused.ok) return;
    // The message names the route as written (apis[0].routes[0]) and tells people to acknowledge that path.
    const message = refused.errors.find((e) => e.includes('security-headers-disabled'))!;
    const path = /path: "([^"]+)"/.exec(message)?.[1];
    expect(path).toBe('apis[0].routes[0].security-headers');
    const acknowledged = loadConfigObject({ ...document, acknowledge: [{ rule: 'security-headers-disabled', path, reason: 'the upstream sets them', expires: '2999-12-31' }] });
    if (!acknowledged.ok) throw new Error(acknowledged.errors.join('\n'));
    expect(acknowledged.config.warnings.filter((w) => w.includes('matches no weakened default'))).toEqual([]);
    const { evaluatePosture } = await import('../src/posture/posture.ts');
    const report = evaluatePosture(acknowledged.config);
    // Item 12 (security headers): weakened on the route that turned them off, on no other route of the API.
    const weakenedOn = report.routes.filter((r) => r.cells.some((c) => c.item === 12 && c.status === 'weakened')).map((r) => r.route);
    expect(weakenedOn).toEqual(['orders.orders']);
    expect(acknowledged.config.accepted.map((a) => a.path)).toEqual([`routes[${acknowledged.config.routes.find((r) => r.id === 'orders.orders')!.index}].security-headers`]);
  });

  it('an explicit route covers its operations; the rest are generated', () => {
    const result = loadConfigObject({
      ...base,
      apis: [{ id: 'orders', upstream: 'http://127.0.0.1:1', openapi: SPEC, defaults: { public: true }, routes: [{ id: 'orders', match: { path: '/orders', methods: ['GET', 'POST'] } }] }],
    });
    if (!result.ok) throw new Error(result.errors.join('\n'));
    expect(result.config.routes.map((r) => r.id).sort()).toEqual(['orders.deleteOrder', 'orders.getFile', 'orders.getOrder', 'orders.orders']);
  });
});
