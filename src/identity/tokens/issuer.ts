/**
 * The token issuer of the built-in identity provider: short-lived JWT access tokens in the RFC 9068 profile, signed
 * with the active gateway key (keys.ts), and opaque refresh tokens whose families live in the SessionStore
 * (rotation and reuse detection: endpoints.ts, RFC 9700 §4.14.2).
 *
 * Access token:
 *   header  { alg, kid, typ: "at+jwt" }                                   RFC 9068 §2.1
 *   claims  iss, aud, sub, client_id, iat, nbf, exp = iat + accessTokenTtl, jti,
 *           scope (space-separated, when not empty), roles, tenant?, amr, acr?, auth_time,
 *           sid? (the refresh family, for user grants with a refresh token)   RFC 9068 §2.2, RFC 8176, OIDC Core §2
 *
 * `client_id` is the client for client grants and the app for user grants; a user grant without an app (the
 * gateway's own login endpoints) names FIRST_PARTY_CLIENT_ID. A token whose `sub` equals its `client_id` is a
 * machine token (RFC 9068 §2.2), which is how verifiers tell the two apart.
 *
 * Refresh token: 256 random bits (randomToken(32)); only hashSecret(token, pepper) is stored, never the token.
 */
import { SignJWT } from 'jose';
import { hashSecret } from '../../crypto/hashing.ts';
import { randomToken } from '../../crypto/random.ts';
import type { IdentityDeps, TokenGrant, TokenIssuer, TokenResponse } from '../types.ts';
import { SigningKeys } from './keys.ts';
import { ACCESS_TOKEN_TYP } from './verifier.ts';

/** `client_id` of user tokens obtained through the gateway's own login endpoints (no registered client). */
export const FIRST_PARTY_CLIENT_ID = 'rampart';
/** How often the rotation schedule is checked (keys.ts). */
export const ROTATION_CHECK_INTERVAL_MS = 3_600_000;

export interface RampartTokenIssuer extends TokenIssuer {
  /** The signing keys (the revocation endpoint and tests read them). */
  readonly keys: SigningKeys;
  /**
   * Issues an access token only (no new refresh family): the refresh grant adds the rotated refresh token itself.
   * `sessionId` is the refresh family the token descends from (claim `sid`): revoking the family revokes it too.
   */
  issueAccessToken(grant: TokenGrant, sessionId?: string): Promise<TokenResponse>;
}

/** Creates the issuer: runs the rotation check once (a key exists afterwards) and starts the hourly timer. */
export async function createTokenIssuer(deps: IdentityDeps): Promise<RampartTokenIssuer> {
  const { config, stores, pepper, now } = deps;
  const keys = new SigningKeys({
    identities: stores.identities,
    alg: config.signing.alg,
    rotateEveryMs: config.signing.rotateEveryMs,
    overlapMs: config.signing.overlapMs,
    accessTokenTtlMs: config.accessTokenTtlMs,
    now,
    logger: deps.logger,
    events: deps.events,
  });
  await keys.rotateIfDue();
  const ttlSeconds = Math.max(1, Math.floor(config.accessTokenTtlMs / 1000));

  async function issueAccessToken(grant: TokenGrant, sessionId?: string): Promise<TokenResponse> {
    const at = now();
    const iat = Math.floor(at / 1000);
    const signing = await keys.signingKey(at);
    const clientId = grant.clientId ?? (grant.kind === 'client' ? grant.subject : FIRST_PARTY_CLIENT_ID);
    const claims: Record<string, unknown> = {
      client_id: clientId,
      roles: [...grant.roles],
      amr: [...grant.amr],
      auth_time: Math.floor(grant.authTime / 1000),
    };
    if (grant.scopes.length > 0) claims.scope = grant.scopes.join(' ');
    if (sessionId !== undefined) claims.sid = sessionId;
    if (grant.tenant !== undefined) claims.tenant = grant.tenant;
    if (grant.acr !== undefined) claims.acr = grant.acr;
    const accessToken = await new SignJWT(claims)
      .setProtectedHeader({ alg: signing.alg, kid: signing.kid, typ: ACCESS_TOKEN_TYP })
      .setIssuer(config.issuer)
      .setAudience(config.audience)
      .setSubject(grant.subject)
      .setIssuedAt(iat)
      .setNotBefore(iat)
      .setExpirationTime(iat + ttlSeconds)
      .setJti(randomToken(16))
      .sign(signing.key);
    const response: { -readonly [K in keyof TokenResponse]: TokenResponse[K] } = {
      access_token: accessToken,
      token_type: 'Bearer',
      expires_in: ttlSeconds,
    };
    if (grant.scopes.length > 0) response.scope = grant.scopes.join(' ');
    return response;
  }

  async function issue(grant: TokenGrant): Promise<TokenResponse> {
    if (!grant.refresh) return issueAccessToken(grant);
    const refreshToken = randomToken(32);
    const at = now();
    // The family first, so the access token can name it (`sid`) and die with it.
    const family = await stores.sessions.createRefreshFamily({
      subject: grant.subject,
      clientId: grant.clientId ?? null,
      scopes: [...grant.scopes],
      amr: [...grant.amr],
      acr: grant.acr ?? null,
      authTime: grant.authTime,
      createdAt: at,
      expiresAt: at + config.refreshTokenTtlMs,
      tokenHash: hashSecret(refreshToken, pepper),
    });
    const response = await issueAccessToken(grant, family.id);
    return { ...response, refresh_token: refreshToken };
  }

  const timer = setInterval(() => {
    keys.rotateIfDue().catch((error: unknown) => {
      deps.logger.error({ err: { message: (error as Error).message } }, 'signing key rotation failed; retrying in an hour');
    });
  }, ROTATION_CHECK_INTERVAL_MS);
  timer.unref();

  return {
    keys,
    issue,
    issueAccessToken,
    jwks: async () => ({ keys: await keys.publishedKeys(now()) }),
    rotateIfDue: () => keys.rotateIfDue(),
    close: async () => {
      clearInterval(timer);
    },
  };
}
