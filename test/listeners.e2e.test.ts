/**
 * Listeners end to end on port 0: HTTPS with a certificate made for the test (protocol floor and AEAD-only TLS 1.2
 * suites, RFC 9325 §4), HSTS (RFC 6797), plain-HTTP listeners that redirect or refuse (checklist item 3), trusted
 * proxies and forwarding headers, and slow clients (slowloris, CWE-400).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { createServer as createTlsServer, type Server as TlsServer } from 'node:tls';
import { request as httpsRequest } from 'node:https';
import type { Agent } from 'undici';
import { loadConfigObject } from '../src/config/load.ts';
import { parseRawResponse, rawRequest, startRecordingUpstream, startTestGateway, type RawResponse, type RecordingUpstream, type TestGateway } from './helpers.ts';
import {
  createSelfSignedCertificate,
  httpsGet,
  isAeadCipher,
  nodeHandshake,
  opensslHandshake,
  trustingAgent,
  type TestCertificate,
} from './tls-helpers.ts';

const PROBLEM = 'application/problem+json';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

describe('HTTPS listener', () => {
  let upstream: RecordingUpstream;
  let cert: TestCertificate;
  let gw: TestGateway;
  let agent: Agent;
  /**
   * A deliberately lax TLS server with the same certificate (TLS 1.0+, CBC suites, security level 0). Every probe
   * the gateway must refuse is first shown to succeed against it, so a refusal proves the gateway's settings and
   * not a client that could not offer the protocol or cipher in the first place.
   */
  let lax: TlsServer;
  let laxPort: number;

  beforeAll(async () => {
    upstream = await startRecordingUpstream();
    cert = createSelfSignedCertificate();
    gw = await startTestGateway({
      mode: 'production',
      listen: [{ host: '127.0.0.1', port: 0, tls: { cert: cert.certFile, key: cert.keyFile } }],
      routes: [{ id: 'api', match: { path: '/api/**' }, upstream: upstream.url, public: true }],
    });
    agent = trustingAgent(cert.cert);
    lax = createTlsServer(
      { cert: cert.cert, key: readFileSync(cert.keyFile), minVersion: 'TLSv1', ciphers: 'DEFAULT:ECDHE-ECDSA-AES128-SHA:@SECLEVEL=0' },
      (socket) => socket.end(),
    );
    await new Promise<void>((resolve) => lax.listen(0, '127.0.0.1', resolve));
    laxPort = (lax.address() as AddressInfo).port;
  });

  afterAll(async () => {
    await agent?.close();
    await gw?.close();
    await upstream?.close();
    await new Promise<void>((resolve) => (lax ? lax.close(() => resolve()) : resolve()));
  });

  it('serves over TLS with the trusted certificate, sends HSTS and tells the upstream the scheme was https', async () => {
    const res = await httpsGet(`${gw.url}/api/hello?x=1`, agent);
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body)).toEqual({ method: 'GET', url: '/api/hello?x=1' });
    expect(res.headers['strict-transport-security']).toBe('max-age=31536000; includeSubDomains');
    const seen = upstream.seen.at(-1)!;
    expect(seen.headers['x-forwarded-proto']).toBe('https');
    expect(seen.headers.forwarded).toContain('proto=https');
    // Problems the gateway writes itself carry HSTS too.
    const missing = await httpsGet(`${gw.url}/nothing`, agent);
    expect(missing.status).toBe(404);
    expect(missing.headers['strict-transport-security']).toBe('max-age=31536000; includeSubDomains');
  });

  it('presents the test certificate: a client that does not trust it fails verification', async () => {
    const error = await new Promise<NodeJS.ErrnoException>((resolve, reject) => {
      const req = httpsRequest(`${gw.url}/api/x`, (res) => {
        res.resume();
        reject(new Error(`unexpected answer ${res.statusCode}`));
      });
      req.on('error', resolve);
      req.end();
    });
    expect(error.code).toBe('DEPTH_ZERO_SELF_SIGNED_CERT');
  });

  it('refuses TLS 1.0 and 1.1 handshakes from Node (RFC 8996)', async () => {
    const legacy = { ca: cert.cert, minVersion: 'TLSv1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT:@SECLEVEL=0' } as const;
    const control = await nodeHandshake(laxPort, legacy);
    expect(control).toMatchObject({ ok: true, protocol: 'TLSv1.1' });
    const refused = await nodeHandshake(gw.port, legacy);
    expect(refused.ok).toBe(false);
    if (!refused.ok) expect(refused.code).toBe('ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION');
    // Still serving afterwards.
    expect((await httpsGet(`${gw.url}/api/after`, agent)).status).toBe(200);
  });

  // [name, s_client arguments]: each succeeds against the lax control server and must fail against the gateway.
  const refusedProbes: Array<[string, string[]]> = [
    ['TLS 1.1', ['-tls1_1', '-cipher', 'DEFAULT@SECLEVEL=0']],
    ['TLS 1.0', ['-tls1', '-cipher', 'DEFAULT@SECLEVEL=0']],
    // CBC with HMAC-SHA1 and with HMAC-SHA256: non-AEAD, refused by the TLS 1.2 cipher list (RFC 9325 §4.2).
    ['TLS 1.2 ECDHE-ECDSA-AES128-SHA (CBC)', ['-tls1_2', '-cipher', 'ECDHE-ECDSA-AES128-SHA:@SECLEVEL=0']],
    ['TLS 1.2 ECDHE-ECDSA-AES128-SHA256 (CBC)', ['-tls1_2', '-cipher', 'ECDHE-ECDSA-AES128-SHA256:@SECLEVEL=0']],
  ];

  it.each(refusedProbes)('openssl s_client: %s is refused (and works against a lax server)', async (_name, args) => {
    const control = await opensslHandshake(laxPort, args);
    expect(control.completed, control.output).toBe(true);
    const probe = await opensslHandshake(gw.port, args);
    expect(probe.completed, probe.output).toBe(false);
    expect(probe.exitCode).not.toBe(0);
    expect(probe.output).toMatch(/alert (protocol version|handshake failure)/);
  });

  it('openssl s_client: the static-RSA suite AES128-SHA is refused', async () => {
    // The brief's probe. With an ECDSA certificate a static-RSA suite can never be negotiated, so this alone proves
    // little; the ECDHE-ECDSA CBC probes above are the ones that show non-AEAD suites are off.
    const probe = await opensslHandshake(gw.port, ['-tls1_2', '-cipher', 'AES128-SHA:@SECLEVEL=0']);
    expect(probe.completed, probe.output).toBe(false);
    expect(probe.exitCode).not.toBe(0);
  });

  it('openssl s_client: TLS 1.2 with default ciphers negotiates an AEAD suite, and the chain verifies', async () => {
    const probe = await opensslHandshake(gw.port, ['-tls1_2'], cert.certFile);
    expect(probe.completed, probe.output).toBe(true);
    expect(probe.protocol).toBe('TLSv1.2');
    expect(isAeadCipher(probe.cipher!), probe.cipher).toBe(true);
    expect(probe.cipher).toMatch(/^ECDHE-/); // forward secrecy
    expect(probe.verified, probe.output).toBe(true);
  });

  it('openssl s_client: TLS 1.3 succeeds', async () => {
    const probe = await opensslHandshake(gw.port, ['-tls1_3'], cert.certFile);
    expect(probe.completed, probe.output).toBe(true);
    expect(probe.protocol).toBe('TLSv1.3');
    expect(probe.cipher).toMatch(/^TLS_(AES_(128|256)_GCM|CHACHA20_POLY1305)_SHA(256|384)$/);
  });
});

describe('plain-HTTP listeners beside HTTPS', () => {
  let upstream: RecordingUpstream;
  let cert: TestCertificate;
  let gw: TestGateway;
  let redirectPort: number;
  let refusePort: number;

  beforeAll(async () => {
    upstream = await startRecordingUpstream();
    cert = createSelfSignedCertificate();
    gw = await startTestGateway({
      mode: 'production',
      listen: [
        { host: '127.0.0.1', port: 0, tls: { cert: cert.certFile, key: cert.keyFile } },
        { host: '127.0.0.1', port: 0, http: 'redirect', redirectPort: 8443 },
        { host: '127.0.0.1', port: 0, http: 'refuse' },
      ],
      routes: [{ id: 'api', match: { path: '/api/**' }, upstream: upstream.url, public: true }],
    });
    const { listeners } = gw.gateway.addresses();
    redirectPort = listeners[1]!.port;
    refusePort = listeners[2]!.port;
  });

  afterAll(async () => {
    await gw?.close();
    await upstream?.close();
  });

  const get = (port: number, target: string, host: string | undefined, method = 'GET') =>
    rawRequest(port, `${method} ${target} HTTP/1.1\r\n${host === undefined ? '' : `Host: ${host}\r\n`}Connection: close\r\n\r\n`);

  it('redirects with 308 to https on the configured port, with the canonical path and the query', async () => {
    const before = upstream.seen.length;
    const res = await get(redirectPort, '/api/a//b/./c?x=1&y=%20z', 'api.example.com:8080');
    expect(res.status).toBe(308);
    expect(res.headers.location).toBe('https://api.example.com:8443/api/a/b/c?x=1&y=%20z');
    expect(res.headers['cache-control']).toBe('no-store');
    // RFC 6797 §7.2: no HSTS over plain HTTP.
    expect(res.headers['strict-transport-security']).toBeUndefined();
    // 308 keeps the method (RFC 9110 §15.4.9).
    const post = await get(redirectPort, '/api/orders', 'api.example.com', 'POST');
    expect(post.status).toBe(308);
    expect(post.headers.location).toBe('https://api.example.com:8443/api/orders');
    const v6 = await get(redirectPort, '/api/x', '[::1]:80');
    expect(v6.headers.location).toBe('https://[::1]:8443/api/x');
    expect(upstream.seen.length).toBe(before);
  });

  it('refuses to redirect an ambiguous path', async () => {
    for (const target of ['/api/%2e%2e/%2e%2e/etc/passwd', '/api/a%2fb', '/api/a%00', '//evil.example/x', '/api/..%5c..%5cx']) {
      const res = await get(redirectPort, target, 'api.example.com');
      expect([400, 403], target).toContain(res.status);
      expect(res.headers['content-type'], target).toBe(PROBLEM);
      expect(res.headers.location, target).toBeUndefined();
    }
  });

  it('refuses a request without a Host header instead of redirecting', async () => {
    const res = await get(redirectPort, '/api/x', undefined);
    expect([400, 403]).toContain(res.status);
    expect(res.headers['content-type']).toBe(PROBLEM);
    expect(res.headers.location).toBeUndefined();
  });

  // Host values that are not a host (RFC 9110 §7.2, RFC 3986 §3.2.2). Echoed into Location they send the browser
  // elsewhere: `api.example.com@evil.example` becomes https://api.example.com@evil.example:8443/ (host
  // evil.example), `evil.example/x` becomes https://evil.example/x:8443/... (the port lands in the path).
  const hostileHosts: Array<[string, string]> = [
    ['path-like', 'evil.example/x'],
    ['userinfo', 'api.example.com@evil.example'],
    ['backslash', 'api.example.com\\@evil.example'],
    ['query', 'api.example.com?.evil.example'],
    ['fragment', 'api.example.com#.evil.example'],
    ['empty', ''],
  ];

  // Regression (was a bug in src/gateway/server.ts, #plainHttp): the Host header is not checked against the HOST pattern there
  // (checkHeaders() only runs in #preflight, which the redirect path skips), so any Host is echoed into Location:
  // an open redirect. Remove `.fails` once #plainHttp refuses a Host that checkHeaders() would refuse.
  it.each(hostileHosts)('refuses a %s Host header instead of redirecting to it', async (_name, host) => {
    const res = await get(redirectPort, '/api/x', host);
    expect([400, 403]).toContain(res.status);
    expect(res.headers['content-type']).toBe(PROBLEM);
    expect(res.headers.location).toBeUndefined();
  });

  it('never redirects to a host other than the Host header names', async () => {
    for (const host of ['api.example.com', 'API.Example.com:80', '127.0.0.1', '127.0.0.1:8080', '[::1]']) {
      const res = await get(redirectPort, '/api/x', host);
      expect(res.status, host).toBe(308);
      const location = new URL(res.headers.location!);
      expect(location.protocol).toBe('https:');
      expect(location.hostname).toBe(host.replace(/:\d+$/, '').toLowerCase());
      expect(location.port).toBe('8443');
      expect(location.username + location.password).toBe('');
    }
  });

  it('answers 403 RAMPART_ERR_HTTPS_REQUIRED on a listener set to refuse, without reaching the upstream', async () => {
    const before = upstream.seen.length;
    const res = await get(refusePort, '/api/x?y=1', 'api.example.com');
    expect(res.status).toBe(403);
    expect(res.headers['content-type']).toBe(PROBLEM);
    expect(res.headers.location).toBeUndefined();
    const body = JSON.parse(res.body) as Record<string, unknown>;
    expect(body).toMatchObject({ status: 403, code: 'RAMPART_ERR_HTTPS_REQUIRED', title: 'HTTPS required' });
    expect(body.correlationId).toBe(res.headers['x-request-id']);
    expect(upstream.seen.length).toBe(before);
  });
});

describe('plain HTTP serving the API in production mode', () => {
  const document = {
    mode: 'production',
    listen: { host: '127.0.0.1', port: 0 },
    admin: false,
    routes: [{ id: 'api', match: { path: '/api/**' }, upstream: 'http://127.0.0.1:9', public: true }],
  };

  it('is refused by config loading without an acknowledgement (rule plain-http-listener)', () => {
    const result = loadConfigObject(document);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    const message = result.errors.find((e) => e.includes('plain-http-listener'));
    expect(message).toBeDefined();
    expect(message!.startsWith('listen: ')).toBe(true);
  });

  it('is accepted with an in-date acknowledgement, which is reported', () => {
    const result = loadConfigObject(
      {
        ...document,
        acknowledge: [{ rule: 'plain-http-listener', path: 'listen', reason: 'TLS terminates at the load balancer', expires: '2030-01-01' }],
      },
      { now: new Date('2026-01-01T00:00:00Z') },
    );
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.config.accepted.map((a) => a.rule)).toEqual(['plain-http-listener']);
  });
});

describe('trusted proxies', () => {
  let upstream: RecordingUpstream;
  let trusting: TestGateway;
  let untrusting: TestGateway;

  beforeAll(async () => {
    upstream = await startRecordingUpstream();
    const routes = [{ id: 'api', match: { path: '/api/**' }, upstream: upstream.url, public: true }];
    // Addresses truncated in the access log (privacy.addresses), so the line still tells which address was taken.
    trusting = await startTestGateway({ trustedProxies: ['127.0.0.1/32'], routes, privacy: { addresses: 'truncate' } });
    untrusting = await startTestGateway({ trustedProxies: [], routes, privacy: { addresses: 'truncate' } });
  });

  afterAll(async () => {
    await trusting?.close();
    await untrusting?.close();
    await upstream?.close();
  });

  const forwardedHeaders = {
    'x-forwarded-for': '1.2.3.4',
    'x-forwarded-proto': 'https',
    'x-request-id': 'edge-7f3a.42',
    'x-real-ip': '1.2.3.4',
  };

  it('keeps and appends to X-Forwarded-For, and accepts X-Request-Id, from a trusted peer', async () => {
    const res = await fetch(`${trusting.url}/api/trusted`, { headers: forwardedHeaders });
    expect(res.status).toBe(200);
    const seen = upstream.seen.at(-1)!;
    expect(seen.url).toBe('/api/trusted');
    expect(seen.headers['x-forwarded-for']).toBe('1.2.3.4, 127.0.0.1');
    expect(seen.headers['x-forwarded-proto']).toBe('https');
    expect(seen.headers['x-request-id']).toBe('edge-7f3a.42');
    expect(res.headers.get('x-request-id')).toBe('edge-7f3a.42');
    // X-Real-IP is never forwarded: the upstream reads X-Forwarded-For / Forwarded.
    expect(seen.headers['x-real-ip']).toBeUndefined();
    const access = (await trusting.accessLog()).find((line) => line.reqId === 'edge-7f3a.42');
    expect(access).toMatchObject({ client: '1.2.3.0/24', path: '/api/trusted' });
  });

  it('refuses an X-Request-Id from a trusted peer that is not a plain token', async () => {
    const res = await fetch(`${trusting.url}/api/trusted`, { headers: { 'x-request-id': 'a b<script>' } });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-request-id')).toMatch(UUID);
    expect(upstream.seen.at(-1)!.headers['x-request-id']).toBe(res.headers.get('x-request-id'));
  });

  it('replaces forwarding headers and the request id from an untrusted peer', async () => {
    const res = await fetch(`${untrusting.url}/api/untrusted`, { headers: forwardedHeaders });
    expect(res.status).toBe(200);
    const seen = upstream.seen.at(-1)!;
    expect(seen.url).toBe('/api/untrusted');
    expect(seen.headers['x-forwarded-for']).toBe('127.0.0.1');
    expect(seen.headers['x-forwarded-proto']).toBe('http');
    expect(seen.headers['x-real-ip']).toBeUndefined();
    const requestId = res.headers.get('x-request-id')!;
    expect(requestId).toMatch(UUID);
    expect(seen.headers['x-request-id']).toBe(requestId);
    const access = (await untrusting.accessLog()).find((line) => line.reqId === requestId);
    expect(access).toMatchObject({ client: '127.0.0.0/24' });
  });
});

/** Opens a socket, writes `data`, and resolves with what came back once the server closes it (or `limitMs` passes). */
function stallAfter(port: number, data: string, limitMs: number): Promise<{ closedByServer: boolean; response: RawResponse | undefined }> {
  return new Promise((resolve) => {
    const socket: Socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ closedByServer: false, response: undefined });
    }, limitMs);
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(timer);
      const raw = Buffer.concat(chunks).toString('latin1');
      resolve({ closedByServer: true, response: raw === '' ? undefined : parseRawResponse(raw) });
    });
    socket.write(data);
  });
}

describe('slow clients', () => {
  let upstream: RecordingUpstream;
  let gw: TestGateway;

  beforeAll(async () => {
    upstream = await startRecordingUpstream();
    gw = await startTestGateway({
      limits: { headersTimeout: '300ms', requestTimeout: '500ms' },
      routes: [{ id: 'api', match: { path: '/api/**' }, upstream: upstream.url, public: true }],
    });
  });

  afterAll(async () => {
    await gw?.close();
    await upstream?.close();
  });

  // Bounded at 5 s, i.e. ten times the configured requestTimeout.
  const LIMIT_MS = 5000;

  // Regression (was a bug in src/gateway/server.ts, #createServer): Node checks headersTimeout/requestTimeout only every
  // `connectionsCheckingInterval` ms, 30 s by default, and the gateway does not set it, so a client that stalls is
  // cut after up to 30 s whatever the config says. Remove `.fails` once the interval follows the limits.
  it('answers 408 (or closes) when the headers stall, and keeps serving', async () => {
    const stalled = await stallAfter(gw.port, 'GET /api/slow HTTP/1.1\r\nHost: a\r\nX-Partial: ', LIMIT_MS);
    expect(stalled.closedByServer).toBe(true);
    if (stalled.response) {
      expect(stalled.response.status).toBe(408);
      expect(stalled.response.headers['content-type']).toBe(PROBLEM);
    }
    expect((await fetch(`${gw.url}/api/after`)).status).toBe(200);
  });

  it('answers 408 (or closes) when the body stalls, and keeps serving', async () => {
    const stalled = await stallAfter(
      gw.port,
      'POST /api/slow-body HTTP/1.1\r\nHost: a\r\nContent-Type: text/plain\r\nContent-Length: 100\r\n\r\n0123456789',
      LIMIT_MS,
    );
    expect(stalled.closedByServer).toBe(true);
    if (stalled.response) expect([408, 400]).toContain(stalled.response.status);
    expect((await fetch(`${gw.url}/api/after`)).status).toBe(200);
  });

  it('keeps serving other clients while a slow client holds a connection', async () => {
    const socket = connect(gw.port, '127.0.0.1');
    socket.on('error', () => {});
    try {
      await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
      socket.write('GET /api/slow HTTP/1.1\r\nHost: a\r\nX-Partial: ');
      const res = await fetch(`${gw.url}/api/meanwhile`);
      expect(res.status).toBe(200);
      expect(upstream.seen.some((s) => s.url === '/api/slow')).toBe(false);
    } finally {
      socket.destroy();
    }
  });
});
