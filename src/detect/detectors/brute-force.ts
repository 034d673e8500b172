/**
 * Brute force against one account (OWASP API2:2023, OWASP Authentication Cheat Sheet "Protect against automated
 * attacks"): authentication failures for one account within the window, from any number of addresses. The lockouts of
 * the login and API-key policies count per account and per address on one node; this sees the slow, distributed
 * guessing they were tuned not to lock out for, and reports it as one event per cool-down with the number of
 * addresses involved.
 */
import type { SecurityEvent, SecurityEvents } from '../../observe/events.ts';
import { parseDuration } from '../../config/units.ts';
import { BaseDetector } from '../detector.ts';
import { ACCOUNT_FAILURE_TYPES, failedAccount } from '../inputs.ts';
import type { DetectorsConfig } from '../schema.ts';
import { Cooldown, DistinctWindow, SampleRing, SlidingCount, type LruEntry } from '../state.ts';

/** Addresses remembered per account: enough to say "from at least 64 addresses". */
const MAX_ADDRESSES = 64;

class AccountState implements LruEntry {
  lruTick = 0;
  readonly failures = new SlidingCount();
  readonly addresses = new DistinctWindow(MAX_ADDRESSES);
  readonly samples = new SampleRing();
  readonly cooldown = new Cooldown();
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
    this.#accounts = this.keyed(settings.maxTracked, () => new AccountState());
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
    if (count < this.#settings.threshold || !this.admit(state.cooldown, now, this.#cooldownMs)) return;
    this.raise(state.cooldown, {
      signal: 'account-failures',
      severity: this.#settings.severity,
      at: now,
      windowMs,
      count,
      threshold: this.#settings.threshold,
      distinct: state.addresses.count(now, windowMs),
      samples: state.samples,
      principal: account,
      clientAddress: address,
      routeId: event.routeId,
      requestId: event.requestId,
      extra: { lastFailure: event.type },
    });
  }
}
