/**
 * The one interface every policy uses to report security and audit events (ARCHITECTURE.md "One request").
 * For now events go to the log; the monitoring issue (6) puts the tamper-evident audit store and the events
 * store behind this same interface, so policies never change when storage arrives.
 */
import type { Logger } from 'pino';

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
  constructor(logger: Logger) {
    this.#logger = logger.child({ stream: 'security' });
  }
  emit(event: SecurityEvent): void {
    // `info` events are per-request records (a successful authentication, a data access) that the audit chain
    // keeps: at debug level here, so a normal log level does not write a line for every request.
    const level = event.severity === 'high' || event.severity === 'critical' ? 'warn' : event.severity === 'info' ? 'debug' : 'info';
    this.#logger[level]({ event }, `security event ${event.type}`);
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
