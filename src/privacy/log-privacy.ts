/**
 * Client addresses in the gateway's own logs (access log, security-event lines): pseudonymised or truncated by the
 * same `privacy.addresses` setting and the same key as the audit chain and the events store (issue 7 point 5;
 * GDPR art. 4(5) and 32(1)(a); OWASP Logging Cheat Sheet "Data to exclude"), so one client keeps one value across
 * the log, the audit chain and the events store, and an operator can still follow it (`h:…` equal to `h:…`).
 *
 * Which key:
 * - when the audit chain, the events store or the stores are configured, the key ring's privacy key (the one they
 *   use: storage/configured.ts `resolveStableSecrets`), stable across restarts and shared by a cluster;
 * - else, when `keyring.masterKey` is set, the privacy key derived from it (stable across restarts, no store file
 *   created just for the logs);
 * - else (a gateway that keeps nothing and has no master key): a random key for this process's life. Lines of one
 *   run stay correlatable; after a restart the same client gets a new value, which is more privacy, not less.
 *   Said once at start so nobody is surprised.
 *
 * `privacy.addresses: keep` writes addresses in clear: it weakens a default, so posture reports it (item 16).
 */
import { randomBytes } from 'node:crypto';
import type { GatewayConfig } from '../config/load.ts';
import { createPrivacy, type AddressPrivacy, type Privacy } from '../audit/privacy.ts';
import { resolveStableSecrets, type WarningSink } from '../storage/configured.ts';

/** Distinct addresses remembered with their stored form; a steady client costs one Map lookup, not one HMAC. */
const ADDRESS_CACHE_SIZE = 4096;

export function addressPrivacyOf(document: Readonly<Record<string, unknown>> | undefined): AddressPrivacy {
  const privacy = document?.['privacy'] as { addresses?: AddressPrivacy } | undefined;
  return privacy?.addresses ?? 'hash';
}

export function resolveLogPrivacy(
  config: Pick<GatewayConfig, 'storage' | 'masterKey' | 'mode' | 'needsStores'> & { readonly document?: Readonly<Record<string, unknown>> },
  logger?: WarningSink,
): Privacy {
  const addresses = addressPrivacyOf(config.document);
  const keepsRecords = config.document?.['audit'] !== undefined || config.document?.['events'] !== undefined || config.needsStores;
  let key: Buffer;
  if (keepsRecords) {
    key = resolveStableSecrets(config, logger).privacy;
  } else if (config.masterKey !== undefined) {
    // `memory:` makes resolveStableSecrets derive the keys from the master key without opening a store file.
    key = resolveStableSecrets({ ...config, storage: 'memory:' }).privacy;
  } else {
    key = randomBytes(32);
    if (addresses === 'hash') {
      logger?.info?.({}, 'client addresses in logs are hashed with a key of this process only: set keyring.masterKey for values that stay equal across restarts');
    }
  }
  return withAddressCache(createPrivacy({ addresses, key }));
}

/**
 * The same privacy with a bounded memo of `address()` (the hot path calls it once per request). The memo is
 * cleared when full rather than evicted one by one: a flood of distinct addresses costs HMACs, never memory.
 */
export function withAddressCache(privacy: Privacy, capacity = ADDRESS_CACHE_SIZE): Privacy {
  const memo = new Map<string, string | null>();
  return {
    addresses: privacy.addresses,
    pseudonym: (value) => privacy.pseudonym(value),
    address(address) {
      if (address === undefined || address === null || address === '') return null;
      let stored = memo.get(address);
      if (stored === undefined) {
        stored = privacy.address(address);
        if (memo.size >= capacity) memo.clear();
        memo.set(address, stored);
      }
      return stored;
    },
  };
}
