/**
 * Token or key sharing (OWASP API2:2023 "credential leaked or shared"): one credential (API key, access token `jti`,
 * session) used from many distinct client networks within a short window. A person moves between a couple of
 * networks in ten minutes; a key pasted into a public repository or resold is used from dozens.
 *
 * With shared state the networks are counted over every gateway process (shared.ts). Only a network new to the
 * credential's window goes to Redis, so a credential used steadily from its usual address costs no Redis traffic.
 */
import type { SecurityEvents } from '../../observe/events.ts';
import { parseDuration } from '../../config/units.ts';
import { BaseDetector, boundKey } from '../detector.ts';
import { addressPrefix } from '../inputs.ts';
import type { DetectorsConfig } from '../schema.ts';
import { SharedSlot, type ClusterView, type SharedSpec } from '../shared.ts';
import { Cooldown, DistinctWindow, SampleRing, SlidingCount, type LruEntry } from '../state.ts';
import type { RequestObservation } from '../types.ts';

class CredentialState extends SharedSlot implements LruEntry {
  lruTick = 0;
  readonly addresses: DistinctWindow;
  readonly samples = new SampleRing();
  readonly cooldown = new Cooldown();
  readonly requests = new SlidingCount();
  /** The last address and its prefix: a credential is mostly used from one address, so most requests skip parsing. */
  lastAddress = '';
  lastPrefix = '';
  /** The latest request, for the event (raised later, at a sync, when state is shared). */
  lastPrincipal: string | undefined = undefined;
  lastRouteId = '';
  lastRequestId = '';
  constructor(credentialId: string, cap: number) {
    super(credentialId);
    this.addresses = new DistinctWindow(cap);
  }
}

export class TokenSharingDetector extends BaseDetector {
  readonly name = 'tokenSharing' as const;
  override readonly observes = true;
  readonly #settings: DetectorsConfig['tokenSharing'];
  readonly #windowMs: number;
  readonly #cooldownMs: number;
  readonly #credentials;
  readonly #cap: number;

  constructor(settings: DetectorsConfig['tokenSharing'], sink: SecurityEvents) {
    super(sink);
    this.#settings = settings;
    this.#windowMs = parseDuration(settings.window);
    this.#cooldownMs = settings.cooldown === undefined ? this.#windowMs : parseDuration(settings.cooldown);
    const cap = Math.min(settings.distinctAddresses * 2, 4096);
    this.#cap = cap;
    this.#credentials = this.keyed(settings.maxTracked, (credentialId) => new CredentialState(credentialId, cap));
  }

  protected override sharedSpec(): SharedSpec<CredentialState> {
    return {
      windowMs: this.#windowMs,
      distinctCap: this.#cap,
      maxPending: this.#settings.maxTracked,
      signals: [
        {
          name: 'distinct-addresses',
          measure: 'distinct',
          threshold: this.#settings.distinctAddresses,
          cooldownMs: this.#cooldownMs,
          cooldown: (state) => state.cooldown,
          raise: (state, view) => this.#raise(state, view.at, view.count, view.distinct, view),
        },
      ],
      judgeAlone: (state, at) => this.#judge(state, at, state.addresses.count(at, this.#windowMs)),
    };
  }

  override observe(o: RequestObservation): void {
    const credentialId = o.credentialId;
    if (credentialId === undefined) return;
    const state = this.#credentials.touch(boundKey(credentialId));
    const s = this.#settings;
    if (o.clientAddress !== state.lastAddress) {
      state.lastAddress = o.clientAddress;
      state.lastPrefix = addressPrefix(o.clientAddress, s.ipv4Prefix, s.ipv6Prefix);
    }
    const distinct = state.addresses.add(state.lastPrefix, o.at, this.#windowMs);
    const requests = state.requests.add(o.at, this.#windowMs);
    state.samples.push(o.requestId);
    state.lastPrincipal = o.principal;
    state.lastRouteId = o.routeId;
    state.lastRequestId = o.requestId;
    const link = this.link;
    if (link !== undefined) {
      // The request count is evidence only: it rides along when a new network goes out (or within window/8).
      link.note(state, o.at, 1, false, undefined);
      if (state.addresses.fresh) link.value(state, state.lastPrefix, o.at, o.requestId);
      if (link.judgedByCluster(state)) return; // the cluster judges the credential's networks at the next sync
    }
    this.#judge(state, o.at, distinct, requests);
  }

  /** The judgement on this process's own state (memory mode, or shared state while Redis is unreachable). */
  #judge(state: CredentialState, at: number, distinct: number, requests = state.requests.count(at, this.#windowMs)): void {
    if (distinct < this.#settings.distinctAddresses || !this.admit(state.cooldown, at, this.#cooldownMs)) return;
    this.#raise(state, at, requests, distinct);
  }

  #raise(state: CredentialState, at: number, requests: number, distinct: number, cluster?: ClusterView): void {
    const s = this.#settings;
    this.raise(state.cooldown, {
      signal: 'distinct-addresses',
      severity: s.severity,
      at,
      windowMs: this.#windowMs,
      count: requests,
      threshold: s.distinctAddresses,
      distinct,
      samples: cluster !== undefined ? state.evidence(state.samples) : state.samples,
      principal: state.lastPrincipal ?? state.key,
      clientAddress: state.lastAddress,
      routeId: state.lastRouteId,
      requestId: state.lastRequestId,
      extra: { credentialId: state.key },
      key: state.key,
      cooldownMs: this.#cooldownMs,
      ...(cluster !== undefined ? { clusterSuppressed: cluster.suppressed } : {}),
    });
  }
}
