/**
 * Gateway-signed identity assertions (issue 3, point 8): instead of (or beside) `x-rampart-*` headers, a route can
 * pass the authenticated principal to its upstream as a short-lived JWT signed with the identity provider's current
 * key, so the upstream verifies who called against the published JWKS instead of trusting a network position.
 *
 * One assertion per principal is reused while it has more than 10 s left (principals are frozen objects cached by
 * the authenticators, so the WeakMap hits for every request of a cached token): signing is a WebCrypto call that
 * must not run per request.
 */
import { SignJWT } from 'jose';
import { randomToken } from '../crypto/random.ts';
import type { Principal } from '../policies/types.ts';
import type { SigningKeys } from './tokens/keys.ts';

export const IDENTITY_ASSERTION_TYP = 'rampart-identity+jwt';
const LIFETIME_S = 60;
const REUSE_MARGIN_MS = 10_000;

export class IdentityAssertionSigner {
  readonly #keys: SigningKeys;
  readonly #issuer: string;
  readonly #now: () => number;
  readonly #cache = new WeakMap<Principal, Map<string, { token: string; expiresAt: number }>>();

  constructor(keys: SigningKeys, issuer: string, now: () => number = Date.now) {
    this.#keys = keys;
    this.#issuer = issuer;
    this.#now = now;
  }

  /** The cached assertion when one is fresh, else undefined (callers then await `sign`). */
  cached(principal: Principal, audience: string): string | undefined {
    const entry = this.#cache.get(principal)?.get(audience);
    return entry !== undefined && entry.expiresAt - REUSE_MARGIN_MS > this.#now() ? entry.token : undefined;
  }

  async sign(principal: Principal, audience: string): Promise<string> {
    const cached = this.cached(principal, audience);
    if (cached !== undefined) return cached;
    const now = this.#now();
    const iat = Math.floor(now / 1000);
    const key = await this.#keys.signingKey(now);
    const claims: Record<string, unknown> = { kind: principal.kind, method: principal.method, roles: [...principal.roles] };
    if (principal.tenant !== undefined) claims.tenant = principal.tenant;
    if (principal.amr !== undefined) claims.amr = [...principal.amr];
    const token = await new SignJWT(claims)
      .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: IDENTITY_ASSERTION_TYP })
      .setIssuer(this.#issuer)
      .setAudience(audience)
      .setSubject(principal.subject)
      .setIssuedAt(iat)
      .setExpirationTime(iat + LIFETIME_S)
      .setJti(randomToken(16))
      .sign(key.key);
    let byAudience = this.#cache.get(principal);
    if (byAudience === undefined) {
      byAudience = new Map();
      this.#cache.set(principal, byAudience);
    }
    byAudience.set(audience, { token, expiresAt: (iat + LIFETIME_S) * 1000 });
    return token;
  }
}
