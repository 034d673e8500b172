/**
 * The two input streams of anomaly detection (issue 6, point 5; OWASP API Security Top 10 2023 API2, API4, API1,
 * API6 and the checklist item 6 "logging and monitoring"):
 *
 * - security events, as every policy already emits them through `SecurityEvents` (src/observe/events.ts), and
 * - one request observation per finished request, fed by the gateway (`AnomalyDetection.observe`).
 *
 * Every detector reads time from the observation (`at`) or from an injected clock, never from `Date.now()`, so the
 * same code runs on live traffic and on replayed traces (src/detect/traces.ts) in tests.
 */
import type { SecurityEvent, Severity } from '../observe/events.ts';

/** Milliseconds since the epoch. Injected everywhere so tests replay traces instead of waiting. */
export type Clock = () => number;

/**
 * One finished request, as the gateway saw it. Built once per request at `#finished` time; detectors only read it,
 * so the gateway may reuse one object per request context. Never holds a secret: `credentialId` is an identifier
 * (key prefix, token `jti`, keyed hash of a session id), not the credential.
 */
export interface RequestObservation {
  /** When the request finished (epoch ms, from the gateway's clock). */
  readonly at: number;
  readonly requestId: string;
  /** The route id from config, or `-` when nothing matched. */
  readonly routeId: string;
  readonly method: string;
  /** Final status (499 when the client went away first). */
  readonly status: number;
  /** The client address as resolved through trusted proxies. */
  readonly clientAddress: string;
  /** The authenticated principal's subject, when authentication succeeded. */
  readonly principal?: string;
  /** A non-secret id of the credential used: API key id/prefix, token `jti`, or keyed hash of the session id. */
  readonly credentialId?: string;
  /** The normalised object id the authorize policy checked (`authorize.object`), allowed or not. */
  readonly objectId?: string;
  /** True when the route is `sensitivity: admin`. */
  readonly admin?: boolean;
}

/** Names of the detectors, also their config keys under `detectors:` and the suffix of their event type. */
export type DetectorName =
  | 'bruteForce'
  | 'credentialStuffing'
  | 'tokenSharing'
  | 'bolaEnumeration'
  | 'scraping'
  | 'errorSpike'
  | 'adminActivity';

export const DETECTOR_NAMES: readonly DetectorName[] = [
  'bruteForce',
  'credentialStuffing',
  'tokenSharing',
  'bolaEnumeration',
  'scraping',
  'errorSpike',
  'adminActivity',
];

/** The security event type each detector raises: `anomaly.<kebab-case name>`. */
export const ANOMALY_TYPES: Readonly<Record<DetectorName, string>> = {
  bruteForce: 'anomaly.brute-force',
  credentialStuffing: 'anomaly.credential-stuffing',
  tokenSharing: 'anomaly.token-sharing',
  bolaEnumeration: 'anomaly.bola-enumeration',
  scraping: 'anomaly.scraping',
  errorSpike: 'anomaly.error-spike',
  adminActivity: 'anomaly.admin-activity',
};

/**
 * `details` of every `anomaly.*` event. Counts and identifiers only: the distinct accounts, addresses or object ids
 * behind a count are never listed (they are PII or attacker-chosen strings); the request ids let an operator find
 * every detail in the access log under the same correlation id.
 */
export interface AnomalyDetails {
  readonly detector: DetectorName;
  /** Which rule of the detector fired, e.g. `distinct-accounts` or `failure-burst`. */
  readonly signal: string;
  /** The principal (subject), account reference or credential id the anomaly is about, when there is one. */
  readonly principal?: string;
  /** Events or requests counted in the window. */
  readonly count: number;
  /** The threshold that `count` (or `distinct`) crossed. */
  readonly threshold: number;
  /** Distinct accounts / addresses / object ids in the window, for the detectors that count them. */
  readonly distinct?: number;
  /** The learnt baseline the count was compared with (per bucket), for baseline detectors. */
  readonly baseline?: number;
  readonly windowMs: number;
  readonly windowStart: string;
  readonly windowEnd: string;
  /** Up to 10 request ids of the requests that made up the anomaly, most recent last. */
  readonly sampleRequestIds: readonly string[];
  /**
   * `raised`: repeats seen during the previous cool-down (reported here because it had not ended yet when this event
   * was raised). `cooldown-ended`: repeats seen during this event's own cool-down. Every repeat is reported once.
   */
  readonly suppressed: number;
  /**
   * `raised`: the anomaly crossed its threshold (the window is the one its count was measured in). `cooldown-ended`:
   * the follow-up of an earlier `raised` event whose cool-down ended (or was cut short: the table of open cool-downs
   * full, or the process shutting down) after suppressing repeats; it carries that raise's figures (count,
   * threshold, distinct, baseline, principal, route, address, request id), the latest sample request ids, and the
   * cool-down as its window: start = the raise, end = the cool-down's end. A cool-down without repeats has none.
   */
  readonly phase: 'raised' | 'cooldown-ended';
  readonly [extra: string]: unknown;
}

export interface DetectorStats {
  readonly name: DetectorName;
  /** Keys (accounts, addresses, principals, routes) currently tracked. */
  readonly tracked: number;
  /** The cap on tracked keys. */
  readonly capacity: number;
  /** Keys forgotten because the cap was reached (least recently used first). */
  readonly evictions: number;
  /** Anomaly events raised (`phase: raised`). */
  readonly raised: number;
  /** Anomalies seen again during a cool-down and counted instead of raised (reported by a later event). */
  readonly suppressed: number;
  /** Follow-up events (`phase: cooldown-ended`) sent for cool-downs that ended with repeats. */
  readonly summaries: number;
  /** Cool-downs this process raised (or lost to another node) that have not ended yet: their repeats are pending. */
  readonly openCooldowns: number;
  /** Open cool-downs ended early because their table was full (summarised then if they had repeats). */
  readonly cooldownsCut: number;
}

/** What every detector implements; `AnomalyDetection` fans the two streams out to them. */
export interface Detector {
  readonly name: DetectorName;
  /** Event types `onEvent` wants; the fan-out looks each event's type up once. */
  readonly eventTypes: readonly string[];
  /** Whether `observe` must be called for every request observation. */
  readonly observes: boolean;
  onEvent(event: SecurityEvent, now: number): void;
  observe(observation: RequestObservation): void;
  /** Ends the cool-downs due at `now`: a follow-up event for each that suppressed repeats. O(cool-downs due). */
  tick(now: number): void;
  /** Ends every open cool-down now, due or not (shutdown: what is not reported now never will be). */
  flush(now: number): void;
  stats(): DetectorStats;
}

export type { SecurityEvent, Severity };
