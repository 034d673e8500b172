import { SharedResourcePool } from '../../gateway/runtime.ts';
import { createServer, request, type IncomingMessage, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Ajv } from 'ajv';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ERRORS, PROBLEM_CONTENT_TYPE, problemBody } from '../../errors/catalogue.ts';
import { RecordingSecurityEvents } from '../../observe/events.ts';
import type { Outcome, PolicyHandlers, RequestContext, RouteInfo } from '../types.ts';
import { corsPolicy, type CorsConfig } from './index.ts';

const ajv = new Ajv({ strict: true, useDefaults: true });
const validateConfig = ajv.compile(corsPolicy.schema);
const route: RouteInfo = { id: 'orders', public: false, methods: undefined, tls: true };

/** Validates like the config loader does (defaults filled in), so tests see the config create() really gets. */
function configOf(input: Record<string, unknown>): CorsConfig {
  const copy = structuredClone(input);
  if (!validateConfig(copy)) throw new Error(`invalid test config: ${ajv.errorsText(validateConfig.errors)}`);
  return copy as unknown as CorsConfig;
}

function build(input: Record<string, unknown>): { handlers: PolicyHandlers; events: RecordingSecurityEvents } {
  const events = new RecordingSecurityEvents();
  const handlers = corsPolicy.create(configOf(input), {
    logger: pino({ level: 'silent' }),
    events,
    routeId: 'orders',
    development: false,
    shared: new SharedResourcePool(),
  }) as PolicyHandlers;
  return { handlers, events };
}

function fakeContext(method: string, headers: IncomingHttpHeaders): RequestContext {
  return {
    req: { headers } as IncomingMessage,
    requestId: 'req-1',
    method,
    path: '/orders',
    query: '',
    clientAddress: '203.0.113.7',
    secure: true,
    routeId: 'orders',
    params: {},
    principal: undefined,
    responseHeaders: [],
    locals: {},
  };
}

function pushed(ctx: RequestContext): Array<[string, string]> {
  const pairs: Array<[string, string]> = [];
  for (let i = 0; i < ctx.responseHeaders.length; i += 2) pairs.push([ctx.responseHeaders[i]!, ctx.responseHeaders[i + 1]!]);
  return pairs;
}

const CONFIGS = {
  /** Exact origins with credentials, the shape of `defaults.cors` in the config sketch. */
  exact: {
    origins: ['https://app.example.com', 'http://localhost:3000'],
    credentials: true,
    methods: ['GET', 'POST', 'PATCH', 'DELETE'],
    exposeHeaders: ['x-request-id'],
  },
  /** A single-label subdomain pattern without credentials. */
  pattern: { originPatterns: ['https://*.example.com'] },
  /** Public, credential-less API open to every origin (an acknowledged weakening). */
  wildcard: { origins: ['*'] },
  /** Private Network Access granted. */
  privateNetwork: { origins: ['https://app.example.com'], allowPrivateNetwork: true },
} satisfies Record<string, Record<string, unknown>>;

interface MatrixRow {
  readonly name: string;
  readonly config: keyof typeof CONFIGS;
  readonly method: string;
  readonly origin?: string;
  readonly requestMethod?: string;
  readonly requestHeaders?: string;
  readonly privateNetwork?: boolean;
  /** undefined: the request continues to the upstream; 204: preflight answered; 403: preflight denied. */
  readonly status?: 204 | 403;
  /** Expected Access-Control-Allow-Origin; null: must be absent. */
  readonly allowOrigin: string | null;
  readonly credentials?: boolean;
  readonly allowHeaders?: string | null;
  readonly denialEvent?: boolean;
}

const APP = 'https://app.example.com';

const MATRIX: MatrixRow[] = [
  // Actual (non-preflight) requests against exact origins with credentials.
  { name: 'no Origin: same-origin or non-browser', config: 'exact', method: 'GET', allowOrigin: null },
  { name: 'allowed origin is reflected with credentials', config: 'exact', method: 'GET', origin: APP, allowOrigin: APP, credentials: true },
  { name: 'allowed origin on POST', config: 'exact', method: 'POST', origin: APP, allowOrigin: APP, credentials: true },
  { name: 'suffix bypass app.example.com.evil.net', config: 'exact', method: 'GET', origin: 'https://app.example.com.evil.net', allowOrigin: null, denialEvent: true },
  { name: 'prefix bypass evilapp.example.com', config: 'exact', method: 'GET', origin: 'https://evilapp.example.com', allowOrigin: null, denialEvent: true },
  { name: 'upper-case host (no browser sends it)', config: 'exact', method: 'GET', origin: 'https://APP.EXAMPLE.COM', allowOrigin: null, denialEvent: true },
  { name: 'null origin', config: 'exact', method: 'GET', origin: 'null', allowOrigin: null, denialEvent: true },
  { name: 'trailing slash', config: 'exact', method: 'GET', origin: 'https://app.example.com/', allowOrigin: null, denialEvent: true },
  { name: 'explicit default port', config: 'exact', method: 'GET', origin: 'https://app.example.com:443', allowOrigin: null, denialEvent: true },
  { name: 'other port', config: 'exact', method: 'GET', origin: 'https://app.example.com:8443', allowOrigin: null, denialEvent: true },
  { name: 'http instead of https', config: 'exact', method: 'GET', origin: 'http://app.example.com', allowOrigin: null, denialEvent: true },
  { name: 'trailing dot host', config: 'exact', method: 'GET', origin: 'https://app.example.com.', allowOrigin: null, denialEvent: true },
  { name: 'two Origin headers joined by Node', config: 'exact', method: 'GET', origin: 'https://app.example.com, https://evil.net', allowOrigin: null, denialEvent: true },
  { name: 'allowed localhost dev origin', config: 'exact', method: 'GET', origin: 'http://localhost:3000', allowOrigin: 'http://localhost:3000', credentials: true },
  { name: 'localhost on another port', config: 'exact', method: 'GET', origin: 'http://localhost:3001', allowOrigin: null, denialEvent: true },
  { name: 'OPTIONS without Access-Control-Request-Method is an actual request', config: 'exact', method: 'OPTIONS', origin: APP, allowOrigin: APP, credentials: true },
  // Patterns.
  { name: 'pattern matches one label', config: 'pattern', method: 'GET', origin: 'https://api.example.com', allowOrigin: 'https://api.example.com' },
  { name: 'pattern does not match the bare domain', config: 'pattern', method: 'GET', origin: 'https://example.com', allowOrigin: null, denialEvent: true },
  { name: 'pattern does not match two labels', config: 'pattern', method: 'GET', origin: 'https://a.b.example.com', allowOrigin: null, denialEvent: true },
  { name: 'pattern: evilexample.com', config: 'pattern', method: 'GET', origin: 'https://evilexample.com', allowOrigin: null, denialEvent: true },
  { name: 'pattern: evil-example.com', config: 'pattern', method: 'GET', origin: 'https://evil-example.com', allowOrigin: null, denialEvent: true },
  { name: 'pattern: suffix bypass', config: 'pattern', method: 'GET', origin: 'https://api.example.com.evil.net', allowOrigin: null, denialEvent: true },
  { name: 'pattern: http scheme', config: 'pattern', method: 'GET', origin: 'http://api.example.com', allowOrigin: null, denialEvent: true },
  { name: 'pattern: port not in pattern', config: 'pattern', method: 'GET', origin: 'https://api.example.com:8443', allowOrigin: null, denialEvent: true },
  { name: 'pattern: punycode label matches', config: 'pattern', method: 'GET', origin: 'https://xn--bcher-kva.example.com', allowOrigin: 'https://xn--bcher-kva.example.com' },
  { name: 'pattern: raw unicode label (no browser sends it)', config: 'pattern', method: 'GET', origin: 'https://bücher.example.com', allowOrigin: null, denialEvent: true },
  { name: 'pattern: label starting with a hyphen', config: 'pattern', method: 'GET', origin: 'https://-api.example.com', allowOrigin: null, denialEvent: true },
  { name: 'pattern: regex metacharacter in place of the dot', config: 'pattern', method: 'GET', origin: 'https://apiXexample.com', allowOrigin: null, denialEvent: true },
  // Wildcard without credentials.
  { name: 'wildcard answers *', config: 'wildcard', method: 'GET', origin: 'https://anything.test', allowOrigin: '*' },
  { name: 'wildcard still refuses null', config: 'wildcard', method: 'GET', origin: 'null', allowOrigin: null, denialEvent: true },
  { name: 'wildcard refuses a malformed origin', config: 'wildcard', method: 'GET', origin: 'https://a.test/path', allowOrigin: null, denialEvent: true },
  // Preflights.
  { name: 'preflight allowed', config: 'exact', method: 'OPTIONS', origin: APP, requestMethod: 'PATCH', requestHeaders: 'authorization,content-type', status: 204, allowOrigin: APP, credentials: true, allowHeaders: 'content-type, authorization' },
  { name: 'preflight without requested headers', config: 'exact', method: 'OPTIONS', origin: APP, requestMethod: 'DELETE', status: 204, allowOrigin: APP, credentials: true, allowHeaders: null },
  { name: 'preflight headers compared case-insensitively, safelisted accepted', config: 'exact', method: 'OPTIONS', origin: APP, requestMethod: 'GET', requestHeaders: 'Content-Type, Accept', status: 204, allowOrigin: APP, credentials: true, allowHeaders: 'content-type, authorization' },
  { name: 'preflight method outside the list', config: 'exact', method: 'OPTIONS', origin: APP, requestMethod: 'PUT', status: 403, allowOrigin: null },
  { name: 'preflight method case-sensitive (patch is not PATCH)', config: 'exact', method: 'OPTIONS', origin: APP, requestMethod: 'patch', status: 403, allowOrigin: null },
  { name: 'preflight header outside the list', config: 'exact', method: 'OPTIONS', origin: APP, requestMethod: 'POST', requestHeaders: 'content-type,x-internal-debug', status: 403, allowOrigin: null },
  { name: 'preflight header list with an invalid token', config: 'exact', method: 'OPTIONS', origin: APP, requestMethod: 'POST', requestHeaders: 'content-type, x bad', status: 403, allowOrigin: null },
  { name: 'preflight from a disallowed origin', config: 'exact', method: 'OPTIONS', origin: 'https://evil.example.net', requestMethod: 'GET', status: 403, allowOrigin: null, denialEvent: true },
  { name: 'preflight from null', config: 'exact', method: 'OPTIONS', origin: 'null', requestMethod: 'GET', status: 403, allowOrigin: null, denialEvent: true },
  { name: 'private network preflight not enabled', config: 'exact', method: 'OPTIONS', origin: APP, requestMethod: 'GET', privateNetwork: true, status: 403, allowOrigin: null },
  { name: 'private network preflight enabled', config: 'privateNetwork', method: 'OPTIONS', origin: APP, requestMethod: 'GET', privateNetwork: true, status: 204, allowOrigin: APP },
  { name: 'wildcard preflight answers *', config: 'wildcard', method: 'OPTIONS', origin: 'https://anything.test', requestMethod: 'POST', requestHeaders: 'content-type', status: 204, allowOrigin: '*', allowHeaders: 'content-type, authorization' },
  { name: 'pattern preflight', config: 'pattern', method: 'OPTIONS', origin: 'https://api.example.com', requestMethod: 'HEAD', status: 204, allowOrigin: 'https://api.example.com' },
];

describe('cors policy: request matrix', () => {
  it('has a matrix of at least 30 rows', () => {
    expect(MATRIX.length).toBeGreaterThanOrEqual(30);
  });

  it.each(MATRIX)('$name', (row) => {
    const { handlers, events } = build(CONFIGS[row.config]);
    const headers: IncomingHttpHeaders = {};
    if (row.origin !== undefined) headers.origin = row.origin;
    if (row.requestMethod !== undefined) headers['access-control-request-method'] = row.requestMethod;
    if (row.requestHeaders !== undefined) headers['access-control-request-headers'] = row.requestHeaders;
    if (row.privateNetwork) headers['access-control-request-private-network'] = 'true';
    const ctx = fakeContext(row.method, headers);
    const outcome = handlers.onRequest!(ctx) as Outcome;

    expect(events.events.length).toBe(row.denialEvent ? 1 : 0);
    if (row.denialEvent) {
      expect(events.events[0]).toMatchObject({
        type: 'cors.origin-denied',
        severity: 'low',
        requestId: 'req-1',
        routeId: 'orders',
        clientAddress: '203.0.113.7',
        details: { origin: row.origin, preflight: row.status !== undefined },
      });
    }

    if (row.status === undefined) {
      expect(outcome).toBeUndefined();
      const pairs = pushed(ctx);
      // Vary: Origin on every response, allowed or not.
      expect(pairs.filter(([name]) => name === 'vary')).toEqual([['vary', 'Origin']]);
      const allowOrigin = pairs.find(([name]) => name === 'access-control-allow-origin');
      expect(allowOrigin?.[1] ?? null).toBe(row.allowOrigin);
      const allowCredentials = pairs.find(([name]) => name === 'access-control-allow-credentials');
      expect(allowCredentials?.[1]).toBe(row.credentials ? 'true' : undefined);
      const expose = pairs.find(([name]) => name === 'access-control-expose-headers');
      const configuredExpose = row.config === 'exact' && row.allowOrigin !== null ? 'x-request-id' : undefined;
      expect(expose?.[1]).toBe(configuredExpose);
      return;
    }

    // Preflight answers carry their own Vary and push nothing to the shared list.
    expect(ctx.responseHeaders).toEqual([]);
    if (row.status === 403) {
      expect(outcome).toMatchObject({
        kind: 'problem',
        code: 'RAMPART_ERR_CORS_PREFLIGHT_DENIED',
        headers: { vary: 'Origin, Access-Control-Request-Method, Access-Control-Request-Headers' },
      });
      return;
    }
    if (outcome === undefined || typeof outcome === 'symbol' || outcome.kind !== 'direct') {
      throw new Error(`expected a direct answer, got ${String(outcome)}`);
    }
    expect(outcome.status).toBe(204);
    const answer = outcome.headers!;
    expect(answer['access-control-allow-origin']).toBe(row.allowOrigin);
    expect(answer.vary).toBe('Origin, Access-Control-Request-Method, Access-Control-Request-Headers');
    expect(answer['access-control-max-age']).toBe('600');
    expect(answer['access-control-allow-credentials']).toBe(row.credentials ? 'true' : undefined);
    if (row.allowHeaders !== undefined) expect(answer['access-control-allow-headers'] ?? null).toBe(row.allowHeaders);
    expect(answer['access-control-allow-private-network']).toBe(row.privateNetwork ? 'true' : undefined);
    const expectedMethods = row.config === 'exact' ? 'GET, POST, PATCH, DELETE' : 'GET, HEAD, POST';
    expect(answer['access-control-allow-methods']).toBe(expectedMethods);
  });
});

describe('cors policy: configuration details', () => {
  it('compares configured origins in lower case and in their serialized form', () => {
    const { handlers } = build({ origins: ['HTTPS://App.Example.COM', 'http://[0:0:0:0:0:0:0:1]:8080'] });
    for (const origin of ['https://app.example.com', 'http://[::1]:8080']) {
      const ctx = fakeContext('GET', { origin });
      handlers.onRequest!(ctx);
      expect(pushed(ctx)).toContainEqual(['access-control-allow-origin', origin]);
    }
  });

  it('never answers * when credentials are on, even if a bad config slipped through', () => {
    const { handlers } = build({ origins: ['*'], credentials: true });
    const ctx = fakeContext('GET', { origin: 'https://attacker.test' });
    handlers.onRequest!(ctx);
    expect(pushed(ctx)).toEqual([['vary', 'Origin']]);
  });

  it('fills in the documented defaults', () => {
    expect(configOf({})).toEqual({
      origins: [],
      originPatterns: [],
      credentials: false,
      methods: ['GET', 'HEAD', 'POST'],
      allowHeaders: ['content-type', 'authorization'],
      exposeHeaders: [],
      maxAge: 600,
      allowPrivateNetwork: false,
    });
  });

  it('rejects unknown properties and a max age beyond a day', () => {
    expect(validateConfig({ origin: ['https://a.test'] })).toBe(false);
    expect(validateConfig({ maxAge: 86401 })).toBe(false);
    expect(validateConfig({ methods: ['GET\r\nX-Injected: 1'] })).toBe(false);
  });

  it('documents every property with a default', () => {
    const properties = (corsPolicy.schema as { properties: Record<string, Record<string, unknown>> }).properties;
    for (const [name, property] of Object.entries(properties)) {
      expect(property.description, name).toBeTypeOf('string');
      expect(property, name).toHaveProperty('default');
    }
  });

  it('declares its place in the pipeline', () => {
    expect(corsPolicy).toMatchObject({ name: 'cors', phase: 'edge', order: 20 });
  });
});

interface CheckRow {
  readonly name: string;
  readonly config: Record<string, unknown>;
  /** Expected issues as [path suffix, rule or 'error' or 'warning', fragment of the message]. */
  readonly issues: Array<[string, string, string?]>;
}

const CHECKS: CheckRow[] = [
  { name: 'exact https origins are fine', config: { origins: [APP, 'https://admin.example.com:8443'] }, issues: [] },
  { name: 'loopback http origins are fine', config: { origins: ['http://localhost:3000', 'http://127.0.0.1:8080', 'http://[::1]:5173'] }, issues: [] },
  { name: 'upper case is normalised, not refused', config: { origins: ['https://APP.Example.com'] }, issues: [] },
  { name: '* with credentials', config: { origins: ['*'], credentials: true }, issues: [['.origins[0]', 'error', 'not allowed with credentials']] },
  { name: '* without credentials', config: { origins: ['*'] }, issues: [['.origins[0]', 'cors-wildcard-origin']] },
  { name: 'null origin', config: { origins: [APP, 'null'] }, issues: [['.origins[1]', 'error', 'never allowed']] },
  { name: 'trailing slash', config: { origins: ['https://app.example.com/'] }, issues: [['.origins[0]', 'error', 'slash']] },
  { name: 'path', config: { origins: ['https://app.example.com/app'] }, issues: [['.origins[0]', 'error', 'path']] },
  { name: 'userinfo', config: { origins: ['https://user@app.example.com'] }, issues: [['.origins[0]', 'error', 'userinfo']] },
  { name: 'query', config: { origins: ['https://app.example.com?x=1'] }, issues: [['.origins[0]', 'error', 'query']] },
  { name: 'wrong scheme', config: { origins: ['ftp://app.example.com'] }, issues: [['.origins[0]', 'error', 'scheme']] },
  { name: 'no scheme', config: { origins: ['app.example.com'] }, issues: [['.origins[0]', 'error', 'scheme://host']] },
  { name: 'default port', config: { origins: ['https://app.example.com:443'] }, issues: [['.origins[0]', 'error', 'default port']] },
  { name: 'bad port', config: { origins: ['https://app.example.com:99999'] }, issues: [['.origins[0]', 'error', 'invalid port']] },
  { name: 'unicode host names its punycode form', config: { origins: ['https://bücher.example'] }, issues: [['.origins[0]', 'error', 'https://xn--bcher-kva.example']] },
  { name: 'whitespace', config: { origins: ['https://app.example.com '] }, issues: [['.origins[0]', 'error', 'whitespace']] },
  { name: 'wildcard in exact origins', config: { origins: ['https://*.example.com'] }, issues: [['.origins[0]', 'error', 'originPatterns']] },
  { name: 'plain http origin', config: { origins: ['http://app.example.com'] }, issues: [['.origins[0]', 'cors-insecure-origin']] },
  { name: 'pattern without credentials is fine', config: { originPatterns: ['https://*.example.com', 'https://*.*.example.co.uk'] }, issues: [] },
  { name: 'pattern with credentials', config: { originPatterns: ['https://*.example.com'], credentials: true }, issues: [['.originPatterns[0]', 'cors-credentials-pattern']] },
  { name: 'pattern over a TLD', config: { originPatterns: ['https://*.com'] }, issues: [['.originPatterns[0]', 'error', 'registrable domain']] },
  { name: 'pattern over everything', config: { originPatterns: ['https://*'] }, issues: [['.originPatterns[0]', 'error', 'registrable domain']] },
  { name: 'pattern over co.uk', config: { originPatterns: ['https://*.co.uk'] }, issues: [['.originPatterns[0]', 'error', 'public suffix']] },
  { name: 'pattern over shared hosting', config: { originPatterns: ['https://*.github.io'] }, issues: [['.originPatterns[0]', 'error', 'public suffix']] },
  { name: 'partial-label wildcard', config: { originPatterns: ['https://app-*.example.com'] }, issues: [['.originPatterns[0]', 'error', 'whole leftmost label']] },
  { name: 'wildcard in the middle', config: { originPatterns: ['https://api.*.example.com'] }, issues: [['.originPatterns[0]', 'error', 'whole leftmost label']] },
  { name: 'pattern without wildcard', config: { originPatterns: ['https://example.com'] }, issues: [['.originPatterns[0]', 'error', 'no wildcard']] },
  { name: 'pattern with a path', config: { originPatterns: ['https://*.example.com/'] }, issues: [['.originPatterns[0]', 'error', 'slash']] },
  { name: 'plain http pattern', config: { originPatterns: ['http://*.example.com'] }, issues: [['.originPatterns[0]', 'cors-insecure-origin']] },
  { name: 'pattern over an IP address', config: { originPatterns: ['http://*.0.0.1'] }, issues: [['.originPatterns[0]', 'error', 'IP address']] },
  { name: '* in header lists', config: { origins: [APP], allowHeaders: ['*'], exposeHeaders: ['x-request-id', '*'] }, issues: [['.allowHeaders[0]', 'error', 'not supported'], ['.exposeHeaders[1]', 'error', 'not supported']] },
  { name: 'no origin at all', config: {}, issues: [['.origins', 'warning', 'no origin']] },
];

describe('cors policy: check', () => {
  it.each(CHECKS)('$name', ({ config, issues }) => {
    const found = corsPolicy.check!(configOf(config), 'routes[2].cors', route);
    expect(found).toHaveLength(issues.length);
    issues.forEach(([pathSuffix, kind, fragment], index) => {
      const issue = found[index]!;
      expect(issue.path).toBe(`routes[2].cors${pathSuffix}`);
      if (kind === 'error') {
        expect(issue.rule).toBeUndefined();
        expect(issue.severity ?? 'error').toBe('error');
      } else if (kind === 'warning') {
        expect(issue.severity).toBe('warning');
      } else {
        expect(issue.rule).toBe(kind);
      }
      if (fragment) expect(issue.message).toContain(fragment);
    });
  });
});

describe('cors policy on a real server', () => {
  let server: Server;
  let port: number;

  beforeAll(async () => {
    const { handlers } = build(CONFIGS.exact);
    // A minimal stand-in for the gateway: run the edge handler, answer problems and direct replies, otherwise
    // produce an "upstream" answer and apply the pushed headers (the gateway itself strips upstream CORS headers: test/cors.e2e.test.ts).
    server = createServer((req, res) => {
      const ctx: RequestContext = { ...fakeContext(req.method ?? 'GET', req.headers), req };
      const outcome = handlers.onRequest!(ctx) as Outcome;
      // Like the gateway's writeHead: pushed headers replace same-named ones, except Vary, which is merged.
      const apply = (): void => {
        for (let i = 0; i < ctx.responseHeaders.length; i += 2) {
          const name = ctx.responseHeaders[i]!;
          const value = ctx.responseHeaders[i + 1]!;
          const existing = res.getHeader(name);
          res.setHeader(name, name === 'vary' && typeof existing === 'string' ? `${existing}, ${value}` : value);
        }
      };
      if (outcome !== undefined && typeof outcome !== 'symbol') {
        apply();
        if (outcome.kind === 'direct') {
          res.writeHead(outcome.status, outcome.headers).end(outcome.body);
        } else {
          res.writeHead(ERRORS[outcome.code].status, { ...outcome.headers, 'content-type': PROBLEM_CONTENT_TYPE });
          res.end(problemBody(outcome.code, ctx.requestId));
        }
        return;
      }
      const upstream = {
        status: 200,
        headers: { 'content-type': 'application/json', vary: 'Accept-Encoding' } as Record<
          string,
          string | string[] | undefined
        >,
      };
      for (const [name, value] of Object.entries(upstream.headers)) if (value !== undefined) res.setHeader(name, value);
      apply();
      res.writeHead(upstream.status).end('{"ok":true}');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });

  afterAll(async () => {
    await new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
  });

  function send(method: string, headers: Record<string, string>): Promise<{ status: number; headers: IncomingHttpHeaders; body: string }> {
    return new Promise((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, method, path: '/orders', headers }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
      });
      req.on('error', reject);
      req.end();
    });
  }

  it('puts the allowed origin, credentials and merged Vary on the wire and drops the upstream *', async () => {
    const res = await send('GET', { origin: APP });
    expect(res.status).toBe(200);
    expect(res.headers['access-control-allow-origin']).toBe(APP);
    expect(res.headers['access-control-allow-credentials']).toBe('true');
    expect(res.headers['access-control-expose-headers']).toBe('x-request-id');
    expect(res.headers.vary).toBe('Accept-Encoding, Origin');
  });

  it('sends no CORS header to a disallowed origin but still answers', async () => {
    const res = await send('GET', { origin: 'https://app.example.com.evil.net' });
    expect(res.status).toBe(200);
    expect(res.headers['access-control-allow-origin']).toBeUndefined();
    expect(res.headers['access-control-allow-credentials']).toBeUndefined();
    expect(res.headers.vary).toBe('Accept-Encoding, Origin');
  });

  it('answers an allowed preflight with 204 and an empty body', async () => {
    const res = await send('OPTIONS', {
      origin: APP,
      'access-control-request-method': 'PATCH',
      'access-control-request-headers': 'content-type',
    });
    expect(res.status).toBe(204);
    expect(res.body).toBe('');
    expect(res.headers).toMatchObject({
      'access-control-allow-origin': APP,
      'access-control-allow-methods': 'GET, POST, PATCH, DELETE',
      'access-control-allow-headers': 'content-type, authorization',
      'access-control-allow-credentials': 'true',
      'access-control-max-age': '600',
      vary: 'Origin, Access-Control-Request-Method, Access-Control-Request-Headers',
    });
  });

  it('denies a preflight from another origin with a problem', async () => {
    const res = await send('OPTIONS', { origin: 'https://evil.test', 'access-control-request-method': 'GET' });
    expect(res.status).toBe(403);
    expect(res.headers['content-type']).toBe(PROBLEM_CONTENT_TYPE);
    expect(res.headers['access-control-allow-origin']).toBeUndefined();
    expect(JSON.parse(res.body)).toMatchObject({ code: 'RAMPART_ERR_CORS_PREFLIGHT_DENIED', status: 403 });
  });
});
