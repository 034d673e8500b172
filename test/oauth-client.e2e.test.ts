/**
 * A real OAuth 2.0 client library (oauth4webapi, panva) against the built-in token endpoint, over real HTTP
 * (issue 3, "Must show"): it completes the client-credentials grant, calls a protected route with the access token
 * (a server running the identity-token policy), validates the token as an RFC 9068 resource server would (against
 * our JWKS endpoint), and revokes it (RFC 7009).
 *
 * The servers are plain http on 127.0.0.1, so oauth4webapi's `allowInsecureRequests` option (documented for
 * exactly this: tests and local development) is set on every call.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oauth from 'oauth4webapi';
import { hashSecret } from '../src/crypto/hashing.ts';
import { jwksEndpoint, revocationEndpoint, tokenEndpoint } from '../src/identity/tokens/endpoints.ts';
import { createTokenIssuer, type RampartTokenIssuer } from '../src/identity/tokens/issuer.ts';
import { startEndpointServer, startProtectedServer, testIdentityConfig, testIdentityDeps, type TestIdentity, type TestServer } from '../src/identity/tokens/test-support.ts';
import type { IdentityEndpoint } from '../src/identity/types.ts';
import { createIdentityTokenHandlers } from '../src/policies/identity-token/index.ts';
import { policyDeps } from '../src/policies/jwt/test-harness.ts';

const CLIENT_ID = 'reporting';
const CLIENT_SECRET = 'reporting-client-secret-0123456789abcdefghij';
const AUDIENCE = 'orders-api';
const insecure = { [oauth.allowInsecureRequests]: true } as const;

describe('oauth4webapi against the built-in token endpoint', () => {
  let identity: TestIdentity;
  let issuer: RampartTokenIssuer;
  let authServer: TestServer;
  let api: TestServer;
  let deps: ReturnType<typeof policyDeps>;
  let as: oauth.AuthorizationServer;
  const client: oauth.Client = { client_id: CLIENT_ID };

  beforeAll(async () => {
    // The issuer identifier is the authorization server's own URL, known once it listens: the server reads this
    // (live) route table, filled in below.
    const routes: Record<string, IdentityEndpoint> = {};
    authServer = await startEndpointServer(routes);
    const issuerUrl = authServer.url;
    identity = testIdentityDeps('sqlite', Date.now, testIdentityConfig({ issuer: issuerUrl, audience: AUDIENCE }));
    await identity.stores.identities.createOAuthClient({
      clientId: CLIENT_ID,
      secretHash: hashSecret(CLIENT_SECRET, identity.pepper),
      name: 'Reporting',
      roles: ['reporter'],
      scopes: ['orders:read', 'orders:export'],
      tenant: 'acme',
      createdAt: Date.now(),
    });
    issuer = await createTokenIssuer(identity);
    routes['/auth/token'] = tokenEndpoint(identity, issuer);
    routes['/auth/revoke'] = revocationEndpoint(identity);
    routes['/.well-known/jwks.json'] = jwksEndpoint(issuer);
    as = {
      issuer: issuerUrl,
      token_endpoint: `${issuerUrl}/auth/token`,
      revocation_endpoint: `${issuerUrl}/auth/revoke`,
      jwks_uri: `${issuerUrl}/.well-known/jwks.json`,
    };

    deps = { ...policyDeps(), stores: identity.stores } as ReturnType<typeof policyDeps>;
    const handlers = await createIdentityTokenHandlers({ issuer: issuerUrl, audience: AUDIENCE, realm: 'orders', allowRevokedCheck: true, clockSkew: 5, maxTokenBytes: 8192 }, deps);
    api = await startProtectedServer(handlers);
  });

  afterAll(async () => {
    await api?.close();
    await authServer?.close();
    await deps?.shared.close();
    await issuer?.close();
    await identity?.close();
  });

  async function clientCredentials(auth: oauth.ClientAuth, scope?: string): Promise<oauth.TokenEndpointResponse> {
    const response = await oauth.clientCredentialsGrantRequest(as, client, auth, scope === undefined ? {} : { scope }, insecure);
    return oauth.processClientCredentialsResponse(as, client, response);
  }

  const callApi = (accessToken: string) => oauth.protectedResourceRequest(accessToken, 'GET', new URL(`${api.url}/orders`), undefined, undefined, insecure);

  /** oauth4webapi reports a 401 with a Bearer challenge (RFC 6750 §3) as a WWWAuthenticateChallengeError. */
  async function expectInvalidToken(pending: Promise<Response>): Promise<void> {
    const error = await pending.then(
      () => undefined,
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(oauth.WWWAuthenticateChallengeError);
    const challenge = error as oauth.WWWAuthenticateChallengeError;
    expect(challenge.status).toBe(401);
    expect(challenge.cause).toEqual([{ scheme: 'bearer', parameters: { realm: 'orders', error: 'invalid_token' } }]);
  }

  it('completes client credentials (client_secret_basic) and calls a protected route with the token', async () => {
    const tokens = await clientCredentials(oauth.ClientSecretBasic(CLIENT_SECRET), 'orders:read');
    expect(tokens.token_type).toBe('bearer');
    expect(tokens.expires_in).toBe(600);
    expect(tokens.scope).toBe('orders:read');
    expect(tokens.refresh_token).toBeUndefined();

    const response = await callApi(tokens.access_token);
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({
      subject: CLIENT_ID,
      kind: 'client',
      method: 'identity-token',
      roles: ['reporter'],
      tenant: 'acme',
      permissions: ['orders:read'],
    });
  });

  it('completes client credentials with client_secret_post', async () => {
    const tokens = await clientCredentials(oauth.ClientSecretPost(CLIENT_SECRET));
    expect(tokens.scope).toBe('orders:read orders:export');
    expect((await callApi(tokens.access_token)).status).toBe(200);
  });

  it('issues tokens a standard RFC 9068 resource server accepts (oauth4webapi validateJwtAccessToken, keys from our JWKS)', async () => {
    const tokens = await clientCredentials(oauth.ClientSecretBasic(CLIENT_SECRET));
    const request = new Request(`${api.url}/orders`, { headers: { authorization: `Bearer ${tokens.access_token}` } });
    const claims = await oauth.validateJwtAccessToken(as, request, AUDIENCE, insecure);
    expect(claims).toMatchObject({ iss: as.issuer, aud: AUDIENCE, sub: CLIENT_ID, client_id: CLIENT_ID, scope: 'orders:read orders:export' });
  });

  it('surfaces invalid_client to the library for a wrong secret, and serves the right one afterwards', async () => {
    const error = await clientCredentials(oauth.ClientSecretBasic('not-the-secret')).catch((caught: unknown) => caught);
    // A 401 with a WWW-Authenticate challenge (RFC 6749 §5.2) is reported by oauth4webapi as a challenge error.
    expect(error).toBeInstanceOf(oauth.WWWAuthenticateChallengeError);
    const challenge = error as oauth.WWWAuthenticateChallengeError;
    expect(challenge.status).toBe(401);
    expect(challenge.cause[0]?.scheme).toBe('basic');
    expect(await challenge.response.json()).toEqual({ error: 'invalid_client' });
    expect((await clientCredentials(oauth.ClientSecretBasic(CLIENT_SECRET))).access_token).toBeTypeOf('string');
  });

  it('surfaces invalid_scope for a scope wider than the client\'s', async () => {
    const error = await clientCredentials(oauth.ClientSecretBasic(CLIENT_SECRET), 'orders:delete').catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(oauth.ResponseBodyError);
    expect((error as oauth.ResponseBodyError).error).toBe('invalid_scope');
  });

  it('revokes an access token through the library; the protected route then refuses it', async () => {
    const tokens = await clientCredentials(oauth.ClientSecretBasic(CLIENT_SECRET));
    const revocation = await oauth.revocationRequest(as, client, oauth.ClientSecretBasic(CLIENT_SECRET), tokens.access_token, insecure);
    await expect(oauth.processRevocationResponse(revocation)).resolves.toBeUndefined();
    await expectInvalidToken(callApi(tokens.access_token));
  });

  it('a token that was never issued gets 401 invalid_token from the protected route', async () => {
    await expectInvalidToken(callApi('eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln'));
  });
});
