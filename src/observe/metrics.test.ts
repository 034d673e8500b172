import { describe, expect, it } from 'vitest';
import { ConsumerLabels, GatewayMetrics, LabelledCounter } from './metrics.ts';
import type { Principal } from '../policies/types.ts';

describe('gateway metrics', () => {
  it('exposes per-route request counts and cumulative latency buckets in Prometheus text format', async () => {
    const metrics = new GatewayMetrics();
    const route = metrics.forRoute('orders');
    for (const status of [200, 200, 404]) route.countRequest(status);
    for (const seconds of [0.0005, 0.003, 0.003, 0.2, 30]) route.duration.observe(seconds);
    const text = await metrics.registry.metrics();
    expect(text).toContain('rampart_requests_total{route="orders",status="200"} 2');
    expect(text).toContain('rampart_requests_total{route="orders",status="404"} 1');
    expect(text).toContain('rampart_request_duration_seconds_bucket{le="0.001",route="orders"} 1');
    expect(text).toContain('rampart_request_duration_seconds_bucket{le="0.005",route="orders"} 3');
    expect(text).toContain('rampart_request_duration_seconds_bucket{le="0.25",route="orders"} 4');
    expect(text).toContain('rampart_request_duration_seconds_bucket{le="10",route="orders"} 4');
    expect(text).toContain('rampart_request_duration_seconds_bucket{le="+Inf",route="orders"} 5');
    expect(text).toContain('rampart_request_duration_seconds_count{route="orders"} 5');
    expect(text).toMatch(/rampart_request_duration_seconds_sum\{route="orders"\} 30\.206/);
  });

  it('keeps one series per route id across reloads (the same handle is returned)', () => {
    const metrics = new GatewayMetrics();
    expect(metrics.forRoute('a')).toBe(metrics.forRoute('a'));
  });
});

describe('bounded labels', () => {
  it('folds label tuples beyond the series cap into `other`, keeping the route', async () => {
    const metrics = new GatewayMetrics();
    const counter = new LabelledCounter('test_refusals_total', 'test', ['route', 'reason'], 3);
    metrics.registry.registerMetric(counter as never);
    for (const reason of ['a', 'b', 'c', 'd', 'e', 'a']) counter.inc(['r1', reason]);
    counter.inc(['r2', 'f']);
    expect(counter.value(['r1', 'a'])).toBe(2);
    expect(counter.value(['r1', 'd'])).toBe(0);
    expect(counter.value(['r1', 'other'])).toBe(2);
    expect(counter.value(['r2', 'other'])).toBe(1);
    const text = await metrics.registry.metrics();
    expect(text.split('\n').filter((line) => line.startsWith('test_refusals_total{'))).toHaveLength(5);
  });

  const principal = (kind: Principal['kind'], subject: string, claims?: Record<string, unknown>): Principal => ({ kind, subject, method: 'test', roles: [], ...(claims ? { claims } : {}) });

  it.each<[string, Principal | undefined, string | RegExp]>([
    ['no principal', undefined, 'anonymous'],
    ['an anonymous principal', principal('anonymous', 'x'), 'anonymous'],
    ['an API-key consumer', principal('consumer', 'billing-service'), 'billing-service'],
    ['an OAuth client', principal('client', 'app.v2:prod/eu'), 'app.v2:prod/eu'],
    ['a consumer named like an e-mail', principal('consumer', 'ann@example.com'), /^p:[0-9a-f]{32}$/],
    ['a consumer named `other`', principal('consumer', 'other'), /^p:[0-9a-f]{32}$/],
    ['a consumer named `anonymous`', principal('consumer', 'anonymous'), /^p:[0-9a-f]{32}$/],
    ['a consumer with a line break', principal('consumer', 'a\nb'), /^p:[0-9a-f]{32}$/],
    ['a consumer with a quote', principal('consumer', 'a"b'), /^p:[0-9a-f]{32}$/],
    ['a consumer name of 200 characters', principal('consumer', 'a'.repeat(200)), /^p:[0-9a-f]{32}$/],
    ['a consumer name starting with a dot', principal('consumer', '../etc'), /^p:[0-9a-f]{32}$/],
    ['a user with azp', principal('user', 'bob@example.com', { azp: 'web-app', client_id: 'other-app' }), 'web-app'],
    ['a user whose azp is an e-mail, with a client_id', principal('user', 'bob@example.com', { azp: 'x@y.z', client_id: 'cli' }), 'cli'],
    ['a user whose azp is not a string', principal('user', 'bob', { azp: ['web'] }), /^p:[0-9a-f]{32}$/],
    ['a user without client claims', principal('user', 'bob'), /^p:[0-9a-f]{32}$/],
    ['a user whose claims name __proto__', principal('user', 'bob', JSON.parse('{"__proto__": {"azp": "evil"}}') as Record<string, unknown>), /^p:[0-9a-f]{32}$/],
  ])('labels %s', (_name, who, expected) => {
    const labels = new ConsumerLabels();
    labels.configure({ max: 100, claims: ['azp', 'client_id'] });
    const label = labels.labelOf(who);
    if (typeof expected === 'string') expect(label).toBe(expected);
    else expect(label).toMatch(expected);
  });

  it('uses the configured pseudonym, the same value for the same subject, and at most `max` distinct values', () => {
    const labels = new ConsumerLabels();
    labels.configure({ max: 2, claims: [], pseudonym: (value) => `p:${value.length}` });
    expect(labels.labelOf(principal('user', 'carol@example.com'))).toBe('p:17');
    expect(labels.labelOf(principal('user', 'carol@example.com'))).toBe('p:17');
    expect(labels.labelOf(principal('consumer', 'alpha'))).toBe('alpha');
    expect(labels.labelOf(principal('consumer', 'beta'))).toBe('other');
    expect(labels.labelOf(principal('user', 'carol@example.com'))).toBe('p:17');
    expect(labels.labelOf(undefined)).toBe('anonymous');
    expect(labels.admitted).toBe(2);
  });
});
