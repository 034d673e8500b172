/**
 * Injection screening end to end: a real gateway on port 0 in front of a recording upstream. Attacks in the query,
 * nested JSON body, form body, a header, the path, double-encoded; block mode answers a generic 400 problem and the
 * upstream sees nothing; log mode forwards and records an event; no payload reaches the logs; the next request is
 * served.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRecordingUpstream, startTestGateway, type RecordingUpstream, type TestGateway } from './helpers.ts';

const PROBLEM = 'application/problem+json';

describe('screen policy through the gateway', () => {
  let upstream: RecordingUpstream;
  let gw: TestGateway;

  beforeAll(async () => {
    upstream = await startRecordingUpstream((req, res, body) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ method: req.method, url: req.url, body }));
    });
    gw = await startTestGateway({
      routes: [
        { id: 'orders', match: { path: '/orders/{orderId}' }, upstream: upstream.url, public: true, screen: { in: ['query', 'body', 'path', 'headers:x-search'], allow: ['/body/html'] } },
        { id: 'notes', match: { path: '/notes/**' }, upstream: upstream.url, public: true, screen: { mode: 'log' } },
        { id: 'plain', match: { path: '/plain/**' }, upstream: upstream.url, public: true },
      ],
    });
  });

  afterAll(async () => {
    await gw?.close();
    await upstream?.close();
  });

  const json = (value: unknown) => ({ method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(value) });

  const HOSTILE: Array<[string, string, RequestInit, string]> = [
    ['SQL in the query', "/orders/7?q=' OR 1=1--", {}, 'sql at /query/q'],
    ['double-encoded traversal in the query', '/orders/7?file=%252e%252e%252f%252e%252e%252fetc%252fpasswd', {}, 'traversal at /query/file'],
    ['NoSQL operator in a query name', '/orders/7?password[$ne]=x', {}, 'nosql at /query (member name)'],
    ['SSRF in the query', '/orders/7?callback=http://2130706433/admin', {}, 'ssrf at /query/callback'],
    ['SQL in the path parameter', '/orders/7%20UNION%20SELECT%20password%20FROM%20users', {}, 'sql at /path/orderId'],
    ['template in a nested body', '/orders/7', json({ order: { lines: [{ sku: 'A' }, { note: '${T(java.lang.Runtime).getRuntime().exec("id")}' }] } }), 'template at /body/order/lines/1/note'],
    ['NoSQL operator in a body key', '/orders/7', json({ user: 'admin', password: { $gt: '' } }), 'nosql at /body/password (member name)'],
    ['command injection in a form body', '/orders/7', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'host=example.com%3B%20cat%20%2Fetc%2Fpasswd' }, 'command at /body/host'],
    ['XSS in a screened header', '/orders/7', { headers: { 'x-search': '<img src=x onerror=alert(1)>' } }, 'xss at /headers/x-search'],
    ['double-encoded XSS in the query', '/orders/7?q=%253Cscript%253Ealert(1)%253C%252Fscript%253E', {}, 'xss at /query/q'],
  ];

  it.each(HOSTILE)('blocks %s with a generic 400 problem; the upstream sees nothing; the next request is served', async (_name, path, init, detail) => {
    const seenBefore = upstream.seen.length;
    const res = await fetch(gw.url + path, init);
    expect(res.status).toBe(400);
    expect(res.headers.get('content-type')).toBe(PROBLEM);
    const body = (await res.json()) as Record<string, unknown>;
    const correlationId = res.headers.get('x-request-id');
    // Generic: the client learns neither the detector nor the location.
    expect(body).toEqual({ type: 'urn:rampart:problem:bad-request', title: 'Bad request', status: 400, code: 'RAMPART_ERR_BAD_REQUEST', correlationId });
    expect(upstream.seen.length).toBe(seenBefore);
    // The log line under the same correlation id says which detector and where.
    const line = gw.appLog().find((l) => l.reqId === correlationId && l.code === 'RAMPART_ERR_BAD_REQUEST');
    expect(line?.detail).toBe(`screen: ${detail}`);
    const event = gw.events.events.find((e) => e.requestId === correlationId);
    expect(event).toMatchObject({ type: 'injection.suspected', routeId: 'orders', details: { action: 'blocked' } });

    const ok = await fetch(`${gw.url}/orders/8?q=select%20a%20seat`, json({ name: "O'Brien", note: 'Meet at 5; bring snacks' }));
    expect(ok.status).toBe(200);
    expect(((await ok.json()) as { body: string }).body).toBe(JSON.stringify({ name: "O'Brien", note: 'Meet at 5; bring snacks' }));
  });

  it('forwards an allowed field untouched and the body byte for byte', async () => {
    const text = '{"html":"<script>legacy()</script>","n":1}';
    const res = await fetch(`${gw.url}/orders/9`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: text });
    expect(res.status).toBe(200);
    expect(upstream.seen.at(-1)).toMatchObject({ method: 'PUT', url: '/orders/9', body: text });
    expect(upstream.seen.at(-1)!.headers['content-length']).toBe(String(Buffer.byteLength(text)));
  });

  it('log mode forwards the request and records the findings', async () => {
    const res = await fetch(`${gw.url}/notes/1?u=http://169.254.169.254/latest/meta-data/`, json({ a: "1; DROP TABLE users", b: 'fine' }));
    expect(res.status).toBe(200);
    expect(upstream.seen.at(-1)!.body).toBe(JSON.stringify({ a: '1; DROP TABLE users', b: 'fine' }));
    const id = res.headers.get('x-request-id');
    expect(gw.events.events.find((e) => e.requestId === id)).toMatchObject({
      type: 'injection.suspected',
      severity: 'medium',
      routeId: 'notes',
      details: { action: 'logged', findings: [{ detector: 'ssrf', location: '/query/u' }, { detector: 'sql', location: '/body/a' }] },
    });
  });

  it('refuses malformed bodies with the shared reader\'s problems, and serves the next request', async () => {
    const dup = await fetch(`${gw.url}/orders/1`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"a":1,"a":2}' });
    expect(dup.status).toBe(400);
    const broken = await fetch(`${gw.url}/orders/1`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"a":' });
    expect(broken.status).toBe(400);
    const ok = await fetch(`${gw.url}/orders/1`, json({ a: 1 }));
    expect(ok.status).toBe(200);
  });

  it('routes without the policy are not screened', async () => {
    const res = await fetch(`${gw.url}/plain/x?q=%27%20OR%201%3D1--`);
    expect(res.status).toBe(200);
  });

  it('never writes a screened value to the logs or events', async () => {
    const marker = "' OR 'zq8'='zq8";
    await fetch(`${gw.url}/orders/1?q=${encodeURIComponent(marker)}`);
    await fetch(`${gw.url}/notes/1`, json({ v: marker }));
    const logs = readFileSync(gw.logFile, 'utf8') + JSON.stringify(gw.events.events);
    expect(logs).toContain('screen: sql at /query/q'); // the refusal was logged, by place
    expect(logs).not.toContain('zq8');
    const access = JSON.stringify(await gw.accessLog());
    expect(access).toContain('/orders/1');
    expect(access).not.toContain('zq8');
  });
});
