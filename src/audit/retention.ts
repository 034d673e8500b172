/**
 * `privacy.retention` (issue 7 point 5; GDPR art. 5(1)(e) storage limitation): the validated settings, with the
 * checks the JSON Schema cannot express. The purge itself is src/privacy/subject/retention.ts; the audit part
 * (prune with an anchor) runs in the gateway from configured.ts.
 *
 * Lower bounds, so a typo cannot wipe a store: audit at least 1 day (an audit log that forgets within hours is not
 * one), sessions at least 1 day and at least `identity.refreshTokenTtl` (a shorter retention would purge refresh
 * families while their tokens are still valid: users would be logged out early, which is a lifetime setting, not a
 * retention one), events at least 1 minute (as `events.retention`), deprecation usage at least 1 hour.
 */
import { parseDuration } from '../config/units.ts';
import { PRUNE_RECORD_TYPE, type AuditEntryInput } from './chain.ts';
import type { AuditStore, PruneInfo } from './store.ts';

export interface RetentionSettings {
  /** Reported only: the files are the log shipper's (logrotate, journald, a collector). */
  readonly accessLogsMs: number | undefined;
  readonly auditMs: number | undefined;
  readonly eventsMs: number | undefined;
  readonly sessionsMs: number | undefined;
  readonly deprecationUsageMs: number | undefined;
  readonly sweepEveryMs: number;
}

const DAY = 86_400_000;
const HOUR = 3_600_000;
const DEFAULT_REFRESH_TTL = '14d';
const DEFAULT_SWEEP = HOUR;

const MINIMUMS: Record<string, { ms: number; text: string }> = {
  audit: { ms: DAY, text: '1d' },
  sessions: { ms: DAY, text: '1d' },
  events: { ms: 60_000, text: '1m' },
  deprecationUsage: { ms: HOUR, text: '1h' },
  sweepEvery: { ms: 1000, text: '1s' },
};

function durationOf(value: unknown): number | undefined {
  if (value === undefined) return undefined;
  try {
    return parseDuration(value as string | number);
  } catch {
    return undefined;
  }
}

/**
 * Reads `privacy.retention` of a schema-validated `privacy` section; pushes errors (with their config paths) for
 * what the schema cannot check.
 */
export function retentionOf(privacy: Readonly<Record<string, unknown>> | undefined, document: Readonly<Record<string, unknown>>, errors: string[]): RetentionSettings {
  const raw = (privacy?.['retention'] ?? {}) as Record<string, unknown>;
  const read = (name: string): number | undefined => {
    const ms = durationOf(raw[name]);
    const minimum = MINIMUMS[name];
    if (ms !== undefined && minimum !== undefined && ms < minimum.ms) errors.push(`privacy.retention.${name}: must be at least ${minimum.text}`);
    return ms;
  };
  const settings: RetentionSettings = {
    accessLogsMs: read('accessLogs'),
    auditMs: read('audit'),
    eventsMs: read('events'),
    sessionsMs: read('sessions'),
    deprecationUsageMs: read('deprecationUsage'),
    sweepEveryMs: read('sweepEvery') ?? DEFAULT_SWEEP,
  };
  const identity = document['identity'];
  if (settings.sessionsMs !== undefined && typeof identity === 'object' && identity !== null) {
    const ttl = durationOf((identity as Record<string, unknown>)['refreshTokenTtl'] ?? DEFAULT_REFRESH_TTL);
    if (ttl !== undefined && settings.sessionsMs < ttl) {
      errors.push('privacy.retention.sessions: must be at least identity.refreshTokenTtl (shorten the token lifetime instead)');
    }
  }
  return settings;
}

/** The entry a prune appends: it names the anchor, which `verify` requires (chain.ts, verify.ts). */
export function pruneRecord(info: PruneInfo, time: number): AuditEntryInput {
  return {
    time,
    type: PRUNE_RECORD_TYPE,
    actor: 'rampart',
    client: null,
    route: null,
    requestId: null,
    outcome: 'info',
    details: { anchorSeq: info.anchor.seq, anchorHash: info.anchor.hash, entries: info.pruned, before: new Date(info.beforeTime).toISOString() },
  };
}

export interface AuditRetentionOptions {
  readonly retentionMs: number;
  /** How often `start` prunes (default 1 h). */
  readonly everyMs?: number;
  readonly now?: () => number;
  readonly onError?: (error: unknown) => void;
  /** Entries per transaction (default 10,000). */
  readonly batch?: number;
}

/**
 * Small batches, at most this many per run, with a turn of the event loop between them: with SQLite a batch is
 * synchronous work in the gateway process (verify and delete), so a first run over a large backlog must not hold
 * requests up; what is left goes in the next runs.
 */
const DEFAULT_BATCH = 10_000;
const MAX_BATCHES_PER_RUN = 20;

/**
 * Prunes the audit chain to its retention: every run deletes the entries older than `now - retentionMs` (in
 * batches, each its own transaction with its own `audit.pruned` record) and keeps the anchor. Several gateway
 * processes may run it on one store: each batch takes the store's write lock, so the second finds nothing to do.
 */
export class AuditRetention {
  readonly #store: AuditStore;
  readonly #options: AuditRetentionOptions;
  readonly #now: () => number;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<number> | undefined;

  constructor(store: AuditStore, options: AuditRetentionOptions) {
    if (!Number.isSafeInteger(options.retentionMs) || options.retentionMs <= 0) throw new Error('audit retention must be a positive duration');
    this.#store = store;
    this.#options = options;
    this.#now = options.now ?? Date.now;
  }

  /** One run; resolves how many entries were pruned. Concurrent calls share the run in progress. */
  run(): Promise<number> {
    this.#running ??= this.#run().finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  async #run(): Promise<number> {
    const before = this.#now() - this.#options.retentionMs;
    let total = 0;
    for (let i = 0; i < MAX_BATCHES_PER_RUN; i++) {
      const result = await this.#store.prune(before, (info) => pruneRecord(info, this.#now()), { maxEntries: this.#options.batch ?? DEFAULT_BATCH });
      total += result.pruned;
      if (result.pruned === 0) break;
      await new Promise((resolve) => setImmediate(resolve));
    }
    return total;
  }

  /** Runs now and then every `everyMs` on an unref'd timer; errors go to `onError` (never thrown). */
  start(): void {
    if (this.#timer !== undefined) return;
    const tick = () => {
      this.run().catch((error: unknown) => this.#options.onError?.(error));
    };
    tick();
    this.#timer = setInterval(tick, this.#options.everyMs ?? HOUR).unref();
  }

  async stop(): Promise<void> {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#running?.catch(() => undefined);
  }
}
