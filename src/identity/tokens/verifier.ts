/**
 * Verification of the access tokens this gateway issued, against the signing keys in the store (in process: no
 * HTTP round trip to our own JWKS). Used by the `identity-token` policy and by the RFC 7009 revocation endpoint.
 *
 * It is built from the `jwt` policy's pieces rather than being a second verifier: the strict JWS header reader
 * (jws-header.ts: base64url, duplicate members, depth), key import bound to one algorithm (keys.ts), and the
 * principal builder (principal.ts: header-safe values, sealed permissions, MFA marking). What the jwt policy's
 * `JwtVerifier` class could not give is a key source other than a JWKS URL (its constructor takes the `JwksCache`
 * class, whose private fields make it nominal), hence this thin orchestration of the same steps.
 *
 * Rules (RFC 8725, RFC 9068):
 * - `typ` must be `at+jwt`; `iss` and `aud` exact; `exp`, `iat`, `sub`, `jti` and `client_id` required; `nbf`,
 *   `exp` and a future `iat` checked with a small clock skew (the gateway nodes share a clock source).
 * - The key is chosen by `kid` only, and must be bound to the header's `alg`; `none`, unknown algorithms and the
 *   key-selecting headers `jku`/`jwk`/`x5u`/`x5c` are refused.
 * - Keys are re-read from the store every `keyRefreshMs` (a deleted key stops verifying within that time), and at
 *   most once per `unknownKidRefetchMs` when a token names a kid we do not know (a key another node just created).
 * - A key record the store cannot read (damaged public JWK) is left out of the set and logged once per kid: a token
 *   naming it is refused as signed by an unknown key (fail closed), and the other keys, including ones another
 *   node creates later, keep loading. Failing the whole read instead would freeze the last set for good.
 */
import { jwtVerify, type JWTVerifyOptions } from 'jose';
import type { Logger } from 'pino';
import { decodeProtectedHeader, splitCompactJws } from '../../policies/jwt/jws-header.ts';
import { importPublicJwk } from '../../policies/jwt/keys.ts';
import { buildPrincipal, compileClaimsMapping, type CompiledClaimsMapping } from '../../policies/jwt/principal.ts';
import type { Principal } from '../../policies/types.ts';
import type { DamagedRecordHandler, IdentityStore } from '../../storage/ports.ts';
import { ACR_MFA } from '../types.ts';
import { reportDamagedSigningKey } from './keys.ts';

/** The algorithms the gateway signs with (identity.signing.alg). */
export const ISSUER_ALGORITHMS: ReadonlySet<string> = new Set(['ES256', 'EdDSA', 'RS256']);
/** RFC 9068 §2.1. */
export const ACCESS_TOKEN_TYP = 'at+jwt';
const KEY_SELECTING_HEADERS = ['jku', 'jwk', 'x5u', 'x5c'] as const;
const MAX_KID_LENGTH = 256;
const DEFAULT_KEY_REFRESH_MS = 30_000;
const DEFAULT_UNKNOWN_KID_REFETCH_MS = 1_000;

export interface Rejection {
  readonly reason: string;
  /** 'medium' for attack-shaped tokens (alg none, key-selecting headers, forged kid), 'low' otherwise. */
  readonly severity: 'low' | 'medium';
}

function reject(reason: string, severity: 'low' | 'medium' = 'low'): Rejection {
  return { reason, severity };
}

export function isRejection(value: unknown): value is Rejection {
  return typeof value === 'object' && value !== null && 'reason' in value;
}

export interface VerifiedAccessToken {
  readonly principal: Principal;
  readonly claims: Readonly<Record<string, unknown>>;
  readonly kid: string;
  readonly jti: string;
  readonly subject: string;
  readonly clientId: string;
  /** Seconds (JWT NumericDate). */
  readonly iat: number;
  /** Seconds. */
  readonly exp: number;
  /** The refresh family the token descends from (`sid`), when it has one. */
  readonly sessionId: string | undefined;
}

export interface StoreTokenVerifierOptions {
  readonly identities: IdentityStore;
  readonly issuer: string;
  readonly audience: string;
  /** Seconds tolerated for exp/nbf/iat. */
  readonly clockSkewSeconds: number;
  readonly now: () => number;
  readonly logger?: Logger;
  readonly keyRefreshMs?: number;
  readonly unknownKidRefetchMs?: number;
}

interface LoadedKey {
  readonly alg: string;
  readonly key: CryptoKey;
}

/** Claims of the gateway's own tokens: roles and tenant under their plain names; MFA is `acr` = ACR_MFA. */
const CLAIMS_MAPPING: CompiledClaimsMapping = compileClaimsMapping({
  roles: { claim: 'roles' },
  tenant: { claim: 'tenant' },
  mfa: { amrContains: ['mfa'], acrValues: [ACR_MFA] },
});

export class StoreTokenVerifier {
  readonly #options: StoreTokenVerifierOptions;
  readonly #verifyOptions: JWTVerifyOptions;
  readonly #keyRefreshMs: number;
  readonly #unknownKidRefetchMs: number;
  #keys = new Map<string, LoadedKey>();
  #loadedAt = Number.NEGATIVE_INFINITY;
  #lastAttempt = Number.NEGATIVE_INFINITY;
  #loading: Promise<void> | undefined;
  #everLoaded = false;
  /** Kids already logged as damaged: the list is read every keyRefreshMs and on unknown kids, the log once. */
  readonly #reported = new Set<string>();
  readonly #onDamaged: DamagedRecordHandler;

  constructor(options: StoreTokenVerifierOptions) {
    this.#options = options;
    this.#onDamaged = (error) =>
      reportDamagedSigningKey(options.logger, this.#reported, error, 'the key is left out: tokens naming this kid are refused as signed by an unknown key');
    this.#keyRefreshMs = options.keyRefreshMs ?? DEFAULT_KEY_REFRESH_MS;
    this.#unknownKidRefetchMs = options.unknownKidRefetchMs ?? DEFAULT_UNKNOWN_KID_REFETCH_MS;
    this.#verifyOptions = {
      issuer: options.issuer,
      audience: options.audience,
      typ: ACCESS_TOKEN_TYP,
      clockTolerance: options.clockSkewSeconds,
      requiredClaims: ['exp', 'iat', 'sub', 'jti', 'client_id'],
    };
  }

  get issuer(): string {
    return this.#options.issuer;
  }

  /** Loads the keys now (start-up; tests). */
  async load(): Promise<void> {
    await this.#refresh(this.#options.now(), true);
  }

  /** Re-reads the keys when the list is older than keyRefreshMs (the policy's periodic re-check awaits this). */
  async ensureFresh(now: number): Promise<void> {
    if (now - this.#loadedAt >= this.#keyRefreshMs) await this.#refresh(now, false);
  }

  /**
   * Whether `kid` is (still) a key of ours, synchronously, for the verified-token cache's hit path. Starts a
   * background re-read when the key list is older than keyRefreshMs.
   */
  hasKid(kid: string, now: number): boolean {
    if (now - this.#loadedAt >= this.#keyRefreshMs) void this.#refresh(now, false);
    return this.#keys.has(kid);
  }

  #refresh(now: number, force: boolean): Promise<void> {
    if (this.#loading !== undefined) return this.#loading;
    if (!force && now - this.#lastAttempt < this.#unknownKidRefetchMs && this.#everLoaded) return Promise.resolve();
    this.#lastAttempt = now;
    this.#loading = this.#load(now).finally(() => {
      this.#loading = undefined;
    });
    return this.#loading;
  }

  async #load(now: number): Promise<void> {
    try {
      const records = await this.#options.identities.listSigningKeys(this.#onDamaged);
      const keys = new Map<string, LoadedKey>();
      for (const record of records) {
        if (!ISSUER_ALGORITHMS.has(record.alg)) continue;
        // Reuse the key already imported for this kid: a key's material never changes under its thumbprint.
        const known = this.#keys.get(record.kid);
        if (known !== undefined && known.alg === record.alg) {
          keys.set(record.kid, known);
          continue;
        }
        const imported = await importPublicJwk({ ...record.publicJwk, alg: record.alg }, new Set([record.alg]));
        if (typeof imported === 'string') {
          this.#options.logger?.warn({ kid: record.kid, reason: imported }, 'identity signing key skipped');
          continue;
        }
        keys.set(record.kid, { alg: record.alg, key: imported.get(record.alg)! });
      }
      this.#keys = keys;
      this.#loadedAt = now;
      this.#everLoaded = true;
    } catch (error) {
      // Keep the last good set through a store outage; the next request retries after the refetch interval.
      this.#options.logger?.warn({ err: { message: (error as Error).message } }, 'identity signing keys could not be read; keeping the last set');
    }
  }

  /**
   * Whether a JWS-shaped token is clearly someone else's: well-formed, its `kid` not one of ours and its `iss` a
   * different string. Such a token belongs to another authenticator on the route (the `jwt` policy of that
   * issuer). Anything malformed, or claiming our issuer or kid, is ours to verify and refuse.
   */
  isForeign(token: string): boolean {
    const parts = splitCompactJws(token);
    if (typeof parts === 'string') return false;
    const header = decodeProtectedHeader(parts[0]);
    if (typeof header === 'string') return false;
    if (typeof header.kid === 'string' && this.#keys.has(header.kid)) return false;
    let payload: unknown;
    try {
      payload = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'));
    } catch {
      return false;
    }
    if (payload === null || typeof payload !== 'object' || Array.isArray(payload)) return false;
    const iss = (payload as { iss?: unknown }).iss;
    return typeof iss === 'string' && iss !== this.#options.issuer;
  }

  /** Verifies signature and claims. Answers the verified token or why it is refused; never throws. */
  async verify(token: string, now: number): Promise<VerifiedAccessToken | Rejection> {
    const parts = splitCompactJws(token);
    if (typeof parts === 'string') return reject(parts);
    const header = decodeProtectedHeader(parts[0]);
    if (typeof header === 'string') return reject(header, header.includes('twice') || header.includes('deep') ? 'medium' : 'low');
    const alg = header.alg;
    if (typeof alg !== 'string') return reject('header has no alg');
    if (alg.toLowerCase() === 'none') return reject(`alg "${alg.slice(0, 16)}" refused (RFC 8725 §3.1)`, 'medium');
    if (!ISSUER_ALGORITHMS.has(alg)) return reject(`alg "${alg.slice(0, 16)}" is not one the gateway signs with`, 'medium');
    for (const name of KEY_SELECTING_HEADERS) {
      if (Object.hasOwn(header, name)) return reject(`header parameter "${name}" refused: the token may not choose its key`, 'medium');
    }
    const kid = header.kid;
    if (typeof kid !== 'string' || kid === '' || kid.length > MAX_KID_LENGTH) return reject('no kid, or not a short string');

    if (!this.#everLoaded || !this.#keys.has(kid) || now - this.#loadedAt >= this.#keyRefreshMs) await this.#refresh(now, !this.#everLoaded);
    const key = this.#keys.get(kid);
    if (key === undefined) return reject('unknown kid (never ours, or deleted)', 'medium');
    if (key.alg !== alg) return reject(`key ${kid} does not serve ${alg.slice(0, 16)}`, 'medium');

    let claims: Record<string, unknown>;
    try {
      const result = await jwtVerify(token, key.key, { ...this.#verifyOptions, algorithms: [key.alg], currentDate: new Date(now) });
      claims = result.payload as Record<string, unknown>;
    } catch (error) {
      const { code, message } = error as { code?: string; message?: string };
      return reject(`${code ?? 'ERR_JWT_INVALID'}: ${message ?? 'verification failed'}`);
    }
    const { iat, exp, jti, sub, client_id: clientId, sid } = claims;
    if (typeof iat !== 'number' || typeof exp !== 'number') return reject('iat or exp is not a number');
    if (iat > Math.floor(now / 1000) + this.#options.clockSkewSeconds) return reject('"iat" is in the future');
    if (typeof jti !== 'string' || jti === '' || jti.length > 256) return reject('jti is not a short string');
    if (typeof sub !== 'string' || typeof clientId !== 'string') return reject('sub or client_id is not a string');
    if (sid !== undefined && (typeof sid !== 'string' || sid === '' || sid.length > 256)) return reject('sid is not a short string');
    const principal = buildPrincipal(claims, 'identity-token', CLAIMS_MAPPING);
    if (typeof principal === 'string') return reject(principal);
    return { principal, claims: principal.claims ?? claims, kid, jti, subject: sub, clientId, iat, exp, sessionId: sid as string | undefined };
  }
}
