import { describe, expect, it } from 'vitest';
import { GatewayMetrics } from './metrics.ts';

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
