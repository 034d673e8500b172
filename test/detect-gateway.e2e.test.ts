/**
 * Anomaly detection and alerts wired into the running gateway (issue 6 points 5 and 6): a principal walking
 * through other people's order ids (every answer 404) is seen by the BOLA-enumeration detector from the requests
 * the gateway finishes, and a webhook receiver gets one signed, grouped alert for it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import { verifyAlertSignature } from '../src/alerts/signature.ts';
import { startRecordingUpstream, startTestGateway, type RecordingUpstream, type TestGateway } from './helpers.ts';

const ISSUER = 'https://idp.test';
const SECRET = 'alert-secret-0123456789-abcdefghijklmnop';

describe('anomaly detection and alerts through the gateway', () => {
  let upstream: RecordingUpstream;
  let gw: TestGateway;
  let receiver: Server;
  const received: Array<{ verified: boolean; body: Record<string, unknown> }> = [];
  let token: string;

  beforeAll(async () => {
    receiver = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        const verified = verifyAlertSignature(req.headers['rampart-signature'], body, SECRET).ok;
        received.push({ verified, body: JSON.parse(body) as Record<string, unknown> });
        res.writeHead(verified ? 204 : 401).end();
      });
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    const pair = await generateKeyPair('ES256', { extractable: true });
    const jwk = { ...(await exportJWK(pair.publicKey)) } as Record<string, unknown>;
    const now = Math.floor(Date.now() / 1000);
    token = await new SignJWT({ iss: ISSUER, aud: 'api', sub: 'mallory', roles: ['customer'], iat: now, exp: now + 600 }).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).sign(pair.privateKey);
    upstream = await startRecordingUpstream();
    gw = await startTestGateway({
      issuers: { corp: { issuer: ISSUER, audiences: ['api'], algorithms: ['ES256'], keys: [{ kid: 'k1', alg: 'ES256', jwk }], roles: { claim: 'roles' } } },
      roles: { customer: { permissions: ['orders:read'] } },
      detectors: { bolaEnumeration: { distinctIds: 20 } },
      alerts: [{ webhook: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`, secret: SECRET, minSeverity: 'medium', types: ['anomaly.*'], groupWindow: '1s' }],
      routes: [
        {
          id: 'order',
          match: { path: '/orders/{orderId}', methods: ['GET'] },
          upstream: upstream.url,
          authenticate: [{ jwt: 'corp' }],
          authorize: { permissions: ['orders:read'], object: { id: 'path.orderId', type: 'integer', lookup: { type: 'orders' } } },
        },
      ],
    });
  });

  afterAll(async () => {
    await gw?.close();
    await upstream?.close();
    await new Promise((r) => receiver?.close(r));
  });

  it('raises anomaly.bola-enumeration for one principal walking object ids, and sends one signed grouped alert', async () => {
    for (let id = 1000; id < 1060; id++) {
      const res = await fetch(`${gw.url}/orders/${id}`, { headers: { authorization: `Bearer ${token}` } });
      expect(res.status).toBe(404);
    }
    const anomalies = gw.events.events.filter((e) => e.type.startsWith('anomaly.'));
    expect(anomalies.map((e) => e.type)).toContain('anomaly.bola-enumeration');
    const event = anomalies.find((e) => e.type === 'anomaly.bola-enumeration')!;
    expect(JSON.stringify(event.details)).toContain('mallory');
    const bola = () => received.filter((r) => r.body.type === 'anomaly.bola-enumeration');
    for (let i = 0; i < 100 && bola().length === 0; i++) await new Promise((r) => setTimeout(r, 100));
    // One alert for the whole walk (its events grouped, with a count); the 404 burst is also an error spike.
    expect(bola()).toHaveLength(1);
    expect(bola()[0]!.body.count).toBe(anomalies.filter((e) => e.type === 'anomaly.bola-enumeration').length);
    expect(received.every((r) => r.verified)).toBe(true);
    expect(received.every((r) => String(r.body.type).startsWith('anomaly.'))).toBe(true);
    expect(new Set(received.map((r) => r.body.type)).size).toBe(received.length);
    expect(upstream.seen).toHaveLength(0);
  });
});
