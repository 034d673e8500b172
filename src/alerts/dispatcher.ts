/**
 * The alert dispatcher (issue 6, point 6): security events in, signed webhooks out.
 *
 *     emit(event) ──filter──► group table ──flush (timer)──► bounded queue ──workers──► POST (timeout) ──► retry …
 *                                                                                        └──► dead-letter list (+ JSONL)
 *
 * - `emit` only updates the group table: no I/O, no promise, no await. A receiver that hangs or answers 500 is seen
 *   only by the delivery workers, never by the request that raised the event (issue 6 "Bad input").
 * - Grouping and de-duplication: events with the same type, route and principal (or client address) become one
 *   group. A group's first event opens it; the alert goes out `groupWindow` later with the count, first/last seen and
 *   up to 10 sample request ids; events after that wait at least `repeatInterval` and go out as the next alert. So
 *   one attack is a handful of alerts with counts, not one per event (the model of Prometheus Alertmanager's
 *   group_wait / repeat_interval).
 * - Bounds: at most `maxGroups` groups per destination (beyond it events fold into one group per event type, so a
 *   flood of distinct addresses costs counts, not memory); at most `queueSize` alerts waiting (beyond it they are
 *   dead-lettered as `queue-full` and counted); at most `deadLetter.max` dead letters kept.
 * - Delivery: `concurrency` workers per destination; each attempt signed afresh (signature.ts) and bounded by
 *   `timeout` (AbortSignal); exponential backoff with equal jitter between attempts, `Retry-After` honoured up to the
 *   backoff maximum; 2xx is delivered, 408/425/429 and 5xx and network errors are retried, other 4xx are final.
 *   Redirects are not followed (a webhook that redirects is misconfigured, and following it would send signed
 *   security data to a host nobody configured).
 *
 * Time comes from the injected clock and sleep, so tests replay without waiting.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { appendFile } from 'node:fs/promises';
import { setTimeout as delay } from 'node:timers/promises';
import { Agent, request } from 'undici';
import type { SecurityEvent, SecurityEvents, Severity } from '../observe/events.ts';
import { ALERT_ID_HEADER, SIGNATURE_HEADER, signAlert } from './signature.ts';
import { alertJson, alertSlack, type AlertContent } from './payload.ts';
import { createPrivacy, type Privacy } from '../audit/privacy.ts';
import type { AlertDestination } from './schema.ts';

/** The rank of a severity; anything that is not one of the five (a bug in an emitter) ranks as `info`. */
function rank(severity: string): number {
  switch (severity) {
    case 'low':
      return 1;
    case 'medium':
      return 2;
    case 'high':
      return 3;
    case 'critical':
      return 4;
    default:
      return 0;
  }
}

function known(severity: string): Severity {
  return rank(severity) === 0 ? 'info' : (severity as Severity);
}
const SAMPLE_SIZE = 10;
/** Overflow groups per destination (one per event type, then one catch-all). */
const MAX_OVERFLOW_GROUPS = 64;
const MAX_KEY_PART = 200;

export interface TransportResponse {
  readonly status: number;
  /** The `Retry-After` header, when the receiver sent one. */
  readonly retryAfter?: string;
}

/** How one attempt is sent. The default uses undici; tests may pass their own (still to a real receiver). */
export type AlertTransport = (url: string, body: string, headers: Record<string, string>, signal: AbortSignal) => Promise<TransportResponse>;

export interface AlertDispatcherOptions {
  /** Epoch milliseconds. */
  readonly clock: () => number;
  /** Waits between attempts; must reject when `signal` aborts (default: node:timers/promises setTimeout). */
  readonly sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  /** [0, 1) for the backoff jitter (default Math.random). */
  readonly random?: () => number;
  readonly transport?: AlertTransport;
  /** The abort signal of one attempt (default `AbortSignal.timeout(ms)`); tests abort attempts by hand. */
  readonly attemptSignal?: (timeoutMs: number) => AbortSignal;
  /**
   * How client addresses, usernames and e-mail addresses appear in alert bodies: the gateway passes the one the audit
   * chain and the events store use (`createPrivacy({ addresses: privacy.addresses, key: deriveSubkey(masterKey,
   * PRIVACY_KEY_PURPOSE) })`), so alert values match stored ones. Absent: addresses are kept as the events hold them
   * and pseudonyms use a key of this process only.
   */
  readonly privacy?: Privacy;
  /** Flush due groups on a timer (default true, every second, unref'd). Tests call `flush()` themselves. */
  readonly autoFlush?: boolean;
  readonly flushIntervalMs?: number;
  /** Where delivery problems are reported: destination name, alert id, reason. Never the URL, secret or body. */
  readonly log?: (message: string, fields: Record<string, unknown>) => void;
}

export interface DeadLetter {
  readonly destination: string;
  readonly alertId: string;
  readonly type: string;
  readonly severity: Severity;
  readonly attempts: number;
  /** `queue-full`, `timeout`, `status 500`, `network ECONNREFUSED`, `shutdown`, … */
  readonly reason: string;
  readonly at: string;
  /** The unsigned body, so the alert can be sent again by hand. Holds no secret (payload.ts). */
  readonly body: string;
}

export interface DestinationStats {
  readonly name: string;
  /** Events that passed the filter. */
  readonly events: number;
  /** Events folded into an overflow group because the group table was full. */
  readonly overflowed: number;
  readonly groups: number;
  readonly overflowGroups: number;
  readonly alerts: number;
  readonly queued: number;
  readonly inFlight: number;
  readonly attempts: number;
  readonly delivered: number;
  readonly retries: number;
  readonly deadLettered: number;
  /** Alerts dead-lettered because the queue was full. */
  readonly dropped: number;
  /** Dead letters pushed out of the in-memory list by newer ones. */
  readonly deadLettersDiscarded: number;
  readonly deadLetterFileErrors: number;
}

interface Group {
  readonly key: string;
  readonly type: string;
  readonly routeId: string | undefined;
  readonly principal: string | undefined;
  readonly clientAddress: string | undefined;
  readonly overflow: boolean;
  severity: Severity;
  count: number;
  suppressed: number;
  firstSeen: number;
  lastSeen: number;
  samples: string[];
  details: Readonly<Record<string, unknown>> | undefined;
  pending: boolean;
  dueAt: number;
  lastSentAt: number;
}

interface QueuedAlert {
  readonly id: string;
  readonly type: string;
  readonly severity: Severity;
  readonly body: string;
}

/** Type filter compiled once: exact names, `prefix.*` families, `*`. */
function typeMatcher(types: readonly string[] | undefined): (type: string) => boolean {
  if (types === undefined || types.includes('*')) return () => true;
  const exact = new Set(types.filter((t) => !t.endsWith('.*')));
  const prefixes = types.filter((t) => t.endsWith('.*')).map((t) => t.slice(0, -1));
  return (type) => exact.has(type) || prefixes.some((p) => type.startsWith(p));
}

function part(value: unknown): string | undefined {
  if (typeof value !== 'string' || value === '') return undefined;
  return value.length > MAX_KEY_PART ? value.slice(0, MAX_KEY_PART) : value;
}

/** Who an event is about: an anomaly's principal, else the subject or account reference the emitter recorded. */
function principalOf(event: SecurityEvent): string | undefined {
  const d = event.details;
  if (d === undefined) return undefined;
  return part(d.principal) ?? part(d.subject) ?? part(d.user) ?? part(d.userId) ?? part(d.clientId);
}

class Destination {
  readonly config: AlertDestination;
  readonly accepts: (type: string) => boolean;
  readonly minRank: number;
  readonly groups = new Map<string, Group>();
  readonly overflow = new Map<string, Group>();
  readonly queue: QueuedAlert[] = [];
  readonly deadLetters: DeadLetter[] = [];
  inFlight = 0;
  events = 0;
  overflowed = 0;
  alerts = 0;
  attempts = 0;
  delivered = 0;
  retries = 0;
  deadLettered = 0;
  dropped = 0;
  deadLettersDiscarded = 0;
  deadLetterFileErrors = 0;
  fileChain: Promise<void> = Promise.resolve();

  constructor(config: AlertDestination) {
    this.config = config;
    this.accepts = typeMatcher(config.types);
    this.minRank = rank(config.minSeverity);
  }
}

export class AlertDispatcher implements SecurityEvents {
  readonly #destinations: Destination[];
  readonly #clock: () => number;
  readonly #sleep: (ms: number, signal: AbortSignal) => Promise<void>;
  readonly #random: () => number;
  readonly #transport: AlertTransport;
  readonly #attemptSignal: (timeoutMs: number) => AbortSignal;
  readonly #privacy: Privacy;
  readonly #log: (message: string, fields: Record<string, unknown>) => void;
  /** Aborts backoff sleeps (close: no more retries). */
  readonly #stopRetries = new AbortController();
  /** Aborts attempts in flight (close past its deadline). */
  readonly #stopAttempts = new AbortController();
  #closed = false;
  #closing: Promise<void> | undefined;
  readonly #timer: NodeJS.Timeout | undefined;
  readonly #agent: Agent | undefined;
  #idleWaiters: Array<() => void> = [];

  constructor(destinations: readonly AlertDestination[], options: AlertDispatcherOptions) {
    this.#destinations = destinations.map((d) => new Destination(d));
    this.#clock = options.clock;
    // ref: false: a backoff never keeps a process alive by itself (the gateway's shutdown calls close()).
    this.#sleep = options.sleep ?? ((ms, signal) => delay(ms, undefined, { signal, ref: false }));
    this.#random = options.random ?? Math.random;
    this.#attemptSignal = options.attemptSignal ?? ((ms) => AbortSignal.timeout(ms));
    this.#privacy = options.privacy ?? createPrivacy({ addresses: 'keep', key: randomBytes(32) });
    this.#log = options.log ?? (() => {});
    if (options.transport !== undefined) this.#transport = options.transport;
    else {
      const agent = new Agent({ connections: Math.max(1, ...destinations.map((d) => d.concurrency)) });
      this.#agent = agent;
      this.#transport = undiciTransport(agent);
    }
    if (options.autoFlush !== false && destinations.length > 0) {
      this.#timer = setInterval(() => this.flush(), options.flushIntervalMs ?? 1000);
      this.#timer.unref();
    }
  }

  /**
   * Takes an event for every destination whose filter accepts it. O(destinations), no I/O, never throws: the caller
   * is handling a request.
   */
  emit(event: SecurityEvent): void {
    if (this.#closed) return;
    const level = rank(event.severity);
    let now = Number.NaN;
    for (const d of this.#destinations) {
      if (level < d.minRank || typeof event.type !== 'string' || !d.accepts(event.type)) continue;
      if (Number.isNaN(now)) now = this.#clock();
      try {
        this.#add(d, event, now);
      } catch (error) {
        this.#log('alert grouping failed', { destination: d.config.name, error: (error as Error).message });
      }
    }
  }

  #add(d: Destination, event: SecurityEvent, now: number): void {
    d.events++;
    const type = part(event.type) ?? 'unknown';
    const routeId = part(event.routeId);
    const principal = principalOf(event);
    const clientAddress = part(event.clientAddress);
    const key = `${type}\n${routeId ?? ''}\n${principal ?? (clientAddress === undefined ? '' : `@${clientAddress}`)}`;
    let group = d.groups.get(key);
    if (group === undefined) {
      if (d.groups.size < d.config.maxGroups) {
        group = newGroup(key, type, routeId, principal, clientAddress, false);
        d.groups.set(key, group);
      } else {
        // The table is full (a flood of distinct principals or addresses): fold into one group per type, so the
        // flood is still reported, with its count, without growing memory.
        d.overflowed++;
        const overflowKey = d.overflow.size < MAX_OVERFLOW_GROUPS - 1 || d.overflow.has(type) ? type : '*';
        group = d.overflow.get(overflowKey);
        if (group === undefined) {
          group = newGroup(overflowKey, overflowKey, undefined, undefined, undefined, true);
          d.overflow.set(overflowKey, group);
        }
      }
    }
    if (!group.pending) {
      group.pending = true;
      group.count = 0;
      group.suppressed = 0;
      group.samples = [];
      group.severity = known(event.severity);
      group.firstSeen = now;
      group.dueAt = Math.max(now + d.config.groupWindowMs, group.lastSentAt + d.config.repeatIntervalMs);
    }
    group.count++;
    group.lastSeen = now;
    if (rank(event.severity) > rank(group.severity)) group.severity = known(event.severity);
    const suppressed = event.details?.suppressed;
    if (typeof suppressed === 'number' && Number.isFinite(suppressed) && suppressed > 0) group.suppressed += suppressed;
    const requestId = part(event.requestId);
    if (group.samples.length < SAMPLE_SIZE && requestId !== undefined) group.samples.push(requestId);
    group.details = typeof event.details === 'object' && event.details !== null ? event.details : undefined;
  }

  /**
   * Sends every group whose time has come (all pending groups with `force`), forgets groups idle for longer than
   * their repeat interval. Called by the timer; tests call it after moving their clock.
   */
  flush(force = false): void {
    const now = this.#clock();
    for (const d of this.#destinations) {
      for (const [key, group] of d.groups) {
        if (group.pending && (force || group.dueAt <= now)) this.#trySend(d, group, now);
        else if (!group.pending && now - group.lastSentAt >= d.config.repeatIntervalMs) d.groups.delete(key);
      }
      for (const [key, group] of d.overflow) {
        if (force || group.dueAt <= now) {
          this.#trySend(d, group, now);
          d.overflow.delete(key);
        }
      }
    }
  }

  /** Runs on a timer: an exception here would be uncaught and end the process, so none escapes. */
  #trySend(d: Destination, group: Group, now: number): void {
    try {
      this.#send(d, group, now);
    } catch (error) {
      group.pending = false;
      this.#log('alert could not be built', { destination: d.config.name, type: group.type, error: (error as Error).message });
    }
  }

  #send(d: Destination, group: Group, now: number): void {
    group.pending = false;
    group.lastSentAt = now;
    const content: AlertContent = {
      id: randomUUID(),
      type: group.type,
      severity: group.severity,
      routeId: group.routeId,
      principal: group.principal,
      clientAddress: group.clientAddress,
      count: group.count,
      firstSeen: group.firstSeen,
      lastSeen: group.lastSeen,
      sampleRequestIds: group.samples,
      suppressed: group.suppressed,
      details: group.overflow ? undefined : group.details,
      overflow: group.overflow,
    };
    group.details = undefined;
    group.samples = [];
    const body = JSON.stringify(d.config.format === 'slack' ? alertSlack(content, this.#privacy) : alertJson(content, this.#privacy));
    const alert: QueuedAlert = { id: content.id, type: content.type, severity: content.severity, body };
    d.alerts++;
    if (d.queue.length >= d.config.queueSize) {
      d.dropped++;
      this.#deadLetter(d, alert, 0, 'queue-full');
      return;
    }
    d.queue.push(alert);
    this.#pump(d);
  }

  #pump(d: Destination): void {
    while (d.inFlight < d.config.concurrency && d.queue.length > 0) {
      const alert = d.queue.shift()!;
      d.inFlight++;
      void this.#deliver(d, alert)
        .catch((error: Error) => this.#log('alert delivery failed', { destination: d.config.name, alertId: alert.id, error: error.message }))
        .finally(() => {
          d.inFlight--;
          this.#pump(d);
          this.#checkIdle();
        });
    }
  }

  async #deliver(d: Destination, alert: QueuedAlert): Promise<void> {
    const c = d.config;
    let reason = 'unknown';
    let attempt = 0;
    while (attempt < c.maxAttempts) {
      attempt++;
      const timestamp = Math.floor(this.#clock() / 1000);
      const headers: Record<string, string> = {
        'content-type': 'application/json',
        'user-agent': 'rampart-alerts/1',
        [ALERT_ID_HEADER]: alert.id,
        [SIGNATURE_HEADER]: signAlert(alert.body, c.secret, timestamp),
      };
      let retryAfterMs = 0;
      d.attempts++;
      try {
        const signal = AbortSignal.any([this.#attemptSignal(c.timeoutMs), this.#stopAttempts.signal]);
        const response = await this.#transport(c.webhook, alert.body, headers, signal);
        if (response.status >= 200 && response.status < 300) {
          d.delivered++;
          return;
        }
        reason = `status ${response.status}`;
        if (!retryable(response.status)) break;
        retryAfterMs = parseRetryAfter(response.retryAfter);
      } catch (error) {
        reason = failureReason(error, this.#stopAttempts.signal.aborted);
      }
      // Closing: every alert gets its attempt, none gets a retry.
      if (attempt >= c.maxAttempts || this.#stopRetries.signal.aborted) break;
      d.retries++;
      const base = Math.min(c.backoffMaxMs, c.backoffInitialMs * 2 ** (attempt - 1));
      // "Equal jitter" (AWS Architecture Blog, "Exponential Backoff And Jitter"): half fixed, half random, so
      // retries of many alerts spread out but none comes back at once.
      const wait = Math.max(base / 2 + this.#random() * (base / 2), Math.min(retryAfterMs, c.backoffMaxMs));
      try {
        await this.#sleep(wait, this.#stopRetries.signal);
      } catch {
        break; // closing during the backoff: dead-lettered with the last failure's reason
      }
    }
    this.#log('alert not delivered', { destination: c.name, alertId: alert.id, type: alert.type, attempts: attempt, reason });
    this.#deadLetter(d, alert, attempt, reason);
  }

  #deadLetter(d: Destination, alert: QueuedAlert, attempts: number, reason: string): void {
    d.deadLettered++;
    const letter: DeadLetter = {
      destination: d.config.name,
      alertId: alert.id,
      type: alert.type,
      severity: alert.severity,
      attempts,
      reason,
      at: new Date(this.#clock()).toISOString(),
      body: alert.body,
    };
    if (d.config.deadLetterMax > 0) {
      if (d.deadLetters.length >= d.config.deadLetterMax) {
        d.deadLetters.shift();
        d.deadLettersDiscarded++;
      }
      d.deadLetters.push(letter);
    } else d.deadLettersDiscarded++;
    const file = d.config.deadLetterFile;
    if (file !== undefined) {
      const line = `${JSON.stringify(letter)}\n`;
      // One append at a time per destination, in order; a failing disk is counted, never thrown at anyone.
      d.fileChain = d.fileChain
        .then(() => appendFile(file, line, { mode: 0o600 }))
        .catch((error: NodeJS.ErrnoException) => {
          d.deadLetterFileErrors++;
          this.#log('dead-letter file append failed', { destination: d.config.name, code: error.code ?? 'error' });
        });
    }
  }

  /** Resolves once nothing is queued or in flight (and dead-letter file appends are written). */
  async idle(): Promise<void> {
    while (!this.#isIdle()) await new Promise<void>((resolve) => this.#idleWaiters.push(resolve));
    await Promise.all(this.#destinations.map((d) => d.fileChain));
  }

  #isIdle(): boolean {
    return this.#destinations.every((d) => d.inFlight === 0 && d.queue.length === 0);
  }

  #checkIdle(): void {
    if (!this.#isIdle()) return;
    const waiters = this.#idleWaiters;
    this.#idleWaiters = [];
    for (const resolve of waiters) resolve();
  }

  /**
   * Shuts down for the gateway's graceful shutdown: takes no more events, sends every pending group now, gives each
   * queued alert its one attempt (no retries; failures are dead-lettered), and resolves when nothing is left. When
   * `deadline` aborts (or is already aborted), attempts in flight are cut and the rest of the queue is dead-lettered
   * as `shutdown` at once.
   */
  close(deadline?: AbortSignal): Promise<void> {
    this.#closing ??= this.#close(deadline);
    return this.#closing;
  }

  async #close(deadline: AbortSignal | undefined): Promise<void> {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.flush(true);
    this.#closed = true;
    this.#stopRetries.abort();
    const hardStop = () => {
      this.#stopAttempts.abort();
      for (const d of this.#destinations) {
        for (const alert of d.queue.splice(0)) this.#deadLetter(d, alert, 0, 'shutdown');
      }
      this.#checkIdle();
    };
    if (deadline?.aborted === true) hardStop();
    else deadline?.addEventListener('abort', hardStop, { once: true });
    try {
      await this.idle();
    } finally {
      deadline?.removeEventListener('abort', hardStop);
    }
    await this.#agent?.close();
  }

  deadLetters(): readonly DeadLetter[] {
    return this.#destinations.flatMap((d) => d.deadLetters);
  }

  stats(): DestinationStats[] {
    return this.#destinations.map((d) => ({
      name: d.config.name,
      events: d.events,
      overflowed: d.overflowed,
      groups: d.groups.size,
      overflowGroups: d.overflow.size,
      alerts: d.alerts,
      queued: d.queue.length,
      inFlight: d.inFlight,
      attempts: d.attempts,
      delivered: d.delivered,
      retries: d.retries,
      deadLettered: d.deadLettered,
      dropped: d.dropped,
      deadLettersDiscarded: d.deadLettersDiscarded,
      deadLetterFileErrors: d.deadLetterFileErrors,
    }));
  }
}

function newGroup(
  key: string,
  type: string,
  routeId: string | undefined,
  principal: string | undefined,
  clientAddress: string | undefined,
  overflow: boolean,
): Group {
  return {
    key,
    type,
    routeId,
    principal,
    clientAddress,
    overflow,
    severity: 'info',
    count: 0,
    suppressed: 0,
    firstSeen: 0,
    lastSeen: 0,
    samples: [],
    details: undefined,
    pending: false,
    dueAt: 0,
    lastSentAt: Number.NEGATIVE_INFINITY,
  };
}

/** 408 Request Timeout, 425 Too Early, 429 Too Many Requests and every 5xx may succeed later; other 4xx will not. */
function retryable(status: number): boolean {
  return status >= 500 || status === 408 || status === 425 || status === 429;
}

/** `Retry-After` in seconds (RFC 9110 §10.2.3 delta-seconds); an HTTP date or garbage counts as absent. */
function parseRetryAfter(value: string | undefined): number {
  if (value === undefined || !/^\d{1,6}$/.test(value.trim())) return 0;
  return Number(value.trim()) * 1000;
}

function failureReason(error: unknown, closing: boolean): string {
  if (closing) return 'shutdown';
  const e = error as { name?: string; code?: string };
  if (e?.name === 'TimeoutError' || e?.name === 'AbortError') return 'timeout';
  return `network ${e?.code ?? e?.name ?? 'error'}`;
}

/** POST with undici; the response body is read to its end (bounded) and discarded so the connection is reused. */
function undiciTransport(agent: Agent): AlertTransport {
  return async (url, body, headers, signal) => {
    const response = await request(url, { method: 'POST', body, headers, signal, dispatcher: agent });
    await response.body.dump({ limit: 64 * 1024 });
    const retryAfter = response.headers['retry-after'];
    return { status: response.statusCode, ...(typeof retryAfter === 'string' ? { retryAfter } : {}) };
  };
}
