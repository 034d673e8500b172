/**
 * The gateway end to end on port 0, in front of real upstreams: forwarding and header hygiene, errors from the
 * catalogue, bodies and limits, streaming, bad protocol input, load balancing and retries.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import { rawRequest, startRecordingUpstream, startTestGateway, type RecordingUpstream, type TestGateway } from './helpers.ts';
import { startSampleApi, type SampleApiHandle } from '../demo/sample-api/server.ts';

const PROBLEM = 'application/problem+json';

describe('proxying through the gateway', () => {
  let upstream: RecordingUpstream;
  let sample: SampleApiHandle;
  let gw: TestGateway;
  let slow: ReturnType<typeof createServer>;
  let slowPort: number;

  beforeAll(async () => {
    upstream = await startRecordingUpstream();
    sample = await startSampleApi({ host: '127.0.0.1', port: 0 });
    slow = createServer((_req, res) => {
      setTimeout(() => res.end('late'), 2000).unref();
    });
    await new Promise<void>((resolve) => slow.listen(0, '127.0.0.1', resolve));
    slowPort = (slow.address() as AddressInfo).port;
    gw = await startTestGateway({
      trustedProxies: ['10.0.0.0/8'],
      limits: { maxBodySize: '1kb' },
      routes: [
        { id: 'echo', match: { path: '/echo/**' }, upstream: upstream.url, public: true },
        { id: 'items', match: { path: '/items/{id}', methods: ['GET', 'PUT'] }, upstream: upstream.url, public: true },
        { id: 'sample', match: { path: '/api/**' }, upstream: `${sample.url}`, public: true },
        { id: 'crash', match: { path: '/debug/crash', methods: ['GET'] }, upstream: sample.url, public: true },
        { id: 'events', match: { path: '/stream/events', methods: ['GET'] }, upstream: sample.url, public: true },
        { id: 'down', match: { path: '/down' }, upstream: 'http://127.0.0.1:9', public: true },
        {
          id: 'slow',
          match: { path: '/slow' },
          upstream: { targets: [`http://127.0.0.1:${slowPort}`], timeouts: { response: '200ms' }, retries: { attempts: 0 } },
          public: true,
        },
      ],
    });
  });

  afterAll(async () => {
    await gw?.close();
    await upstream?.close();
    await sample?.close();
    slow?.closeAllConnections();
    await new Promise<void>((resolve) => slow?.close(() => resolve()));
  });

  it('forwards the canonical path and query, sets forwarding headers and a request id, strips banners', async () => {
    const res = await fetch(`${gw.url}/echo/a//b/./c?x=1&y=%20`, { headers: { 'x-forwarded-for': '6.6.6.6', 'x-real-ip': '6.6.6.6', forwarded: 'for=6.6.6.6' } });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ method: 'GET', url: '/echo/a/b/c?x=1&y=%20' });
    const seen = upstream.seen.at(-1)!;
    expect(seen.headers['x-forwarded-for']).toBe('127.0.0.1');
    expect(seen.headers['x-real-ip']).toBeUndefined();
    expect(seen.headers.forwarded).toBe(`for=127.0.0.1;proto=http;host="127.0.0.1:${gw.port}"`);
    expect(seen.headers['x-forwarded-proto']).toBe('http');
    expect(seen.headers['x-forwarded-host']).toBe(`127.0.0.1:${gw.port}`);
    expect(seen.headers.host).toBe(`127.0.0.1:${upstream.port}`);
    const requestId = res.headers.get('x-request-id');
    expect(requestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(seen.headers['x-request-id']).toBe(requestId);
    expect(res.headers.get('server')).toBeNull();
    expect(res.headers.get('x-powered-by')).toBeNull();
    // security-headers is on by default
    expect(res.headers.get('content-security-policy')).toBe("default-src 'none'; frame-ancestors 'none'");
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('strict-transport-security')).toBeNull(); // plain HTTP: never HSTS (RFC 6797 §7.2)
  });

  it('removes hop-by-hop headers, including those named by Connection, and overwrites a client request id', async () => {
    const res = await rawRequest(
      gw.port,
      'GET /echo/hop HTTP/1.1\r\nHost: gw\r\nConnection: close, X-Secret-Hop\r\nX-Secret-Hop: 1\r\nKeep-Alive: timeout=5\r\n' +
        'TE: trailers\r\nProxy-Authorization: Basic Zm9vOmJhcg==\r\nX-Request-Id: attacker-chosen\r\nX-Kept: yes\r\n\r\n',
    );
    expect(res.status).toBe(200);
    const seen = upstream.seen.at(-1)!;
    for (const name of ['x-secret-hop', 'keep-alive', 'te', 'proxy-authorization']) expect(seen.headers[name]).toBeUndefined();
    expect(seen.headers['x-kept']).toBe('yes');
    expect(seen.headers['x-request-id']).not.toBe('attacker-chosen');
    expect(res.headers['x-request-id']).toBe(seen.headers['x-request-id']);
  });

  it('removes a header named in any of several Connection lines, not only the last (RFC 9110 §5.3, §7.6.1)', async () => {
    const res = await rawRequest(
      gw.port,
      'GET /echo/hop HTTP/1.1\r\nHost: gw\r\nConnection: X-First-Hop\r\nConnection: keep-alive\r\nConnection: close\r\n' +
        'X-First-Hop: 1\r\nX-Kept: yes\r\n\r\n',
    );
    expect(res.status).toBe(200);
    const seen = upstream.seen.at(-1)!;
    expect(seen.headers['x-first-hop']).toBeUndefined();
    expect(seen.headers['x-kept']).toBe('yes');
  });

  it('answers unknown routes with 404 and wrong methods with 405 and Allow, as problems', async () => {
    const notFound = await fetch(`${gw.url}/nothing-here`);
    expect(notFound.status).toBe(404);
    expect(notFound.headers.get('content-type')).toBe(PROBLEM);
    const body = (await notFound.json()) as Record<string, unknown>;
    expect(body).toMatchObject({ status: 404, code: 'RAMPART_ERR_ROUTE_NOT_FOUND', title: 'Not found' });
    expect(body.correlationId).toBe(notFound.headers.get('x-request-id'));
    expect(notFound.headers.get('content-security-policy')).toContain("default-src 'none'");

    const wrongMethod = await fetch(`${gw.url}/items/7`, { method: 'DELETE' });
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers.get('allow')).toBe('GET, HEAD, PUT');
    expect(await wrongMethod.json()).toMatchObject({ code: 'RAMPART_ERR_METHOD_NOT_ALLOWED' });
  });

  it('replaces an upstream stack trace with a generic problem and logs the detail under the same id', async () => {
    const res = await fetch(`${gw.url}/debug/crash`);
    expect(res.status).toBe(500);
    expect(res.headers.get('content-type')).toBe(PROBLEM);
    const text = await res.text();
    expect(text).not.toMatch(/at \S+ \(|\/work\/|server\.ts|node:internal|<html|stack/i);
    const body = JSON.parse(text) as Record<string, unknown>;
    expect(body.code).toBe('RAMPART_ERR_UPSTREAM_INTERNAL');
    expect(res.headers.get('server')).toBeNull();
    const id = body.correlationId;
    const logged = gw.appLog().find((line) => line.reqId === id && line.code !== undefined);
    expect(logged).toMatchObject({ code: 'RAMPART_ERR_UPSTREAM_INTERNAL', detail: 'upstream 5xx body replaced' });
    const access = (await gw.accessLog()).find((line) => line.reqId === id);
    expect(access).toMatchObject({ route: 'crash', status: 500, err: 'RAMPART_ERR_UPSTREAM_INTERNAL', path: '/debug/crash' });
  });

  it('answers 502 when the upstream is unreachable and 504 when it is too slow', async () => {
    const down = await fetch(`${gw.url}/down`);
    expect(down.status).toBe(502);
    expect(await down.json()).toMatchObject({ code: 'RAMPART_ERR_UPSTREAM_UNAVAILABLE' });
    const late = await fetch(`${gw.url}/slow`);
    expect(late.status).toBe(504);
    expect(await late.json()).toMatchObject({ code: 'RAMPART_ERR_UPSTREAM_TIMEOUT' });
  });

  it('streams request bodies and enforces the body limit with 413 (declared and chunked)', async () => {
    const ok = await fetch(`${gw.url}/echo/post`, { method: 'POST', body: 'x'.repeat(1000), headers: { 'content-type': 'text/plain' } });
    expect(ok.status).toBe(200);
    expect(upstream.seen.at(-1)!.body).toBe('x'.repeat(1000));

    const before = upstream.seen.length;
    const declared = await fetch(`${gw.url}/echo/post`, { method: 'POST', body: 'x'.repeat(2000) });
    expect(declared.status).toBe(413);
    expect(await declared.json()).toMatchObject({ code: 'RAMPART_ERR_BODY_TOO_LARGE' });
    expect(upstream.seen.length).toBe(before);

    const chunked = await new Promise<number>((resolve, reject) => {
      const req = httpRequest(`${gw.url}/echo/chunked`, { method: 'POST' }, (res) => {
        res.resume();
        resolve(res.statusCode!);
      });
      req.on('error', reject);
      for (let i = 0; i < 4; i++) req.write('y'.repeat(600));
      req.end();
    });
    expect(chunked).toBe(413);
  });

  it('passes server-sent events through without buffering', async () => {
    const res = await fetch(`${gw.url}/stream/events`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    const reader = res.body!.getReader();
    const first = await reader.read();
    // The first event arrives on its own, long before the stream ends.
    expect(new TextDecoder().decode(first.value)).toMatch(/^(id: \d+\n)?(event: \w+\n)?data: /m);
    let rest = '';
    for (;;) {
      const chunk = await reader.read();
      if (chunk.done) break;
      rest += new TextDecoder().decode(chunk.value);
    }
    expect(rest.match(/data: /g)?.length).toBeGreaterThanOrEqual(4);
  });

  const hostile: Array<[string, string, number]> = [
    ['conflicting Content-Length and Transfer-Encoding', 'POST /echo/x HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', 400],
    ['two Content-Length headers', 'POST /echo/x HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab', 400],
    ['two Host headers', 'GET /echo/x HTTP/1.1\r\nHost: a\r\nHost: b\r\nConnection: close\r\n\r\n', 400],
    ['invalid chunk size', 'POST /echo/x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n', 400],
    ['malformed request line', 'GET /echo/x HTTP/9.9 extra\r\nHost: a\r\n\r\n', 400],
    ['header without colon', 'GET /echo/x HTTP/1.1\r\nHost: a\r\nBroken header\r\n\r\n', 400],
    ['space before colon', 'GET /echo/x HTTP/1.1\r\nHost : a\r\n\r\n', 400],
    ['oversized headers', `GET /echo/x HTTP/1.1\r\nHost: a\r\nX-Big: ${'a'.repeat(20000)}\r\n\r\n`, 431],
    ['missing Host', 'GET /echo/x HTTP/1.1\r\nConnection: close\r\n\r\n', 400],
    ['invalid Host', 'GET /echo/x HTTP/1.1\r\nHost: evil.com/@x\r\nConnection: close\r\n\r\n', 400],
    ['absolute-form target', 'GET http://evil.example/echo/x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n', 400],
    ['obsolete line folding', 'GET /echo/x HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n continued\r\nConnection: close\r\n\r\n', 400],
  ];

  it.each(hostile)('refuses %s, reaches no upstream, and keeps serving', async (_name, data, status) => {
    const before = upstream.seen.length;
    const res = await rawRequest(gw.port, data);
    expect(res.status).toBe(status);
    expect(res.headers['content-type']).toBe(PROBLEM);
    expect(upstream.seen.length).toBe(before);
    const next = await fetch(`${gw.url}/echo/after`);
    expect(next.status).toBe(200);
  });

  it('exposes the security events of refused paths', async () => {
    const res = await rawRequest(gw.port, 'GET /echo/%2e%2e/%2e%2e/etc/passwd%00 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
    expect(res.status).toBe(400);
    expect(JSON.parse(res.body)).toMatchObject({ code: 'RAMPART_ERR_AMBIGUOUS_PATH' });
    expect(gw.events.events.some((e) => e.type === 'request.path-rejected')).toBe(true);
  });
});

describe('several targets per upstream', () => {
  it('balances round-robin and retries an idempotent request on another target when one refuses connections', async () => {
    const a = await startRecordingUpstream((_req, res) => res.end('a'));
    const b = await startRecordingUpstream((_req, res) => res.end('b'));
    const gw = await startTestGateway({
      routes: [
        {
          id: 'lb',
          match: { path: '/**' },
          upstream: { targets: [a.url, b.url, 'http://127.0.0.1:9'], passiveHealth: { consecutiveFailures: 1, maxEjectedPercent: 50 }, retries: { attempts: 2 } },
          public: true,
        },
      ],
    });
    try {
      const answers: string[] = [];
      for (let i = 0; i < 12; i++) {
        const res = await fetch(`${gw.url}/x`);
        expect(res.status).toBe(200);
        answers.push(await res.text());
      }
      expect(answers.filter((x) => x === 'a').length).toBe(6);
      expect(answers.filter((x) => x === 'b').length).toBe(6);
      // POST is not retried: when it lands on the dead target it fails, it is never replayed elsewhere.
      const status = gw.gateway.runtime.routes[0]!.upstream.status();
      expect(status.find((t) => t.origin === 'http://127.0.0.1:9')!.ejectedUntil).toBeGreaterThan(Date.now());
    } finally {
      await gw.close();
      await a.close();
      await b.close();
    }
  });
});

describe('logs', () => {
  it('never write credentials: Authorization, Cookie, API keys and configured fields are redacted', async () => {
    const upstream = await startRecordingUpstream((_req, res) => {
      res.writeHead(200, { 'set-cookie': 'session=upstream-session-secret' });
      res.end('ok');
    });
    const gw = await startTestGateway({
      accessLog: { redact: ['req.headers["x-customer-email"]'] },
      routes: [{ id: 'r', match: { path: '/**' }, upstream: upstream.url, public: true }],
    });
    try {
      const secrets = {
        authorization: 'Bearer eyJhbGciOiJIUzI1NiJ9.secret-token-value.sig',
        cookie: 'sid=cookie-secret-value',
        'x-api-key': 'rk_live_api-key-secret-value',
        'x-customer-email': 'alice@example.com',
      };
      await fetch(`${gw.url}/a`, { headers: secrets });
      await fetch(`${gw.url}/%2e%2e%2f`, { headers: secrets }).catch(() => undefined);
      const app = readFileSync(gw.logFile, 'utf8');
      expect(app).toContain('request received'); // the debug line with headers exists...
      expect(app).toContain('[redacted]'); // ...and its credentials are censored
      const access = readFileSync(gw.accessLogFile, 'utf8');
      for (const text of [app, access]) {
        for (const secret of ['secret-token-value', 'cookie-secret-value', 'api-key-secret-value', 'alice@example.com', 'upstream-session-secret']) {
          expect(text).not.toContain(secret);
        }
      }
      const line = (await gw.accessLog()).find((l) => l.path === '/a')!;
      expect(Object.keys(line).sort()).toEqual(['client', 'in', 'method', 'ms', 'out', 'path', 'reqId', 'route', 'status', 'time', 'upMs'].sort());
    } finally {
      await gw.close();
      await upstream.close();
    }
  });
});

describe("the upstream's own documentation paths", () => {
  it('are refused unless the route says exposeDocs: true, and posture reports the route that does', async () => {
    const upstream = await startRecordingUpstream();
    const gw = await startTestGateway({
      routes: [
        { id: 'api', match: { path: '/api/**' }, upstream: upstream.url, public: true },
        { id: 'open-docs', match: { path: '/public/**' }, upstream: upstream.url, public: true, exposeDocs: true },
      ],
    });
    try {
      const refused = [
        '/api/swagger.json',
        '/api/openapi.json',
        '/api/openapi.yaml',
        '/api/v3/api-docs',
        '/api/v2/api-docs/swagger-config',
        '/api/swagger-ui/',
        '/api/swagger-ui.html',
        '/api/swagger-resources',
        '/api/api-docs',
        '/api/redoc',
        '/api/SWAGGER.JSON',
        '/api/%73wagger.json',
      ];
      for (const path of refused) {
        const res = await fetch(gw.url + path);
        expect(res.status, path).toBe(404);
        expect(res.headers.get('content-type'), path).toBe('application/problem+json');
      }
      expect(upstream.seen).toHaveLength(0);
      for (const path of ['/api/swaggers', '/api/openapi', '/api/docs', '/api/my-api-docs-page', '/public/swagger.json']) {
        expect((await fetch(gw.url + path)).status, path).toBe(200);
      }
      const { evaluatePosture } = await import('../src/posture/posture.ts');
      const report = evaluatePosture(gw.gateway.runtime.config);
      const cells = Object.fromEntries(report.routes.map((r) => [r.route, r.cells.find((c) => c.item === 14)!.status]));
      expect(cells).toEqual({ api: 'enforced', 'open-docs': 'weakened' });
    } finally {
      await gw.close();
      await upstream.close();
    }
  });
});
