/**
 * The one interface every policy uses to report security and audit events (ARCHITECTURE.md "One request").
 * For now events go to the log; the monitoring issue (6) puts the tamper-evident audit store and the events
 * store behind this same interface, so policies never change when storage arrives.
 */
import type { Logger } from 'pino';
import type { Privacy } from '../audit/privacy.ts';
import { redactDetails } from '../audit/redact.ts';

export type Severity = 'info' | 'low' | 'medium' | 'high' | 'critical';

export interface SecurityEvent {
  /** Stable dotted name, e.g. `path.rejected`, `cors.origin-denied`, `csp.violation`. */
  readonly type: string;
  readonly severity: Severity;
  readonly requestId?: string;
  readonly routeId?: string;
  readonly clientAddress?: string;
  /** Structured evidence. Never a secret or a credential: callers hash or omit them. */
  readonly details?: Readonly<Record<string, unknown>>;
}

export interface SecurityEvents {
  emit(event: SecurityEvent): void;
}

/** Writes each event as one structured log line at a level that follows its severity. */
export class LoggingSecurityEvents implements SecurityEvents {
  readonly #logger: Logger;
  readonly #privacy: Privacy | undefined;
  /**
   * With `privacy`, the line carries the client address as privacy.addresses says (hashed by default) and the
   * details redacted as the audit chain stores them (no credential, identifiers pseudonymised: redact.ts), so
   * the log never holds more personal data than the audit chain. Without it (tests), the event as emitted.
   */
  constructor(logger: Logger, privacy?: Privacy) {
    this.#logger = logger.child({ stream: 'security' });
    this.#privacy = privacy;
  }
  emit(event: SecurityEvent): void {
    // `info` events are per-request records (a successful authentication, a data access) that the audit chain
    // keeps: at debug level here, so a normal log level does not write a line for every request.
    const level = event.severity === 'high' || event.severity === 'critical' ? 'warn' : event.severity === 'info' ? 'debug' : 'info';
    if (!this.#logger.isLevelEnabled(level)) return;
    const privacy = this.#privacy;
    const logged =
      privacy === undefined
        ? event
        : {
            ...event,
            ...(event.clientAddress === undefined ? {} : { clientAddress: privacy.address(event.clientAddress) ?? undefined }),
            ...(event.details === undefined ? {} : { details: redactDetails(event.details, privacy) }),
          };
    this.#logger[level]({ event: logged }, `security event ${event.type}`);
  }
}

/** Collects events in memory; used by tests to assert that an event was raised. */
export class RecordingSecurityEvents implements SecurityEvents {
  readonly events: SecurityEvent[] = [];
  readonly #next: SecurityEvents | undefined;
  constructor(next?: SecurityEvents) {
    this.#next = next;
  }
  emit(event: SecurityEvent): void {
    this.events.push(event);
    this.#next?.emit(event);
  }
}
