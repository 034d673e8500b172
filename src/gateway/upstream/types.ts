/**
 * Contract between the proxy (gateway/proxy.ts) and an upstream group (gateway/upstream/group.ts).
 * A route's `upstream` is one URL or a list of targets; the group owns one undici Pool per target
 * (keep-alive connections), picks a target per attempt, and tracks health, circuit state and the retry budget.
 */
import type { Pool } from 'undici';

export interface UpstreamTargetConfig {
  /** http(s) URL; its path (if any) is prepended to the forwarded canonical path. */
  readonly url: string;
  /** Relative weight for round-robin (default 1). */
  readonly weight: number;
}

export interface UpstreamConfig {
  readonly targets: readonly UpstreamTargetConfig[];
  readonly balance: 'round-robin' | 'least-requests';
  /** TLS to https targets: resolved PEM file paths (read when the pools are created). */
  readonly tls?: { readonly ca?: string; readonly cert?: string; readonly key?: string; readonly servername?: string };
  /** Maximum connections per target (undici Pool `connections`). */
  readonly connectionsPerTarget: number;
  readonly timeouts: {
    /** TCP/TLS connect, ms. */
    readonly connect: number;
    /** Time to the upstream's response headers, ms (→ 504). */
    readonly response: number;
    /** Idle time between body chunks from the upstream, ms. */
    readonly bodyIdle: number;
  };
  /** Passive health (outlier ejection): a target failing `consecutiveFailures` times in a row is ejected. */
  readonly passiveHealth: {
    readonly enabled: boolean;
    readonly consecutiveFailures: number;
    /** Base ejection time, ms; doubles with each successive ejection up to 10x. */
    readonly ejectFor: number;
    /** Never eject more than this share of targets (0-100); with one target nothing is ejected beyond it. */
    readonly maxEjectedPercent: number;
  };
  /** Active health checks; absent = off. */
  readonly activeHealth?: {
    readonly path: string;
    readonly interval: number;
    readonly timeout: number;
    readonly healthyThreshold: number;
    readonly unhealthyThreshold: number;
    /** Inclusive status range considered healthy. */
    readonly expectStatus: readonly [number, number];
  };
  /** Retries for idempotent requests without a body, only when nothing reached the upstream application. */
  readonly retries: {
    /** Extra attempts after the first (0 = off). */
    readonly attempts: number;
    /** Retries may not exceed this share of requests over the last 10 s (Envoy/Linkerd retry budget)... */
    readonly budgetRatio: number;
    /** ...except this many retries per second, always allowed. */
    readonly minPerSecond: number;
  };
  /** Circuit breaker per target: opens on a failure rate over a rolling window, half-opens after `openFor`. */
  readonly circuitBreaker: {
    readonly enabled: boolean;
    /** 0-1 */
    readonly failureRateThreshold: number;
    readonly minimumRequests: number;
    /** Rolling window, ms. */
    readonly window: number;
    /** Time open before a half-open trial, ms. */
    readonly openFor: number;
    /** Concurrent trial requests allowed while half-open. */
    readonly halfOpenRequests: number;
  };
}

/** One upstream target as the proxy sees it. */
export interface UpstreamTarget {
  /** `scheme://host:port` */
  readonly origin: string;
  /** Path prefix from the target URL without a trailing slash ('' when none). */
  readonly basePath: string;
  /** Host header value for the upstream (`host[:port]`). */
  readonly hostHeader: string;
  readonly pool: Pool;
  /** Requests currently in flight to this target. */
  readonly inFlight: number;
}

/** How an attempt against a target ended, as the proxy reports it. */
export type AttemptOutcome =
  | 'success' // any response below 500, or a 5xx the route treats as the application's answer
  | 'server-error' // 502, 503 or 504 from the upstream
  | 'connect-error' // refused, reset before any byte was sent, DNS failure, connect timeout
  | 'timeout' // response headers or body idle timeout
  | 'reset'; // the connection broke after the request was sent

export interface UpstreamGroupApi {
  /**
   * A target for the next attempt, or null when every target is ejected, unhealthy or has an open circuit.
   * `exclude` skips a target that just failed (retry on another target when there is one).
   */
  pick(exclude?: UpstreamTarget): UpstreamTarget | null;
  /** Call when an attempt starts (after pick); pairs with `finish`. */
  start(target: UpstreamTarget): void;
  finish(target: UpstreamTarget, outcome: AttemptOutcome): void;
  /** Counts a request against the retry budget's denominator. Call once per client request. */
  noteRequest(): void;
  /** True (and the retry is counted) when the retry budget allows one more retry now. */
  tryAcquireRetry(): boolean;
  /** Starts active health checks, if configured. */
  startHealthChecks(): void;
  /** Stops checks and closes every pool after in-flight requests finish. */
  close(): Promise<void>;
  /** Stops checks and cuts every connection at once, in-flight requests included. */
  destroy(): Promise<void>;
  /** Snapshot for /readyz, posture and tests. */
  status(): Array<{ origin: string; healthy: boolean; ejectedUntil: number; circuit: 'closed' | 'open' | 'half-open'; inFlight: number }>;
}
