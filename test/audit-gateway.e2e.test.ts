/**
 * The audit chain and the events store wired into the running gateway (issue 6 points 3 and 6): authentication
 * successes and failures, authorization denials and data access land in the chain as requests run; afterwards
 * `rampart audit verify` accepts the chain, `rampart audit export` shows the entries without the token, and
 * `rampart events` lists the denial. The gateway reports ready while the audit store is healthy.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SignJWT, exportJWK, generateKeyPair, type CryptoKey } from 'jose';
import { startRecordingUpstream, startTestGateway, tempDir, type RecordingUpstream, type TestGateway } from './helpers.ts';

const ISSUER = 'https://idp.test';
const BIN = fileURLToPath(new URL('../bin/rampart.js', import.meta.url));

function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { timeout: 60_000 }, (error, stdout, stderr) => resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr }));
  });
}

describe('audit and events through the gateway', () => {
  let upstream: RecordingUpstream;
  let gw: TestGateway;
  let privateKey: CryptoKey;
  let configFile: string;
  let aliceToken: string;

  beforeAll(async () => {
    const pair = await generateKeyPair('ES256', { extractable: true });
    privateKey = pair.privateKey;
    const jwk = { ...(await exportJWK(pair.publicKey)) } as Record<string, unknown>;
    const now = Math.floor(Date.now() / 1000);
    aliceToken = await new SignJWT({ iss: ISSUER, aud: 'api', sub: 'alice', roles: ['customer'], iat: now, exp: now + 600 }).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).sign(privateKey);
    upstream = await startRecordingUpstream();
    const dir = tempDir();
    const document = {
      mode: 'development',
      listen: { host: '127.0.0.1', port: 0 },
      admin: { host: '127.0.0.1', port: 0 },
      storage: `sqlite:${join(dir, 'rampart.db')}`,
      audit: { store: `sqlite:${join(dir, 'audit.db')}`, required: true },
      events: { store: `sqlite:${join(dir, 'events.db')}` },
      issuers: { corp: { issuer: ISSUER, audiences: ['api'], algorithms: ['ES256'], keys: [{ kid: 'k1', alg: 'ES256', jwk }], roles: { claim: 'roles' } } },
      roles: { customer: { permissions: ['orders:read'] } },
      routes: [
        { id: 'order', match: { path: '/orders/{orderId}', methods: ['GET'] }, upstream: upstream.url, authenticate: [{ jwt: 'corp' }], authorize: { permissions: ['orders:read'] }, audit: { dataAccess: true } },
        { id: 'admin', match: { path: '/admin/users', methods: ['GET'] }, upstream: upstream.url, authenticate: [{ jwt: 'corp' }], sensitivity: 'admin', authorize: { permissions: ['admin:users'] } },
      ],
    };
    configFile = join(dir, 'rampart.json');
    writeFileSync(configFile, JSON.stringify(document));
    gw = await startTestGateway(document, { configFile });
  });

  afterAll(async () => {
    await gw?.close();
    await upstream?.close();
  });

  it('records authentication, denials and data access in a chain that verifies, without the token', async () => {
    const bearer = { authorization: `Bearer ${aliceToken}` };
    expect((await fetch(`${gw.url}/orders/7`, { headers: bearer })).status).toBe(200);
    expect((await fetch(`${gw.url}/admin/users`, { headers: bearer })).status).toBe(403);
    expect((await fetch(`${gw.url}/orders/8`, { headers: { authorization: 'Bearer not.a.token' } })).status).toBe(401);
    const ready = await fetch(`${gw.adminUrl}/readyz`);
    expect(ready.status).toBe(200);
    await gw.close();

    const verify = await cli('audit', 'verify', '-c', configFile);
    expect(verify.stderr).not.toMatch(/error|broken/i);
    expect(verify.code).toBe(0);
    const exported = await cli('audit', 'export', '-c', configFile, '--since', '1h', '--format', 'jsonl');
    expect(exported.code).toBe(0);
    const entries = exported.stdout.trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
    const types = entries.map((e) => e.type);
    expect(types).toEqual(expect.arrayContaining(['auth.succeeded', 'data.access', 'authz.denied']));
    const access = entries.find((e) => e.type === 'data.access')!;
    expect(JSON.stringify(access)).toContain('"7"');
    expect(exported.stdout).not.toContain(aliceToken);
    expect(exported.stdout).not.toContain(aliceToken.split('.')[2]!);

    const events = await cli('events', '-c', configFile, '--since', '1h', '--json');
    expect(events.code).toBe(0);
    expect(events.stdout).toContain('authz.denied');
  });
});

/**
 * `audit:` alone (no route names the audit policy): the loader puts the policy on every route, so successful
 * authentications and, with `audit.dataAccess: true`, data access are recorded everywhere, as the `audit:` schema
 * says; a route that says `audit: false` records neither, and posture reports it. Before the loader did this, the
 * top-level settings recorded nothing on routes that did not name the policy.
 */
describe('audit: on every route without naming the policy', () => {
  it('records successes and data access on routes that do not name audit, and nothing on one that says audit: false', async () => {
    const pair = await generateKeyPair('ES256', { extractable: true });
    const jwk = { ...(await exportJWK(pair.publicKey)) } as Record<string, unknown>;
    const now = Math.floor(Date.now() / 1000);
    const token = await new SignJWT({ iss: ISSUER, aud: 'api', sub: 'bob', iat: now, exp: now + 600 }).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).sign(pair.privateKey);
    const upstream = await startRecordingUpstream();
    const dir = tempDir();
    const document = {
      mode: 'development',
      listen: { host: '127.0.0.1', port: 0 },
      admin: false,
      storage: `sqlite:${join(dir, 'rampart.db')}`,
      audit: { store: `sqlite:${join(dir, 'audit.db')}`, dataAccess: true },
      issuers: { corp: { issuer: ISSUER, audiences: ['api'], algorithms: ['ES256'], keys: [{ kid: 'k1', alg: 'ES256', jwk }] } },
      routes: [
        { id: 'invoices', match: { path: '/invoices/{invoiceId}', methods: ['GET'] }, upstream: upstream.url, authenticate: [{ jwt: 'corp' }] },
        { id: 'unaudited', match: { path: '/unaudited/{id}', methods: ['GET'] }, upstream: upstream.url, authenticate: [{ jwt: 'corp' }], audit: false },
      ],
      // Turning the audit off on a route weakens a default: refused at load unless acknowledged.
      acknowledge: [{ rule: 'audit-disabled', path: 'routes[1].audit', reason: 'health data, audited by the upstream', expires: '2999-12-31' }],
    };
    const configFile = join(dir, 'rampart.json');
    writeFileSync(configFile, JSON.stringify(document));
    const gw = await startTestGateway(document, { configFile });
    try {
      const bearer = { authorization: `Bearer ${token}` };
      expect((await fetch(`${gw.url}/invoices/inv-41`, { headers: bearer })).status).toBe(200);
      expect((await fetch(`${gw.url}/unaudited/secret-42`, { headers: bearer })).status).toBe(200);
    } finally {
      await gw.close();
      await upstream.close();
    }
    const exported = await cli('audit', 'export', '-c', configFile, '--since', '1h', '--format', 'jsonl');
    expect(exported.code).toBe(0);
    const entries = exported.stdout.trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
    const onRoute = (id: string) => entries.filter((e) => JSON.stringify(e).includes(`"${id}"`));
    expect(onRoute('invoices').map((e) => e.type)).toEqual(expect.arrayContaining(['auth.succeeded', 'data.access']));
    expect(JSON.stringify(entries.find((e) => e.type === 'data.access'))).toContain('"inv-41"');
    expect(onRoute('unaudited')).toEqual([]);
    expect(exported.stdout).not.toContain('secret-42');
    expect((await cli('audit', 'verify', '-c', configFile)).code).toBe(0);
  });
});
