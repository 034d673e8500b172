/**
 * The contract's two explicit openings (issue 5 point 2), driven through the gateway: `passthroughUnknownOperations`
 * forwards requests that match no operation of the document (instead of 404, or 405 with Allow) while declared
 * operations stay checked, and a per-operation `undeclared: { query: allow }` lets undeclared query parameters of
 * that operation through while the other operations still refuse them (mass assignment, OWASP API3:2023). Both need
 * an acknowledgement, as weakened defaults.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { startRecordingUpstream, startTestGateway, type RecordingUpstream, type TestGateway } from './helpers.ts';

const SPEC = fileURLToPath(new URL('./fixtures/contract/conformance-3.1.yaml', import.meta.url));
const ORDER_ID = '3f2a8c1e-5b7d-4e9a-8c6f-1a2b3c4d5e6f';
const ACK = { reason: 'legacy endpoints migrate by 2027', expires: '2999-12-31' };

describe('contract openings', () => {
  let upstream: RecordingUpstream;
  let gw: TestGateway;

  beforeAll(async () => {
    upstream = await startRecordingUpstream((req, res) => {
      if (req.url?.startsWith('/strict/')) {
        // An answer getOrder declares (404 problem+json), so the response side lets it through unchanged.
        res.writeHead(404, { 'content-type': 'application/problem+json' });
        res.end('{"title":"no such order"}');
        return;
      }
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('upstream');
    });
    const contract = { openapi: SPEC, stripPrefix: '/v31' };
    gw = await startTestGateway({
      routes: [
        { id: 'open', match: { path: '/v31/**' }, upstream: upstream.url, public: true, contract: { ...contract, passthroughUnknownOperations: true } },
        {
          id: 'strict',
          match: { path: '/strict/v31/**' },
          upstream: upstream.url,
          public: true,
          contract: { openapi: SPEC, stripPrefix: '/strict/v31', operations: { getOrder: { undeclared: { query: 'allow' } } } },
        },
      ],
      acknowledge: [
        { rule: 'contract-passthrough', path: 'routes[0].contract.passthroughUnknownOperations', ...ACK },
        { rule: 'contract-undeclared-query', path: 'routes[1].contract.operations.getOrder.undeclared.query', ...ACK },
      ],
    });
  });

  afterAll(async () => {
    await gw?.close();
    await upstream?.close();
  });

  const forwarded = (url: string) => upstream.seen.some((seen) => seen.url === url);

  it.each([
    ['an undeclared path', 'GET', '/v31/legacy/report', '/legacy/report'],
    ['an undeclared method on a declared path', 'PUT', `/v31/orders/${ORDER_ID}`, `/orders/${ORDER_ID}`],
    ['outside the stripped prefix', 'GET', '/v31', '/v31'],
  ])('passthroughUnknownOperations forwards %s unchecked', async (_name, method, path) => {
    const res = await fetch(`${gw.url}${path}`, { method, body: method === 'PUT' ? 'anything at all' : undefined });
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('upstream');
    expect(upstream.seen.some((seen) => seen.method === method && seen.url === path)).toBe(true);
  });

  it('declared operations on the passthrough route are still checked', async () => {
    const bad = await fetch(`${gw.url}/v31/orders/not-a-uuid`);
    expect(bad.status).toBe(400);
    expect(forwarded('/v31/orders/not-a-uuid')).toBe(false);
    const undeclaredQuery = await fetch(`${gw.url}/v31/orders?role=admin`);
    expect(undeclaredQuery.status).toBe(400);
    expect(forwarded('/v31/orders?role=admin')).toBe(false);
  });

  it('without passthrough the same requests are 404 and 405 with Allow', async () => {
    const unknown = await fetch(`${gw.url}/strict/v31/legacy/report`);
    expect(unknown.status).toBe(404);
    const method = await fetch(`${gw.url}/strict/v31/orders/${ORDER_ID}`, { method: 'PUT', body: 'x' });
    expect(method.status).toBe(405);
    expect(method.headers.get('allow')).toMatch(/GET/);
    expect(forwarded('/strict/v31/legacy/report')).toBe(false);
  });

  it('undeclared: { query: allow } opens only the operation it names', async () => {
    const opened = await fetch(`${gw.url}/strict/v31/orders/${ORDER_ID}?trace=1&expand=items`);
    expect(opened.status).toBe(404);
    expect(await opened.json()).toMatchObject({ title: 'no such order' });
    expect(forwarded(`/strict/v31/orders/${ORDER_ID}?trace=1&expand=items`)).toBe(true);
    // listOrders has no opening: the same kind of parameter is refused there, and named in the problem.
    const closed = await fetch(`${gw.url}/strict/v31/orders?trace=1`);
    expect(closed.status).toBe(400);
    expect(JSON.stringify(await closed.json())).toContain('/query/trace');
    expect(forwarded('/strict/v31/orders?trace=1')).toBe(false);
  });
});
