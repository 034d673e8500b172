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
 */
import { calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, type JWK } from 'jose';
import type { IdentityStore, JsonObject, SigningKeyRecord } from '../../storage/ports.ts';

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
}

export interface ActiveSigningKey {
  readonly kid: string;
  readonly alg: string;
  readonly key: CryptoKey;
}

/** Members of a private JWK that must never be published (RFC 7518 §6.2.2, §6.3.2; RFC 8037 §2). */
const PRIVATE_MEMBERS = new Set(['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k']);

const DEFAULT_REFRESH_MS = 60_000;

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

  constructor(options: SigningKeysOptions) {
    this.#options = options;
    this.#refreshEveryMs = options.refreshEveryMs ?? DEFAULT_REFRESH_MS;
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
    let records = await identities.listSigningKeys();

    // Retired keys whose last token has expired leave the JWKS for good.
    for (const record of records) {
      if (record.retiredAt !== null && !isPublished(record, now, accessTokenTtlMs)) {
        await identities.deleteSigningKey(record.kid);
        this.#privateKeys.delete(record.kid);
      }
    }
    records = await identities.listSigningKeys();

    let active = selectSigningKey(records, now);
    if (active === undefined) {
      // First start, or every key is retired/upcoming: a key must sign right now.
      active = await this.#create(alg, now, now);
      records = await identities.listSigningKeys();
    }
    // The successor is active: the keys before it stop signing now and stay published until their tokens expire.
    for (const record of records) {
      if (record.kid !== active.kid && record.retiredAt === null && record.activatedAt <= now) {
        await identities.retireSigningKey(record.kid, now);
      }
    }
    const hasUpcoming = records.some((record) => record.retiredAt === null && record.activatedAt > now);
    if (!hasUpcoming && now - active.activatedAt >= rotateEveryMs - overlapMs) {
      await this.#create(alg, now, now + overlapMs);
    }
    await this.#reload(now);
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
    this.#records = Object.freeze(await this.#options.identities.listSigningKeys());
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
    let record = selectSigningKey(await this.records(now), now);
    if (record === undefined) {
      // The in-memory list may be behind a rotation by another node: read it again once, then rotate ourselves.
      record = selectSigningKey(await this.#reload(now), now);
      if (record === undefined) {
        await this.rotateIfDue();
        record = selectSigningKey(this.#records, now);
      }
      if (record === undefined) throw new Error('no signing key is active');
    }
    return { kid: record.kid, alg: record.alg, key: await this.#privateKey(record) };
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
