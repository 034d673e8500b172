import { SharedResourcePool } from '../../gateway/runtime.ts';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, request as httpRequest, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, request as httpsRequest } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RecordingSecurityEvents } from '../../observe/events.ts';
import type { PolicyHandlers, RequestContext, RouteInfo, UpstreamResponseView } from '../types.ts';
import { describeSecurityHeaders, securityHeadersPolicy, type SecurityHeadersConfig } from './index.ts';
import { DEFAULT_PERMISSIONS_POLICY } from './schema.ts';

const ajv = new Ajv({ strict: true, useDefaults: true, allowUnionTypes: true });
const validateConfig = ajv.compile(securityHeadersPolicy.schema);
const route: RouteInfo = { id: 'docs', public: true, methods: undefined, tls: true };

function configOf(input: Record<string, unknown>): SecurityHeadersConfig {
  const copy = structuredClone(input);
  if (!validateConfig(copy)) throw new Error(`invalid test config: ${ajv.errorsText(validateConfig.errors)}`);
  return copy as unknown as SecurityHeadersConfig;
}

function build(input: Record<string, unknown>): PolicyHandlers {
  return securityHeadersPolicy.create(configOf(input), {
    logger: pino({ level: 'silent' }),
    events: new RecordingSecurityEvents(),
    routeId: 'docs',
    development: false,
    shared: new SharedResourcePool(),
  }) as PolicyHandlers;
}

function contextFor(req: IncomingMessage, secure: boolean): RequestContext {
  return {
    req,
    requestId: 'req-1',
    method: req.method ?? 'GET',
    path: req.url ?? '/',
    query: '',
    clientAddress: '127.0.0.1',
    secure,
    routeId: 'docs',
    params: {},
    principal: undefined,
    responseHeaders: [],
    locals: {},
  };
}

const DEFAULT_HEADERS = {
  'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-resource-policy': 'same-origin',
  'cross-origin-opener-policy': 'same-origin',
  'permissions-policy': DEFAULT_PERMISSIONS_POLICY,
  'cache-control': 'no-store',
};
const DEFAULT_HSTS = 'max-age=31536000; includeSubDomains';
const MANAGED = [...Object.keys(DEFAULT_HEADERS), 'strict-transport-security', 'reporting-endpoints'];

/**
 * A stand-in for the gateway's response path: per path, a route with its own policy config and an "upstream" that
 * answers with fixed headers (or `/problem/...`: the gateway answers itself, no upstream). Pushed headers replace
 * same-named upstream ones, as the gateway's writeHead does, and are read after onResponse ran.
 */
function gatewayStandIn(secure: boolean, routes: Record<string, PolicyHandlers>) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    const [, routeName, mode] = (req.url ?? '/').split('/');
    const handlers = routes[routeName!]!;
    const ctx = contextFor(req, secure);
    handlers.onRequest?.(ctx);
    const base: Record<string, string> = {};
    if (mode === 'problem') {
      base['content-type'] = 'application/problem+json';
    } else {
      const upstream: UpstreamResponseView = {
        status: 200,
        headers: {
          'content-type': 'application/json',
          ...(mode === 'upstream-headers'
            ? {
                'content-security-policy': "default-src 'self'",
                'cache-control': 'public, max-age=60',
                'x-frame-options': 'SAMEORIGIN',
              }
            : {}),
        },
      };
      handlers.onResponse?.(ctx, upstream);
      for (const [name, value] of Object.entries(upstream.headers)) if (typeof value === 'string') base[name] = value;
    }
    for (let i = 0; i < ctx.responseHeaders.length; i += 2) base[ctx.responseHeaders[i]!] = ctx.responseHeaders[i + 1]!;
    res.writeHead(mode === 'problem' ? 404 : 200, base).end('{}');
  };
}

type Send = (path: string) => Promise<IncomingHttpHeaders>;

function managedHeaders(headers: IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of MANAGED) if (typeof headers[name] === 'string') out[name] = headers[name];
  return out;
}

const ROUTES = (): Record<string, PolicyHandlers> => ({
  api: build({}),
  docs: build({
    contentSecurityPolicy: "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
    cacheControl: null,
    frameOptions: 'SAMEORIGIN',
    hsts: { maxAge: 63072000, preload: true },
    reportUri: '/.rampart/csp-report',
  }),
  legacy: build({ override: false }),
  cached: build({ allowCaching: true }),
});

describe('security-headers on a plain HTTP server', () => {
  let server: Server;
  let send: Send;

  beforeAll(async () => {
    server = createServer(gatewayStandIn(false, ROUTES()));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    send = (path) =>
      new Promise((resolve, reject) => {
        httpRequest({ host: '127.0.0.1', port, path }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.headers));
        })
          .on('error', reject)
          .end();
      });
  });

  afterAll(async () => {
    await new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
  });

  it('sends exactly the default headers, and no HSTS over plain HTTP (RFC 6797 §7.2)', async () => {
    const headers = await send('/api/plain');
    expect(managedHeaders(headers)).toEqual(DEFAULT_HEADERS);
    expect(headers['strict-transport-security']).toBeUndefined();
  });

  it('puts the same headers on answers the gateway gives itself', async () => {
    expect(managedHeaders(await send('/api/problem'))).toEqual(DEFAULT_HEADERS);
  });

  it('replaces the upstream values by default', async () => {
    expect(managedHeaders(await send('/api/upstream-headers'))).toEqual(DEFAULT_HEADERS);
  });

  it('keeps upstream values and fills in the rest with override: false', async () => {
    const headers = managedHeaders(await send('/legacy/upstream-headers'));
    expect(headers).toEqual({
      ...DEFAULT_HEADERS,
      'content-security-policy': "default-src 'self'",
      'cache-control': 'public, max-age=60',
      'x-frame-options': 'SAMEORIGIN',
    });
    expect(managedHeaders(await send('/legacy/plain'))).toEqual(DEFAULT_HEADERS);
  });

  it('lets the upstream Cache-Control through with allowCaching, and sets none itself', async () => {
    expect(managedHeaders(await send('/cached/upstream-headers'))['cache-control']).toBe('public, max-age=60');
    expect((await send('/cached/plain'))['cache-control']).toBeUndefined();
  });
});

describe('security-headers on a real HTTPS server', () => {
  let directory: string;
  let server: Server;
  let send: Send;

  beforeAll(async () => {
    directory = mkdtempSync(join(tmpdir(), 'rampart-hsts-'));
    const keyFile = join(directory, 'key.pem');
    const certFile = join(directory, 'cert.pem');
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-keyout', keyFile, '-out', certFile, '-days', '1', '-subj', '/CN=localhost',
      '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
    ], { stdio: 'ignore' });
    const cert = readFileSync(certFile);
    server = createHttpsServer({ key: readFileSync(keyFile), cert }, gatewayStandIn(true, ROUTES()));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    send = (path) =>
      new Promise((resolve, reject) => {
        httpsRequest({ host: '127.0.0.1', port, path, ca: cert }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.headers));
        })
          .on('error', reject)
          .end();
      });
  });

  afterAll(async () => {
    await new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
    rmSync(directory, { recursive: true, force: true });
  });

  it('adds HSTS over TLS with the default one-year max-age', async () => {
    expect(managedHeaders(await send('/api/plain'))).toEqual({ ...DEFAULT_HEADERS, 'strict-transport-security': DEFAULT_HSTS });
  });

  it('applies a per-route override: CSP, reporting, caching, framing and preload', async () => {
    expect(managedHeaders(await send('/docs/upstream-headers'))).toEqual({
      ...DEFAULT_HEADERS,
      'content-security-policy':
        "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; report-uri /.rampart/csp-report; report-to csp-endpoint",
      'reporting-endpoints': 'csp-endpoint="/.rampart/csp-report"',
      'x-frame-options': 'SAMEORIGIN',
      'cache-control': 'public, max-age=60',
      'strict-transport-security': 'max-age=63072000; includeSubDomains; preload',
    });
  });

  it('lets an upstream HSTS stand in fill-in mode', async () => {
    const handlers = build({ override: false });
    const ctx = contextFor({ headers: {} } as IncomingMessage, true);
    handlers.onRequest!(ctx);
    handlers.onResponse!(ctx, { status: 200, headers: { 'strict-transport-security': 'max-age=600' } });
    expect(ctx.responseHeaders).not.toContain('strict-transport-security');
    expect(ctx.responseHeaders).toContain('content-security-policy');
  });
});

describe('security-headers handlers', () => {
  it('pushes nothing but its own pairs and only removes its own in fill-in mode', () => {
    const handlers = build({ override: false });
    const ctx = contextFor({ headers: {} } as IncomingMessage, false);
    ctx.responseHeaders.push('x-frame-options', 'from-another-policy');
    handlers.onRequest!(ctx);
    handlers.onResponse!(ctx, { status: 200, headers: { 'x-frame-options': 'SAMEORIGIN' } });
    // The other policy's entry survives; this policy's DENY gave way to the upstream value.
    expect(ctx.responseHeaders.filter((_, i) => ctx.responseHeaders[i - 1] === 'x-frame-options')).toEqual(['from-another-policy']);
  });

  it('has no onResponse when it overrides (nothing to do per response)', () => {
    expect(build({}).onResponse).toBeUndefined();
  });

  it('declares its place in the pipeline and is on by default', () => {
    expect(securityHeadersPolicy).toMatchObject({ name: 'security-headers', phase: 'edge', order: 0, onByDefault: true });
  });

  it('documents every property with a default, and fills nested HSTS defaults', () => {
    const properties = (securityHeadersPolicy.schema as { properties: Record<string, Record<string, unknown>> }).properties;
    for (const [name, property] of Object.entries(properties)) {
      expect(property.description, name).toBeTypeOf('string');
      expect(property, name).toHaveProperty('default');
    }
    expect(configOf({ hsts: { preload: true } }).hsts).toEqual({ maxAge: 31536000, includeSubDomains: true, preload: true });
    expect(validateConfig({ referrerPolicy: 'no-referrer\r\nset-cookie: a=b' })).toBe(false);
    expect(validateConfig({ crossOriginResourcePolicy: 'anyone' })).toBe(false);
  });

  it('describes the posture of a configuration', () => {
    const strict = describeSecurityHeaders(configOf({}));
    expect(strict.caching).toBe('gateway');
    expect(strict.hsts).toBe(DEFAULT_HSTS);
    expect(strict.headers).toContainEqual(['strict-transport-security', DEFAULT_HSTS]);
    expect(strict.notes).toEqual(['Strict-Transport-Security is sent over TLS only (RFC 6797 §7.2)']);
    const relaxed = describeSecurityHeaders(configOf({ cacheControl: null, override: false, reportUri: '/r' }));
    expect(relaxed.caching).toBe('upstream');
    expect(relaxed.override).toBe(false);
    expect(relaxed.notes.join('\n')).toMatch(/may be cached[\s\S]*upstream values win[\s\S]*reported to \/r/);
    expect(relaxed.headers.map(([name]) => name)).not.toContain('cache-control');
  });
});

interface CheckRow {
  readonly name: string;
  readonly config: Record<string, unknown>;
  /** [path suffix, rule | 'error' | 'warning', message fragment] per expected issue, in order. */
  readonly issues: Array<[string, string, string?]>;
}

const CSP = '.contentSecurityPolicy';
const FA = "; frame-ancestors 'none'";

const CHECKS: CheckRow[] = [
  { name: 'defaults are clean', config: {}, issues: [] },
  { name: 'a strict document CSP is clean', config: { contentSecurityPolicy: `default-src 'self'; script-src 'self' https://cdn.example.com; img-src 'self' data:${FA};` }, issues: [] },
  { name: "'unsafe-inline'", config: { contentSecurityPolicy: `default-src 'self' 'unsafe-inline'${FA}` }, issues: [[CSP, 'csp-unsafe', "'unsafe-inline' in default-src"]] },
  { name: 'keywords are case-insensitive', config: { contentSecurityPolicy: `DEFAULT-SRC 'UNSAFE-INLINE'${FA}` }, issues: [[CSP, 'csp-unsafe', "'unsafe-inline'"]] },
  { name: "'unsafe-eval' and 'unsafe-hashes': one issue each", config: { contentSecurityPolicy: `script-src 'self' 'unsafe-eval' 'unsafe-hashes'${FA}` }, issues: [[CSP, 'csp-unsafe', "'unsafe-eval'"], [CSP, 'csp-unsafe', "'unsafe-hashes'"]] },
  { name: 'bare *', config: { contentSecurityPolicy: `default-src *${FA}` }, issues: [[CSP, 'csp-unsafe', 'bare *']] },
  { name: 'data: in default-src', config: { contentSecurityPolicy: `default-src 'self' data:${FA}` }, issues: [[CSP, 'csp-unsafe', 'data: in default-src']] },
  { name: 'data: in script-src', config: { contentSecurityPolicy: `script-src data:${FA}` }, issues: [[CSP, 'csp-unsafe', 'data: in script-src']] },
  { name: 'scheme-only https: in script-src', config: { contentSecurityPolicy: `script-src https:${FA}` }, issues: [[CSP, 'csp-unsafe', 'https:']] },
  { name: 'scheme-only http: in script-src-elem', config: { contentSecurityPolicy: `script-src-elem http:${FA}` }, issues: [[CSP, 'csp-unsafe', 'http:']] },
  { name: 'no frame-ancestors', config: { contentSecurityPolicy: "default-src 'none'" }, issues: [[CSP, 'warning', 'frame-ancestors']] },
  { name: 'empty directive', config: { contentSecurityPolicy: `default-src 'none';${FA}` }, issues: [[CSP, 'error', 'empty directive']] },
  { name: 'CR/LF injection', config: { contentSecurityPolicy: "default-src 'none'\r\nSet-Cookie: session=attacker" }, issues: [[CSP, 'error', 'line break']] },
  { name: 'comma splits the policy', config: { contentSecurityPolicy: `default-src 'none', script-src *${FA}` }, issues: [[CSP, 'error', '","']] },
  { name: 'non-ASCII character', config: { contentSecurityPolicy: `default-src 'sélf'${FA}` }, issues: [[CSP, 'error', 'U+00E9']] },
  { name: 'invalid directive name', config: { contentSecurityPolicy: `'self'${FA}` }, issues: [[CSP, 'error', "invalid directive name \"'self'\""]] },
  { name: 'unknown directive', config: { contentSecurityPolicy: `defualt-src 'none'${FA}` }, issues: [[CSP, 'warning', 'unknown directive "defualt-src"']] },
  { name: 'repeated directive', config: { contentSecurityPolicy: `default-src 'none'${FA}; default-src *` }, issues: [[CSP, 'warning', 'repeats default-src']] },
  { name: 'short HSTS', config: { hsts: { maxAge: 86400 } }, issues: [['.hsts.maxAge', 'hsts-short', 'below 180 days']] },
  { name: 'HSTS at exactly 180 days is accepted', config: { hsts: { maxAge: 15552000 } }, issues: [] },
  { name: 'preload without includeSubDomains', config: { hsts: { preload: true, includeSubDomains: false } }, issues: [['.hsts.preload', 'error', 'includeSubDomains']] },
  { name: 'nosniff disabled', config: { contentTypeOptions: false }, issues: [['.contentTypeOptions', 'nosniff-disabled']] },
  { name: 'caching allowed is a route choice, not an issue', config: { cacheControl: null, allowCaching: true }, issues: [] },
  { name: 'header injection in Permissions-Policy', config: { permissionsPolicy: 'camera=()\nSet-Cookie: a=b' }, issues: [['.permissionsPolicy', 'error', 'header injection']] },
  { name: 'header injection in Cache-Control', config: { cacheControl: 'no-store\r\nX-Injected: 1' }, issues: [['.cacheControl', 'error', 'header injection']] },
  { name: 'report URI as a gateway path', config: { reportUri: '/.rampart/csp-report' }, issues: [] },
  { name: 'report URI over https', config: { reportUri: 'https://reports.example.com/csp' }, issues: [] },
  { name: 'report URI over http', config: { reportUri: 'http://reports.example.com/csp' }, issues: [['.reportUri', 'error', 'https']] },
  { name: 'report URI with javascript:', config: { reportUri: 'javascript:alert(1)' }, issues: [['.reportUri', 'error', 'https']] },
  { name: 'report URI protocol-relative', config: { reportUri: '//reports.example.com/csp' }, issues: [['.reportUri', 'error', 'https']] },
  { name: 'report URI smuggling a directive', config: { reportUri: 'https://r.example.com/c; script-src *' }, issues: [['.reportUri', 'error', 'cannot go into a header']] },
  { name: 'report URI plus a CSP that reports already', config: { reportUri: '/r', contentSecurityPolicy: `default-src 'none'; report-uri /other${FA}` }, issues: [[CSP, 'error', 'keep one']] },
];

describe('security-headers: check', () => {
  it.each(CHECKS)('$name', ({ config, issues }) => {
    const found = securityHeadersPolicy.check!(configOf(config), 'routes[1].security-headers', route);
    expect(found.map((issue) => `${issue.path}: ${issue.message}`)).toHaveLength(issues.length);
    issues.forEach(([suffix, kind, fragment], index) => {
      const issue = found[index]!;
      expect(issue.path).toBe(`routes[1].security-headers${suffix}`);
      if (kind === 'error') {
        expect(issue.rule).toBeUndefined();
        expect(issue.severity ?? 'error').toBe('error');
      } else if (kind === 'warning') {
        expect(issue.rule).toBeUndefined();
        expect(issue.severity).toBe('warning');
      } else {
        expect(issue.rule).toBe(kind);
      }
      if (fragment) expect(issue.message).toContain(fragment);
    });
  });
});
