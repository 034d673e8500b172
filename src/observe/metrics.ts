/**
 * Prometheus metrics for the admin listener. Label sets are bounded: route ids come from config and statuses
 * from a fixed range, never from request data, so an attacker cannot grow the series count.
 */
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export class GatewayMetrics {
  readonly registry = new Registry();
  readonly requests: Counter<'route' | 'status'>;
  readonly duration: Histogram<'route'>;
  readonly upstreamDuration: Histogram<'route'>;
  readonly upstreamErrors: Counter<'route' | 'kind'>;
  readonly rejected: Counter<'reason'>;
  readonly securityEvents: Counter<'type'>;

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'rampart_process_' });
    this.requests = new Counter({
      name: 'rampart_requests_total',
      help: 'Requests answered, by route and status',
      labelNames: ['route', 'status'],
      registers: [this.registry],
    });
    this.duration = new Histogram({
      name: 'rampart_request_duration_seconds',
      help: 'Total request latency at the gateway, by route',
      labelNames: ['route'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [this.registry],
    });
    this.upstreamDuration = new Histogram({
      name: 'rampart_upstream_duration_seconds',
      help: 'Time to the upstream response headers, by route',
      labelNames: ['route'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [this.registry],
    });
    this.upstreamErrors = new Counter({
      name: 'rampart_upstream_errors_total',
      help: 'Upstream failures, by route and kind (connect, timeout, reset, server-error, no-target)',
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

  /** Per-route handles, resolved once per route so the hot path does no label hashing. */
  forRoute(route: string): RouteMetrics {
    return new RouteMetrics(this, route);
  }
}

export class RouteMetrics {
  readonly #metrics: GatewayMetrics;
  readonly #route: string;
  readonly #byStatus = new Map<number, ReturnType<Counter<'route' | 'status'>['labels']>>();
  readonly duration: ReturnType<Histogram<'route'>['labels']>;
  readonly upstreamDuration: ReturnType<Histogram<'route'>['labels']>;

  constructor(metrics: GatewayMetrics, route: string) {
    this.#metrics = metrics;
    this.#route = route;
    this.duration = metrics.duration.labels(route);
    this.upstreamDuration = metrics.upstreamDuration.labels(route);
  }

  countRequest(status: number): void {
    let counter = this.#byStatus.get(status);
    if (counter === undefined) {
      counter = this.#metrics.requests.labels(this.#route, String(status));
      this.#byStatus.set(status, counter);
    }
    counter.inc();
  }

  upstreamError(kind: string): void {
    this.#metrics.upstreamErrors.labels(this.#route, kind).inc();
  }
}
