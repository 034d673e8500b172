/**
 * CORS and security headers through the running gateway: the CORS matrix on the wire, preflights answered by the
 * gateway (never forwarded), upstream Access-Control-* headers never passing, Vary merged, security headers on
 * every kind of answer (upstream, problem, policy refusal, preflight), and the CSP report endpoint.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRecordingUpstream, startTestGateway, type RecordingUpstream, type TestGateway } from './helpers.ts';

describe('CORS and security headers on the wire', () => {
  let upstream: RecordingUpstream;
  let gw: TestGateway;

  beforeAll(async () => {
    upstream = await startRecordingUpstream((req, res) => {
      // A careless upstream that grants every origin and varies by encoding.
      res.writeHead(200, {
        'content-type': 'application/json',
        'access-control-allow-origin': '*',
        'access-control-allow-credentials': 'true',
        vary: 'Accept-Encoding',
        'cache-control': 'public, max-age=600',
      });
      res.end(JSON.stringify({ method: req.method }));
    });
    gw = await startTestGateway({
      acknowledge: [
        { rule: 'cors-credentials-pattern', path: 'routes[0].cors.originPatterns[0]', reason: 'partner subdomains are ours', expires: '2099-01-01' },
      ],
      routes: [
        {
          id: 'app',
          match: { path: '/app/**', methods: ['GET', 'POST', 'DELETE'] },
          upstream: upstream.url,
          public: true,
          cors: {
            origins: ['https://app.example.com'],
            originPatterns: ['https://*.partner.example.com'],
            credentials: true,
            methods: ['GET', 'POST'],
            allowHeaders: ['content-type', 'authorization'],
            exposeHeaders: ['x-request-id'],
            maxAge: 600,
          },
        },
        { id: 'plain', match: { path: '/plain/**' }, upstream: upstream.url, public: true },
        { id: 'internal', match: { path: '/internal/**' }, upstream: upstream.url, public: true, 'ip-restriction': { allow: ['10.0.0.0/8'] } },
        {
          id: 'cached',
          match: { path: '/cached/**' },
          upstream: upstream.url,
          public: true,
          'security-headers': { allowCaching: true },
        },
      ],
    });
  });

  afterAll(async () => {
    await gw?.close();
    await upstream?.close();
  });

  const matrix: Array<{ name: string; origin?: string; expectAllow: string | null }> = [
    { name: 'exact allowed origin', origin: 'https://app.example.com', expectAllow: 'https://app.example.com' },
    { name: 'pattern match', origin: 'https://eu.partner.example.com', expectAllow: 'https://eu.partner.example.com' },
    { name: 'suffix bypass', origin: 'https://app.example.com.evil.net', expectAllow: null },
    { name: 'prefix bypass', origin: 'https://evilapp.example.com', expectAllow: null },
    { name: 'pattern needs a label', origin: 'https://partner.example.com', expectAllow: null },
    { name: 'pattern is one label only', origin: 'https://a.b.partner.example.com', expectAllow: null },
    { name: 'null origin', origin: 'null', expectAllow: null },
    { name: 'http downgrade', origin: 'http://app.example.com', expectAllow: null },
    { name: 'other port', origin: 'https://app.example.com:8443', expectAllow: null },
    { name: 'no origin', expectAllow: null },
  ];

  it.each(matrix)('actual request: $name', async ({ origin, expectAllow }) => {
    const res = await fetch(`${gw.url}/app/x`, { headers: origin ? { origin } : {} });
    expect(res.status).toBe(200);
    expect(res.headers.get('access-control-allow-origin')).toBe(expectAllow);
    expect(res.headers.get('access-control-allow-credentials')).toBe(expectAllow ? 'true' : null);
    // Vary: Origin always, merged with the upstream's own Vary.
    expect(res.headers.get('vary')).toBe('Accept-Encoding, Origin');
  });

  it.each(matrix.filter((m) => m.origin))('preflight: $name', async ({ origin, expectAllow }) => {
    const before = upstream.seen.length;
    const res = await fetch(`${gw.url}/app/x`, {
      method: 'OPTIONS',
      headers: { origin: origin!, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' },
    });
    expect(upstream.seen.length).toBe(before); // preflights never reach the upstream
    if (expectAllow) {
      expect(res.status).toBe(204);
      expect(res.headers.get('access-control-allow-origin')).toBe(expectAllow);
      expect(res.headers.get('access-control-allow-methods')).toBe('GET, POST');
      expect(res.headers.get('access-control-max-age')).toBe('600');
    } else {
      expect(res.status).toBe(403);
      expect(res.headers.get('access-control-allow-origin')).toBeNull();
      expect(await res.json()).toMatchObject({ code: 'RAMPART_ERR_CORS_PREFLIGHT_DENIED' });
    }
    expect(res.headers.get('content-security-policy')).toBe("default-src 'none'; frame-ancestors 'none'");
  });

  it('refuses a preflight for a method or header the policy does not allow', async () => {
    const method = await fetch(`${gw.url}/app/x`, {
      method: 'OPTIONS',
      headers: { origin: 'https://app.example.com', 'access-control-request-method': 'DELETE' },
    });
    expect(method.status).toBe(403);
    const header = await fetch(`${gw.url}/app/x`, {
      method: 'OPTIONS',
      headers: { origin: 'https://app.example.com', 'access-control-request-method': 'GET', 'access-control-request-headers': 'x-admin' },
    });
    expect(header.status).toBe(403);
  });

  it('grants no cross-origin access on a route without a cors policy, even when the upstream does', async () => {
    const res = await fetch(`${gw.url}/plain/x`, { headers: { origin: 'https://app.example.com' } });
    expect(res.status).toBe(200);
    expect(res.headers.get('access-control-allow-origin')).toBeNull();
    expect(res.headers.get('access-control-allow-credentials')).toBeNull();
    const preflight = await fetch(`${gw.url}/plain/x`, {
      method: 'OPTIONS',
      headers: { origin: 'https://app.example.com', 'access-control-request-method': 'GET' },
    });
    expect(preflight.status).toBe(403);
  });

  it('puts the security headers on a policy refusal and on upstream answers, overriding the upstream cache header', async () => {
    const refused = await fetch(`${gw.url}/internal/x`);
    expect(refused.status).toBe(403);
    expect(await refused.json()).toMatchObject({ code: 'RAMPART_ERR_ADDRESS_DENIED' });
    for (const res of [refused, await fetch(`${gw.url}/plain/x`)]) {
      expect(res.headers.get('content-security-policy')).toBe("default-src 'none'; frame-ancestors 'none'");
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      expect(res.headers.get('referrer-policy')).toBe('no-referrer');
      expect(res.headers.get('cross-origin-resource-policy')).toBe('same-origin');
      expect(res.headers.get('cache-control')).toBe('no-store');
    }
    const cached = await fetch(`${gw.url}/cached/x`);
    expect(cached.headers.get('cache-control')).toBe('public, max-age=600');
  });

  it('accepts CSP violation reports at the report endpoint and records them as security events', async () => {
    const res = await fetch(`${gw.url}/.rampart/csp-report`, {
      method: 'POST',
      headers: { 'content-type': 'application/csp-report' },
      body: JSON.stringify({
        'csp-report': {
          'document-uri': 'https://app.example.com/page?token=secret-token',
          'violated-directive': 'script-src',
          'blocked-uri': 'https://evil.example/x.js?q=1',
        },
      }),
    });
    expect(res.status).toBe(204);
    const event = gw.events.events.find((e) => e.type === 'csp.violation');
    expect(event).toBeDefined();
    expect(JSON.stringify(event)).not.toContain('secret-token');
    const big = await fetch(`${gw.url}/.rampart/csp-report`, {
      method: 'POST',
      headers: { 'content-type': 'application/csp-report' },
      body: 'x'.repeat(100_000),
    });
    expect(big.status).toBe(413);
  });
});

describe('routes answered by a gateway service (upstream: rampart:NAME)', () => {
  it('runs the route policies first, then the service', async () => {
    const gw = await startTestGateway({
      routes: [
        { id: 'reports', match: { path: '/csp', methods: ['POST'] }, upstream: 'rampart:csp-report', public: true },
        { id: 'internal-reports', match: { path: '/internal/csp', methods: ['POST'] }, upstream: 'rampart:csp-report', public: true, 'ip-restriction': { allow: ['10.0.0.0/8'] } },
      ],
    });
    try {
      const report = { 'csp-report': { 'document-uri': 'https://app.example.com/', 'violated-directive': 'img-src', 'blocked-uri': 'https://x.example/a.png' } };
      const ok = await fetch(`${gw.url}/csp`, { method: 'POST', headers: { 'content-type': 'application/csp-report' }, body: JSON.stringify(report) });
      expect(ok.status).toBe(204);
      const refused = await fetch(`${gw.url}/internal/csp`, { method: 'POST', headers: { 'content-type': 'application/csp-report' }, body: JSON.stringify(report) });
      expect(refused.status).toBe(403);
      expect(gw.events.events.filter((e) => e.type === 'csp.violation')).toHaveLength(1);
    } finally {
      await gw.close();
    }
  });

  it('refuses an unknown service at config time', async () => {
    await expect(startTestGateway({ routes: [{ id: 'x', match: { path: '/x' }, upstream: 'rampart:nope', public: true }] })).rejects.toThrow(
      'routes[0].upstream: no gateway service named "nope" (available: csp-report, identity, docs)',
    );
  });
});
