/**
 * The admin listener (health, readiness, Prometheus metrics) and the logs end to end: one access line per request
 * with the canonical path, and no credential from Authorization, Cookie or X-Api-Key in any log file, whatever
 * happened to the request (OWASP Logging Cheat Sheet, "Data to exclude"; checklist item 6).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync, existsSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { rawRequest, startRecordingUpstream, startTestGateway, type RecordingUpstream, type TestGateway } from './helpers.ts';

const PROBLEM = 'application/problem+json';

async function waitFor(check: () => Promise<boolean> | boolean, limitMs = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what} not met within ${limitMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** The value of one sample in Prometheus text exposition format, or undefined when the series is absent. */
function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const close = line.indexOf('}');
    const labelText = line.slice(name.length + 1, close);
    const found: Record<string, string> = {};
    for (const match of labelText.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) found[match[1]!] = match[2]!;
    if (Object.entries(labels).every(([k, v]) => found[k] === v) && Object.keys(found).length === Object.keys(labels).length) {
      return Number(line.slice(close + 1).trim());
    }
  }
  return undefined;
}

describe('admin listener', () => {
  let upstream: RecordingUpstream;
  let gw: TestGateway;
  let admin: string;

  beforeAll(async () => {
    upstream = await startRecordingUpstream();
    gw = await startTestGateway({
      admin: { host: '127.0.0.1', port: 0 },
      routes: [
        { id: 'counted', match: { path: '/counted/**' }, upstream: upstream.url, public: true },
        { id: 'dead', match: { path: '/dead/**' }, upstream: 'http://127.0.0.1:9', public: true },
      ],
    });
    admin = gw.adminUrl!;
  });

  afterAll(async () => {
    await gw?.close();
    await upstream?.close();
  });

  it('listens on its own port, on loopback', () => {
    const addresses = gw.gateway.addresses();
    expect(addresses.admin).toBeDefined();
    expect(addresses.admin!.host).toBe('127.0.0.1');
    expect(addresses.admin!.port).not.toBe(gw.port);
  });

  it('answers /healthz with 200', async () => {
    const res = await fetch(`${admin}/healthz`);
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(await res.json()).toEqual({ status: 'ok' });
  });

  it('answers /readyz with 200 and the upstream status of every route', async () => {
    const res = await fetch(`${admin}/readyz`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { status: string; draining: boolean; upstreams: Array<{ route: string; targets: unknown[] }> };
    expect(body.status).toBe('ready');
    expect(body.draining).toBe(false);
    expect(body.upstreams.map((u) => u.route)).toEqual(['counted', 'dead']);
    expect(body.upstreams[0]!.targets).toHaveLength(1);
  });

  it('serves Prometheus metrics with per-route request counts and latency histograms', async () => {
    const N = 5;
    for (let i = 0; i < N; i++) {
      const res = await fetch(`${gw.url}/counted/item/${i}`);
      expect(res.status).toBe(200);
      await res.text();
    }
    // The counter moves when the response closes at the gateway, which can be just after the client has it.
    let text = '';
    await waitFor(async () => {
      text = await (await fetch(`${admin}/metrics`)).text();
      return sample(text, 'rampart_requests_total', { route: 'counted', status: '200' }) === N;
    }, 5000, `rampart_requests_total{route="counted",status="200"} ${N}`);

    const res = await fetch(`${admin}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    text = await res.text();
    expect(text).toContain('# TYPE rampart_requests_total counter');
    expect(text).toContain(`rampart_requests_total{route="counted",status="200"} ${N}`);
    expect(text).toContain('# TYPE rampart_request_duration_seconds histogram');
    expect(text).toMatch(/^rampart_request_duration_seconds_bucket\{le="[0-9.]+",route="counted"\} \d+$/m);
    expect(sample(text, 'rampart_request_duration_seconds_bucket', { le: '+Inf', route: 'counted' })).toBe(N);
    expect(sample(text, 'rampart_request_duration_seconds_count', { route: 'counted' })).toBe(N);
    expect(sample(text, 'rampart_upstream_duration_seconds_count', { route: 'counted' })).toBe(N);
  });

  it('counts upstream errors by route and kind after a request to a dead upstream', async () => {
    const res = await fetch(`${gw.url}/dead/x`);
    expect(res.status).toBe(502);
    await res.text();
    let text = '';
    await waitFor(async () => {
      text = await (await fetch(`${admin}/metrics`)).text();
      return sample(text, 'rampart_requests_total', { route: 'dead', status: '502' }) === 1;
    }, 5000, 'the 502 to be counted');
    expect(text).toContain('# TYPE rampart_upstream_errors_total counter');
    expect(sample(text, 'rampart_upstream_errors_total', { route: 'dead', kind: 'connect-error' })).toBeGreaterThanOrEqual(1);
    expect(sample(text, 'rampart_upstream_errors_total', { route: 'counted', kind: 'connect-error' })).toBeUndefined();
  });

  it('refuses POST /metrics with 405 and Allow', async () => {
    const res = await fetch(`${admin}/metrics`, { method: 'POST', body: 'x' });
    expect(res.status).toBe(405);
    expect(res.headers.get('content-type')).toBe(PROBLEM);
    expect(res.headers.get('allow')).toBe('GET, HEAD');
    expect(await res.json()).toMatchObject({ code: 'RAMPART_ERR_METHOD_NOT_ALLOWED', status: 405 });
  });

  it('answers an unknown admin path with a 404 problem', async () => {
    const res = await fetch(`${admin}/admin/secret`);
    expect(res.status).toBe(404);
    expect(res.headers.get('content-type')).toBe(PROBLEM);
    const body = (await res.json()) as Record<string, unknown>;
    expect(body).toMatchObject({ code: 'RAMPART_ERR_ROUTE_NOT_FOUND', status: 404 });
    expect(body.correlationId).toBe(res.headers.get('x-request-id'));
  });

  it('is not reachable through the API listener', async () => {
    for (const path of ['/metrics', '/healthz', '/readyz']) {
      const res = await fetch(`${gw.url}${path}`);
      expect(res.status, path).toBe(404);
      expect(await res.text(), path).not.toContain('rampart_requests_total');
    }
  });
});

describe('readiness while draining', () => {
  it('answers /readyz with 503 once stop() begins, while in-flight requests finish', async () => {
    const held: ServerResponse[] = [];
    const upstream = await startRecordingUpstream((_req: IncomingMessage, res: ServerResponse) => held.push(res));
    const gw = await startTestGateway({
      admin: { host: '127.0.0.1', port: 0 },
      routes: [{ id: 'held', match: { path: '/held/**' }, upstream: upstream.url, public: true }],
    });
    try {
      expect((await fetch(`${gw.adminUrl}/readyz`)).status).toBe(200);
      const inFlight = fetch(`${gw.url}/held/1`);
      await waitFor(() => held.length === 1, 5000, 'the request to reach the upstream');
      // stop() waits for the held request; the admin listener stays up until the very end.
      const stopped = gw.gateway.stop();
      const draining = await fetch(`${gw.adminUrl}/readyz`);
      expect(draining.status).toBe(503);
      expect(await draining.json()).toMatchObject({ status: 'not-ready', draining: true });
      // Liveness is a different question: the process is healthy while it drains.
      expect((await fetch(`${gw.adminUrl}/healthz`)).status).toBe(200);
      held[0]!.end('done');
      const res = await inFlight;
      expect(res.status).toBe(200);
      expect(await res.text()).toBe('done');
      await stopped;
    } finally {
      for (const res of held) if (!res.writableEnded) res.destroy();
      await gw.close();
      await upstream.close();
    }
  });
});

describe('logs', () => {
  let upstream: RecordingUpstream;
  let gw: TestGateway;
  const SECRETS = {
    authorization: 'Bearer eyJhbGciOiJIUzI1NiJ9.c2VjcmV0LXRva2VuLWF1dGg.S3cr3tS1gnatur3',
    cookie: 'session=cookie-secret-5f0c2a91',
    apiKey: 'rk_live_apikey-secret-9d8e7f',
  };
  const credentialHeaders = {
    authorization: SECRETS.authorization,
    cookie: SECRETS.cookie,
    'x-api-key': SECRETS.apiKey,
  };

  beforeAll(async () => {
    upstream = await startRecordingUpstream();
    gw = await startTestGateway({
      limits: { maxBodySize: '1kb' },
      routes: [
        { id: 'api', match: { path: '/api/**' }, upstream: upstream.url, public: true },
        { id: 'only-get', match: { path: '/get-only', methods: ['GET'] }, upstream: upstream.url, public: true },
        { id: 'dead', match: { path: '/dead/**' }, upstream: 'http://127.0.0.1:9', public: true },
      ],
    });
  });

  afterAll(async () => {
    await gw?.close();
    await upstream?.close();
  });

  it('writes one access line per request with id, client, method, canonical path, route, status, sizes and time', async () => {
    const ok = await fetch(`${gw.url}/api/a//b/./c?q=1`);
    const okBody = await ok.text();
    const posted = await fetch(`${gw.url}/api/upload`, { method: 'POST', body: 'hello world', headers: { 'content-type': 'text/plain' } });
    await posted.text();
    const missing = await fetch(`${gw.url}/nowhere`);
    await missing.text();
    const ids = [ok, posted, missing].map((r) => r.headers.get('x-request-id')!);

    await waitFor(async () => {
      const lines = await gw.accessLog();
      return ids.every((id) => lines.some((line) => line.reqId === id));
    }, 5000, 'access lines');
    const lines = await gw.accessLog();
    for (const id of ids) expect(lines.filter((line) => line.reqId === id), id).toHaveLength(1);
    const [okLine, postLine, missingLine] = ids.map((id) => lines.find((line) => line.reqId === id)!);

    for (const line of [okLine, postLine, missingLine]) {
      for (const key of ['reqId', 'client', 'method', 'path', 'route', 'status', 'in', 'out', 'ms']) expect(line, key).toHaveProperty(key);
      expect(typeof line!.ms).toBe('number');
      expect(line!.ms as number).toBeGreaterThanOrEqual(0);
      // The client address as privacy.addresses says: a keyed hash by default (test/log-privacy.e2e.test.ts).
      expect(line!.client).toMatch(/^h:[0-9a-f]{32}$/);
    }
    expect(okLine).toMatchObject({ method: 'GET', path: '/api/a/b/c', route: 'api', status: 200, in: 0, out: Buffer.byteLength(okBody) });
    // The query is not part of the access line (it may carry personal data or tokens).
    expect(JSON.stringify(okLine)).not.toContain('q=1');
    expect(postLine).toMatchObject({ method: 'POST', path: '/api/upload', route: 'api', status: 200, in: 11 });
    expect(missingLine).toMatchObject({ method: 'GET', path: '/nowhere', route: '-', status: 404, err: 'RAMPART_ERR_ROUTE_NOT_FOUND' });
  });

  it('redacts credentials in the debug line with request headers', async () => {
    const res = await fetch(`${gw.url}/api/debugged`, { headers: { ...credentialHeaders, 'x-visible': 'shown' } });
    expect(res.status).toBe(200);
    const id = res.headers.get('x-request-id');
    const line = gw.appLog().find((l) => l.reqId === id && l.msg === 'request received') as
      | { req: { headers: Record<string, string> } }
      | undefined;
    expect(line).toBeDefined();
    expect(line!.req.headers.authorization).toBe('[redacted]');
    expect(line!.req.headers.cookie).toBe('[redacted]');
    expect(line!.req.headers['x-api-key']).toBe('[redacted]');
    expect(line!.req.headers['x-visible']).toBe('shown');
  });

  it('writes no credential to any log file, whatever happens to the request', async () => {
    const headerLines = Object.entries(credentialHeaders)
      .map(([name, value]) => `${name}: ${value}\r\n`)
      .join('');
    // Answered, refused and failed requests: each takes a different logging path.
    const outcomes: Array<[string, () => Promise<number>]> = [
      ['proxied', async () => (await fetch(`${gw.url}/api/ok`, { headers: credentialHeaders })).status],
      ['route not found', async () => (await fetch(`${gw.url}/nowhere`, { headers: credentialHeaders })).status],
      ['method not allowed', async () => (await fetch(`${gw.url}/get-only`, { method: 'DELETE', headers: credentialHeaders })).status],
      ['dead upstream', async () => (await fetch(`${gw.url}/dead/x`, { headers: credentialHeaders })).status],
      ['body too large', async () => (await fetch(`${gw.url}/api/big`, { method: 'POST', body: 'x'.repeat(4096), headers: credentialHeaders })).status],
      [
        'ambiguous path',
        async () => (await rawRequest(gw.port, `GET /api/%2e%2e/%2e%2e/etc%00 HTTP/1.1\r\nHost: a\r\n${headerLines}Connection: close\r\n\r\n`)).status,
      ],
      [
        'malformed header (protocol-level refusal)',
        async () => (await rawRequest(gw.port, `GET /api/x HTTP/1.1\r\nHost: a\r\n${headerLines}Broken header\r\n\r\n`)).status,
      ],
      [
        'oversized headers',
        async () => (await rawRequest(gw.port, `GET /api/x HTTP/1.1\r\nHost: a\r\n${headerLines}X-Big: ${'a'.repeat(20_000)}\r\n\r\n`)).status,
      ],
    ];
    const statuses: Record<string, number> = {};
    for (const [name, run] of outcomes) statuses[name] = await run();
    expect(statuses).toEqual({
      proxied: 200,
      'route not found': 404,
      'method not allowed': 405,
      'dead upstream': 502,
      'body too large': 413,
      'ambiguous path': 400,
      'malformed header (protocol-level refusal)': 400,
      'oversized headers': 431,
    });
    // The credentials did reach the upstream on the proxied request: they are forwarded, only never logged.
    expect(upstream.seen.some((s) => s.headers.authorization === SECRETS.authorization)).toBe(true);

    await gw.accessLog(); // lets the last access lines be written
    const files = [gw.logFile, gw.accessLogFile].filter((f) => existsSync(f));
    expect(files).toHaveLength(2);
    const logged = files.map((f) => readFileSync(f, 'utf8')).join('\n');
    // The logs did record these requests (so the check below looks at something).
    expect(logged).toContain('request received');
    expect(logged).toContain('RAMPART_ERR_UPSTREAM_UNAVAILABLE');
    for (const [name, secret] of Object.entries(SECRETS)) {
      expect(logged.includes(secret), name).toBe(false);
      // Nor a recognisable part of it.
      expect(logged.includes(secret.slice(-12)), `${name} (tail)`).toBe(false);
    }
  });
});
