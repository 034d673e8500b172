/**
 * Token or key sharing (OWASP API2:2023 "credential leaked or shared"): one credential (API key, access token `jti`,
 * session) used from many distinct client networks within a short window. A person moves between a couple of
 * networks in ten minutes; a key pasted into a public repository or resold is used from dozens.
 */
import type { SecurityEvents } from '../../observe/events.ts';
import { parseDuration } from '../../config/units.ts';
import { BaseDetector, boundKey } from '../detector.ts';
import { addressPrefix } from '../inputs.ts';
import type { DetectorsConfig } from '../schema.ts';
import { Cooldown, DistinctWindow, SampleRing, SlidingCount, type LruEntry } from '../state.ts';
import type { RequestObservation } from '../types.ts';

class CredentialState implements LruEntry {
  lruTick = 0;
  readonly addresses: DistinctWindow;
  readonly samples = new SampleRing();
  readonly cooldown = new Cooldown();
  readonly requests = new SlidingCount();
  /** The last address and its prefix: a credential is mostly used from one address, so most requests skip parsing. */
  lastAddress = '';
  lastPrefix = '';
  constructor(cap: number) {
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

  constructor(settings: DetectorsConfig['tokenSharing'], sink: SecurityEvents) {
    super(sink);
    this.#settings = settings;
    this.#windowMs = parseDuration(settings.window);
    this.#cooldownMs = settings.cooldown === undefined ? this.#windowMs : parseDuration(settings.cooldown);
    const cap = Math.min(settings.distinctAddresses * 2, 4096);
    this.#credentials = this.keyed(settings.maxTracked, () => new CredentialState(cap));
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
    if (distinct < s.distinctAddresses || !this.admit(state.cooldown, o.at, this.#cooldownMs)) return;
    this.raise(state.cooldown, {
      signal: 'distinct-addresses',
      severity: s.severity,
      at: o.at,
      windowMs: this.#windowMs,
      count: requests,
      threshold: s.distinctAddresses,
      distinct,
      samples: state.samples,
      principal: o.principal ?? credentialId,
      clientAddress: o.clientAddress,
      routeId: o.routeId,
      requestId: o.requestId,
      extra: { credentialId: boundKey(credentialId) },
    });
  }
}
