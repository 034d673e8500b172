/**
 * Verification keys, imported once into WebCrypto `CryptoKey`s (at config load for static keys, at fetch time for a
 * JWKS), never per request. Each key is bound to exactly one algorithm: a key imported for ES256 can only verify
 * ES256, and an HMAC secret can only be an HMAC key, which is what rules out algorithm confusion
 * (RFC 8725 §2.1 and §3.1; CVE-2015-9235, CVE-2016-10555).
 */
import { importJWK, importSPKI, importX509, type JWK } from 'jose';
import { HMAC_ALGORITHMS, type StaticKeyConfig } from './schema.ts';

export interface VerificationKey {
  readonly kid: string | undefined;
  readonly alg: string;
  readonly key: CryptoKey;
}

/** JWK members that only private (or symmetric) keys have (RFC 7518 §6.2.2, §6.3.2, §6.4.1; RFC 8037 §2). */
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'] as const;

const HMAC_HASH: Readonly<Record<string, string>> = { HS256: 'SHA-256', HS384: 'SHA-384', HS512: 'SHA-512' };

/** The algorithms a public JWK without `alg` can serve, by key type and curve (RFC 7518 §3, RFC 8037 §3.1). */
function algorithmsForKeyType(jwk: Record<string, unknown>): readonly string[] {
  switch (jwk.kty) {
    case 'EC':
      return jwk.crv === 'P-256' ? ['ES256'] : jwk.crv === 'P-384' ? ['ES384'] : jwk.crv === 'P-521' ? ['ES512'] : [];
    case 'RSA':
      return ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'];
    case 'OKP':
      return jwk.crv === 'Ed25519' ? ['EdDSA', 'Ed25519'] : [];
    default:
      return [];
  }
}

/** Why a JWK cannot be a public verification key, or undefined when it can. */
export function publicJwkProblem(jwk: unknown): string | undefined {
  if (jwk === null || typeof jwk !== 'object' || Array.isArray(jwk)) return 'is not a JSON object';
  const record = jwk as Record<string, unknown>;
  if (typeof record.kty !== 'string') return 'has no kty';
  if (record.kty === 'oct') return 'is a symmetric (oct) key; HMAC secrets are never published in a JWKS';
  for (const member of PRIVATE_MEMBERS) {
    if (Object.hasOwn(record, member)) return `has the private member "${member}"`;
  }
  if (record.use !== undefined && record.use !== 'sig') return `is for use "${String(record.use)}", not "sig"`;
  if (record.key_ops !== undefined && !(Array.isArray(record.key_ops) && record.key_ops.includes('verify'))) {
    return 'has key_ops without "verify"';
  }
  if (record.alg !== undefined && typeof record.alg !== 'string') return 'has a non-string alg';
  return undefined;
}

/**
 * Imports a public JWK for every allowed algorithm it can serve: the one its `alg` names, or else those of its
 * key type. Answers the keys by algorithm, or a reason why the JWK is unusable.
 */
export async function importPublicJwk(jwk: unknown, allowed: ReadonlySet<string>): Promise<Map<string, CryptoKey> | string> {
  const problem = publicJwkProblem(jwk);
  if (problem !== undefined) return problem;
  const record = jwk as Record<string, unknown>;
  const candidates = typeof record.alg === 'string' ? [record.alg] : algorithmsForKeyType(record);
  const usable = candidates.filter((alg) => allowed.has(alg) && !HMAC_ALGORITHMS.has(alg));
  if (usable.length === 0) return `serves no allowed algorithm (${candidates.join(', ') || `kty ${String(record.kty)}`})`;
  const keys = new Map<string, CryptoKey>();
  for (const alg of usable) {
    try {
      const key = await importJWK(record as JWK, alg);
      if (!(key instanceof CryptoKey) || key.type !== 'public') return 'is not a public key';
      keys.set(alg, key);
    } catch (error) {
      return `does not import for ${alg}: ${(error as Error).message}`;
    }
  }
  return keys;
}

/** Imports one configured static key. Throws with a reason (config load time). */
export async function importStaticKey(config: StaticKeyConfig): Promise<VerificationKey> {
  const { alg, kid } = config;
  if (HMAC_ALGORITHMS.has(alg)) {
    if (config.secret === undefined) throw new Error(`${alg} needs a secret`);
    const bytes = new TextEncoder().encode(config.secret);
    const key = await crypto.subtle.importKey('raw', bytes, { name: 'HMAC', hash: HMAC_HASH[alg]! }, false, ['verify']);
    return { kid, alg, key };
  }
  if (config.secret !== undefined) throw new Error(`${alg} is not an HMAC algorithm; a secret cannot verify it`);
  if (config.pem !== undefined) {
    const pem = config.pem.trim();
    if (/PRIVATE KEY-----/.test(pem)) throw new Error('the PEM is a private key; configure the public key');
    const key = pem.startsWith('-----BEGIN CERTIFICATE-----') ? await importX509(pem, alg) : await importSPKI(pem, alg);
    return { kid, alg, key };
  }
  if (config.jwk !== undefined) {
    const keys = await importPublicJwk({ ...config.jwk, alg }, new Set([alg]));
    if (typeof keys === 'string') throw new Error(`the JWK ${keys}`);
    return { kid: kid ?? (typeof config.jwk.kid === 'string' ? config.jwk.kid : undefined), alg, key: keys.get(alg)! };
  }
  throw new Error('a key needs one of pem, jwk or secret');
}

/**
 * Static keys, looked up by (kid, alg). A token naming a kid must match a key with that kid; a token without kid
 * is verified with the one key of its algorithm, and refused when there are several (never "try them all").
 */
export class StaticKeySet {
  readonly #byKid = new Map<string, VerificationKey>();
  readonly #withoutKid = new Map<string, VerificationKey[]>();

  constructor(keys: readonly VerificationKey[]) {
    for (const key of keys) {
      if (key.kid !== undefined) this.#byKid.set(`${key.kid}\u0000${key.alg}`, key);
      const list = this.#withoutKid.get(key.alg) ?? [];
      list.push(key);
      this.#withoutKid.set(key.alg, list);
    }
  }

  find(kid: string | undefined, alg: string): CryptoKey | string {
    if (kid !== undefined) return this.#byKid.get(`${kid}\u0000${alg}`)?.key ?? `no static key with this kid for ${alg}`;
    const keys = this.#withoutKid.get(alg);
    if (keys === undefined) return `no static key for ${alg}`;
    if (keys.length > 1) return `token has no kid and ${keys.length} static keys serve ${alg}`;
    return keys[0]!.key;
  }
}
