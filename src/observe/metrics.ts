/**
 * Prometheus metrics for the admin listener. Label sets are bounded: route ids come from config and statuses
 * from a fixed range, never from request data, so an attacker cannot grow the series count.
 *
 * The per-request series (requests, latencies) are plain numbers updated in place and turned into Prometheus
 * samples only when /metrics is scraped: prom-client's labelled children re-validate and re-hash their labels on
 * every observe(), a cost the gateway's hot path cannot carry. Rare events (upstream errors, refusals, security
 * events) use prom-client directly.
 */
import { Counter, Registry, collectDefaultMetrics } from 'prom-client';

const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

interface Sample {
  metricName?: string;
  labels: Record<string, string | number>;
  value: number;
}

/** A histogram with one series per route, exposed through prom-client's registry as a custom metric. */
export class RouteHistogram {
  readonly name: string;
  readonly help: string;
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  readonly #series = new Map<string, HistogramSeries>();

  constructor(name: string, help: string) {
    this.name = name;
    this.help = help;
  }

  series(route: string): HistogramSeries {
    let series = this.#series.get(route);
    if (series === undefined) {
      series = new HistogramSeries();
      this.#series.set(route, series);
    }
    return series;
  }

  get(): { name: string; help: string; type: string; aggregator: string; values: Sample[] } {
    const values: Sample[] = [];
    for (const [route, series] of this.#series) {
      let cumulative = 0;
      LATENCY_BUCKETS.forEach((le, i) => {
        cumulative += series.counts[i]!;
        values.push({ metricName: `${this.name}_bucket`, labels: { le, route }, value: cumulative });
      });
      values.push({ metricName: `${this.name}_bucket`, labels: { le: '+Inf', route }, value: series.count });
      values.push({ metricName: `${this.name}_sum`, labels: { route }, value: series.sum });
      values.push({ metricName: `${this.name}_count`, labels: { route }, value: series.count });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }
}

export class HistogramSeries {
  /** Non-cumulative counts per bucket; the last slot is beyond the largest bound. */
  readonly counts = new Float64Array(LATENCY_BUCKETS.length + 1);
  sum = 0;
  count = 0;

  observe(seconds: number): void {
    let i = 0;
    while (i < LATENCY_BUCKETS.length && seconds > LATENCY_BUCKETS[i]!) i++;
    this.counts[i]!++;
    this.sum += seconds;
    this.count++;
  }
}

/** Requests by route and status: a custom counter metric fed by RouteMetrics. */
class RequestCounter {
  readonly name = 'rampart_requests_total';
  readonly help = 'Requests answered, by route and status';
  readonly type = 'counter';
  readonly aggregator = 'sum';
  readonly routes: RouteMetrics[] = [];

  get(): { name: string; help: string; type: string; aggregator: string; values: Sample[] } {
    const values: Sample[] = [];
    for (const route of this.routes) {
      for (const [status, value] of route.byStatus) values.push({ labels: { route: route.route, status }, value });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }
}

export class GatewayMetrics {
  readonly registry = new Registry();
  readonly duration = new RouteHistogram('rampart_request_duration_seconds', 'Total request latency at the gateway, by route');
  readonly upstreamDuration = new RouteHistogram('rampart_upstream_duration_seconds', 'Time to the upstream response headers, by route');
  readonly upstreamErrors: Counter<'route' | 'kind'>;
  readonly rejected: Counter<'reason'>;
  readonly securityEvents: Counter<'type'>;
  readonly #requests = new RequestCounter();
  readonly #routes = new Map<string, RouteMetrics>();

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'rampart_process_' });
    this.registry.registerMetric(this.#requests as never);
    this.registry.registerMetric(this.duration as never);
    this.registry.registerMetric(this.upstreamDuration as never);
    this.upstreamErrors = new Counter({
      name: 'rampart_upstream_errors_total',
      help: 'Upstream failures, by route and kind (connect-error, timeout, reset, server-error, no-target)',
      labelNames: ['route', 'kind'],
      registers: [this.registry],
    });
    this.rejected = new Counter({
      name: 'rampart_rejected_requests_total',
      help: 'Requests refused before routing, by reason (path, header, overload, ...)',
      labelNames: ['reason'],
      registers: [this.registry],
    });
    this.securityEvents = new Counter({
      name: 'rampart_security_events_total',
      help: 'Security events raised by policies, by type',
      labelNames: ['type'],
      registers: [this.registry],
    });
  }

  /** Per-route handles; the same object for the same route id across config reloads, so counts carry on. */
  forRoute(route: string): RouteMetrics {
    let metrics = this.#routes.get(route);
    if (metrics === undefined) {
      metrics = new RouteMetrics(this, route);
      this.#routes.set(route, metrics);
      this.#requests.routes.push(metrics);
    }
    return metrics;
  }
}

export class RouteMetrics {
  readonly route: string;
  readonly byStatus = new Map<number, number>();
  readonly duration: HistogramSeries;
  readonly upstreamDuration: HistogramSeries;
  readonly #metrics: GatewayMetrics;

  constructor(metrics: GatewayMetrics, route: string) {
    this.#metrics = metrics;
    this.route = route;
    this.duration = metrics.duration.series(route);
    this.upstreamDuration = metrics.upstreamDuration.series(route);
  }

  countRequest(status: number): void {
    this.byStatus.set(status, (this.byStatus.get(status) ?? 0) + 1);
  }

  upstreamError(kind: string): void {
    this.#metrics.upstreamErrors.labels(this.route, kind).inc();
  }
}
