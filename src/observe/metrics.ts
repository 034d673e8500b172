/**
 * Prometheus metrics for the admin listener. Label sets are bounded: route ids, policy names, rule paths and limit
 * names come from config, reasons and statuses from fixed lists, consumers from a capped set; never a value the
 * client chose, so an attacker cannot grow the series count.
 *
 * The per-request series (requests, latencies, per-consumer counts) are plain numbers updated in place and turned
 * into Prometheus samples only when /metrics is scraped: prom-client's labelled children re-validate and re-hash
 * their labels on every observe(), a cost the gateway's hot path cannot carry. Refusals (authentication failures,
 * denials, validation failures, rate limiting) use the same plain-number pattern through `LabelledCounter`, so a
 * flood of refused requests costs a Map lookup each. Rare events (upstream errors, protocol-level refusals,
 * security events) use prom-client directly.
 */
import { Counter, Registry, collectDefaultMetrics } from 'prom-client';
import { createHmac, randomBytes } from 'node:crypto';
import type { Principal } from '../policies/types.ts';
import type { ErrorCode } from '../errors/catalogue.ts';

const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

interface Sample {
  metricName?: string;
  labels: Record<string, string | number>;
  value: number;
}

interface MetricValues {
  name: string;
  help: string;
  type: string;
  aggregator: string;
  values: Sample[];
}

/** Appends the cumulative bucket, sum and count samples of one histogram series. */
function histogramSamples(values: Sample[], name: string, labels: Record<string, string>, series: HistogramSeries): void {
  let cumulative = 0;
  LATENCY_BUCKETS.forEach((le, i) => {
    cumulative += series.counts[i]!;
    values.push({ metricName: `${name}_bucket`, labels: { le, ...labels }, value: cumulative });
  });
  values.push({ metricName: `${name}_bucket`, labels: { le: '+Inf', ...labels }, value: series.count });
  values.push({ metricName: `${name}_sum`, labels, value: series.sum });
  values.push({ metricName: `${name}_count`, labels, value: series.count });
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

  get(): MetricValues {
    const values: Sample[] = [];
    for (const [route, series] of this.#series) histogramSamples(values, this.name, { route }, series);
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

  get(): MetricValues {
    const values: Sample[] = [];
    for (const route of this.routes) {
      for (const [status, value] of route.byStatus) values.push({ labels: { route: route.route, status }, value });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }
}

/** Label values of the `status_class` label, indexed by the status's first digit. */
const STATUS_CLASSES = ['0xx', '1xx', '2xx', '3xx', '4xx', '5xx'] as const;

/** One consumer's requests on one route: counts by status class and a latency histogram. */
export class ConsumerSeries {
  readonly consumer: string;
  /** Counts by the status's first digit (index 0 unused: a status is always 1xx to 5xx). */
  readonly byClass = new Float64Array(STATUS_CLASSES.length);
  readonly duration = new HistogramSeries();
  constructor(consumer: string) {
    this.consumer = consumer;
  }
  observe(status: number, seconds: number): void {
    const index = (status / 100) | 0;
    this.byClass[index >= 1 && index <= 5 ? index : 0]!++;
    this.duration.observe(seconds);
  }
}

/** The per-consumer counter and histogram, read from every route's consumer series at scrape time. */
class ConsumerRequests {
  readonly counter: { get(): MetricValues; name: string; help: string; type: string; aggregator: string };
  readonly histogram: { get(): MetricValues; name: string; help: string; type: string; aggregator: string };
  constructor(routes: readonly RouteMetrics[]) {
    const counterName = 'rampart_consumer_requests_total';
    const counterHelp = 'Requests answered, by route, consumer (bounded: see observability.metrics.consumers) and status class';
    const histogramName = 'rampart_consumer_request_duration_seconds';
    const histogramHelp = 'Total request latency at the gateway, by route and consumer';
    this.counter = {
      name: counterName,
      help: counterHelp,
      type: 'counter',
      aggregator: 'sum',
      get: () => {
        const values: Sample[] = [];
        for (const route of routes) {
          for (const series of route.consumers.values()) {
            for (let i = 1; i < STATUS_CLASSES.length; i++) {
              const value = series.byClass[i]!;
              if (value > 0) values.push({ labels: { route: route.route, consumer: series.consumer, status_class: STATUS_CLASSES[i]! }, value });
            }
          }
        }
        return { name: counterName, help: counterHelp, type: 'counter', aggregator: 'sum', values };
      },
    };
    this.histogram = {
      name: histogramName,
      help: histogramHelp,
      type: 'histogram',
      aggregator: 'sum',
      get: () => {
        const values: Sample[] = [];
        for (const route of routes) {
          for (const series of route.consumers.values()) histogramSamples(values, histogramName, { route: route.route, consumer: series.consumer }, series.duration);
        }
        return { name: histogramName, help: histogramHelp, type: 'histogram', aggregator: 'sum', values };
      },
    };
  }
}

/** The label value every series beyond a cap is folded into. */
export const OVERFLOW_LABEL = 'other';

/**
 * A counter over a fixed list of label names, kept as plain numbers per label tuple (no prom-client child per
 * tuple). At most `maxSeries` tuples: a new tuple beyond that is counted under `other` for every label but the
 * first (the route, itself bounded by config), so even a bug that let request data into a label could not grow
 * the series count without limit.
 */
export class LabelledCounter {
  readonly name: string;
  readonly help: string;
  readonly type = 'counter';
  readonly aggregator = 'sum';
  readonly labelNames: readonly string[];
  readonly #maxSeries: number;
  readonly #series = new Map<string, { readonly labels: Record<string, string>; value: number }>();

  constructor(name: string, help: string, labelNames: readonly string[], maxSeries = 10_000) {
    this.name = name;
    this.help = help;
    this.labelNames = labelNames;
    this.#maxSeries = maxSeries;
  }

  inc(values: readonly string[]): void {
    let key = values.join('\u0000');
    let series = this.#series.get(key);
    if (series === undefined) {
      let labelValues = values;
      if (this.#series.size >= this.#maxSeries) {
        labelValues = values.map((value, i) => (i === 0 ? value : OVERFLOW_LABEL));
        key = labelValues.join('\u0000');
        series = this.#series.get(key);
      }
      if (series === undefined) {
        const labels: Record<string, string> = {};
        this.labelNames.forEach((name, i) => (labels[name] = labelValues[i] ?? ''));
        series = { labels, value: 0 };
        this.#series.set(key, series);
      }
    }
    series.value++;
  }

  /** The current count of one label tuple (0 when never counted). */
  value(values: readonly string[]): number {
    return this.#series.get(values.join('\u0000'))?.value ?? 0;
  }

  get(): MetricValues {
    const values: Sample[] = [];
    for (const series of this.#series.values()) values.push({ labels: series.labels, value: series.value });
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }
}

/**
 * How a principal becomes a `consumer` label value (observability.metrics.consumers).
 *
 * - API-key and mTLS consumers, OAuth clients (client-credentials tokens): their consumer name or client id, which
 *   the operator registered and which names an application, not a person.
 * - Users (JWT, sessions, the gateway's own tokens): the first of `claims` (default `azp`, then `client_id`: the
 *   OAuth client the user came through, RFC 9068 §2.2 / OIDC Core §2), so dashboards show applications.
 * - Otherwise, and for any value that could be personal data in clear (an `@`, or anything outside a plain
 *   identifier alphabet): the keyed pseudonym `p:…` of the subject, the same one the audit chain and the logs use
 *   (privacy.pseudonym), so an operator can follow it there but the metrics never hold an identifier in clear.
 * - No principal (public routes, refused before authentication): `anonymous`.
 *
 * The set is bounded: the first `max` distinct values get their own series, every later one is `other`; so at most
 * max + 2 consumer values exist whatever the traffic.
 */
export interface ConsumerLabelOptions {
  readonly max: number;
  readonly claims: readonly string[];
  /** Keyed pseudonym of a personal identifier (privacy.pseudonym); a per-process HMAC key when absent. */
  readonly pseudonym?: (value: string) => string;
}

export const ANONYMOUS_CONSUMER = 'anonymous';
const DEFAULT_CONSUMER_OPTIONS: ConsumerLabelOptions = { max: 100, claims: ['azp', 'client_id'] };
/** A plain identifier (consumer names, client ids): nothing an e-mail address or free text would contain. */
const PLAIN_IDENTIFIER = /^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$/;
/** Pseudonyms remembered per subject: principals rebuilt per request (sessions) cost a Map lookup, not an HMAC. */
const PSEUDONYM_CACHE_SIZE = 4096;

export class ConsumerLabels {
  #options: ConsumerLabelOptions = DEFAULT_CONSUMER_OPTIONS;
  #pseudonym: (value: string) => string;
  /** Labels of principals already seen; principals are cached per credential by the authenticators. */
  #byPrincipal = new WeakMap<Principal, string>();
  readonly #pseudonyms = new Map<string, string>();
  /** The distinct consumer values admitted so far (at most options.max). */
  readonly #admitted = new Set<string>();

  constructor() {
    const key = randomBytes(32);
    this.#pseudonym = (value) => `p:${createHmac('sha256', key).update('identifier\0').update(value.slice(0, 1024), 'utf8').digest('hex').slice(0, 32)}`;
  }

  configure(options: ConsumerLabelOptions): void {
    this.#options = options;
    if (options.pseudonym !== undefined) this.#pseudonym = options.pseudonym;
    // Claims or keys may have changed: labels are worked out again (the admitted set, and its series, stay).
    this.#byPrincipal = new WeakMap();
    this.#pseudonyms.clear();
  }

  get admitted(): number {
    return this.#admitted.size;
  }

  labelOf(principal: Principal | undefined): string {
    if (principal === undefined || principal.kind === 'anonymous') return ANONYMOUS_CONSUMER;
    let label = this.#byPrincipal.get(principal);
    if (label === undefined) {
      label = this.#admit(this.#identify(principal));
      this.#byPrincipal.set(principal, label);
    }
    return label;
  }

  #identify(principal: Principal): string {
    if (principal.kind === 'consumer' || principal.kind === 'client') {
      if (isPlainIdentifier(principal.subject)) return principal.subject;
    } else {
      const claims = principal.claims;
      if (claims !== undefined) {
        for (const claim of this.#options.claims) {
          const value = Object.hasOwn(claims, claim) ? claims[claim] : undefined;
          if (typeof value === 'string' && isPlainIdentifier(value)) return value;
        }
      }
    }
    let pseudonym = this.#pseudonyms.get(principal.subject);
    if (pseudonym === undefined) {
      if (this.#pseudonyms.size >= PSEUDONYM_CACHE_SIZE) this.#pseudonyms.clear();
      pseudonym = this.#pseudonym(principal.subject);
      this.#pseudonyms.set(principal.subject, pseudonym);
    }
    return pseudonym;
  }

  #admit(value: string): string {
    if (this.#admitted.has(value)) return value;
    if (this.#admitted.size >= this.#options.max) return OVERFLOW_LABEL;
    this.#admitted.add(value);
    return value;
  }
}

/** Values that may stand in a label in clear; `anonymous` and `other` are reserved for the pipeline's own. */
function isPlainIdentifier(value: string): boolean {
  return PLAIN_IDENTIFIER.test(value) && value !== ANONYMOUS_CONSUMER && value !== OVERFLOW_LABEL;
}

/**
 * `reason` of rampart_auth_failures_total: the catalogue code the client was answered with, as a short name. The
 * policies' own reasons ("alg \"xyz\" is not allowed", "ERR_JWT_EXPIRED: ...") carry text from the token itself,
 * so they go to the security events and the audit chain, never into a label.
 */
export const AUTH_FAILURE_REASONS: Readonly<Partial<Record<ErrorCode, string>>> = {
  RAMPART_ERR_UNAUTHENTICATED: 'missing-credential',
  RAMPART_ERR_INVALID_CREDENTIAL: 'invalid-credential',
  RAMPART_ERR_CREDENTIAL_CONFLICT: 'credential-conflict',
  RAMPART_ERR_INSUFFICIENT_AUTHENTICATION: 'insufficient-authentication',
  RAMPART_ERR_AUTH_UNAVAILABLE: 'auth-unavailable',
};

/** Who answered a refused request: a policy step (name and phase), or the pipeline itself. */
export interface Answerer {
  readonly policy: string;
  readonly phase: string;
}

/** The pipeline's own authentication answers: no credential, an unrecognised one, two kinds at once. */
export const PIPELINE_AUTHENTICATION: Answerer = Object.freeze({ policy: 'gateway', phase: 'authenticate' });

export class GatewayMetrics {
  readonly registry = new Registry();
  readonly duration = new RouteHistogram('rampart_request_duration_seconds', 'Total request latency at the gateway, by route');
  readonly upstreamDuration = new RouteHistogram('rampart_upstream_duration_seconds', 'Time to the upstream response headers, by route (every attempt)');
  readonly upstreamErrors: Counter<'route' | 'kind'>;
  readonly rejected: Counter<'reason'>;
  /** Per event type (a bounded set named in code); a LabelledCounter, as every series counted per request is. */
  readonly securityEvents = new LabelledCounter('rampart_security_events_total', 'Security events raised by policies, by type', ['type'], 1_000);
  // No consumer label on authentication failures: the caller is not authenticated, and a label taken from an
  // unverified credential would let anyone mint series (the consumer label is only ever a verified principal's).
  readonly authFailures = new LabelledCounter(
    'rampart_auth_failures_total',
    'Authentication failures answered, by route, method (the authenticating policy or service; gateway: no credential, an unrecognised one or two kinds at once) and reason (from the answer\'s catalogue code)',
    ['route', 'method', 'reason'],
  );
  // The refusals below carry the consumer label of the request's principal (ConsumerLabels: bounded, pseudonymised,
  // `anonymous` before authentication, `other` beyond the bound), so one client's denials or 429s stand out.
  readonly authzDenials = new LabelledCounter(
    'rampart_authz_denials_total',
    'Authorization denials, by route, deciding rule (its config path, e.g. authorize.rule, or "permission NAME") and consumer',
    ['route', 'rule', 'consumer'],
  );
  readonly validationFailures = new LabelledCounter(
    'rampart_validation_failures_total',
    'Requests refused in the validate phase, by route, kind (the refusing policy: contract, screen, pii) and consumer',
    ['route', 'kind', 'consumer'],
  );
  readonly rateLimited = new LabelledCounter(
    'rampart_rate_limited_total',
    'Requests refused with 429 by a rate limit, by route, limit name and consumer (anonymous for limits before authentication)',
    ['route', 'limit', 'consumer'],
  );
  readonly consumers = new ConsumerLabels();
  readonly #requests = new RequestCounter();
  readonly #routes = new Map<string, RouteMetrics>();

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'rampart_process_' });
    this.registry.registerMetric(this.#requests as never);
    this.registry.registerMetric(this.duration as never);
    this.registry.registerMetric(this.upstreamDuration as never);
    const consumerRequests = new ConsumerRequests(this.#requests.routes);
    this.registry.registerMetric(consumerRequests.counter as never);
    this.registry.registerMetric(consumerRequests.histogram as never);
    for (const counter of [this.authFailures, this.authzDenials, this.validationFailures, this.rateLimited, this.securityEvents]) this.registry.registerMetric(counter as never);
    this.upstreamErrors = new Counter({
      name: 'rampart_upstream_errors_total',
      help: 'Upstream failures, by route and kind (connect-error, timeout, reset, server-error: a 5xx answer, no-target)',
      labelNames: ['route', 'kind'],
      registers: [this.registry],
    });
    this.rejected = new Counter({
      name: 'rampart_rejected_requests_total',
      help: 'Requests refused before routing, by reason (path, header, overload, ...)',
      labelNames: ['reason'],
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

  /**
   * Counts a refused request under the series its answer belongs to. `answeredBy` is the policy step (or the
   * pipeline) that refused it, `service` the gateway service that answered (the identity endpoints), `detail` the
   * internal detail (only read for the rate-limit name, which comes from config), `consumer` the principal's
   * consumer label (ConsumerLabels.labelOf).
   */
  countRefusal(route: string, code: string, answeredBy: Answerer | undefined, service: string | undefined, detail: string | undefined, consumer: string): void {
    const reason = AUTH_FAILURE_REASONS[code as ErrorCode];
    if (reason !== undefined) {
      this.authFailures.inc([route, answeredBy?.policy ?? service ?? 'gateway', reason]);
      return;
    }
    if (code === 'RAMPART_ERR_RATE_LIMITED') {
      this.rateLimited.inc([route, limitName(detail), consumer]);
      return;
    }
    if (answeredBy !== undefined && answeredBy.phase === 'validate') this.validationFailures.inc([route, answeredBy.policy, consumer]);
  }

  /** Counts an authorization denial (the authorize policy, request or response side: authz/engine.ts DENIED_RULE_KEY). */
  countDenial(route: string, rule: string, consumer: string): void {
    this.authzDenials.inc([route, denialRule(rule), consumer]);
  }
}

/**
 * The limit name in a rate-limit refusal's detail (`rate-limit: limit "NAME" (...) exceeded`, rate-limit/limiter.ts).
 * Names match ^[A-Za-z0-9._-]{1,64}$ (the policy schema), so they come from config; anything else is `unknown`.
 */
function limitName(detail: string | undefined): string {
  if (detail === undefined) return 'unknown';
  const start = detail.indexOf('limit "');
  if (start === -1) return 'unknown';
  const end = detail.indexOf('"', start + 7);
  const name = end === -1 ? '' : detail.slice(start + 7, end);
  return /^[A-Za-z0-9._-]{1,64}$/.test(name) ? name : 'unknown';
}

/**
 * The deciding rule of a denial (authz/engine.ts Denial.rule): a config path or `permission NAME`, both from config.
 * `method GET` ("no permissions configured for this method") names the request's method: folded into `method`.
 */
function denialRule(rule: string): string {
  if (rule.startsWith('method ')) return 'method';
  return rule.length <= 128 ? rule : rule.slice(0, 128);
}

export class RouteMetrics {
  readonly route: string;
  readonly byStatus = new Map<number, number>();
  readonly duration: HistogramSeries;
  readonly upstreamDuration: HistogramSeries;
  /** Per-consumer series on this route, by consumer label (bounded by ConsumerLabels). */
  readonly consumers = new Map<string, ConsumerSeries>();
  #anonymous: ConsumerSeries | undefined = undefined;
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

  /** Counts one finished request under its consumer label (from ConsumerLabels.labelOf). */
  observeConsumer(label: string, status: number, seconds: number): void {
    // Public routes see only anonymous callers: their series is kept at hand rather than looked up.
    const series = label === ANONYMOUS_CONSUMER ? (this.#anonymous ??= this.consumer(label)) : this.consumer(label);
    series.observe(status, seconds);
  }

  /** The series of one consumer label on this route. */
  consumer(label: string): ConsumerSeries {
    let series = this.consumers.get(label);
    if (series === undefined) {
      series = new ConsumerSeries(label);
      this.consumers.set(label, series);
    }
    return series;
  }

  upstreamError(kind: string): void {
    this.#metrics.upstreamErrors.labels(this.route, kind).inc();
  }
}
