/**
 * The screen policy's handlers on a real node:http server: each request becomes a RequestContext (canonical path,
 * raw query, route params from a test header) and the policy's onRequest decides. A request let through answers
 * 200 with the body bytes a later reader (the proxy) would forward; a refused one answers the policy's problem code.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Ajv } from 'ajv';
import { pino } from 'pino';
import { bufferedBody } from '../../gateway/body.ts';
import { SharedResourcePool } from '../../gateway/runtime.ts';
import { RecordingSecurityEvents } from '../../observe/events.ts';
import type { Outcome, PolicyHandlers, RequestContext } from '../types.ts';
import { screenPolicy, type ScreenConfig } from './index.ts';

const ajv = new Ajv({ allErrors: true, useDefaults: true, strict: false, allowUnionTypes: true });
const validate = ajv.compile(screenPolicy.schema);

function configOf(raw: Record<string, unknown>): ScreenConfig {
  const config = structuredClone(raw);
  if (!validate(config)) throw new Error(JSON.stringify(validate.errors));
  const errors = screenPolicy.check!(config as unknown as ScreenConfig, 'screen', { id: 'r', public: true, methods: undefined, tls: false }).filter((i) => i.severity !== 'warning');
  if (errors.length > 0) throw new Error(errors.map((i) => `${i.path}: ${i.message}`).join('; '));
  return config as unknown as ScreenConfig;
}

function issuesOf(raw: Record<string, unknown>) {
  const config = structuredClone(raw);
  if (!validate(config)) return [{ path: 'schema', message: ajv.errorsText(validate.errors) }];
  return screenPolicy.check!(config as unknown as ScreenConfig, 'routes[1].screen', { id: 'r', public: true, methods: undefined, tls: false });
}

const events = new RecordingSecurityEvents();
const policies: Record<string, PolicyHandlers> = {};

function build(name: string, raw: Record<string, unknown>): void {
  policies[name] = screenPolicy.create(configOf(raw), { logger: pino({ level: 'silent' }), events, routeId: name, development: false, shared: new SharedResourcePool() }) as PolicyHandlers;
}

describe('screen policy', () => {
  let server: Server;
  let base: string;

  beforeAll(async () => {
    build('block', {});
    build('log', { mode: 'log' });
    build('allow', { allow: ['/body/html', '/body/items/*/note', '/query/q', '/path/slug'] });
    build('headers', { in: ['headers:X-Search'], detectors: ['sql', 'xss'] });
    build('ssrf-only', { detectors: ['ssrf'], in: ['body'] });
    build('small', { maxBodySize: 64 });
    server = createServer((req, res) => {
      const url = new URL(req.url!, 'http://x');
      const q = req.url!.indexOf('?');
      const ctx: RequestContext = {
        req,
        requestId: 'req-1',
        method: req.method!,
        path: url.pathname,
        query: q === -1 ? '' : req.url!.slice(q + 1),
        clientAddress: '127.0.0.1',
        secure: false,
        routeId: 'r',
        params: JSON.parse((req.headers['x-test-params'] as string | undefined) ?? '{}') as Record<string, string>,
        principal: undefined,
        responseHeaders: [],
        locals: {},
      };
      const policy = policies[req.headers['x-test-policy'] as string]!;
      void Promise.resolve(policy.onRequest!(ctx)).then((outcome: Outcome) => {
        if (outcome !== undefined && typeof outcome === 'object' && outcome.kind === 'problem') {
          res.writeHead(599, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ code: outcome.code, detail: outcome.detail }));
          return;
        }
        // What the proxy would forward: the bytes kept by the shared reader, or the untouched stream.
        const kept = bufferedBody(ctx);
        if (kept !== undefined) {
          res.writeHead(200, { 'x-forwarded-bytes': 'kept' });
          res.end(kept);
        } else {
          const chunks: Buffer[] = [];
          req.on('data', (c: Buffer) => chunks.push(c));
          req.on('end', () => {
            res.writeHead(200, { 'x-forwarded-bytes': 'stream' });
            res.end(Buffer.concat(chunks));
          });
        }
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  async function send(policy: string, path: string, init: { method?: string; body?: string; type?: string; headers?: Record<string, string>; params?: Record<string, string> } = {}) {
    const headers: Record<string, string> = { 'x-test-policy': policy, ...init.headers };
    if (init.type) headers['content-type'] = init.type;
    if (init.params) headers['x-test-params'] = JSON.stringify(init.params);
    const res = await fetch(base + path, { method: init.method ?? (init.body === undefined ? 'GET' : 'POST'), headers, body: init.body });
    const text = await res.text();
    return { status: res.status, text, json: res.status === 599 ? (JSON.parse(text) as { code: string; detail: string }) : undefined, via: res.headers.get('x-forwarded-bytes') };
  }

  it('has its place in the pipeline: validate phase, order 20', () => {
    expect(screenPolicy).toMatchObject({ name: 'screen', phase: 'validate', order: 20 });
  });

  it('fills in defaults: block, every detector, query + body + path', () => {
    const config = configOf({});
    expect(config).toMatchObject({ mode: 'block', in: ['query', 'body', 'path'], allow: [], maxBodySize: '1mb' });
    expect(config.detectors).toEqual(['sql', 'nosql', 'command', 'traversal', 'template', 'xss', 'ssrf']);
  });

  it.each([
    [{ mode: 'drop' }, 'schema'],
    [{ detectors: ['sql', 'ldap'] }, 'schema'],
    [{ detectors: [] }, 'schema'],
    [{ in: ['cookies'] }, 'schema'],
    [{ in: ['headers:'] }, 'schema'],
    [{ allow: ['body.comment'] }, 'routes[1].screen.allow[0]'],
    [{ allow: ['/cookies/x'] }, 'routes[1].screen.allow[0]'],
    [{ allow: ['/body/a~2'] }, 'routes[1].screen.allow[0]'],
    [{ unknown: 1 }, 'schema'],
  ])('refuses config %j at %s', (raw, path) => {
    const errors = issuesOf(raw).filter((i) => !('severity' in i) || i.severity !== 'warning');
    expect(errors.map((i) => i.path)).toContain(path);
  });

  it('warns about allow entries outside the screened places or covering a whole place', () => {
    const issues = issuesOf({ in: ['query'], allow: ['/body/x', '/query'] });
    expect(issues.map((i) => [i.path, 'severity' in i ? i.severity : undefined])).toEqual([
      ['routes[1].screen.allow[0]', 'warning'],
      ['routes[1].screen.allow[1]', 'warning'],
    ]);
  });

  it('lets clean requests through with the body kept for forwarding', async () => {
    const body = JSON.stringify({ name: "O'Brien", note: 'Meet at 5; bring snacks (and 20% off)', tags: ['a<b', '1+1=2'] });
    const r = await send('block', '/orders/7?q=select+a+seat&sort=name', { body, type: 'application/json', params: { id: '7' } });
    expect(r).toMatchObject({ status: 200, text: body, via: 'kept' });
  });

  it.each([
    ['query', '/search?q=%27%20OR%201%3D1--', {}, 'screen: sql at /query/q'],
    ['query name', '/login?pass[$ne]=1', {}, 'screen: nosql at /query (member name)'],
    ['double-encoded query', '/files?name=%252e%252e%252fetc%252fpasswd', {}, 'screen: traversal at /query/name'],
    ['path parameter', '/orders/1%20OR%201%3D1', { params: { orderId: '1%20OR%201%3D1' } }, 'screen: sql at /path/orderId'],
    ['path segment', '/files/%3Cscript%3E', {}, 'screen: xss at /path/1'],
    ['nested JSON', '/x', { body: JSON.stringify({ a: { b: [{ c: 'ok' }, { c: '{{7*7}}' }] } }), type: 'application/json' }, 'screen: template at /body/a/b/1/c'],
    ['JSON operator key', '/x', { body: JSON.stringify({ user: 'a', pass: { $ne: 1 } }), type: 'application/json' }, 'screen: nosql at /body/pass (member name)'],
    ['form body', '/x', { body: 'user=a&url=http%3A%2F%2F169.254.169.254%2F', type: 'application/x-www-form-urlencoded' }, 'screen: ssrf at /body/url'],
    ['text body', '/x', { body: 'hello; rm -rf /', type: 'text/plain' }, 'screen: command at /body'],
    ['+json body', '/x', { body: '{"u":"<svg onload=alert(1)>"}', type: 'application/merge-patch+json' }, 'screen: xss at /body/u'],
    ['body without a media type', '/x', { body: '{"u":"{{7*7}}"}', headers: { 'content-type': '' } }, 'screen: template at /body'],
  ])('blocks an attack in the %s with a generic 400 and names only detector and place', async (_place, path, init, detail) => {
    const before = events.events.length;
    const r = await send('block', path, init as Parameters<typeof send>[2]);
    expect(r.status).toBe(599);
    expect(r.json).toEqual({ code: 'RAMPART_ERR_BAD_REQUEST', detail });
    const event = events.events.at(-1)!;
    expect(events.events.length).toBe(before + 1);
    expect(event).toMatchObject({ type: 'injection.suspected', severity: 'high', requestId: 'req-1', routeId: 'block', details: { action: 'blocked' } });
    // The event names the place, never the value.
    expect(JSON.stringify(event)).not.toMatch(/OR 1|\$ne|passwd|7\*7|169\.254|rm -rf|alert|script/);
  });

  it('log mode lets the request through and records every finding (capped)', async () => {
    const before = events.events.length;
    const body = JSON.stringify({ a: "' OR 1=1--", b: '../../etc/passwd', c: 'fine' });
    const r = await send('log', '/x?u=http://127.0.0.1/', { body, type: 'application/json' });
    expect(r).toMatchObject({ status: 200, text: body });
    expect(events.events.length).toBe(before + 1);
    expect(events.events.at(-1)).toMatchObject({
      type: 'injection.suspected',
      severity: 'medium',
      details: {
        action: 'logged',
        findings: [
          { detector: 'ssrf', location: '/query/u', part: 'value' },
          { detector: 'sql', location: '/body/a', part: 'value' },
          { detector: 'traversal', location: '/body/b', part: 'value' },
        ],
      },
    });
  });

  it('skips allowed locations, and only those', async () => {
    const ok = await send('allow', '/posts/%3Cscript%3E?q=%3Cscript%3E', {
      body: JSON.stringify({ html: '<script>x</script>', items: [{ note: "' OR 1=1--" }] }),
      type: 'application/json',
      params: { slug: '%3Cscript%3E' },
    });
    expect(ok.status).toBe(200);
    const refused = await send('allow', '/posts/x', { body: JSON.stringify({ items: [{ title: "' OR 1=1--" }] }), type: 'application/json', params: { slug: 'x' } });
    expect(refused.json?.detail).toBe('screen: sql at /body/items/0/title');
  });

  it('screens the named headers only, with only the configured detectors', async () => {
    expect((await send('headers', '/x', { headers: { 'x-search': "' OR 1=1--" } })).json?.detail).toBe('screen: sql at /headers/x-search');
    expect((await send('headers', '/x', { headers: { 'x-search': '{{7*7}}' } })).status).toBe(200); // template not enabled
    expect((await send('headers', '/x', { headers: { 'x-other': "' OR 1=1--" } })).status).toBe(200);
    // Query, path and body are not in `in` here.
    expect((await send('headers', "/x?q='%20OR%201=1--", {})).status).toBe(200);
  });

  it('refuses bodies the hardened reader refuses, with its code', async () => {
    expect((await send('block', '/x', { body: '{"a":1,"a":2}', type: 'application/json' })).json?.code).toBe('RAMPART_ERR_BAD_REQUEST');
    expect((await send('block', '/x', { body: '{"__proto__":{"x":1}}', type: 'application/json' })).json?.code).toBe('RAMPART_ERR_BAD_REQUEST');
    expect((await send('block', '/x', { body: '{"a":', type: 'application/json' })).json?.code).toBe('RAMPART_ERR_BAD_REQUEST');
    expect((await send('block', '/x', { body: 'a=1&a=2', type: 'application/x-www-form-urlencoded' })).json?.code).toBe('RAMPART_ERR_BAD_REQUEST');
    expect((await send('small', '/x', { body: JSON.stringify({ a: 'x'.repeat(100) }), type: 'application/json' })).json?.code).toBe('RAMPART_ERR_BODY_TOO_LARGE');
  });

  it('does not read bodies it does not screen (binary media types stream on untouched)', async () => {
    const r = await send('block', '/upload', { body: "' OR 1=1-- <script>", type: 'application/octet-stream' });
    expect(r).toMatchObject({ status: 200, text: "' OR 1=1-- <script>", via: 'stream' });
    const none = await send('ssrf-only', '/x?u=http://127.0.0.1/', {});
    expect(none.status).toBe(200); // in: [body] only
  });

  it('still serves after hostile input', async () => {
    const hostile = JSON.stringify({ v: "' OR 1=1 {{ ${ <a on".repeat(20_000) });
    expect((await send('block', '/x', { body: hostile, type: 'application/json' })).status).toBe(599);
    expect((await send('block', '/x?q=fine', { body: '{"a":"b"}', type: 'application/json' })).status).toBe(200);
  });
});
