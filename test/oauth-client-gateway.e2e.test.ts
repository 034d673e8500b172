/**
 * oauth4webapi (a real OAuth 2.0 client library) against the running gateway (issue 3, "Must show"): the
 * client-credentials grant at the built-in token endpoint served by `rampart:identity`, then a protected route of
 * the gateway called with the access token, whose upstream learns the client's identity. The gateway listens on
 * plain http on 127.0.0.1, so `allowInsecureRequests` (documented for tests and local development) is set.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer } from 'node:net';
import * as oauth from 'oauth4webapi';
import { loadTestConfig, startRecordingUpstream, startTestGateway, type RecordingUpstream, type TestGateway } from './helpers.ts';
import { openConfiguredStores, type ConfiguredStores } from '../src/storage/configured.ts';
import { hashSecret } from '../src/crypto/hashing.ts';

const CLIENT_ID = 'reporting';
const CLIENT_SECRET = 'reporting-client-secret-0123456789abcdefghij';
const insecure = { [oauth.allowInsecureRequests]: true } as const;

/** A port that was free a moment ago: the issuer identifier must name the gateway's own URL before it starts. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

describe('oauth4webapi through the gateway', () => {
  let upstream: RecordingUpstream;
  let gw: TestGateway;
  let stores: ConfiguredStores;
  let as: oauth.AuthorizationServer;
  const client: oauth.Client = { client_id: CLIENT_ID };

  beforeAll(async () => {
    upstream = await startRecordingUpstream();
    const port = await freePort();
    const issuer = `http://127.0.0.1:${port}`;
    const doc = {
      listen: { host: '127.0.0.1', port },
      storage: 'memory:',
      identity: { issuer, audience: 'orders-api' },
      routes: [
        { id: 'auth', match: { path: '/auth/**' }, upstream: 'rampart:identity', public: true },
        { id: 'jwks', match: { path: '/.well-known/jwks.json', methods: ['GET'] }, upstream: 'rampart:identity', public: true },
        { id: 'orders', match: { path: '/orders/**' }, upstream: upstream.url, authenticate: ['identity-token'] },
      ],
    };
    stores = await openConfiguredStores(loadTestConfig(doc));
    await stores.stores.identities.createOAuthClient({
      clientId: CLIENT_ID,
      secretHash: hashSecret(CLIENT_SECRET, stores.pepper),
      name: 'Reporting',
      roles: ['reporter'],
      scopes: ['orders:read', 'orders:export'],
      tenant: 'acme',
      createdAt: Date.now(),
    });
    gw = await startTestGateway(doc, { stores });
    as = {
      issuer,
      token_endpoint: `${issuer}/auth/token`,
      revocation_endpoint: `${issuer}/auth/revoke`,
      jwks_uri: `${issuer}/.well-known/jwks.json`,
    };
  });

  afterAll(async () => {
    await gw?.close();
    await stores?.stores.close();
    await upstream?.close();
  });

  it('completes client credentials and calls a protected route of the gateway with the token', async () => {
    const response = await oauth.clientCredentialsGrantRequest(as, client, oauth.ClientSecretBasic(CLIENT_SECRET), { scope: 'orders:read' }, insecure);
    const tokens = await oauth.processClientCredentialsResponse(as, client, response);
    expect(tokens.token_type).toBe('bearer');
    expect(tokens.scope).toBe('orders:read');
    expect(tokens.refresh_token).toBeUndefined();

    const api = await oauth.protectedResourceRequest(tokens.access_token, 'GET', new URL(`${gw.url}/orders/42`), undefined, undefined, insecure);
    expect(api.status).toBe(200);
    const seen = upstream.seen.at(-1)!;
    expect(seen.headers['x-rampart-subject']).toBe(CLIENT_ID);
    expect(seen.headers['x-rampart-principal-kind']).toBe('client');
    expect(seen.headers['x-rampart-tenant']).toBe('acme');

    // The same library revokes it (RFC 7009); the gateway then refuses it (within the documented 5 s).
    const revoked = await oauth.revocationRequest(as, client, oauth.ClientSecretBasic(CLIENT_SECRET), tokens.access_token, insecure);
    await oauth.processRevocationResponse(revoked);
    const deadline = Date.now() + 8000;
    let status = 200;
    while (Date.now() < deadline && status !== 401) {
      status = (await fetch(`${gw.url}/orders/42`, { headers: { authorization: `Bearer ${tokens.access_token}` } })).status;
      if (status !== 401) await new Promise((resolve) => setTimeout(resolve, 250));
    }
    expect(status).toBe(401);
  });

  it('reports a wrong client secret as invalid_client', async () => {
    const response = await oauth.clientCredentialsGrantRequest(as, client, oauth.ClientSecretBasic('not-the-secret'), {}, insecure);
    // A 401 with a WWW-Authenticate challenge (RFC 6749 §5.2: invalid_client with Basic authentication).
    const error = await oauth.processClientCredentialsResponse(as, client, response).then(
      () => undefined,
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(oauth.WWWAuthenticateChallengeError);
    expect((error as oauth.WWWAuthenticateChallengeError).status).toBe(401);
  });
});
