/**
 * An upstream group: the targets behind one route, each with its own undici Pool (keep-alive connections),
 * plus everything that decides which target the next attempt goes to.
 *
 * - Balancing: smooth weighted round-robin (nginx's `ngx_http_upstream_get_peer`) or least-requests
 *   (fewest in-flight per unit of weight, ties by smooth weighted round-robin; power of two choices as
 *   Envoy's LEAST_REQUEST does once there are many targets).
 * - Passive health (Envoy outlier detection, "consecutive 5xx / gateway failure"): N failures in a row
 *   eject a target for a growing time, never more than `maxEjectedPercent` of the group at once.
 * - Active health (nginx `health_check`, Envoy HTTP health checker): a periodic GET per target with
 *   healthy/unhealthy thresholds.
 * - Circuit breaker per target (resilience4j style): opens on the failure *rate* over a rolling window,
 *   half-opens after a delay with a few trial requests. Distinct from ejection, which reacts to a run of
 *   consecutive failures: a target failing 40% of requests is never ejected but can trip the breaker.
 * - Retry budget (Envoy `retry_budget`, Linkerd `retryRatio`): retries are bounded by a share of recent
 *   requests so retries cannot multiply load on a struggling upstream (retry storms).
 *
 * Every time decision reads `deps.now` so tests drive ejection and the breaker with an injected clock.
 * `pick`, `start`, `finish` and `noteRequest` run per request and do not allocate.
 */
import { readFileSync } from 'node:fs';
import { Client, Pool } from 'undici';
import type { Logger } from 'pino';
import type { AttemptOutcome, UpstreamConfig, UpstreamGroupApi, UpstreamTarget } from './types.ts';
import { RollingCount } from './rolling-count.ts';

/** State names passed to `onStateChange` and logged. */
export type UpstreamTargetStateChange =
  | 'healthy'
  | 'unhealthy'
  | 'ejected'
  | 'returned'
  | 'circuit-open'
  | 'circuit-half-open'
  | 'circuit-closed';

export interface UpstreamGroupDeps {
  readonly logger: Logger;
  /** Clock in ms; default `Date.now`. `status().ejectedUntil` is on this clock. */
  readonly now?: () => number;
  readonly onStateChange?: (origin: string, state: string) => void;
}

export type UpstreamTargetStatus = ReturnType<UpstreamGroupApi['status']>[number];

/** Envoy's ejection time multiplier is unbounded by default; the contract caps it at 10x the base. */
const MAX_EJECTION_MULTIPLIER = 10;
/** Successive-ejection counter stops here: 2^(5-1) = 16 is already past the cap. */
const MAX_COUNTED_EJECTIONS = 5;
/** The retry budget's window (Envoy and Linkerd both use 10 s) and its bucket count. */
const RETRY_BUDGET_WINDOW_MS = 10_000;
const RETRY_BUDGET_SECONDS = RETRY_BUDGET_WINDOW_MS / 1000;
const BREAKER_BUCKETS = 10;
/**
 * Above this many targets least-requests samples two random candidates (Mitzenmacher's power of two
 * choices, Envoy's default `choice_count: 2`) instead of scanning all: O(1) per pick, and nearly as
 * good as the global minimum. Below it a full scan is cheap and exact.
 */
const TWO_CHOICES_MIN_TARGETS = 8;
/** Random draws allowed to find two distinct available candidates before falling back to a full scan. */
const TWO_CHOICES_MAX_DRAWS = 8;
/** Idle keep-alive lifetime: below the 5 s default of Node's http server, so we never reuse a socket the upstream is closing. */
const KEEP_ALIVE_TIMEOUT_MS = 4000;

const HEALTH_CHECK_HEADERS = Object.freeze({ 'user-agent': 'rampart-health-check' });

const CIRCUIT_CLOSED = 0;
const CIRCUIT_OPEN = 1;
const CIRCUIT_HALF_OPEN = 2;
type CircuitState = typeof CIRCUIT_CLOSED | typeof CIRCUIT_OPEN | typeof CIRCUIT_HALF_OPEN;
const CIRCUIT_NAMES = ['closed', 'open', 'half-open'] as const;

/**
 * The object the proxy receives from `pick()`. Created once per target and reused, so the proxy can read
 * origin / basePath / hostHeader / pool without a lookup; the rest is this group's bookkeeping.
 */
class GroupTarget implements UpstreamTarget {
  inFlight = 0;

  /** Smooth weighted round-robin: nginx's `current_weight`. */
  currentWeight = 0;

  // Passive health (outlier ejection).
  consecutiveFailures = 0;
  ejected = false;
  ejectedUntil = 0;
  /** When the last ejection ended (the time it was due back). */
  returnedAt = 0;
  lastEjectionDuration = 0;
  /** Successive ejections; reset once the target has stayed in for as long as its last ejection lasted. */
  successiveEjections = 0;

  // Active health.
  healthy = true;
  checkSuccesses = 0;
  checkFailures = 0;
  checkInFlight = false;
  healthClient: Client | null = null;

  // Circuit breaker.
  circuit: CircuitState = CIRCUIT_CLOSED;
  openedAt = 0;
  trialsInFlight = 0;
  readonly windowRequests: RollingCount;
  readonly windowFailures: RollingCount;

  constructor(
    readonly owner: UpstreamGroup,
    readonly origin: string,
    readonly basePath: string,
    readonly hostHeader: string,
    readonly pool: Pool,
    readonly weight: number,
    breakerWindowMs: number,
  ) {
    this.windowRequests = new RollingCount(breakerWindowMs, BREAKER_BUCKETS);
    this.windowFailures = new RollingCount(breakerWindowMs, BREAKER_BUCKETS);
  }
}

interface ParsedTargetUrl {
  origin: string;
  basePath: string;
  hostHeader: string;
}

function parseTargetUrl(raw: string): ParsedTargetUrl {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new TypeError(`upstream target is not a URL: ${JSON.stringify(raw)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new TypeError(`upstream target must be http or https: ${url.protocol}`);
  }
  // undici would silently drop userinfo; credentials for upstreams belong in the encrypted secrets store.
  if (url.username !== '' || url.password !== '') {
    throw new TypeError(`upstream target ${url.origin} must not carry credentials in its URL`);
  }
  // The forwarded path is base + canonical path; a query or fragment here would be ambiguous.
  if (url.search !== '' || url.hash !== '') {
    throw new TypeError(`upstream target ${url.origin} must not have a query or fragment`);
  }
  // WHATWG URL parsing already resolved dot segments and percent-encoded the path.
  const basePath = url.pathname.replace(/\/+$/, '');
  return { origin: url.origin, basePath, hostHeader: url.host };
}

function requirePositive(name: string, value: number): void {
  if (!(value > 0) || !Number.isFinite(value)) throw new RangeError(`upstream ${name} must be a positive number, got ${value}`);
}

export class UpstreamGroup implements UpstreamGroupApi {
  private readonly config: UpstreamConfig;
  private readonly logger: Logger;
  private readonly now: () => number;
  private readonly onStateChange: ((origin: string, state: string) => void) | undefined;

  private readonly targets: readonly GroupTarget[];
  /** Fast path: with one target, pick() is a few field reads. */
  private readonly single: GroupTarget | null;
  private readonly leastRequests: boolean;

  private readonly passiveEnabled: boolean;
  private readonly ejectAfter: number;
  private readonly ejectForMs: number;
  private readonly maxEjectedPercent: number;

  private readonly breakerEnabled: boolean;
  private readonly breakerThreshold: number;
  private readonly breakerMinimumRequests: number;
  private readonly breakerOpenForMs: number;
  private readonly halfOpenRequests: number;

  private readonly budgetRequests = new RollingCount(RETRY_BUDGET_WINDOW_MS, RETRY_BUDGET_SECONDS);
  private readonly budgetRetries = new RollingCount(RETRY_BUDGET_WINDOW_MS, RETRY_BUDGET_SECONDS);
  private readonly budgetRatio: number;
  private readonly minRetriesPerWindow: number;

  private healthTimer: NodeJS.Timeout | null = null;
  private closed = false;
  private closing: Promise<void> | null = null;

  constructor(config: UpstreamConfig, deps: UpstreamGroupDeps) {
    if (config.targets.length === 0) throw new RangeError('upstream group needs at least one target');
    if (!Number.isInteger(config.connectionsPerTarget) || config.connectionsPerTarget < 1) {
      throw new RangeError(`upstream connectionsPerTarget must be a positive integer, got ${config.connectionsPerTarget}`);
    }
    requirePositive('connect timeout', config.timeouts.connect);
    requirePositive('response timeout', config.timeouts.response);
    requirePositive('body idle timeout', config.timeouts.bodyIdle);
    if (config.circuitBreaker.enabled) {
      requirePositive('circuit breaker window', config.circuitBreaker.window);
      if (!Number.isInteger(config.circuitBreaker.halfOpenRequests) || config.circuitBreaker.halfOpenRequests < 1) {
        throw new RangeError('upstream circuit breaker halfOpenRequests must be a positive integer');
      }
    }
    if (config.passiveHealth.enabled && (!Number.isInteger(config.passiveHealth.consecutiveFailures) || config.passiveHealth.consecutiveFailures < 1)) {
      throw new RangeError('upstream passive health consecutiveFailures must be a positive integer');
    }
    if (config.activeHealth) {
      const check = config.activeHealth;
      if (!check.path.startsWith('/')) throw new TypeError(`health check path must start with '/': ${JSON.stringify(check.path)}`);
      requirePositive('health check interval', check.interval);
      requirePositive('health check timeout', check.timeout);
    }

    this.config = config;
    this.logger = deps.logger;
    this.now = deps.now ?? Date.now;
    this.onStateChange = deps.onStateChange;

    // The breaker window is only read when the breaker is on; any positive value keeps RollingCount valid.
    const breakerWindowMs = config.circuitBreaker.enabled ? config.circuitBreaker.window : 1000;
    // Validate every target before creating any pool, so a bad entry leaves nothing behind.
    const parsedTargets = config.targets.map((targetConfig) => {
      requirePositive('target weight', targetConfig.weight);
      return parseTargetUrl(targetConfig.url);
    });
    // Read once per group: a failure (missing or unreadable file) fails the config load, never a request.
    const connect = tlsConnectOptions(config.tls);
    this.targets = config.targets.map((targetConfig, index) => {
      const { origin, basePath, hostHeader } = parsedTargets[index]!;
      const pool = new Pool(origin, {
        ...(connect === undefined ? {} : { connect }),
        connections: config.connectionsPerTarget,
        connectTimeout: config.timeouts.connect,
        headersTimeout: config.timeouts.response,
        bodyTimeout: config.timeouts.bodyIdle,
        keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS,
        pipelining: 1,
      });
      return new GroupTarget(this, origin, basePath, hostHeader, pool, targetConfig.weight, breakerWindowMs);
    });
    this.single = this.targets.length === 1 ? this.targets[0]! : null;
    this.leastRequests = config.balance === 'least-requests';

    this.passiveEnabled = config.passiveHealth.enabled;
    this.ejectAfter = config.passiveHealth.consecutiveFailures;
    this.ejectForMs = config.passiveHealth.ejectFor;
    this.maxEjectedPercent = config.passiveHealth.maxEjectedPercent;

    this.breakerEnabled = config.circuitBreaker.enabled;
    this.breakerThreshold = config.circuitBreaker.failureRateThreshold;
    this.breakerMinimumRequests = config.circuitBreaker.minimumRequests;
    this.breakerOpenForMs = config.circuitBreaker.openFor;
    this.halfOpenRequests = config.circuitBreaker.halfOpenRequests;

    this.budgetRatio = config.retries.budgetRatio;
    this.minRetriesPerWindow = config.retries.minPerSecond * RETRY_BUDGET_SECONDS;
  }

  // ---------------------------------------------------------------- picking

  pick(exclude?: UpstreamTarget): UpstreamTarget | null {
    if (this.closed) return null;
    const now = this.now();
    const single = this.single;
    if (single !== null) return this.isAvailable(single, now) ? single : null;
    return this.leastRequests ? this.pickLeastRequests(exclude, now) : this.pickWeightedRoundRobin(exclude, now);
  }

  /**
   * nginx's smooth weighted round-robin: every available target gains its weight, the highest current
   * weight wins and pays back the total. Weights {5,1,1} give a,a,b,a,c,a,a — spread out, not bunched.
   * Unavailable targets neither gain nor pay, so they do not come back with a burst.
   */
  private pickWeightedRoundRobin(exclude: UpstreamTarget | undefined, now: number): UpstreamTarget | null {
    const targets = this.targets;
    let best: GroupTarget | null = null;
    let totalWeight = 0;
    let excludedIsAvailable = false;
    for (let i = 0; i < targets.length; i++) {
      const target = targets[i]!;
      if (!this.isAvailable(target, now)) continue;
      if (target === exclude) {
        excludedIsAvailable = true;
        continue;
      }
      target.currentWeight += target.weight;
      totalWeight += target.weight;
      if (best === null || target.currentWeight > best.currentWeight) best = target;
    }
    if (best !== null) {
      best.currentWeight -= totalWeight;
      return best;
    }
    // The excluded target is the only one left: retrying on it beats failing the request.
    return excludedIsAvailable ? (exclude as GroupTarget) : null;
  }

  /**
   * Fewest in-flight requests per unit of weight (inFlight / weight; with equal weights simply the fewest
   * in flight). Ties, which is every pick while traffic is sequential, go to smooth weighted round-robin
   * among the least loaded, so weights hold at low concurrency too (Envoy reaches the same end by
   * scaling weights by active requests). Two passes over the targets, no allocation.
   */
  private pickLeastRequests(exclude: UpstreamTarget | undefined, now: number): UpstreamTarget | null {
    const targets = this.targets;
    if (targets.length > TWO_CHOICES_MIN_TARGETS) {
      const sampled = this.pickTwoChoices(exclude, now);
      if (sampled !== null) return sampled;
    }
    let leastLoad = Infinity;
    let excludedIsAvailable = false;
    for (let i = 0; i < targets.length; i++) {
      const target = targets[i]!;
      if (!this.isAvailable(target, now)) continue;
      if (target === exclude) {
        excludedIsAvailable = true;
        continue;
      }
      const load = target.inFlight / target.weight;
      if (load < leastLoad) leastLoad = load;
    }
    if (leastLoad === Infinity) return excludedIsAvailable ? (exclude as GroupTarget) : null;
    // Division of the same integers gives the same double, so equal loads compare equal.
    let best: GroupTarget | null = null;
    let totalWeight = 0;
    for (let i = 0; i < targets.length; i++) {
      const target = targets[i]!;
      if (target === exclude || target.inFlight / target.weight !== leastLoad || !this.isAvailable(target, now)) continue;
      target.currentWeight += target.weight;
      totalWeight += target.weight;
      if (best === null || target.currentWeight > best.currentWeight) best = target;
    }
    best!.currentWeight -= totalWeight;
    return best;
  }

  /** Two distinct random available candidates, the less loaded wins; null sends the caller to a full scan. */
  private pickTwoChoices(exclude: UpstreamTarget | undefined, now: number): GroupTarget | null {
    const targets = this.targets;
    let first: GroupTarget | null = null;
    for (let draw = 0; draw < TWO_CHOICES_MAX_DRAWS; draw++) {
      // Load balancing needs spread, not unpredictability: Math.random is enough here.
      const candidate = targets[Math.floor(Math.random() * targets.length)]!;
      if (candidate === first || candidate === exclude || !this.isAvailable(candidate, now)) continue;
      if (first === null) {
        first = candidate;
        continue;
      }
      return candidate.inFlight / candidate.weight < first.inFlight / first.weight ? candidate : first;
    }
    return null;
  }

  /**
   * Whether a target can take an attempt now. Applies the time-driven transitions on the way
   * (ejection over, open circuit turning half-open), so no timer is needed for them.
   */
  private isAvailable(target: GroupTarget, now: number): boolean {
    if (target.ejected) {
      if (now < target.ejectedUntil) return false;
      this.endEjection(target);
    }
    if (!target.healthy) return false;
    if (target.circuit !== CIRCUIT_CLOSED) {
      if (target.circuit === CIRCUIT_OPEN) {
        if (now < target.openedAt + this.breakerOpenForMs) return false;
        this.setCircuit(target, CIRCUIT_HALF_OPEN, now);
      }
      return target.trialsInFlight < this.halfOpenRequests;
    }
    return true;
  }

  // ---------------------------------------------------------------- attempts

  start(target: UpstreamTarget): void {
    const own = this.own(target);
    own.inFlight++;
    // An attempt started while half-open is one of the limited trial requests.
    if (own.circuit === CIRCUIT_HALF_OPEN) own.trialsInFlight++;
  }

  finish(target: UpstreamTarget, outcome: AttemptOutcome): void {
    const own = this.own(target);
    if (own.inFlight > 0) own.inFlight--;
    // Every outcome but success is a failure of the target: 502/503/504, connect errors, timeouts, resets.
    const failed = outcome !== 'success';
    if (!this.passiveEnabled && !this.breakerEnabled) return;
    const now = this.now();
    if (this.passiveEnabled) this.recordForEjection(own, failed, now);
    if (this.breakerEnabled) this.recordForBreaker(own, failed, now);
  }

  // ---------------------------------------------------------------- passive health

  private recordForEjection(target: GroupTarget, failed: boolean, now: number): void {
    if (!failed) {
      target.consecutiveFailures = 0;
      return;
    }
    if (target.ejected) {
      if (now < target.ejectedUntil) return; // an attempt started before the ejection; already handled
      this.endEjection(target);
    }
    target.consecutiveFailures++;
    // `>=` rather than `===`: a target held in by maxEjectedPercent is ejected on its next failure once room frees up.
    if (target.consecutiveFailures >= this.ejectAfter && this.ejectionAllowed(now)) this.eject(target, now);
  }

  /**
   * Envoy's max_ejection_percent: never eject a share of the group above the limit, so a fault that hits
   * every target (or our own network) does not empty the group. With one target only 100 allows it.
   */
  private ejectionAllowed(now: number): boolean {
    let ejectedNow = 0;
    for (let i = 0; i < this.targets.length; i++) {
      const target = this.targets[i]!;
      if (target.ejected && now < target.ejectedUntil) ejectedNow++;
    }
    // Integer comparison of (ejected + 1) / count <= percent / 100.
    return (ejectedNow + 1) * 100 <= this.maxEjectedPercent * this.targets.length;
  }

  private eject(target: GroupTarget, now: number): void {
    // A target that stayed in at least as long as its last ejection lasted starts again from the base time.
    if (target.successiveEjections > 0 && now - target.returnedAt >= target.lastEjectionDuration) {
      target.successiveEjections = 0;
    }
    if (target.successiveEjections < MAX_COUNTED_EJECTIONS) target.successiveEjections++;
    const multiplier = Math.min(2 ** (target.successiveEjections - 1), MAX_EJECTION_MULTIPLIER);
    const duration = this.ejectForMs * multiplier;
    target.ejected = true;
    target.ejectedUntil = now + duration;
    target.lastEjectionDuration = duration;
    target.consecutiveFailures = 0;
    this.announce(target, 'ejected', duration);
  }

  private endEjection(target: GroupTarget): void {
    target.ejected = false;
    target.returnedAt = target.ejectedUntil;
    target.consecutiveFailures = 0;
    this.announce(target, 'returned');
  }

  // ---------------------------------------------------------------- circuit breaker

  private recordForBreaker(target: GroupTarget, failed: boolean, now: number): void {
    if (target.circuit === CIRCUIT_HALF_OPEN) {
      // Attempts are not tagged, so an attempt that started before the circuit opened and ends while it is
      // half-open is taken as a trial. With openFor longer than the response timeout (the sane setting)
      // such an attempt has long finished.
      if (target.trialsInFlight === 0) return;
      target.trialsInFlight--;
      this.setCircuit(target, failed ? CIRCUIT_OPEN : CIRCUIT_CLOSED, now);
      return;
    }
    // Open: results of attempts started before it opened say nothing new.
    if (target.circuit === CIRCUIT_OPEN) return;

    target.windowRequests.add(now);
    if (failed) target.windowFailures.add(now);
    // Evaluated on successes too: the request that reaches minimumRequests may be a success.
    // Failures first: in the common all-good case that one sum settles it.
    const failures = target.windowFailures.total(now);
    if (failures === 0) return;
    const requests = target.windowRequests.total(now);
    if (requests >= this.breakerMinimumRequests && failures >= this.breakerThreshold * requests) this.setCircuit(target, CIRCUIT_OPEN, now);
  }

  private setCircuit(target: GroupTarget, state: CircuitState, now: number): void {
    if (state === CIRCUIT_OPEN) {
      target.openedAt = now;
      target.trialsInFlight = 0;
    } else if (state === CIRCUIT_CLOSED) {
      // A fresh window: the failures that opened the circuit must not trip it again right away.
      target.windowRequests.reset();
      target.windowFailures.reset();
      target.trialsInFlight = 0;
    }
    if (target.circuit === state) return;
    target.circuit = state;
    this.announce(target, `circuit-${CIRCUIT_NAMES[state]}` as UpstreamTargetStateChange);
  }

  // ---------------------------------------------------------------- retry budget

  noteRequest(): void {
    this.budgetRequests.add(this.now());
  }

  tryAcquireRetry(): boolean {
    const now = this.now();
    const allowed = Math.max(this.budgetRatio * this.budgetRequests.total(now), this.minRetriesPerWindow);
    if (this.budgetRetries.total(now) >= allowed) return false;
    this.budgetRetries.add(now);
    return true;
  }

  // ---------------------------------------------------------------- active health

  /**
   * Checks go over a dedicated one-connection client per target, not the traffic pool: a saturated pool
   * would queue the check behind real requests and mark a busy target unhealthy (Envoy also health-checks
   * on its own connections). The path is absolute on the target, not prefixed with its base path.
   * Targets start healthy, as in nginx, so a restart does not refuse traffic until the first round.
   */
  startHealthChecks(): void {
    const check = this.config.activeHealth;
    if (check === undefined || this.healthTimer !== null || this.closed) return;
    for (const target of this.targets) {
      const connect = tlsConnectOptions(this.config.tls);
      target.healthClient = new Client(target.origin, {
        ...(connect === undefined ? {} : { connect }),
        connectTimeout: Math.min(check.timeout, this.config.timeouts.connect),
        headersTimeout: check.timeout,
        bodyTimeout: check.timeout,
        keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS,
        pipelining: 1,
      });
    }
    this.runHealthChecks();
    this.healthTimer = setInterval(() => this.runHealthChecks(), check.interval);
    // Health checks alone must not keep the process alive.
    this.healthTimer.unref();
  }

  private runHealthChecks(): void {
    for (const target of this.targets) {
      // A check slower than the interval is not stacked with another one.
      if (!target.checkInFlight) void this.checkTarget(target);
    }
  }

  private async checkTarget(target: GroupTarget): Promise<void> {
    const check = this.config.activeHealth;
    const client = target.healthClient;
    if (check === undefined || client === null) return;
    target.checkInFlight = true;
    let passed = false;
    try {
      const response = await client.request({
        method: 'GET',
        path: check.path,
        headers: HEALTH_CHECK_HEADERS,
        // Bounds the whole check, connect to last byte; the timer behind it is unref'd by Node.
        signal: AbortSignal.timeout(check.timeout),
      });
      await response.body.dump();
      passed = response.statusCode >= check.expectStatus[0] && response.statusCode <= check.expectStatus[1];
    } catch {
      passed = false;
    } finally {
      target.checkInFlight = false;
    }
    if (this.closed) return;
    this.recordCheck(target, passed);
  }

  private recordCheck(target: GroupTarget, passed: boolean): void {
    const check = this.config.activeHealth;
    if (check === undefined) return;
    if (passed) {
      target.checkFailures = 0;
      target.checkSuccesses++;
      if (!target.healthy && target.checkSuccesses >= check.healthyThreshold) {
        target.healthy = true;
        this.announce(target, 'healthy');
      }
    } else {
      target.checkSuccesses = 0;
      target.checkFailures++;
      if (target.healthy && target.checkFailures >= check.unhealthyThreshold) {
        target.healthy = false;
        this.announce(target, 'unhealthy');
      }
    }
  }

  // ---------------------------------------------------------------- lifecycle and reporting

  close(): Promise<void> {
    if (this.closing !== null) return this.closing;
    this.closed = true;
    if (this.healthTimer !== null) {
      clearInterval(this.healthTimer);
      this.healthTimer = null;
    }
    const closings: Promise<void>[] = [];
    for (const target of this.targets) {
      // close() lets in-flight proxied requests finish; health checks are simply abandoned.
      closings.push(target.pool.close());
      if (target.healthClient !== null) closings.push(target.healthClient.destroy());
    }
    this.closing = Promise.all(closings).then(() => undefined);
    return this.closing;
  }

  /** Cuts every connection now, in-flight requests included (shutdown after the drain deadline). */
  async destroy(): Promise<void> {
    void this.close();
    await Promise.allSettled(this.targets.map((target) => target.pool.destroy()));
  }

  status(): UpstreamTargetStatus[] {
    const now = this.now();
    return this.targets.map((target) => {
      // Apply due transitions so the snapshot says what pick() would see now.
      if (target.ejected && now >= target.ejectedUntil) this.endEjection(target);
      if (target.circuit === CIRCUIT_OPEN && now >= target.openedAt + this.breakerOpenForMs) {
        this.setCircuit(target, CIRCUIT_HALF_OPEN, now);
      }
      return {
        origin: target.origin,
        healthy: target.healthy,
        ejectedUntil: target.ejected ? target.ejectedUntil : 0,
        circuit: CIRCUIT_NAMES[target.circuit],
        inFlight: target.inFlight,
      };
    });
  }

  // ---------------------------------------------------------------- helpers

  private own(target: UpstreamTarget): GroupTarget {
    if (target instanceof GroupTarget && target.owner === this) return target;
    throw new TypeError('upstream target does not belong to this group');
  }

  private announce(target: GroupTarget, state: UpstreamTargetStateChange, ejectedForMs?: number): void {
    // Origin only: never the configured URL, which is where a mistaken credential would sit.
    if (ejectedForMs === undefined) this.logger.info({ origin: target.origin, state }, 'upstream target state changed');
    else this.logger.info({ origin: target.origin, state, ejectedForMs }, 'upstream target state changed');
    if (this.onStateChange === undefined) return;
    try {
      this.onStateChange(target.origin, state);
    } catch (error) {
      // A broken observer must not break request accounting on the hot path.
      this.logger.error({ err: error, origin: target.origin }, 'upstream state change listener failed');
    }
  }
}

/**
 * TLS options for https targets: verification is never switched off (rejectUnauthorized stays true); `ca`
 * replaces the system roots for this upstream, `cert`/`key` present a client certificate (mutual TLS).
 */
function tlsConnectOptions(tls: UpstreamConfig['tls']): { ca?: Buffer; cert?: Buffer; key?: Buffer; servername?: string; rejectUnauthorized: true } | undefined {
  if (tls === undefined) return undefined;
  return {
    rejectUnauthorized: true,
    ...(tls.ca === undefined ? {} : { ca: readFileSync(tls.ca) }),
    ...(tls.cert === undefined ? {} : { cert: readFileSync(tls.cert) }),
    ...(tls.key === undefined ? {} : { key: readFileSync(tls.key) }),
    ...(tls.servername === undefined ? {} : { servername: tls.servername }),
  };
}
