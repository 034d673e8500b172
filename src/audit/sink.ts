/**
 * `AuditingSecurityEvents`: the `SecurityEvents` implementation the gateway installs when `audit:` or `events:` is
 * configured (ARCHITECTURE.md: "Security and audit events from every policy go through one `events` interface; the
 * monitoring issue gives it the tamper-evident audit store and the events store"). Policies do not change.
 *
 * For every event, in this order, each step isolated from the others' failures (`emit` never throws):
 * 1. the next sink (the logging one), unchanged;
 * 2. the audit chain, when the type is an audit event (audit-events.ts) — redacted, address protected, actor set;
 *    committed before `emit` returns with SQLite, except the batched per-request types (`BATCHED_TYPES`);
 *    `auth.succeeded` is counted per window and key instead, unless `authSuccess.record` is `every-request`
 *    (auth-success.ts): the per-request work is then a few map lookups, and redaction, address hashing, the chain
 *    write and the events-store row happen once per key and window;
 * 3. the events store (every event; counted successes as their window summaries).
 *
 * `emitDurable(event)` (not part of `SecurityEvents`) resolves once the audit entry is durable and rejects when it
 * cannot be written, for callers that must fail closed (the audit route policy with `required: true`).
 */
import type { SecurityEvent, SecurityEvents } from '../observe/events.ts';
import type { EventRecorder } from '../events-store/recorder.ts';
import { AUTH_SUCCEEDED, DATA_ACCESS, auditCategory, auditOutcome, type AuditCategory } from './audit-events.ts';
import { AuthSuccessWindows, DEFAULT_AUTH_SUCCESS, type AuthSuccessSettings } from './auth-success.ts';
import type { AuditEntryInput } from './chain.ts';
import type { Privacy } from './privacy.ts';
import { cleanText, redactDetails } from './redact.ts';
import type { AuditWriter } from './writer.ts';

/** A `SecurityEvents` that can also wait for an event's audit record to be durable. */
export interface DurableSecurityEvents extends SecurityEvents {
  emitDurable(event: SecurityEvent): Promise<void>;
}

export function isDurableSecurityEvents(events: SecurityEvents): events is DurableSecurityEvents {
  return typeof (events as Partial<DurableSecurityEvents>).emitDurable === 'function';
}

export interface AuditingSecurityEventsOptions {
  readonly privacy: Privacy;
  readonly audit?: AuditWriter;
  readonly events?: EventRecorder;
  readonly next?: SecurityEvents;
  /** Record per-request authentication successes (`auth.succeeded`); default true. */
  readonly authentication?: boolean;
  /** How they are recorded (auth-success.ts); default one entry per key per minute. */
  readonly authSuccess?: AuthSuccessSettings;
  /** Audit categories recorded (default: all). */
  readonly categories?: readonly AuditCategory[];
  readonly now?: () => number;
  /** Called when the audit chain or the events store could not take an event (log it; rate-limit there). */
  readonly onError?: (error: unknown, where: 'audit' | 'events' | 'next') => void;
}

/**
 * The two per-request, high-volume audit types: appended in batches at the end of the event-loop turn (writer.ts
 * explains the cost). Everything else, and data access through `emitDurable`, is committed before `emit` returns.
 */
export const BATCHED_TYPES: ReadonlySet<string> = new Set([AUTH_SUCCEEDED, DATA_ACCESS]);

const MAX_ACTOR = 256;
const MAX_ID = 128;

/** The principal an event is about: `details.subject`, `details.principal` or `details.userId`, else anonymous. */
function actorOf(details: Readonly<Record<string, unknown>> | undefined, privacy: Privacy): string {
  for (const name of ['subject', 'principal', 'userId']) {
    const value = details?.[name];
    if (typeof value === 'string' && value.length > 0) return cleanText(value.slice(0, MAX_ACTOR), privacy);
  }
  return 'anonymous';
}

export class AuditingSecurityEvents implements DurableSecurityEvents {
  readonly #options: AuditingSecurityEventsOptions;
  readonly #now: () => number;
  readonly #categories: ReadonlySet<AuditCategory> | undefined;
  readonly #authentication: boolean;
  /** Open auth-success windows (per-window recording with an audit chain that takes authentication entries). */
  readonly #successes: AuthSuccessWindows | undefined;

  constructor(options: AuditingSecurityEventsOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
    this.#categories = options.categories === undefined ? undefined : new Set(options.categories);
    this.#authentication = options.authentication ?? true;
    const authSuccess = options.authSuccess ?? DEFAULT_AUTH_SUCCESS;
    const audited = options.audit !== undefined && this.#authentication && (this.#categories === undefined || this.#categories.has('authentication'));
    this.#successes =
      audited && authSuccess.record === 'per-window'
        ? new AuthSuccessWindows({
            windowMs: authSuccess.windowMs,
            maxKeys: authSuccess.maxKeys,
            now: this.#now,
            write: (events) => this.#writeWindow(events),
          })
        : undefined;
  }

  /**
   * A closed window: one chain entry per key, appended together (one transaction per writer batch), and the same
   * summaries in the events store (which then holds one row per key and window too, not one per request).
   */
  #writeWindow(events: readonly SecurityEvent[]): void {
    const audit = this.#options.audit!;
    const time = this.#now();
    for (const event of events) {
      try {
        const entry = this.auditEntryOf(event, time);
        if (entry !== undefined) audit.write(entry, 'batch');
      } catch (error) {
        this.#options.onError?.(error, 'audit');
      }
      this.#record(event);
    }
  }

  /** The audit entry for an event, or undefined when the event is not audited. */
  auditEntryOf(event: SecurityEvent, time = this.#now()): AuditEntryInput | undefined {
    const type = String(event.type);
    const category = auditCategory(type);
    if (category === undefined) return undefined;
    if (this.#categories !== undefined && !this.#categories.has(category)) return undefined;
    if (type === AUTH_SUCCEEDED && !this.#authentication) return undefined;
    const { privacy } = this.#options;
    return {
      time,
      type: cleanText(type.slice(0, MAX_ID), privacy),
      actor: actorOf(event.details, privacy),
      client: privacy.address(event.clientAddress),
      route: event.routeId === undefined ? null : cleanText(String(event.routeId).slice(0, MAX_ID), privacy),
      requestId: event.requestId === undefined ? null : cleanText(String(event.requestId).slice(0, MAX_ID), privacy),
      outcome: auditOutcome(type, event.details),
      details: redactDetails(event.details, privacy),
    };
  }

  emit(event: SecurityEvent): void {
    const { next, audit, onError } = this.#options;
    if (next !== undefined) {
      try {
        next.emit(event);
      } catch (error) {
        onError?.(error, 'next');
      }
    }
    // A success counted in its window reaches the chain and the events store when the window closes (auth-success.ts).
    if (event.type === AUTH_SUCCEEDED && this.#successes !== undefined) {
      try {
        if (this.#successes.add(event)) return;
      } catch (error) {
        onError?.(error, 'audit');
      }
    }
    if (audit !== undefined) {
      try {
        const entry = this.auditEntryOf(event);
        if (entry !== undefined) audit.write(entry, BATCHED_TYPES.has(entry.type) ? 'batch' : 'now');
      } catch (error) {
        onError?.(error, 'audit');
      }
    }
    this.#record(event);
  }

  /** Step 3: the events store. */
  #record(event: SecurityEvent): void {
    const { events, onError } = this.#options;
    if (events === undefined) return;
    try {
      events.record(event);
    } catch (error) {
      onError?.(error, 'events');
    }
  }

  async emitDurable(event: SecurityEvent): Promise<void> {
    const { next, audit, onError } = this.#options;
    if (next !== undefined) {
      try {
        next.emit(event);
      } catch (error) {
        onError?.(error, 'next');
      }
    }
    this.#record(event);
    if (audit === undefined) return;
    const entry = this.auditEntryOf(event);
    if (entry !== undefined) await audit.appendDurable(entry);
  }

  /** False while the audit chain cannot be written (for readiness and fail-closed routes). */
  get healthy(): boolean {
    return this.#options.audit?.healthy ?? true;
  }

  /**
   * Resolves once every audit entry emitted so far is durable and every event is stored. The open auth-success
   * window is closed first (its counts are written now; the next success opens a new window).
   */
  async flush(): Promise<void> {
    this.#successes?.closeWindow();
    await Promise.all([this.#options.audit?.settled(), this.#options.events?.flush()]);
  }

  /** Writes the open auth-success window and stops windowing (successes emitted later get an entry each). */
  close(): void {
    this.#successes?.close();
  }
}
