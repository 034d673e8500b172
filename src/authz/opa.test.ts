/**
 * The OPA client against a small server on port 0 that speaks OPA's Data API (no OPA binary can be installed
 * here): POST /v1/data/<path> with {"input": ...}, answering {"result": ...}.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { OpaClient, interpretOpaAnswer } from './opa.ts';

interface Seen {
  readonly path: string;
  readonly body: unknown;
}

describe('OPA Data API client', () => {
  let server: Server;
  let base: string;
  const seen: Seen[] = [];
  /** Answer per document path; the default policy allows subject "alice" only. */
  const answers: Record<string, (input: Record<string, unknown>) => { status: number; body: string } | 'hang'> = {
    'rampart/authz/allow': (input) => ({ status: 200, body: JSON.stringify({ result: (input.principal as { subject: string }).subject === 'alice' }) }),
    'rampart/authz/decision': () => ({ status: 200, body: JSON.stringify({ result: { allow: true, reason: 'ok' } }) }),
    'rampart/authz/denyobject': () => ({ status: 200, body: JSON.stringify({ result: { allow: false } }) }),
    'rampart/authz/undefined': () => ({ status: 200, body: '{}' }),
    'rampart/authz/truthy': () => ({ status: 200, body: JSON.stringify({ result: 'true' }) }),
    'rampart/authz/broken': () => ({ status: 500, body: JSON.stringify({ code: 'internal_error' }) }),
    'rampart/authz/garbage': () => ({ status: 200, body: '{"result": tru' }),
    'rampart/authz/slow': () => 'hang',
  };

  beforeAll(async () => {
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const path = (req.url ?? '').replace(/^\/v1\/data\//, '');
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { input: Record<string, unknown> };
        seen.push({ path, body });
        const answer = req.method === 'POST' && req.headers['content-type'] === 'application/json' ? answers[path]?.(body.input) : undefined;
        if (answer === 'hang') return; // never answers: the client's deadline must deny
        if (answer === undefined) {
          res.writeHead(404).end();
          return;
        }
        res.writeHead(answer.status, { 'content-type': 'application/json' }).end(answer.body);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  const client = (path: string, extra: { timeoutMs?: number; cacheTtlMs?: number; now?: () => number } = {}) =>
    new OpaClient({ url: base, path, timeoutMs: extra.timeoutMs ?? 2000, cacheTtlMs: extra.cacheTtlMs ?? 0, now: extra.now });

  it('posts {"input": ...} to /v1/data/<path> and allows on {"result": true}', async () => {
    const opa = client('rampart/authz/allow');
    const input = { principal: { subject: 'alice' }, request: { method: 'GET', path: '/orders/7' } };
    expect(await opa.decide(input)).toEqual({ allow: true, cached: false });
    expect(seen.at(-1)).toEqual({ path: 'rampart/authz/allow', body: { input } });
    expect(await opa.decide({ principal: { subject: 'bob' } })).toMatchObject({ allow: false, reason: 'OPA result is not true' });
    opa.close();
  });

  it('accepts {"result": {"allow": true}} and denies {"allow": false}', async () => {
    expect((await client('rampart/authz/decision').decide({})).allow).toBe(true);
    expect(await client('rampart/authz/denyobject').decide({})).toMatchObject({ allow: false, reason: 'OPA result.allow is not true' });
  });

  it('fails closed: undefined decision, non-boolean result, 500, 404, malformed JSON, unreachable, timeout', async () => {
    expect(await client('rampart/authz/undefined').decide({})).toMatchObject({ allow: false, reason: 'OPA decision is undefined for this input' });
    expect(await client('rampart/authz/truthy').decide({})).toMatchObject({ allow: false });
    expect(await client('rampart/authz/broken').decide({})).toMatchObject({ allow: false, reason: 'OPA answered 500' });
    expect(await client('rampart/authz/missing').decide({})).toMatchObject({ allow: false, reason: 'OPA answered 404' });
    expect(await client('rampart/authz/garbage').decide({})).toMatchObject({ allow: false, reason: 'OPA answer is not JSON' });
    const unreachable = new OpaClient({ url: 'http://127.0.0.1:1', path: 'x', timeoutMs: 2000, cacheTtlMs: 0 });
    expect(await unreachable.decide({})).toMatchObject({ allow: false, reason: expect.stringContaining('unreachable') });
    expect(await client('rampart/authz/slow', { timeoutMs: 100 }).decide({})).toMatchObject({ allow: false, reason: 'OPA did not answer within 100 ms' });
  });

  it('caches decisions by input for cacheTtl (injected clock), and not failures', async () => {
    let now = 1_000_000;
    const opa = client('rampart/authz/allow', { cacheTtlMs: 10_000, now: () => now });
    const before = seen.length;
    const input = { principal: { subject: 'alice' }, n: 1 };
    expect(await opa.decide(input)).toEqual({ allow: true, cached: false });
    expect(await opa.decide({ principal: { subject: 'alice' }, n: 1 })).toEqual({ allow: true, cached: true });
    expect(await opa.decide({ principal: { subject: 'bob' }, n: 1 })).toMatchObject({ allow: false, cached: false });
    expect(await opa.decide({ principal: { subject: 'bob' }, n: 1 })).toMatchObject({ allow: false, cached: true });
    expect(seen.length - before).toBe(2);
    now += 10_001;
    expect(await opa.decide(input)).toEqual({ allow: true, cached: false });
    expect(seen.length - before).toBe(3);

    const failing = client('rampart/authz/broken', { cacheTtlMs: 10_000, now: () => now });
    await failing.decide({});
    await failing.decide({});
    expect(seen.length - before).toBe(5);
  });

  it('shares one request between identical inputs in flight', async () => {
    const opa = client('rampart/authz/allow');
    const before = seen.length;
    const answers = await Promise.all(Array.from({ length: 5 }, () => opa.decide({ principal: { subject: 'alice' }, same: true })));
    expect(answers.every((a) => a.allow)).toBe(true);
    expect(seen.length - before).toBe(1);
  });

  it('interprets answers strictly', () => {
    expect(interpretOpaAnswer(200, '{"result":true}').allow).toBe(true);
    expect(interpretOpaAnswer(200, '{"result":{"allow":true}}').allow).toBe(true);
    for (const body of ['{"result":1}', '{"result":"true"}', '{"result":[true]}', '{"result":{"allow":"true"}}', '{"result":null}', 'null', '[]', '{"allow":true}']) {
      expect(interpretOpaAnswer(200, body).allow).toBe(false);
    }
    expect(interpretOpaAnswer(201, '{"result":true}').allow).toBe(false);
  });
});
