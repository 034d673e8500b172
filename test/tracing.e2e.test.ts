/**
 * OpenTelemetry tracing end to end (issue 6 point 4): a real OTLP/HTTP receiver on port 0 reads what the gateway's
 * exporter sends (OTLP JSON), and a recording upstream shows what the gateway propagated.
 *
 * - the span tree of one request: a server span continuing the client's W3C traceparent, one child per pipeline
 *   phase and one client span for the upstream call; the upstream receives a traceparent naming that client span;
 * - without a traceparent, and for every malformed one of the hostile table (version ff, all-zero ids, uppercase
 *   hex, wrong lengths, extra fields on version 00, repeated headers, ...), a new trace, never a crash;
 * - an invalid tracestate is dropped, the valid traceparent kept;
 * - refusals and 5xx on the spans; propagateUpstream: false; sampleRatio: 0;
 * - tracing not configured: the client's traceparent reaches the upstream unchanged and, in a separate process,
 *   not one @opentelemetry module is loaded (while one with tracing loads them: the check can fail).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { SignJWT, exportJWK, generateKeyPair, type CryptoKey, type JWK } from 'jose';
import { rawRequest, startRecordingUpstream, startTestGateway, tempDir, type RecordingUpstream, type SeenRequest, type TestGateway } from './helpers.ts';
import { incomingTraceContext, parseTraceparent, parseTracestate, tracingConfigOf } from '../src/observe/tracing.ts';
import { loadConfigObject } from '../src/config/load.ts';
import { evaluatePosture } from '../src/posture/posture.ts';

const ISSUER = 'https://idp.test';
const AUDIENCE = 'traced-api';
const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const SPAN_ID = '00f067aa0ba902b7';

interface ExportedSpan {
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId: string | undefined;
  readonly name: string;
  /** OTLP SpanKind: 1 internal, 2 server, 3 client. */
  readonly kind: number;
  readonly attributes: Record<string, unknown>;
  readonly statusCode: number;
  readonly serviceName: unknown;
}

interface Collector {
  readonly url: string;
  readonly spans: ExportedSpan[];
  readonly contentTypes: string[];
  readonly paths: string[];
  close(): Promise<void>;
}

interface OtlpValue {
  stringValue?: string;
  intValue?: number | string;
  boolValue?: boolean;
  doubleValue?: number;
}

function valueOf(value: OtlpValue): unknown {
  if (value.stringValue !== undefined) return value.stringValue;
  if (value.intValue !== undefined) return Number(value.intValue);
  if (value.boolValue !== undefined) return value.boolValue;
  return value.doubleValue;
}

function attributesOf(list: Array<{ key: string; value: OtlpValue }> | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const { key, value } of list ?? []) out[key] = valueOf(value);
  return out;
}

/** An OTLP/HTTP receiver (POST /v1/traces, JSON encoding) that keeps every span it is sent. */
async function startCollector(): Promise<Collector> {
  const spans: ExportedSpan[] = [];
  const contentTypes: string[] = [];
  const paths: string[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      paths.push(`${req.method} ${req.url}`);
      contentTypes.push(req.headers['content-type'] ?? '');
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
        resourceSpans: Array<{
          resource?: { attributes?: Array<{ key: string; value: OtlpValue }> };
          scopeSpans: Array<{ spans: Array<{ traceId: string; spanId: string; parentSpanId?: string; name: string; kind: number; attributes?: Array<{ key: string; value: OtlpValue }>; status?: { code?: number } }> }>;
        }>;
      };
      for (const resource of body.resourceSpans) {
        const serviceName = attributesOf(resource.resource?.attributes)['service.name'];
        for (const scope of resource.scopeSpans) {
          for (const span of scope.spans) {
            spans.push({
              traceId: span.traceId,
              spanId: span.spanId,
              parentSpanId: span.parentSpanId === undefined || span.parentSpanId === '' ? undefined : span.parentSpanId,
              name: span.name,
              kind: span.kind,
              attributes: attributesOf(span.attributes),
              statusCode: span.status?.code ?? 0,
              serviceName,
            });
          }
        }
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    spans,
    contentTypes,
    paths,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

async function waitFor(check: () => boolean, what: string, limitMs = 15_000): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`${what} not met within ${limitMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** Every value of a header as the upstream received it, one per header line. */
function headerLines(seen: SeenRequest, name: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < seen.rawHeaders.length; i += 2) if (seen.rawHeaders[i]!.toLowerCase() === name) out.push(seen.rawHeaders[i + 1]!);
  return out;
}

function seenWithRequestId(upstream: RecordingUpstream, requestId: string): SeenRequest {
  const seen = upstream.seen.find((s) => s.headers['x-request-id'] === requestId);
  if (seen === undefined) throw new Error(`the upstream saw no request ${requestId}`);
  return seen;
}

/** A GET with exactly these header lines (repeated names allowed), read to the end. */
async function rawGet(port: number, path: string, headers: Array<[string, string]>): Promise<{ status: number; requestId: string }> {
  const lines = headers.map(([name, value]) => `${name}: ${value}\r\n`).join('');
  const response = await rawRequest(port, `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n${lines}Connection: close\r\n\r\n`);
  return { status: response.status, requestId: response.headers['x-request-id']! };
}

describe('W3C traceparent and tracestate parsing (unit)', () => {
  const valid = `00-${TRACE_ID}-${SPAN_ID}-01`;
  it('reads a valid version-00 traceparent', () => {
    expect(parseTraceparent(valid)).toEqual({ traceId: TRACE_ID, spanId: SPAN_ID, flags: 1 });
    expect(parseTraceparent(`00-${TRACE_ID}-${SPAN_ID}-00`)).toEqual({ traceId: TRACE_ID, spanId: SPAN_ID, flags: 0 });
    // A future version is read by its first four fields when a "-" follows them (W3C §4.3).
    expect(parseTraceparent(`cc-${TRACE_ID}-${SPAN_ID}-01-what-the-future-holds`)).toEqual({ traceId: TRACE_ID, spanId: SPAN_ID, flags: 1 });
  });

  it('tracestate: joins lines, drops empty members, discards the whole list when one member is invalid', () => {
    expect(parseTracestate(['rojo=00f067aa0ba902b7', 'congo=t61rcWkgMzE'])).toBe('rojo=00f067aa0ba902b7,congo=t61rcWkgMzE');
    expect(parseTracestate(['a=1,, ,tenant@sys-1=2'])).toBe('a=1,tenant@sys-1=2');
    expect(parseTracestate(['a=1 2 '])).toBe('a=1 2'); // inner spaces are value characters, outer ones list whitespace
    for (const bad of ['t@1sys=2', `t@${'s'.repeat(15)}=2`, 'UPPER=1', 'a=1,a=2', 'a=', '=1', 'a=x,y', 'a=1\t2', 'a=caf\u00e9', `${'k'.repeat(257)}=1`, Array.from({ length: 33 }, (_, i) => `k${i}=v`).join(',')]) {
      expect(parseTracestate([bad]), bad).toBeUndefined();
    }
  });

  it('ignores tracestate when traceparent is invalid, and a repeated traceparent whatever its values', () => {
    expect(incomingTraceContext(['traceparent', `00-${TRACE_ID}-${SPAN_ID}-0g`, 'tracestate', 'a=1'])).toBeUndefined();
    expect(incomingTraceContext(['traceparent', valid, 'TraceParent', valid])).toBeUndefined();
    expect(incomingTraceContext(['TRACEPARENT', valid, 'tracestate', 'a=1', 'tracestate', 'b=2'])).toEqual({ parent: { traceId: TRACE_ID, spanId: SPAN_ID, flags: 1 }, tracestate: 'a=1,b=2' });
  });
});

describe('observability.tracing in the config', () => {
  const base = { listen: { host: '127.0.0.1', port: 8443, http: 'refuse' }, admin: false, routes: [{ id: 'a', match: { path: '/a' }, upstream: 'http://127.0.0.1:1', public: true }] };
  const load = (tracing: unknown, mode = 'production') => loadConfigObject({ ...base, mode, observability: { tracing } });

  it('fills in the defaults', () => {
    const result = load({ exporter: 'otlp-http', endpoint: 'https://collector.example:4318' });
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(tracingConfigOf(result.config.document)).toEqual({
      exporter: 'otlp-http',
      endpoint: 'https://collector.example:4318',
      headers: {},
      serviceName: 'rampart',
      sampleRatio: 1,
      propagateUpstream: true,
    });
  });

  it('refuses bad settings, and plain HTTP to a collector beyond loopback in production unless acknowledged', () => {
    const refused: Array<[unknown, string]> = [
      [{ exporter: 'zipkin', endpoint: 'https://c.example' }, 'observability.tracing.exporter'],
      [{ endpoint: 'https://c.example' }, 'exporter'],
      [{ exporter: 'otlp-http', endpoint: 'ftp://c.example' }, 'observability.tracing.endpoint'],
      [{ exporter: 'otlp-http', endpoint: 'https://c.example', sampleRatio: 1.5 }, 'observability.tracing.sampleRatio'],
      [{ exporter: 'otlp-http', endpoint: 'https://c.example', headers: { 'bad header': 'x' } }, 'observability.tracing.headers'],
      [{ exporter: 'otlp-http', endpoint: 'https://c.example', extra: true }, 'extra'],
      [{ exporter: 'otlp-http', endpoint: 'http://collector.example:4318' }, 'tracing-plain-http'],
    ];
    for (const [tracing, expected] of refused) {
      const result = load(tracing);
      expect(result.ok, JSON.stringify(tracing)).toBe(false);
      if (!result.ok) expect(result.errors.join('\n'), JSON.stringify(tracing)).toContain(expected);
    }
    for (const endpoint of ['http://127.0.0.1:4318', 'http://localhost:4318/v1/traces', 'http://[::1]:4318']) expect(load({ exporter: 'otlp-http', endpoint }).ok, endpoint).toBe(true);
    const development = load({ exporter: 'otlp-http', endpoint: 'http://collector.example:4318' }, 'development');
    expect(development.ok).toBe(true);
    if (development.ok) expect(development.config.warnings.join('\n')).toContain('observability.tracing.endpoint');
    const acknowledged = loadConfigObject({
      ...base,
      observability: { tracing: { exporter: 'otlp-http', endpoint: 'http://collector.example:4318' } },
      acknowledge: [{ rule: 'tracing-plain-http', path: 'observability.tracing.endpoint', reason: 'collector on the same private network', expires: '2999-01-01' }],
    });
    expect(acknowledged.ok).toBe(true);
  });

  it('posture item 6 says whether tracing is on', () => {
    const reasonOf = (document: Record<string, unknown>) => {
      const result = loadConfigObject({ ...base, ...document });
      if (!result.ok) throw new Error(result.errors.join('\n'));
      return evaluatePosture(result.config).routes[0]!.cells.find((c) => c.item === 6)!.reason;
    };
    expect(reasonOf({})).toContain('tracing off (observability.tracing)');
    expect(reasonOf({ observability: { tracing: { exporter: 'otlp-http', endpoint: 'https://c.example' } } })).toContain('OpenTelemetry tracing on');
  });
});

describe('tracing through the gateway', () => {
  let collector: Collector;
  let upstream: RecordingUpstream;
  let gw: TestGateway;
  let privateKey: CryptoKey;
  let bearer: string;

  beforeAll(async () => {
    const pair = await generateKeyPair('ES256', { extractable: true });
    privateKey = pair.privateKey;
    const jwk: JWK = { ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'ES256' };
    const now = Math.floor(Date.now() / 1000);
    bearer = await new SignJWT({ iss: ISSUER, aud: AUDIENCE, sub: 'svc', client_id: 'svc', iat: now, exp: now + 600, roles: ['reader'] })
      .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
      .sign(privateKey);
    collector = await startCollector();
    upstream = await startRecordingUpstream();
    gw = await startTestGateway({
      // No path: the exporter posts to the standard /v1/traces.
      observability: { tracing: { exporter: 'otlp-http', endpoint: collector.url, serviceName: 'edge-gw' } },
      issuers: { corp: { issuer: ISSUER, audiences: [AUDIENCE], algorithms: ['ES256'], keys: [{ kid: 'k1', alg: 'ES256', jwk }], roles: { claim: 'roles' } } },
      roles: { reader: { permissions: ['orders:read'] } },
      routes: [
        {
          id: 'orders',
          match: { path: '/orders/{id}' },
          upstream: upstream.url,
          authenticate: [{ jwt: 'corp' }],
          authorize: { permissions: ['orders:read'] },
          screen: { in: ['query'] },
        },
        { id: 'open', match: { path: '/open/**' }, upstream: upstream.url, public: true },
        { id: 'screened', match: { path: '/screened/**' }, upstream: upstream.url, public: true, screen: { in: ['query'] } },
        { id: 'dead', match: { path: '/dead/**' }, upstream: { targets: ['http://127.0.0.1:9'], retries: { attempts: 0 } }, public: true },
      ],
    });
  });

  afterAll(async () => {
    await gw?.close();
    await upstream?.close();
    await collector?.close();
  });

  const serverSpan = (requestId: string) => collector.spans.find((s) => s.kind === 2 && s.attributes['rampart.request_id'] === requestId);
  const waitForServerSpan = async (requestId: string): Promise<ExportedSpan> => {
    await waitFor(() => serverSpan(requestId) !== undefined, `the server span of ${requestId}`);
    return serverSpan(requestId)!;
  };
  const children = (server: ExportedSpan) => collector.spans.filter((s) => s.traceId === server.traceId && s.parentSpanId === server.spanId);

  it('continues the client\'s trace: server span, one span per phase, an upstream client span, and the upstream gets its id', async () => {
    const res = await fetch(`${gw.url}/orders/42?view=full`, {
      headers: { authorization: `Bearer ${bearer}`, traceparent: `00-${TRACE_ID}-${SPAN_ID}-01`, tracestate: 'rojo=00f067aa0ba902b7,congo=t61rcWkgMzE' },
    });
    expect(res.status).toBe(200);
    await res.arrayBuffer();
    const requestId = res.headers.get('x-request-id')!;
    const server = await waitForServerSpan(requestId);
    const phases = ['edge', 'authenticate', 'authorize', 'validate'];
    await waitFor(() => children(server).length === phases.length + 1, 'every child span');

    expect(server.traceId).toBe(TRACE_ID);
    expect(server.parentSpanId).toBe(SPAN_ID);
    expect(server.name).toBe('GET /orders/{id}');
    expect(server.serviceName).toBe('edge-gw');
    expect(server.attributes).toMatchObject({
      'http.request.method': 'GET',
      'url.path': '/orders/42',
      'url.scheme': 'http',
      'http.route': '/orders/{id}',
      'http.response.status_code': 200,
      'rampart.route': 'orders',
    });
    expect(server.statusCode).toBe(0);
    // Nothing of the credential or the query in any span of the trace.
    const trace = collector.spans.filter((s) => s.traceId === TRACE_ID);
    expect(JSON.stringify(trace)).not.toContain(bearer.slice(0, 20));
    expect(JSON.stringify(trace)).not.toContain('view=full');

    const phaseSpans = children(server).filter((s) => s.kind === 1);
    expect(phaseSpans.map((s) => s.name).sort()).toEqual([...phases].sort());
    for (const span of phaseSpans) expect(span.attributes['rampart.phase']).toBe(span.name);
    const clients = children(server).filter((s) => s.kind === 3);
    expect(clients).toHaveLength(1);
    const client = clients[0]!;
    expect(client.name).toBe('GET');
    expect(client.attributes).toMatchObject({
      'http.request.method': 'GET',
      'server.address': '127.0.0.1',
      'server.port': upstream.port,
      'url.full': `${upstream.url}/orders/42`,
      'http.response.status_code': 200,
    });
    expect(trace).toHaveLength(1 + phases.length + 1);

    const seen = seenWithRequestId(upstream, requestId);
    expect(headerLines(seen, 'traceparent')).toEqual([`00-${TRACE_ID}-${client.spanId}-01`]);
    expect(headerLines(seen, 'tracestate')).toEqual(['rojo=00f067aa0ba902b7,congo=t61rcWkgMzE']);
    expect(collector.paths.every((p) => p === 'POST /v1/traces')).toBe(true);
    expect(collector.contentTypes.every((t) => t.startsWith('application/json'))).toBe(true);
  });

  it('starts a new trace without a traceparent, and tells the upstream', async () => {
    const res = await fetch(`${gw.url}/open/x`);
    expect(res.status).toBe(200);
    await res.arrayBuffer();
    const server = await waitForServerSpan(res.headers.get('x-request-id')!);
    await waitFor(() => children(server).some((s) => s.kind === 3), 'the client span');
    expect(server.parentSpanId).toBeUndefined();
    expect(server.traceId).toMatch(/^[0-9a-f]{32}$/);
    const client = children(server).find((s) => s.kind === 3)!;
    expect(headerLines(seenWithRequestId(upstream, res.headers.get('x-request-id')!), 'traceparent')).toEqual([`00-${server.traceId}-${client.spanId}-01`]);
  });

  const good = `00-${TRACE_ID}-${SPAN_ID}-01`;
  const hostile: Array<[string, Array<[string, string]>]> = [
    ['version ff', [['traceparent', `ff-${TRACE_ID}-${SPAN_ID}-01`]]],
    ['version not hex', [['traceparent', `zz-${TRACE_ID}-${SPAN_ID}-01`]]],
    ['version in uppercase hex', [['traceparent', `0A-${TRACE_ID}-${SPAN_ID}-01`]]],
    ['all-zero trace id', [['traceparent', `00-${'0'.repeat(32)}-${SPAN_ID}-01`]]],
    ['all-zero parent id', [['traceparent', `00-${TRACE_ID}-${'0'.repeat(16)}-01`]]],
    ['uppercase hex in the trace id', [['traceparent', `00-${TRACE_ID.toUpperCase()}-${SPAN_ID}-01`]]],
    ['uppercase hex in the parent id', [['traceparent', `00-${TRACE_ID}-${SPAN_ID.toUpperCase()}-01`]]],
    ['uppercase hex in the flags', [['traceparent', `00-${TRACE_ID}-${SPAN_ID}-0A`]]],
    ['trace id one digit short', [['traceparent', `00-${TRACE_ID.slice(1)}-${SPAN_ID}-01`]]],
    ['trace id one digit long', [['traceparent', `00-${TRACE_ID}a-${SPAN_ID}-01`]]],
    ['parent id one digit short', [['traceparent', `00-${TRACE_ID}-${SPAN_ID.slice(1)}-01`]]],
    ['parent id one digit long', [['traceparent', `00-${TRACE_ID}-${SPAN_ID}a-01`]]],
    ['flags one digit', [['traceparent', `00-${TRACE_ID}-${SPAN_ID}-1`]]],
    ['flags three digits', [['traceparent', `00-${TRACE_ID}-${SPAN_ID}-001`]]],
    ['extra field on version 00', [['traceparent', `${good}-extra`]]],
    ['trailing dash on version 00', [['traceparent', `${good}-`]]],
    ['future version without a dash after the flags', [['traceparent', `cc-${TRACE_ID}-${SPAN_ID}-01x`]]],
    ['non-hex character in the trace id', [['traceparent', `00-${TRACE_ID.slice(0, 31)}g-${SPAN_ID}-01`]]],
    ['underscores instead of dashes', [['traceparent', good.replaceAll('-', '_')]]],
    ['empty value', [['traceparent', '']]],
    ['two traceparent header lines', [['traceparent', good], ['traceparent', `00-${'1'.repeat(32)}-${'2'.repeat(16)}-01`]]],
    ['the same traceparent twice', [['traceparent', good], ['TraceParent', good]]],
    ['two values in one line', [['traceparent', `${good}, 00-${'1'.repeat(32)}-${'2'.repeat(16)}-01`]]],
    ['a megabyte-long value', [['traceparent', `${good}${'-0'.repeat(4000)}`]]],
  ];

  describe('hostile traceparent values', () => {
    const answers = new Map<string, { status: number; requestId: string }>();
    // Sent first, all of them, so their spans arrive in one export instead of one wait per case.
    beforeAll(async () => {
      for (const [name, headers] of hostile) answers.set(name, await rawGet(gw.port, '/open/hostile', [...headers, ['tracestate', 'rojo=1']]));
    });

    it.each(hostile)('a traceparent with %s starts a new trace and the upstream gets the gateway\'s own', async (name) => {
      const { status, requestId } = answers.get(name)!;
      expect(status).toBe(200);
      const server = await waitForServerSpan(requestId);
      await waitFor(() => children(server).some((s) => s.kind === 3), 'the client span');
      expect(server.parentSpanId).toBeUndefined();
      expect(server.traceId).not.toBe(TRACE_ID);
      expect(server.traceId).not.toBe('1'.repeat(32));
      const client = children(server).find((s) => s.kind === 3)!;
      const seen = seenWithRequestId(upstream, requestId);
      expect(headerLines(seen, 'traceparent')).toEqual([`00-${server.traceId}-${client.spanId}-01`]);
      // tracestate means nothing without its traceparent (W3C §3.3): not forwarded.
      expect(headerLines(seen, 'tracestate')).toEqual([]);
    });
  });

  it('keeps a valid traceparent of a future version, and drops an invalid tracestate while keeping the parent', async () => {
    const future = await rawGet(gw.port, '/open/future', [['traceparent', `cc-${TRACE_ID}-${'a'.repeat(16)}-01-later-fields`]]);
    const badState = await rawGet(gw.port, '/open/state', [['traceparent', `00-${TRACE_ID}-${'b'.repeat(16)}-01`], ['tracestate', 'ok=1,Bad=2']]);
    for (const [request, parent] of [[future, 'a'.repeat(16)], [badState, 'b'.repeat(16)]] as const) {
      expect(request.status).toBe(200);
      const server = await waitForServerSpan(request.requestId);
      expect(server.traceId).toBe(TRACE_ID);
      expect(server.parentSpanId).toBe(parent);
      await waitFor(() => children(server).some((s) => s.kind === 3), 'the client span');
      const client = children(server).find((s) => s.kind === 3)!;
      const seen = seenWithRequestId(upstream, request.requestId);
      expect(headerLines(seen, 'traceparent')).toEqual([`00-${TRACE_ID}-${client.spanId}-01`]);
      expect(headerLines(seen, 'tracestate')).toEqual([]);
    }
  });

  it('marks the refusing phase, and 5xx answers as errors on the server and client spans', async () => {
    const refused = await fetch(`${gw.url}/screened/x?q=${encodeURIComponent("' OR 1=1 --")}`);
    expect(refused.status).toBe(400);
    await refused.arrayBuffer();
    const server = await waitForServerSpan(refused.headers.get('x-request-id')!);
    await waitFor(() => children(server).some((s) => s.name === 'validate'), 'the validate span');
    expect(server.statusCode).toBe(0); // a 4xx is the client's error (semantic conventions)
    expect(server.attributes['rampart.error_code']).toBe('RAMPART_ERR_BAD_REQUEST');
    const validate = children(server).find((s) => s.name === 'validate')!;
    expect(validate.attributes).toMatchObject({ 'rampart.policy': 'screen', 'rampart.error_code': 'RAMPART_ERR_BAD_REQUEST' });
    expect(children(server).some((s) => s.kind === 3)).toBe(false);

    const dead = await fetch(`${gw.url}/dead/x`);
    expect(dead.status).toBe(502);
    await dead.arrayBuffer();
    const failed = await waitForServerSpan(dead.headers.get('x-request-id')!);
    await waitFor(() => children(failed).some((s) => s.kind === 3), 'the client span');
    expect(failed.statusCode).toBe(2);
    expect(failed.attributes['error.type']).toBe('502');
    const client = children(failed).find((s) => s.kind === 3)!;
    expect(client.statusCode).toBe(2);
    expect(client.attributes['error.type']).toBe('ECONNREFUSED');
  });
});

describe('tracing options', () => {
  it('propagateUpstream: false records the spans in the client\'s trace but forwards its headers unchanged', async () => {
    const collector = await startCollector();
    const upstream = await startRecordingUpstream();
    const gw = await startTestGateway({
      observability: { tracing: { exporter: 'otlp-http', endpoint: `${collector.url}/v1/traces`, propagateUpstream: false } },
      routes: [{ id: 'open', match: { path: '/**' }, upstream: upstream.url, public: true }],
    });
    const sent: Array<[string, string]> = [['traceparent', `00-${TRACE_ID}-${SPAN_ID}-01`], ['tracestate', 'rojo=1']];
    const { status, requestId } = await rawGet(gw.port, '/x', sent);
    await gw.close(); // shutdown sends what is queued
    expect(status).toBe(200);
    const server = collector.spans.find((s) => s.kind === 2 && s.attributes['rampart.request_id'] === requestId)!;
    expect(server.traceId).toBe(TRACE_ID);
    expect(server.parentSpanId).toBe(SPAN_ID);
    const seen = seenWithRequestId(upstream, requestId);
    expect(headerLines(seen, 'traceparent')).toEqual([`00-${TRACE_ID}-${SPAN_ID}-01`]);
    expect(headerLines(seen, 'tracestate')).toEqual(['rojo=1']);
    await upstream.close();
    await collector.close();
  });

  it('sampleRatio: 0 exports nothing, whatever the client\'s sampled flag, but still propagates the trace (not sampled)', async () => {
    const collector = await startCollector();
    const upstream = await startRecordingUpstream();
    const gw = await startTestGateway({
      observability: { tracing: { exporter: 'otlp-http', endpoint: `${collector.url}/v1/traces`, sampleRatio: 0 } },
      routes: [{ id: 'open', match: { path: '/**' }, upstream: upstream.url, public: true }],
    });
    const { status, requestId } = await rawGet(gw.port, '/x', [['traceparent', `00-${TRACE_ID}-${SPAN_ID}-01`]]);
    await gw.close();
    expect(status).toBe(200);
    expect(collector.spans).toEqual([]);
    const [traceparent] = headerLines(seenWithRequestId(upstream, requestId), 'traceparent');
    const parsed = parseTraceparent(traceparent!)!;
    expect(parsed.traceId).toBe(TRACE_ID);
    expect(parsed.spanId).not.toBe(SPAN_ID);
    expect(parsed.flags).toBe(0);
    await upstream.close();
    await collector.close();
  });
});

describe('tracing a WebSocket handshake', () => {
  it('gives the upstream handshake a traceparent naming its client span', async () => {
    const collector = await startCollector();
    const handshakes: Array<IncomingMessage['headers']> = [];
    const upstream = createServer((_req, res) => res.end());
    upstream.on('upgrade', (req: IncomingMessage, socket: Duplex) => {
      handshakes.push(req.headers);
      socket.on('error', () => socket.destroy());
      // The client leaving ends the tunnel (and so the request's server span) once the upstream closes too.
      socket.on('end', () => socket.end());
      socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n');
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    const gw = await startTestGateway({
      observability: { tracing: { exporter: 'otlp-http', endpoint: collector.url } },
      routes: [{ id: 'ws', match: { path: '/ws' }, upstream: `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`, public: true, websocket: true }],
    });
    const head = await new Promise<string>((resolve, reject) => {
      const socket = connect(gw.port, '127.0.0.1');
      let received = '';
      socket.on('error', reject);
      socket.on('data', (chunk: Buffer) => {
        received += chunk.toString('latin1');
        if (received.includes('\r\n\r\n')) {
          socket.destroy();
          resolve(received);
        }
      });
      socket.write(
        `GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\n` +
          `Sec-WebSocket-Version: 13\r\ntraceparent: 00-${TRACE_ID}-${SPAN_ID}-01\r\n\r\n`,
      );
    });
    expect(head.startsWith('HTTP/1.1 101')).toBe(true);
    await waitFor(() => collector.spans.some((s) => s.kind === 2 && s.traceId === TRACE_ID), 'the server span');
    await gw.close();
    const server = collector.spans.find((s) => s.kind === 2 && s.traceId === TRACE_ID)!;
    expect(server.parentSpanId).toBe(SPAN_ID);
    expect(server.attributes['http.response.status_code']).toBe(101);
    const client = collector.spans.find((s) => s.kind === 3 && s.parentSpanId === server.spanId)!;
    expect(client.attributes['http.response.status_code']).toBe(101);
    expect(handshakes.map((h) => h.traceparent)).toEqual([`00-${TRACE_ID}-${client.spanId}-01`]);
    upstream.closeAllConnections();
    await new Promise<void>((resolve) => upstream.close(() => resolve()));
    await collector.close();
  });
});

describe('tracing not configured', () => {
  let upstream: RecordingUpstream;
  let gw: TestGateway;

  beforeAll(async () => {
    upstream = await startRecordingUpstream();
    gw = await startTestGateway({ routes: [{ id: 'open', match: { path: '/**' }, upstream: upstream.url, public: true }] });
  });

  afterAll(async () => {
    await gw?.close();
    await upstream?.close();
  });

  const cases: Array<[string, Array<[string, string]>]> = [
    ['a valid traceparent and tracestate', [['traceparent', `00-${TRACE_ID}-${SPAN_ID}-01`], ['tracestate', 'rojo=1,congo=2']]],
    ['a malformed traceparent', [['traceparent', `00-${TRACE_ID.toUpperCase()}-${SPAN_ID}-01-extra`]]],
    ['two traceparent lines', [['traceparent', `00-${TRACE_ID}-${SPAN_ID}-01`], ['traceparent', `00-${'1'.repeat(32)}-${'2'.repeat(16)}-00`]]],
  ];

  it.each(cases)('forwards %s to the upstream unchanged', async (_name, headers) => {
    const { status, requestId } = await rawGet(gw.port, '/x', headers);
    expect(status).toBe(200);
    const seen = seenWithRequestId(upstream, requestId);
    for (const name of ['traceparent', 'tracestate']) {
      expect(headerLines(seen, name)).toEqual(headers.filter(([n]) => n === name).map(([, v]) => v));
    }
  });

  it('loads no OpenTelemetry module at all (a separate process, watched by a module loader hook)', () => {
    const dir = tempDir();
    const log = join(dir, 'loaded.txt');
    writeFileSync(
      join(dir, 'hooks.mjs'),
      `import { appendFileSync } from 'node:fs';
let log;
export function initialize(data) { log = data.log; }
export async function load(url, context, next) {
  if (url.includes('/@opentelemetry/')) appendFileSync(log, url + '\\n');
  return next(url, context);
}
`,
    );
    writeFileSync(
      join(dir, 'register.mjs'),
      `import { register } from 'node:module';
register(new URL('./hooks.mjs', import.meta.url), { data: { log: process.env.RAMPART_TEST_LOAD_LOG } });
`,
    );
    const root = fileURLToPath(new URL('..', import.meta.url));
    const src = (path: string) => pathToFileURL(join(root, path)).href;
    writeFileSync(
      join(dir, 'run.mts'),
      `import { createServer } from 'node:http';
import { loadConfigObject } from ${JSON.stringify(src('src/config/load.ts'))};
import { Gateway } from ${JSON.stringify(src('src/gateway/server.ts'))};
import { createAppLogger, AccessLog } from ${JSON.stringify(src('src/observe/logger.ts'))};
const upstream = createServer((req, res) => res.end('ok'));
await new Promise((resolve) => upstream.listen(0, '127.0.0.1', resolve));
const tracing = process.env.RAMPART_TEST_TRACING === '1' ? { observability: { tracing: { exporter: 'otlp-http', endpoint: 'http://127.0.0.1:9/v1/traces' } } } : {};
const loaded = loadConfigObject({ mode: 'development', listen: { host: '127.0.0.1', port: 0 }, admin: false, accessLog: { enabled: false }, ...tracing,
  routes: [{ id: 'open', match: { path: '/**' }, upstream: 'http://127.0.0.1:' + upstream.address().port, public: true }] });
if (!loaded.ok) throw new Error(loaded.errors.join('; '));
const gateway = await Gateway.start(loaded.config, { logger: createAppLogger({ level: 'silent', redact: [], destination: 'stdout' }), accessLog: new AccessLog({ redact: [], destination: 'stdout' }) });
const port = gateway.addresses().listeners[0].port;
const res = await fetch('http://127.0.0.1:' + port + '/x', { headers: { traceparent: '00-${TRACE_ID}-${SPAN_ID}-01' } });
console.log('status ' + res.status);
await gateway.stop();
upstream.close();
`,
    );
    const run = (tracing: boolean) => {
      if (existsSync(log)) writeFileSync(log, '');
      const result = spawnSync(process.execPath, ['--import', 'tsx', '--import', pathToFileURL(join(dir, 'register.mjs')).href, join(dir, 'run.mts')], {
        cwd: root,
        env: { ...process.env, RAMPART_TEST_LOAD_LOG: log, RAMPART_TEST_TRACING: tracing ? '1' : '0' },
        encoding: 'utf8',
        timeout: 60_000,
      });
      expect(result.stdout, result.stderr).toContain('status 200');
      return existsSync(log) ? readFileSync(log, 'utf8').split('\n').filter(Boolean) : [];
    };
    expect(run(false)).toEqual([]);
    // The control: with tracing configured the same hook sees the SDK load, so the empty list above means something.
    const withTracing = run(true);
    expect(withTracing.some((url) => url.includes('/@opentelemetry/sdk-trace-base/'))).toBe(true);
    expect(withTracing.some((url) => url.includes('/@opentelemetry/exporter-trace-otlp-http/'))).toBe(true);
  }, 120_000);
});
