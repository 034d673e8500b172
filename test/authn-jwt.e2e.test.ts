/**
 * Authentication through the running gateway with an external JWT issuer (JWKS on port 0): deny by default,
 * RFC 6750 answers, identity passed upstream in headers the gateway always overwrites, mixed credentials refused,
 * and the gateway keeps serving after hostile tokens.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignJWT, exportJWK, generateKeyPair, type CryptoKey, type JWK } from 'jose';
import { rawRequest, startRecordingUpstream, startTestGateway, type RecordingUpstream, type TestGateway } from './helpers.ts';

const ISSUER = 'https://idp.test';
const AUDIENCE = 'orders-api';

describe('jwt authentication through the gateway', () => {
  let upstream: RecordingUpstream;
  let gw: TestGateway;
  let jwksServer: Server;
  let privateKey: CryptoKey;
  let publicJwk: JWK;

  const token = (claims: Record<string, unknown> = {}, kid = 'k1') => {
    const now = Math.floor(Date.now() / 1000);
    // Claims given by the test win over these defaults, so a test can set a wrong iss or a past exp.
    const payload = { iss: ISSUER, aud: AUDIENCE, sub: 'alice', iat: now, exp: now + 300, roles: ['customer'], tenant: 'acme', ...claims };
    return new SignJWT(payload).setProtectedHeader({ alg: 'ES256', kid }).sign(privateKey);
  };

  beforeAll(async () => {
    const pair = await generateKeyPair('ES256', { extractable: true });
    privateKey = pair.privateKey;
    publicJwk = { ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
    jwksServer = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'max-age=300' });
      res.end(JSON.stringify({ keys: [publicJwk] }));
    });
    await new Promise<void>((resolve) => jwksServer.listen(0, '127.0.0.1', resolve));
    const jwksUrl = `http://127.0.0.1:${(jwksServer.address() as AddressInfo).port}/jwks.json`;
    upstream = await startRecordingUpstream();
    gw = await startTestGateway({
      issuers: {
        corp: { issuer: ISSUER, audiences: [AUDIENCE], algorithms: ['ES256'], jwksUrl, roles: { claim: 'roles' }, tenant: { claim: 'tenant' } },
      },
      routes: [
        { id: 'orders', match: { path: '/orders/**' }, upstream: upstream.url, authenticate: [{ jwt: 'corp' }] },
        { id: 'health', match: { path: '/health' }, upstream: upstream.url, public: true },
      ],
    });
  });

  afterAll(async () => {
    await gw?.close();
    await upstream?.close();
    jwksServer?.closeAllConnections();
    await new Promise<void>((resolve) => jwksServer?.close(() => resolve()));
  });

  it('refuses a request without a credential with 401 and a Bearer challenge, and never reaches the upstream', async () => {
    const before = upstream.seen.length;
    const res = await fetch(`${gw.url}/orders/1`);
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe('Bearer realm="rampart"');
    expect(await res.json()).toMatchObject({ code: 'RAMPART_ERR_UNAUTHENTICATED' });
    expect(upstream.seen.length).toBe(before);
  });

  it('passes a valid token and tells the upstream who called, overwriting what the client claimed', async () => {
    const res = await fetch(`${gw.url}/orders/1`, {
      headers: { authorization: `Bearer ${await token()}`, 'x-rampart-subject': 'admin', 'X-Rampart-Roles': 'admin' },
    });
    expect(res.status).toBe(200);
    const seen = upstream.seen.at(-1)!;
    expect(seen.headers['x-rampart-subject']).toBe('alice');
    expect(seen.headers['x-rampart-roles']).toBe('customer');
    expect(seen.headers['x-rampart-tenant']).toBe('acme');
    expect(seen.headers['x-rampart-auth-method']).toBe('jwt');
    // Only one value for each identity header: the client's was dropped, not appended to.
    expect(seen.rawHeaders.filter((h) => h.toLowerCase() === 'x-rampart-subject')).toHaveLength(1);
  });

  it('strips client-sent identity headers on public routes too', async () => {
    await fetch(`${gw.url}/health`, { headers: { 'x-rampart-subject': 'admin' } });
    expect(upstream.seen.at(-1)!.headers['x-rampart-subject']).toBeUndefined();
  });

  it('percent-encodes a non-ASCII subject for the upstream header', async () => {
    const res = await fetch(`${gw.url}/orders/2`, { headers: { authorization: `Bearer ${await token({ sub: 'zoë' })}` } });
    expect(res.status).toBe(200);
    expect(upstream.seen.at(-1)!.headers['x-rampart-subject']).toBe('zo%C3%AB');
  });

  it('refuses two Authorization headers as an invalid request', async () => {
    const valid = await token();
    const res = await rawRequest(
      gw.port,
      `GET /orders/1 HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer ${valid}\r\nAuthorization: Bearer ${valid}\r\nConnection: close\r\n\r\n`,
    );
    expect(res.status).toBe(400);
    expect(res.headers['www-authenticate']).toBe('Bearer error="invalid_request"');
  });

  it('answers hostile tokens with 401 invalid_token and nothing more specific, then serves a valid one', async () => {
    const [head, body] = (await token()).split('.');
    const hostile = [
      `${head}.${body}.`,
      `${head}.${body}.AAAA`,
      'eyJhbGciOiJub25lIn0.eyJzdWIiOiJhZG1pbiJ9.',
      await token({ exp: Math.floor(Date.now() / 1000) - 3600 }),
      await token({ iss: 'https://evil.test' }),
      await token({}, 'unknown-kid'),
      `${'a'.repeat(9000)}.b.c`,
    ];
    for (const bad of hostile) {
      const res = await fetch(`${gw.url}/orders/1`, { headers: { authorization: `Bearer ${bad}` } });
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toBe('Bearer realm="rampart", error="invalid_token"');
      const problem = (await res.json()) as Record<string, unknown>;
      expect(Object.keys(problem).sort()).toEqual(['code', 'correlationId', 'status', 'title', 'type']);
      const next = await fetch(`${gw.url}/orders/1`, { headers: { authorization: `Bearer ${await token()}` } });
      expect(next.status).toBe(200);
    }
  });
});
