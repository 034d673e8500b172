/**
 * Retention per store with automatic purge (issue 7 point 5; GDPR art. 5(1)(e) storage limitation), from
 * `privacy.retention` (audit/retention.ts validates it):
 *
 * | store             | purge                                                                                      |
 * |-------------------|--------------------------------------------------------------------------------------------|
 * | sessions          | ended sessions and expired refresh families as soon as they end (`purgeExpired`); with      |
 * |                   | `sessions: D`, also anything created more than D ago, whatever its state                    |
 * | events            | rows older than the shorter of `events.retention` and `privacy.retention.events`            |
 * | audit             | prune with an anchor (chain.ts): the oldest entries go, `verify` starts from the anchor      |
 * | deprecation usage | gateway memory: entries not seen for D are forgotten (needs the gateway, see report)        |
 * | access logs       | files written by pino: rotation and deletion belong to the log shipper (logrotate,          |
 * |                   | journald, the collector), which must apply `accessLogs`; reported, not enforced             |
 *
 * `runRetention` does one pass (the `rampart privacy purge` command, cron); `RetentionSweeper` repeats it every
 * `sweepEvery` in a gateway process. The events store and the audit chain also purge themselves in the gateway
 * (events/recorder.ts sweeps, audit/configured.ts starts `AuditRetention`); the sweeper covers the session store.
 * The clock is injected: every cutoff is `now - retention`.
 */
import { AuditRetention, type RetentionSettings } from '../../audit/retention.ts';
import type { AuditStore } from '../../audit/store.ts';
import type { EventsStore } from '../../events-store/types.ts';
import type { PurgeCounts, SessionStore } from '../../storage/ports.ts';

export interface RetentionTargets {
  readonly sessions?: SessionStore;
  readonly audit?: AuditStore;
  readonly events?: EventsStore;
  /** The events store's own `events.retention` (ms), capped by `privacy.retention.events`. */
  readonly eventsRetentionMs?: number;
  /** `events.maxRows`. */
  readonly eventsMaxRows?: number;
}

export interface RetentionResult {
  readonly sessions?: { readonly expired: PurgeCounts; readonly olderThanRetention: PurgeCounts | null };
  readonly audit?: { readonly pruned: number; readonly anchorSeq: number | null };
  readonly events?: { readonly deleted: number };
}

/** The events retention in force: `events.retention` capped by `privacy.retention.events`. */
function eventsMaxAge(targets: RetentionTargets, settings: RetentionSettings): number | undefined {
  const limits = [targets.eventsRetentionMs, settings.eventsMs].filter((v): v is number => v !== undefined && v > 0);
  return limits.length === 0 ? undefined : Math.min(...limits);
}

/** One purge pass over every store given. */
export async function runRetention(targets: RetentionTargets, settings: RetentionSettings, now: number): Promise<RetentionResult> {
  if (!Number.isSafeInteger(now)) throw new Error('now must be an integer (ms)');
  let sessions: RetentionResult['sessions'];
  if (targets.sessions !== undefined) {
    const expired = await targets.sessions.purgeExpired(now);
    const olderThanRetention = settings.sessionsMs === undefined ? null : await targets.sessions.purgeCreatedBefore(now - settings.sessionsMs);
    sessions = { expired, olderThanRetention };
  }
  let audit: RetentionResult['audit'];
  if (targets.audit !== undefined && settings.auditMs !== undefined) {
    const pruned = await new AuditRetention(targets.audit, { retentionMs: settings.auditMs, now: () => now }).run();
    audit = { pruned, anchorSeq: (await targets.audit.anchor())?.seq ?? null };
  }
  let events: RetentionResult['events'];
  const maxAgeMs = eventsMaxAge(targets, settings);
  if (targets.events !== undefined && (maxAgeMs !== undefined || targets.eventsMaxRows !== undefined)) {
    events = { deleted: targets.events.sweep(now, { ...(maxAgeMs !== undefined ? { maxAgeMs } : {}), ...(targets.eventsMaxRows !== undefined ? { maxRows: targets.eventsMaxRows } : {}) }) };
  }
  return { ...(sessions ? { sessions } : {}), ...(audit ? { audit } : {}), ...(events ? { events } : {}) };
}

export interface RetentionSweeperOptions {
  readonly now?: () => number;
  readonly onError?: (error: unknown) => void;
  /** Called after each pass (metrics, logs). */
  readonly onRun?: (result: RetentionResult) => void;
}

/**
 * Runs `runRetention` now and every `settings.sweepEveryMs` on an unref'd timer, one pass at a time. For a gateway
 * process: pass the session store (the audit chain and events store already purge themselves there).
 */
export class RetentionSweeper {
  readonly #targets: RetentionTargets;
  readonly #settings: RetentionSettings;
  readonly #options: RetentionSweeperOptions;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<RetentionResult> | undefined;

  constructor(targets: RetentionTargets, settings: RetentionSettings, options: RetentionSweeperOptions = {}) {
    this.#targets = targets;
    this.#settings = settings;
    this.#options = options;
  }

  run(): Promise<RetentionResult> {
    this.#running ??= runRetention(this.#targets, this.#settings, (this.#options.now ?? Date.now)()).finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  start(): void {
    if (this.#timer !== undefined) return;
    const tick = () => {
      this.run().then(
        (result) => this.#options.onRun?.(result),
        (error: unknown) => this.#options.onError?.(error),
      );
    };
    tick();
    this.#timer = setInterval(tick, this.#settings.sweepEveryMs).unref();
  }

  async stop(): Promise<void> {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#running?.catch(() => undefined);
  }
}
