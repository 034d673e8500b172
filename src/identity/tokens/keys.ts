/**
 * The gateway's token-signing keys: generated here, kept in the IdentityStore (the private half sealed by the
 * store), rotated with overlap so verifiers always know a key before it signs anything.
 *
 * Life of a key (all times from the injected clock):
 *
 *   created ──(published in the JWKS)──► activatedAt ──(signs)──► successor active ──► retiredAt
 *           ──(still published: tokens it signed are valid)──► retiredAt + accessTokenTtl ──► deleted
 *
 * - No key at all (first start): one is created, active at once.
 * - The active key is older than `rotateEvery - overlap` and no upcoming key exists: the next key is created with
 *   `activatedAt = now + overlap`. It is in the JWKS at once, so every verifier (and every JWKS cache honouring our
 *   5-minute max-age) has it before the first token it signs: that is the overlap (RFC 7517 §5 key rollover).
 * - Signing uses the newest key whose activatedAt has passed, decided per token from the clock, so a successor
 *   starts signing at its activatedAt even if the hourly rotation check runs later.
 * - Once the successor is active, `rotateIfDue` retires the older ones (retiredAt = now); a retired key stays in
 *   the JWKS until every token it signed has expired (retiredAt + accessTokenTtl ≥ their exp), then is deleted.
 *
 * Several gateway nodes sharing a store may each create an upcoming key in the same hour; both are published, the
 * later-activating one signs, and the other is retired on the next check. Nothing breaks, a key is wasted.
 *
 * Private keys are imported into non-extractable CryptoKeys once per kid and cached; nothing is imported per
 * token. `kid` is the RFC 7638 JWK thumbprint of the public key, so it names the key material itself.
 *
 * A damaged key record (stored data is input too: a public JWK that is not JSON, a private half that does not open)
 * must not stop rotation, and with it token issuing for everyone. Such a key is left out: the key list is read with
 * a `DamagedRecordHandler`, so a record whose public half is unreadable is never selected, published or trusted; a
 * key whose private half does not open (damaged while the store is open: the SQLite store checks every sealed value
 * when it opens) is set aside when it is first asked to sign, and rotation goes on with the readable keys (when none
 * is active, a new one is made, as at first start). Either is logged at error level once per kid, naming the table,
 * kid and reason (never the value). The row is not deleted: an operator can inspect it.
 *
 * Audit (issue 6, key lifecycle), through `events` when given: `key.created` (a key that signs at once: first
 * start, or no usable active key), `key.rotated` (the scheduled successor, with the kid it succeeds and when it
 * activates), `key.retired` and `key.deleted`, each with `kind: 'token-signing'`, the kid and the algorithm; never
 * key material. Only the node that makes a change reports it.
 */
import { calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, type JWK } from 'jose';
import type { Logger } from 'pino';
import type { SecurityEvents } from '../../observe/events.ts';
import { StoreCorruptError, type DamagedRecordHandler, type IdentityStore, type JsonObject, type SigningKeyRecord } from '../../storage/ports.ts';

export type SigningAlgorithm = 'ES256' | 'EdDSA' | 'RS256';

export interface SigningKeysOptions {
  readonly identities: IdentityStore;
  readonly alg: SigningAlgorithm;
  readonly rotateEveryMs: number;
  readonly overlapMs: number;
  /** Retired keys stay published this long (the longest an access token they signed can live). */
  readonly accessTokenTtlMs: number;
  /** Epoch ms. */
  readonly now: () => number;
  /** How long the in-memory copy of the key list is trusted before it is read again (other nodes rotate too). */
  readonly refreshEveryMs?: number;
  /** Where damaged key records are reported (error level, once per kid). */
  readonly logger?: Logger;
  /** Where key lifecycle events go (the gateway's audit chain). */
  readonly events?: SecurityEvents;
}

export interface ActiveSigningKey {
  readonly kid: string;
  readonly alg: string;
  readonly key: CryptoKey;
}

/** Members of a private JWK that must never be published (RFC 7518 §6.2.2, §6.3.2; RFC 8037 §2). */
const PRIVATE_MEMBERS = new Set(['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k']);

const DEFAULT_REFRESH_MS = 60_000;
/** Signing with a key whose private half does not open is retried with another key this many times at most. */
const MAX_SIGNING_ATTEMPTS = 3;

/**
 * Logs a damaged signing-key record at error level, once per kid in `reported`: the key list is read again every
 * refresh interval (and on every unknown kid), and the same damaged row must not flood the log. Names the table, kid
 * and reason only: StoreCorruptError never carries the stored value.
 */
export function reportDamagedSigningKey(logger: Logger | undefined, reported: Set<string>, error: StoreCorruptError, effect: string): void {
  if (reported.has(error.recordId)) return;
  reported.add(error.recordId);
  logger?.error({ table: error.table, kid: error.recordId, reason: error.reason }, `identity signing key record is unreadable: ${effect}`);
}

/** A new key pair as stored: public JWK with kid/alg/use, private JWK to be sealed by the store. */
export async function generateSigningKey(alg: SigningAlgorithm): Promise<{ kid: string; publicJwk: JWK; privateJwk: JWK }> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const exportedPublic = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(exportedPublic, 'sha256');
  const publicJwk: JWK = { ...exportedPublic, kid, alg, use: 'sig' };
  const privateJwk: JWK = { ...(await exportJWK(privateKey)), kid, alg };
  for (const member of Object.keys(publicJwk)) {
    if (PRIVATE_MEMBERS.has(member)) throw new Error(`public JWK carries private member "${member}"`);
  }
  return { kid, publicJwk, privateJwk };
}

/** Whether a key is still in the JWKS at `now`. */
export function isPublished(record: SigningKeyRecord, now: number, accessTokenTtlMs: number): boolean {
  return record.retiredAt === null || now < record.retiredAt + accessTokenTtlMs;
}

/** The key that signs at `now`: the newest unretired key whose activation time has passed. */
export function selectSigningKey(records: readonly SigningKeyRecord[], now: number): SigningKeyRecord | undefined {
  let best: SigningKeyRecord | undefined;
  for (const record of records) {
    if (record.retiredAt !== null || record.activatedAt > now) continue;
    if (best === undefined || record.activatedAt > best.activatedAt || (record.activatedAt === best.activatedAt && record.createdAt > best.createdAt)) {
      best = record;
    }
  }
  return best;
}

export class SigningKeys {
  readonly #options: SigningKeysOptions;
  readonly #refreshEveryMs: number;
  /** kid → imported private key; each private JWK is opened and imported once. */
  readonly #privateKeys = new Map<string, Promise<CryptoKey>>();
  #records: readonly SigningKeyRecord[] = [];
  #loadedAt = Number.NEGATIVE_INFINITY;
  /** Serialises rotations in this process (the timer and a caller may overlap). */
  #rotating: Promise<void> | undefined;
  /** Kids whose private half does not open: never chosen to sign again by this instance, never deleted by it. */
  readonly #unusable = new Set<string>();
  /** Kids already logged as damaged (reportDamagedSigningKey). */
  readonly #reported = new Set<string>();
  /** For every read of the key list: a record that does not decode is left out (and logged once). */
  readonly #onDamaged: DamagedRecordHandler;

  constructor(options: SigningKeysOptions) {
    this.#options = options;
    this.#refreshEveryMs = options.refreshEveryMs ?? DEFAULT_REFRESH_MS;
    this.#onDamaged = (error) =>
      reportDamagedSigningKey(options.logger, this.#reported, error, 'the key is left out: it never signs and is not published; the row is kept for inspection');
  }

  #list(): Promise<SigningKeyRecord[]> {
    return this.#options.identities.listSigningKeys(this.#onDamaged);
  }

  /** The records that may be chosen to sign: all but those whose private half turned out not to open. */
  #signable(records: readonly SigningKeyRecord[]): readonly SigningKeyRecord[] {
    return this.#unusable.size === 0 ? records : records.filter((record) => !this.#unusable.has(record.kid));
  }

  /** Creates, retires and deletes keys as the schedule says (see the module comment). */
  rotateIfDue(): Promise<void> {
    if (this.#rotating === undefined) {
      this.#rotating = this.#rotate().finally(() => {
        this.#rotating = undefined;
      });
    }
    return this.#rotating;
  }

  async #rotate(): Promise<void> {
    const { identities, alg, rotateEveryMs, overlapMs, accessTokenTtlMs } = this.#options;
    const now = this.#options.now();
    let records = await this.#list();

    // Retired keys whose last token has expired leave the JWKS for good (a damaged one stays, for inspection).
    for (const record of records) {
      if (record.retiredAt !== null && !isPublished(record, now, accessTokenTtlMs) && !this.#unusable.has(record.kid)) {
        await identities.deleteSigningKey(record.kid);
        this.#privateKeys.delete(record.kid);
        this.#event({ type: 'key.deleted', key: record }, { reason: 'every token it signed has expired' });
      }
    }
    records = await this.#list();

    let active = selectSigningKey(this.#signable(records), now);
    if (active === undefined) {
      // First start, or every key is retired/upcoming/damaged: a key must sign right now.
      active = await this.#create(alg, now, now);
      this.#event({ type: 'key.created', key: active }, { reason: records.length === 0 ? 'first key' : 'no usable active key' });
      records = await this.#list();
    }
    // The successor is active: the keys before it stop signing now and stay published until their tokens expire.
    // A key set aside because its private half does not open is retired the same way (tokens it signed before
    // stay verifiable until they expire).
    for (const record of records) {
      if (record.kid !== active.kid && record.retiredAt === null && record.activatedAt <= now) {
        await identities.retireSigningKey(record.kid, now);
        this.#event({ type: 'key.retired', key: record }, { successorKid: active.kid, unusable: this.#unusable.has(record.kid) });
      }
    }
    const hasUpcoming = records.some((record) => record.retiredAt === null && record.activatedAt > now);
    if (!hasUpcoming && now - active.activatedAt >= rotateEveryMs - overlapMs) {
      const successor = await this.#create(alg, now, now + overlapMs);
      this.#event({ type: 'key.rotated', key: successor }, { previousKid: active.kid, activatesAt: new Date(successor.activatedAt).toISOString() });
    }
    await this.#reload(now);
  }

  /** A key lifecycle event (kid and algorithm: public; never the key). */
  #event(
    event: { readonly type: 'key.created' | 'key.rotated' | 'key.retired' | 'key.deleted'; readonly key: Pick<SigningKeyRecord, 'kid' | 'alg'> },
    extra: Record<string, unknown>,
  ): void {
    const { type, key } = event;
    this.#options.events?.emit({ type, severity: 'low', details: { principal: 'rampart', kind: 'token-signing', kid: key.kid, alg: key.alg, ...extra } });
  }

  async #create(alg: SigningAlgorithm, now: number, activatedAt: number): Promise<SigningKeyRecord> {
    const { kid, publicJwk, privateJwk } = await generateSigningKey(alg);
    return this.#options.identities.addSigningKey({
      kid,
      alg,
      publicJwk: publicJwk as JsonObject,
      privateJwk: privateJwk as JsonObject,
      createdAt: now,
      activatedAt,
    });
  }

  async #reload(now: number): Promise<readonly SigningKeyRecord[]> {
    this.#records = Object.freeze(await this.#list());
    this.#loadedAt = now;
    const known = new Set(this.#records.map((record) => record.kid));
    for (const kid of this.#privateKeys.keys()) if (!known.has(kid)) this.#privateKeys.delete(kid);
    return this.#records;
  }

  /** The key list, read again from the store at most once per refresh interval. */
  async records(now: number = this.#options.now()): Promise<readonly SigningKeyRecord[]> {
    if (now - this.#loadedAt >= this.#refreshEveryMs || now < this.#loadedAt) return this.#reload(now);
    return this.#records;
  }

  /** The key that signs at `now`, imported (once per kid). */
  async signingKey(now: number = this.#options.now()): Promise<ActiveSigningKey> {
    for (let attempt = 1; ; attempt++) {
      const record = await this.#selectSigning(now);
      try {
        return { kid: record.kid, alg: record.alg, key: await this.#privateKey(record) };
      } catch (error) {
        // A private half that does not open is one damaged record, not a reason to stop issuing tokens: set the key
        // aside and choose again (rotation makes a new key when no other is active). Bounded, so that a store whose
        // every key fails to open is reported as the failure it is.
        if (!(error instanceof StoreCorruptError) || attempt >= MAX_SIGNING_ATTEMPTS) throw error;
        this.#unusable.add(record.kid);
        reportDamagedSigningKey(this.#options.logger, this.#reported, error, 'its private half does not open: it no longer signs and is retired by the next rotation; the row is kept for inspection');
      }
    }
  }

  async #selectSigning(now: number): Promise<SigningKeyRecord> {
    let record = selectSigningKey(this.#signable(await this.records(now)), now);
    if (record === undefined) {
      // The in-memory list may be behind a rotation by another node: read it again once, then rotate ourselves.
      record = selectSigningKey(this.#signable(await this.#reload(now)), now);
      if (record === undefined) {
        await this.rotateIfDue();
        record = selectSigningKey(this.#signable(this.#records), now);
      }
      if (record === undefined) throw new Error('no signing key is active');
    }
    return record;
  }

  #privateKey(record: SigningKeyRecord): Promise<CryptoKey> {
    let pending = this.#privateKeys.get(record.kid);
    if (pending === undefined) {
      pending = this.#importPrivate(record);
      // A failed import is not cached, so a transient store error does not poison the key.
      pending.catch(() => this.#privateKeys.delete(record.kid));
      this.#privateKeys.set(record.kid, pending);
    }
    return pending;
  }

  async #importPrivate(record: SigningKeyRecord): Promise<CryptoKey> {
    const jwk = await this.#options.identities.getSigningKeyPrivateJwk(record.kid);
    if (jwk === undefined) throw new Error(`signing key ${record.kid} has no private half`);
    const key = await importJWK({ ...(jwk as JWK), ext: false }, record.alg);
    if (!(key instanceof CryptoKey) || key.type !== 'private') throw new Error(`signing key ${record.kid} is not a private key`);
    return key;
  }

  /** The public keys verifiers need at `now`: active, upcoming and retired-but-unexpired keys. */
  async publishedKeys(now: number = this.#options.now()): Promise<Array<Record<string, unknown>>> {
    const records = await this.records(now);
    const keys: Array<Record<string, unknown>> = [];
    for (const record of records) {
      if (!isPublished(record, now, this.#options.accessTokenTtlMs)) continue;
      const jwk: Record<string, unknown> = {};
      for (const [name, value] of Object.entries(record.publicJwk)) if (!PRIVATE_MEMBERS.has(name)) jwk[name] = value;
      jwk.kid = record.kid;
      jwk.alg = record.alg;
      jwk.use = 'sig';
      keys.push(jwk);
    }
    return keys;
  }
}
