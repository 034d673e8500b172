/**
 * The OAuth 2.0 endpoints of the built-in identity provider, as IdentityEndpoint functions the `identity` gateway
 * service dispatches to:
 *
 *   POST {basePath}/token        tokenEndpoint       RFC 6749 §4.4 client_credentials, §6 refresh_token
 *   POST {basePath}/revoke       revocationEndpoint  RFC 7009
 *   GET  /.well-known/jwks.json  jwksEndpoint        RFC 7517 §5
 *
 * Answers are protocol answers: JSON with `cache-control: no-store` and `pragma: no-cache` (RFC 6749 §5.1), errors
 * as `{"error":"…"}` (RFC 6749 §5.2) with no description, so nothing says which check failed. Only the JWKS is
 * cacheable.
 *
 * Refresh tokens (RFC 9700 §4.14.2): each use rotates the token; presenting a used one revokes the whole family
 * (the store does it atomically) and raises `auth.refresh-token-reuse`. A family whose user is gone, disabled, or
 * whose credentials were revoked after the family's authentication (password change, logout everywhere) is
 * revoked at its next use.
 *
 * Revocation (RFC 7009), decided here:
 * - A token issued to a registered (confidential) OAuth client can be revoked only by that client, authenticated.
 *   Unauthenticated → 401 invalid_client; another authenticated client → 200 and nothing is revoked (no oracle).
 * - User tokens obtained through the gateway's first-party login (client_id FIRST_PARTY_CLIENT_ID or an app that is
 *   not a registered client) can be revoked without client authentication: whoever holds the token could use it
 *   anyway, so letting them end it only takes power away (public clients cannot keep a secret, RFC 6749 §2.1).
 * - A refresh token revokes its whole family, and so every access token issued from it (they carry the family id
 *   in `sid`, which the identity-token policy checks). An access token (verified: our signature, issuer, audience,
 *   not expired) is put on the deny list by `jti` until its `exp`.
 * - Unknown, expired, foreign or malformed tokens: 200 anyway (RFC 7009 §2.2).
 *
 * Audit (issue 6, key and session lifecycle): a revocation that happens raises `token.revoked` (token type, `jti` or
 * refresh family id, subject, owning client, and who revoked it: the authenticated client or the token holder);
 * never the token. A refresh family the token endpoint ends because its client or user is gone, disabled or had
 * its credentials revoked raises `session.revoked` with the reason. A reused refresh token raises
 * `auth.refresh-token-reuse` as before.
 */
import { hashSecret } from '../../crypto/hashing.ts';
import { randomToken } from '../../crypto/random.ts';
import { BodyError, readForm } from '../../gateway/body.ts';
import type { GatewayContext } from '../../gateway/context.ts';
import { sendDirect, sendProblem } from '../../gateway/respond.ts';
import { hasJwsShape } from '../../policies/jwt/bearer.ts';
import type { OAuthClientRecord, RefreshFamilyRecord } from '../../storage/ports.ts';
import type { IdentityDeps, IdentityEndpoint, TokenGrant, TokenIssuer, TokenResponse } from '../types.ts';
import { ClientAuthenticator, presentedClient } from './client-auth.ts';
import { FIRST_PARTY_CLIENT_ID, type RampartTokenIssuer } from './issuer.ts';
import { StoreTokenVerifier, isRejection } from './verifier.ts';

type OAuthError =
  | 'invalid_request'
  | 'invalid_client'
  | 'invalid_grant'
  | 'unauthorized_client'
  | 'unsupported_grant_type'
  | 'invalid_scope'
  | 'unsupported_token_type';

const JSON_HEADERS = Object.freeze({ 'content-type': 'application/json', 'cache-control': 'no-store', pragma: 'no-cache' });
/** RFC 6749 §5.2: a 401 for invalid_client carries a challenge for the scheme the client can use. */
const INVALID_CLIENT_HEADERS = Object.freeze({ ...JSON_HEADERS, 'www-authenticate': 'Basic realm="rampart"' });
/** The body was not read to its end: the connection cannot be reused. */
const CLOSE_HEADERS = Object.freeze({ ...JSON_HEADERS, connection: 'close' });
/** RFC 6749 §3.3 scope-token characters. */
const SCOPE_TOKEN = /^[\x21\x23-\x5b\x5d-\x7e]+$/;
const JWKS_HEADERS = Object.freeze({ 'content-type': 'application/jwk-set+json', 'cache-control': 'public, max-age=300' });
const MAX_REFRESH_TOKEN_LENGTH = 512;
const MAX_ACCESS_TOKEN_LENGTH = 8192;

function sendJson(ctx: GatewayContext, status: number, body: unknown, headers: Readonly<Record<string, string>> = JSON_HEADERS): void {
  sendDirect(ctx.res, status, ctx.requestId, ctx.responseHeaders, headers, JSON.stringify(body));
}

function oauthError(ctx: GatewayContext, error: OAuthError, detail: string, headers?: Readonly<Record<string, string>>): void {
  // The detail is for the log line under the request's correlation id; the client gets the code only.
  ctx.errorCode = `oauth:${error}`;
  ctx.errorDetail = detail;
  if (error === 'invalid_client') sendJson(ctx, 401, { error }, INVALID_CLIENT_HEADERS);
  else sendJson(ctx, 400, { error }, headers);
}

/** Answers anything but POST with 405; true when the request may go on. */
function requirePost(ctx: GatewayContext): boolean {
  if (ctx.method === 'POST') return true;
  sendProblem(ctx.res, 'RAMPART_ERR_METHOD_NOT_ALLOWED', ctx.requestId, ctx.responseHeaders, { allow: 'POST' });
  return false;
}

/** The form, or undefined after answering invalid_request (wrong media type, repeated parameter, too large, bad UTF-8). */
async function readOAuthForm(ctx: GatewayContext, maxBytes: number): Promise<Map<string, string> | undefined> {
  try {
    return await readForm(ctx, maxBytes);
  } catch (error) {
    if (!(error instanceof BodyError)) throw error;
    // RFC 6749 §5.2: a malformed request (repeated parameter, §3.2) is invalid_request, whatever the cause.
    const unread = error.code === 'RAMPART_ERR_BODY_TOO_LARGE' || error.code === 'RAMPART_ERR_MALFORMED_REQUEST';
    oauthError(ctx, 'invalid_request', `${error.code}: ${error.message}`, unread ? CLOSE_HEADERS : undefined);
    return undefined;
  }
}

/** Parses an RFC 6749 §3.3 scope parameter into distinct tokens, or undefined when it is not one. */
export function parseScope(value: string): string[] | undefined {
  if (value === '' || value.length > 4096) return undefined;
  const tokens = value.split(' ');
  if (tokens.some((token) => !SCOPE_TOKEN.test(token))) return undefined;
  return [...new Set(tokens)];
}

/** The scopes granted for a request: the requested ones when all are allowed, all allowed ones when none asked. */
function grantedScopes(form: ReadonlyMap<string, string>, allowed: readonly string[]): string[] | undefined {
  const requested = form.get('scope');
  if (requested === undefined) return [...allowed];
  const scopes = parseScope(requested);
  if (scopes === undefined) return undefined;
  const permitted = new Set(allowed);
  return scopes.every((scope) => permitted.has(scope)) ? scopes : undefined;
}

/** A client authenticated with its secret; undefined after answering (invalid_request / invalid_client). */
async function authenticatedClient(
  ctx: GatewayContext,
  form: ReadonlyMap<string, string>,
  clients: ClientAuthenticator,
  required: boolean,
): Promise<{ client: OAuthClientRecord | undefined; publicId: string | undefined } | undefined> {
  const presented = presentedClient(ctx, form);
  switch (presented.method) {
    case 'invalid-request':
      oauthError(ctx, 'invalid_request', presented.reason);
      return undefined;
    case 'malformed':
      oauthError(ctx, 'invalid_client', presented.reason);
      return undefined;
    case 'none':
    case 'public':
      if (required) {
        oauthError(ctx, 'invalid_client', 'no client authentication');
        return undefined;
      }
      return { client: undefined, publicId: presented.method === 'public' ? presented.clientId : undefined };
    default: {
      const verdict = await clients.authenticate(ctx, presented.clientId, presented.secret);
      if (!verdict.ok) {
        oauthError(ctx, 'invalid_client', `client authentication failed (${verdict.reason})`);
        return undefined;
      }
      return { client: verdict.client, publicId: undefined };
    }
  }
}

/** POST {basePath}/token: client_credentials and refresh_token grants. */
export function tokenEndpoint(deps: IdentityDeps, issuer: TokenIssuer): IdentityEndpoint {
  const { config, stores, pepper, now, events } = deps;
  const clients = new ClientAuthenticator(deps);
  // Our issuer can sign without opening a new family and name the family in `sid`; any other TokenIssuer still works.
  const issueAccessOnly = (grant: TokenGrant, familyId: string): Promise<TokenResponse> =>
    'issueAccessToken' in issuer ? (issuer as RampartTokenIssuer).issueAccessToken(grant, familyId) : issuer.issue({ ...grant, refresh: false });

  async function clientCredentials(ctx: GatewayContext, form: ReadonlyMap<string, string>): Promise<void> {
    const authenticated = await authenticatedClient(ctx, form, clients, true);
    if (authenticated === undefined) return;
    const client = authenticated.client!;
    const scopes = grantedScopes(form, client.scopes);
    if (scopes === undefined) return oauthError(ctx, 'invalid_scope', 'scope is malformed or wider than the client\'s');
    // RFC 6749 §4.4.3: no refresh token for client credentials; the client simply asks again.
    const response = await issuer.issue({
      subject: client.clientId,
      kind: 'client',
      roles: client.roles,
      ...(client.tenant !== null ? { tenant: client.tenant } : {}),
      amr: [],
      authTime: now(),
      scopes,
      clientId: client.clientId,
      refresh: false,
    });
    sendJson(ctx, 200, response);
  }

  /** The subject of a rotated family, or why it may no longer get tokens. */
  async function familySubject(family: RefreshFamilyRecord): Promise<{ kind: 'user' | 'client'; roles: readonly string[]; tenant: string | null } | string> {
    if (family.clientId !== null && family.subject === family.clientId) {
      const client = await stores.identities.getOAuthClient(family.subject);
      if (client === undefined || client.disabled) return 'client deleted or disabled';
      return { kind: 'client', roles: client.roles, tenant: client.tenant };
    }
    const user = await stores.identities.getUser(family.subject);
    if (user === undefined || user.disabled) return 'user deleted or disabled';
    // Password change or logout everywhere at or after this family's login ends it (issue 3, point 7; the store's
    // rule: what was issued at or before sessionsValidAfter is invalid).
    if (user.sessionsValidAfter >= family.authTime) return 'user credentials revoked after the family\'s authentication';
    return { kind: 'user', roles: user.roles, tenant: user.tenant };
  }

  /** A family ended at its next use (its client or user is gone, disabled, or had its credentials revoked). */
  function familyRevoked(ctx: GatewayContext, family: RefreshFamilyRecord, reason: string): void {
    events.emit({
      type: 'session.revoked',
      severity: 'low',
      requestId: ctx.requestId,
      clientAddress: ctx.clientAddress,
      details: { subject: family.subject, familyId: family.id, clientId: family.clientId, reason, refreshFamilies: 1 },
    });
  }

  async function refreshToken(ctx: GatewayContext, form: ReadonlyMap<string, string>): Promise<void> {
    const presented = form.get('refresh_token');
    if (presented === undefined || presented === '') return oauthError(ctx, 'invalid_request', 'no refresh_token');
    const authenticated = await authenticatedClient(ctx, form, clients, false);
    if (authenticated === undefined) return;
    if (presented.length > MAX_REFRESH_TOKEN_LENGTH) return oauthError(ctx, 'invalid_grant', 'refresh token too long');
    const oldHash = hashSecret(presented, pepper);
    const family = await stores.sessions.findRefreshFamilyByToken(oldHash);
    if (family === undefined) return oauthError(ctx, 'invalid_grant', 'unknown refresh token');

    // RFC 6749 §6: the token must have been issued to the client presenting it. A family names a client only when
    // it was granted to a registered client (first-party logins leave it null), which must then authenticate; a
    // family of a client since deleted is ended.
    const owner = family.clientId ?? FIRST_PARTY_CLIENT_ID;
    if (family.clientId !== null) {
      const registered = await stores.identities.getOAuthClient(family.clientId);
      if (registered === undefined) {
        if (await stores.sessions.revokeRefreshFamily(family.id, now(), 'client deleted')) familyRevoked(ctx, family, 'client deleted');
        return oauthError(ctx, 'invalid_grant', `family ${family.id} revoked: client deleted`);
      }
      if (authenticated.client === undefined) return oauthError(ctx, 'invalid_client', 'refresh token of a registered client without client authentication');
    }
    const presentedId = authenticated.client?.clientId ?? authenticated.publicId;
    if (presentedId !== undefined && presentedId !== owner) return oauthError(ctx, 'invalid_grant', 'refresh token issued to another client');

    // RFC 6749 §6: the scope may only narrow; checked before the token is spent.
    const scopes = grantedScopes(form, family.scopes);
    if (scopes === undefined) return oauthError(ctx, 'invalid_scope', 'scope is malformed or wider than the grant');

    const next = randomToken(32);
    const at = now();
    const rotation = await stores.sessions.rotateRefreshToken(oldHash, hashSecret(next, pepper), at);
    if (rotation.status === 'reuse-detected') {
      events.emit({
        type: 'auth.refresh-token-reuse',
        severity: 'high',
        requestId: ctx.requestId,
        clientAddress: ctx.clientAddress,
        details: { familyId: rotation.family.id, subject: rotation.family.subject, clientId: rotation.family.clientId },
      });
      return oauthError(ctx, 'invalid_grant', `refresh token reuse: family ${rotation.family.id} revoked`);
    }
    if (rotation.status !== 'rotated') return oauthError(ctx, 'invalid_grant', `refresh token ${rotation.status}`);

    const rotated = rotation.family;
    const subject = await familySubject(rotated);
    if (typeof subject === 'string') {
      if (await stores.sessions.revokeRefreshFamily(rotated.id, at, subject)) familyRevoked(ctx, rotated, subject);
      return oauthError(ctx, 'invalid_grant', `family ${rotated.id} revoked: ${subject}`);
    }
    const response = await issueAccessOnly({
      subject: rotated.subject,
      kind: subject.kind,
      roles: subject.roles,
      ...(subject.tenant !== null ? { tenant: subject.tenant } : {}),
      amr: rotated.amr,
      ...(rotated.acr !== null ? { acr: rotated.acr } : {}),
      authTime: rotated.authTime,
      scopes,
      ...(rotated.clientId !== null ? { clientId: rotated.clientId } : {}),
      refresh: false,
    }, rotated.id);
    sendJson(ctx, 200, { ...response, refresh_token: next });
  }

  return async (ctx) => {
    if (!requirePost(ctx)) return;
    const form = await readOAuthForm(ctx, config.maxBodySize);
    if (form === undefined) return;
    const grantType = form.get('grant_type');
    if (grantType === undefined || grantType === '') return oauthError(ctx, 'invalid_request', 'no grant_type');
    if (grantType === 'client_credentials') return clientCredentials(ctx, form);
    if (grantType === 'refresh_token') return refreshToken(ctx, form);
    return oauthError(ctx, 'unsupported_grant_type', `grant_type "${grantType.slice(0, 64)}"`);
  };
}

/** POST {basePath}/revoke: RFC 7009 token revocation (see the module comment for who may revoke what). */
export function revocationEndpoint(deps: IdentityDeps): IdentityEndpoint {
  const { config, stores, pepper, now, events } = deps;
  const clients = new ClientAuthenticator(deps);
  const verifier = new StoreTokenVerifier({
    identities: stores.identities,
    issuer: config.issuer,
    audience: config.audience,
    clockSkewSeconds: 0,
    now,
    logger: deps.logger,
  });

  /** Whether the caller may revoke a token issued to `owner`: undefined = yes, else the answer already sent. */
  async function mayRevoke(ctx: GatewayContext, owner: string, client: OAuthClientRecord | undefined): Promise<'yes' | 'no' | 'answered'> {
    const registered = owner === FIRST_PARTY_CLIENT_ID ? undefined : await stores.identities.getOAuthClient(owner);
    if (registered === undefined) return 'yes';
    if (client === undefined) {
      oauthError(ctx, 'invalid_client', 'revoking a registered client\'s token needs its client authentication');
      return 'answered';
    }
    return client.clientId === owner ? 'yes' : 'no';
  }

  /** `token.revoked`: which token (its id, never the token), whose, and who asked (the client, or the holder). */
  function revoked(ctx: GatewayContext, client: OAuthClientRecord | undefined, details: Readonly<Record<string, unknown>>): void {
    events.emit({
      type: 'token.revoked',
      severity: 'low',
      requestId: ctx.requestId,
      clientAddress: ctx.clientAddress,
      details: { ...details, revokedBy: client === undefined ? 'token-holder' : 'client', revokedByClientId: client?.clientId ?? null },
    });
  }

  return async (ctx) => {
    if (!requirePost(ctx)) return;
    const form = await readOAuthForm(ctx, config.maxBodySize);
    if (form === undefined) return;
    const token = form.get('token');
    if (token === undefined || token === '') return oauthError(ctx, 'invalid_request', 'no token');
    const authenticated = await authenticatedClient(ctx, form, clients, false);
    if (authenticated === undefined) return;
    const at = now();

    // The hint (RFC 7009 §2.1) only orders lookups; the token's shape decides here, so a wrong hint changes nothing.
    if (hasJwsShape(token) && token.length <= MAX_ACCESS_TOKEN_LENGTH) {
      const verified = await verifier.verify(token, at);
      if (!isRejection(verified)) {
        const decision = await mayRevoke(ctx, verified.clientId, authenticated.client);
        if (decision === 'answered') return;
        if (decision === 'yes') {
          await stores.sessions.revokeAccessToken(verified.jti, verified.exp * 1000);
          revoked(ctx, authenticated.client, {
            tokenType: 'access_token',
            jti: verified.jti,
            subject: verified.subject,
            clientId: verified.clientId,
            familyId: verified.sessionId ?? null,
          });
        }
      }
    } else if (token.length <= MAX_REFRESH_TOKEN_LENGTH) {
      const family = await stores.sessions.findRefreshFamilyByToken(hashSecret(token, pepper));
      if (family !== undefined) {
        const decision = await mayRevoke(ctx, family.clientId ?? FIRST_PARTY_CLIENT_ID, authenticated.client);
        if (decision === 'answered') return;
        if (decision === 'yes' && (await stores.sessions.revokeRefreshFamily(family.id, at, 'revoked (RFC 7009)'))) {
          revoked(ctx, authenticated.client, { tokenType: 'refresh_token', familyId: family.id, subject: family.subject, clientId: family.clientId ?? FIRST_PARTY_CLIENT_ID });
        }
      }
    }
    // RFC 7009 §2.2: 200 whether or not there was anything to revoke.
    sendDirect(ctx.res, 200, ctx.requestId, ctx.responseHeaders, { 'cache-control': 'no-store', pragma: 'no-cache' });
  };
}

/** GET /.well-known/jwks.json: the published public keys; the only cacheable answer (5 minutes). */
export function jwksEndpoint(issuer: TokenIssuer): IdentityEndpoint {
  return async (ctx) => {
    if (ctx.method !== 'GET' && ctx.method !== 'HEAD') {
      sendProblem(ctx.res, 'RAMPART_ERR_METHOD_NOT_ALLOWED', ctx.requestId, ctx.responseHeaders, { allow: 'GET, HEAD' });
      return;
    }
    const body = JSON.stringify(await issuer.jwks());
    // RFC 7517 §8.5.1 media type. Five minutes of caching is far below the rotation overlap (identity.signing.overlap),
    // so a verifier always sees a new key long before it signs. Node sends no body for HEAD, keeping content-length.
    sendDirect(ctx.res, 200, ctx.requestId, ctx.responseHeaders, JWKS_HEADERS, body);
  };
}
