/**
 * Credential stuffing (OWASP API2:2023; OWASP Credential Stuffing Prevention Cheat Sheet): lists of leaked
 * username/password pairs tried once each. Per account the counts stay low, so two other signals are watched:
 *
 * - `distinct-accounts`: failures against many distinct accounts from one client address within the window;
 * - `failure-burst`: all credential failures per bucket far above their own baseline (the same attack spread over
 *   many addresses, as botnets and residential proxies do), with how many addresses took part.
 *
 * With shared state the distinct accounts per address are counted over every gateway process (shared.ts); the burst
 * baseline stays per process (README "Shared state") and shares only its cool-down.
 */
import type { SecurityEvent, SecurityEvents } from '../../observe/events.ts';
import { parseDuration } from '../../config/units.ts';
import { BaseDetector } from '../detector.ts';
import { ACCOUNT_FAILURE_TYPES, failedAccount } from '../inputs.ts';
import type { DetectorsConfig } from '../schema.ts';
import { SharedSlot, type ClusterView, type SharedSpec } from '../shared.ts';
import { Cooldown, DistinctWindow, SampleRing, SlidingCount, VolumeBaseline, type BaselineSettings, type LruEntry } from '../state.ts';

/** Addresses counted per burst bucket: "from at least 4096 addresses" is evidence enough. */
const MAX_BURST_ADDRESSES = 4096;
/** The key of the one, global, failure burst (for its cluster cool-down). */
const BURST_KEY = '*';

class AddressState extends SharedSlot implements LruEntry {
  lruTick = 0;
  readonly accounts: DistinctWindow;
  readonly failures = new SlidingCount();
  readonly samples = new SampleRing();
  readonly cooldown = new Cooldown();
  lastRouteId: string | undefined = undefined;
  lastRequestId: string | undefined = undefined;
  constructor(address: string, cap: number) {
    super(address);
    this.accounts = new DistinctWindow(cap);
  }
}

export class CredentialStuffingDetector extends BaseDetector {
  readonly name = 'credentialStuffing' as const;
  override readonly eventTypes = ACCOUNT_FAILURE_TYPES;
  readonly #settings: DetectorsConfig['credentialStuffing'];
  readonly #windowMs: number;
  readonly #cooldownMs: number;
  readonly #addresses;
  readonly #cap: number;
  readonly #burst: BaselineSettings | undefined;
  readonly #burstVolume = new VolumeBaseline();
  readonly #burstAddresses = new DistinctWindow(MAX_BURST_ADDRESSES);
  readonly #burstSamples = new SampleRing();
  readonly #burstCooldown = new Cooldown();
  #burstFlagged = Number.NaN;

  constructor(settings: DetectorsConfig['credentialStuffing'], sink: SecurityEvents) {
    super(sink);
    this.#settings = settings;
    this.#windowMs = parseDuration(settings.window);
    this.#cooldownMs = settings.cooldown === undefined ? this.#windowMs : parseDuration(settings.cooldown);
    // Twice the threshold, so the evidence can say more than "exactly the threshold", within a fixed bound.
    const cap = Math.min(settings.distinctAccounts * 2, 4096);
    this.#cap = cap;
    this.#addresses = this.keyed(settings.maxTracked, (address) => new AddressState(address, cap));
    const burst = settings.burst;
    if (burst.enabled) {
      const bucketMs = parseDuration(burst.bucket);
      this.#burst = {
        bucketMs,
        alpha: Math.min(1, bucketMs / parseDuration(burst.baseline)),
        warmupBuckets: Math.ceil(parseDuration(burst.warmup) / bucketMs),
        zScore: burst.zScore,
        ratio: burst.ratio,
        minCount: burst.minFailures,
        ceiling: Number.POSITIVE_INFINITY,
      };
    }
  }

  protected override sharedSpec(): SharedSpec<AddressState> {
    return {
      windowMs: this.#windowMs,
      distinctCap: this.#cap,
      maxPending: this.#settings.maxTracked,
      signals: [
        {
          name: 'distinct-accounts',
          measure: 'distinct',
          threshold: this.#settings.distinctAccounts,
          cooldownMs: this.#cooldownMs,
          cooldown: (state) => state.cooldown,
          raise: (state, view) => this.#raise(state, view.at, view.count, view.distinct, view),
        },
      ],
      judgeAlone: (state, at) => this.#judge(state, at, state.accounts.count(at, this.#windowMs)),
    };
  }

  override onEvent(event: SecurityEvent, now: number): void {
    const address = event.clientAddress;
    if (this.#burst !== undefined) this.#countBurst(event, address, now, this.#burst);
    if (address === undefined) return;
    const account = failedAccount(event);
    if (account === undefined) return;
    const state = this.#addresses.touch(address);
    const windowMs = this.#windowMs;
    const distinct = state.accounts.add(account, now, windowMs);
    const count = state.failures.add(now, windowMs);
    if (event.requestId !== undefined) state.samples.push(event.requestId);
    state.lastRouteId = event.routeId;
    state.lastRequestId = event.requestId;
    const link = this.link;
    if (link !== undefined) {
      link.note(state, now, 1, true, event.requestId); // failures are rare: each one goes with the next sync
      if (state.accounts.fresh) link.value(state, account, now, undefined); // the failure is in the news already
      if (link.judgedByCluster(state)) return; // the cluster judges the address's accounts at the next sync
    }
    this.#judge(state, now, distinct, count);
  }

  /** The judgement on this process's own state (memory mode, or shared state while Redis is unreachable). */
  #judge(state: AddressState, at: number, distinct: number, count = state.failures.count(at, this.#windowMs)): void {
    if (distinct < this.#settings.distinctAccounts || !this.admit(state.cooldown, at, this.#cooldownMs)) return;
    this.#raise(state, at, count, distinct);
  }

  #raise(state: AddressState, at: number, count: number, distinct: number, cluster?: ClusterView): void {
    this.raise(state.cooldown, {
      signal: 'distinct-accounts',
      severity: this.#settings.severity,
      at,
      windowMs: this.#windowMs,
      count,
      threshold: this.#settings.distinctAccounts,
      distinct,
      samples: cluster !== undefined ? state.evidence(state.samples) : state.samples,
      clientAddress: state.key,
      routeId: state.lastRouteId,
      requestId: state.lastRequestId,
      key: state.key,
      cooldownMs: this.#cooldownMs,
      ...(cluster !== undefined ? { clusterSuppressed: cluster.suppressed } : {}),
    });
  }

  #countBurst(event: SecurityEvent, address: string | undefined, now: number, settings: BaselineSettings): void {
    const volume = this.#burstVolume;
    const count = volume.add(now, settings);
    if (address !== undefined) this.#burstAddresses.add(address, now, settings.bucketMs);
    if (event.requestId !== undefined) this.#burstSamples.push(event.requestId);
    // Judged once per bucket: the bucket that crosses its limit is one anomaly, however many failures follow.
    if (count <= volume.limit || this.#burstFlagged === volume.bucketStart) return;
    this.#burstFlagged = volume.bucketStart;
    if (!this.admit(this.#burstCooldown, now, this.#cooldownMs)) return;
    this.raise(this.#burstCooldown, {
      signal: 'failure-burst',
      severity: this.#settings.severity,
      at: now,
      windowMs: settings.bucketMs,
      count,
      threshold: volume.limit,
      baseline: volume.mean,
      distinct: this.#burstAddresses.count(now, settings.bucketMs),
      samples: this.#burstSamples,
      routeId: event.routeId,
      requestId: event.requestId,
      key: BURST_KEY,
      cooldownMs: this.#cooldownMs,
    });
  }
}
