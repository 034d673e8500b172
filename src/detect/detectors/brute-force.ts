/**
 * Brute force against one account (OWASP API2:2023, OWASP Authentication Cheat Sheet "Protect against automated
 * attacks"): authentication failures for one account within the window, from any number of addresses. The lockouts of
 * the login and API-key policies count per account and per address on one node; this sees the slow, distributed
 * guessing they were tuned not to lock out for, and reports it as one event per cool-down with the number of
 * addresses involved. With shared state the failures and addresses of an account are summed over every gateway
 * process and judged in Redis (shared.ts): guessing spread over the nodes is one attack.
 */
import type { SecurityEvent, SecurityEvents } from '../../observe/events.ts';
import { parseDuration } from '../../config/units.ts';
import { BaseDetector } from '../detector.ts';
import { ACCOUNT_FAILURE_TYPES, failedAccount } from '../inputs.ts';
import type { DetectorsConfig } from '../schema.ts';
import { SharedSlot, type ClusterView, type SharedSpec } from '../shared.ts';
import { Cooldown, DistinctWindow, SampleRing, SlidingCount, type LruEntry } from '../state.ts';

/** Addresses remembered per account: enough to say "from at least 64 addresses". */
const MAX_ADDRESSES = 64;

class AccountState extends SharedSlot implements LruEntry {
  lruTick = 0;
  readonly failures = new SlidingCount();
  readonly addresses = new DistinctWindow(MAX_ADDRESSES);
  readonly samples = new SampleRing();
  readonly cooldown = new Cooldown();
  /** The latest failure, for the event (raised later, at a sync, when state is shared). */
  lastAddress: string | undefined = undefined;
  lastRouteId: string | undefined = undefined;
  lastRequestId: string | undefined = undefined;
  lastType = '';
}

export class BruteForceDetector extends BaseDetector {
  readonly name = 'bruteForce' as const;
  override readonly eventTypes = ACCOUNT_FAILURE_TYPES;
  readonly #settings: DetectorsConfig['bruteForce'];
  readonly #windowMs: number;
  readonly #cooldownMs: number;
  readonly #accounts;

  constructor(settings: DetectorsConfig['bruteForce'], sink: SecurityEvents) {
    super(sink);
    this.#settings = settings;
    this.#windowMs = parseDuration(settings.window);
    this.#cooldownMs = settings.cooldown === undefined ? this.#windowMs : parseDuration(settings.cooldown);
    this.#accounts = this.keyed(settings.maxTracked, (account) => new AccountState(account));
  }

  protected override sharedSpec(): SharedSpec<AccountState> {
    return {
      windowMs: this.#windowMs,
      distinctCap: MAX_ADDRESSES,
      maxPending: this.#settings.maxTracked,
      signals: [
        {
          name: 'account-failures',
          measure: 'count',
          threshold: this.#settings.threshold,
          cooldownMs: this.#cooldownMs,
          cooldown: (state) => state.cooldown,
          raise: (state, view) => this.#raise(state, view.at, view.count, view.distinct, view),
        },
      ],
      judgeAlone: (state, at) => this.#judge(state, at, state.failures.count(at, this.#windowMs)),
    };
  }

  override onEvent(event: SecurityEvent, now: number): void {
    const account = failedAccount(event);
    if (account === undefined) return;
    const state = this.#accounts.touch(account);
    const windowMs = this.#windowMs;
    const count = state.failures.add(now, windowMs);
    const address = event.clientAddress;
    if (address !== undefined) state.addresses.add(address, now, windowMs);
    if (event.requestId !== undefined) state.samples.push(event.requestId);
    state.lastAddress = address;
    state.lastRouteId = event.routeId;
    state.lastRequestId = event.requestId;
    state.lastType = event.type;
    const link = this.link;
    if (link !== undefined) {
      link.note(state, now, 1, true, event.requestId);
      if (address !== undefined && state.addresses.fresh) link.value(state, address, now, undefined); // the failure is in the news already
      if (link.judgedByCluster(state)) return; // the cluster judges the account's failures at the next sync
    }
    this.#judge(state, now, count);
  }

  /** The judgement on this process's own state (memory mode, or shared state while Redis is unreachable). */
  #judge(state: AccountState, at: number, count: number): void {
    if (count < this.#settings.threshold || !this.admit(state.cooldown, at, this.#cooldownMs)) return;
    this.#raise(state, at, count, state.addresses.count(at, this.#windowMs));
  }

  #raise(state: AccountState, at: number, count: number, distinct: number, cluster?: ClusterView): void {
    this.raise(state.cooldown, {
      signal: 'account-failures',
      severity: this.#settings.severity,
      at,
      windowMs: this.#windowMs,
      count,
      threshold: this.#settings.threshold,
      distinct,
      samples: cluster !== undefined ? state.evidence(state.samples) : state.samples,
      principal: state.key,
      clientAddress: state.lastAddress,
      routeId: state.lastRouteId,
      requestId: state.lastRequestId,
      extra: { lastFailure: state.lastType },
      key: state.key,
      cooldownMs: this.#cooldownMs,
      ...(cluster !== undefined ? { clusterSuppressed: cluster.suppressed } : {}),
    });
  }
}
