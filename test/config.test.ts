/**
 * The config loader as people meet it: every mistake reported at once with the exact config path, never a throw,
 * `${env:NAME}` substitution, filled-in defaults, and the single acknowledge list as the only way to accept a
 * weakened default. Hostile input (YAML syntax errors, duplicate keys, `__proto__`, alias bombs, random mutations)
 * must come back as errors, never as an exception or a polluted prototype.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import YAML from 'yaml';
import { INVALID_FIXTURE_ERRORS, CONFIG_FIXTURES } from './fixtures/configs/expected.ts';
import { loadConfigFile, loadConfigObject, loadConfigText, type GatewayConfig, type LoadOptions, type LoadResult } from '../src/config/load.ts';

/** A fixed "today": acknowledgement expiry must never depend on when the tests run. */
const TODAY = new Date('2025-06-15T12:00:00Z');
const FAR_FUTURE = '2999-12-31';
/** No process environment leaks into these tests: every variable a case needs is given here. */
const OPTIONS: LoadOptions = { env: {}, now: TODAY };

type Doc = Record<string, unknown>;

function route(id: string, path: string, extra: Doc = {}): Doc {
  return { id, match: { path }, upstream: 'http://127.0.0.1:8080', public: true, ...extra };
}

/**
 * The smallest valid production config: TLS-less listener that refuses plain HTTP (so no acknowledgement is needed),
 * no admin listener, one public route.
 */
function base(extra: Doc = {}): Doc {
  return {
    listen: { host: '127.0.0.1', port: 8443, http: 'refuse' },
    admin: false,
    routes: [route('orders', '/orders/**')],
    ...extra,
  };
}

function ack(rule: string, path: string, expires = FAR_FUTURE): Doc {
  return { rule, path, reason: 'reviewed by the security team', expires };
}

function expectOk(result: LoadResult): GatewayConfig {
  if (!result.ok) throw new Error(`expected a valid config, got:\n${result.errors.join('\n')}`);
  return result.config;
}

function expectErrors(result: LoadResult): string[] {
  if (result.ok) throw new Error('expected the config to be refused');
  return result.errors;
}

/** The suffix every unacknowledged weakened default carries: the exact acknowledgement that would accept it. */
function weakened(path: string, message: string, rule: string): string {
  return `${path}: ${message} (weakens a default; to accept it add acknowledge: [{ rule: ${rule}, path: "${path}", reason, expires }])`;
}

interface InvalidCase {
  readonly name: string;
  readonly doc: unknown;
  readonly errors: readonly unknown[];
  /** False for documents YAML cannot express as-is (own `__proto__` keys, non-object roots are fine). */
  readonly yaml?: boolean;
}

const DENY_BY_DEFAULT = 'has no authentication policy; add one or say public: true (deny by default)';
const NOT_A_CIDR = 'must be an IP address or CIDR (e.g. 10.0.0.0/8)';
const CORS_WILDCARD = '"*" lets every web site read responses of this route; list the origins that need access';
const PLAIN_HTTP = 'serves the API over plain HTTP (no TLS); use tls, or http: redirect | refuse';

const INVALID: InvalidCase[] = [
  // Shape: unknown keys and wrong types, found by the JSON Schema with config-notation paths.
  { name: 'unknown top-level key', doc: base({ listeners: [] }), errors: ['listeners: is not a known setting'] },
  {
    name: 'typo of a route key is unknown and leaves the route without public',
    doc: base({ routes: [{ id: 'a', match: { path: '/a' }, upstream: 'http://127.0.0.1:1', pubilc: true }] }),
    errors: ['routes[0].pubilc: is not a known setting or policy', `routes[0]: ${DENY_BY_DEFAULT}`],
  },
  { name: 'mode outside the enum', doc: base({ mode: 'prod' }), errors: ['mode: must be one of: "production", "development"'] },
  {
    name: 'logLevel of the wrong type',
    doc: base({ logLevel: 3 }),
    errors: ['logLevel: must be one of: "fatal", "error", "warn", "info", "debug", "trace", "silent"'],
  },
  { name: 'listen missing', doc: { admin: false, routes: [] }, errors: ['listen: is required'] },
  { name: 'routes missing', doc: { listen: { port: 1, http: 'refuse' } }, errors: ['routes: is required'] },
  { name: 'listen port beyond 65535', doc: base({ listen: { port: 70_000, http: 'refuse' } }), errors: ['listen.port: must be <= 65535'] },
  { name: 'listen port as a string', doc: base({ listen: { port: '8080', http: 'refuse' } }), errors: ['listen.port: must be an integer'] },
  {
    name: 'listen as a host:port string',
    doc: base({ listen: 'localhost:8080' }),
    errors: ['listen: must be a listener object {host, port, tls?} or a list of them'],
  },
  {
    name: 'second listener of a list has an unknown key',
    doc: base({ listen: [{ port: 1, http: 'refuse' }, { port: 2, http: 'refuse', tsl: {} }] }),
    errors: ['listen[1].tsl: is not a known setting'],
  },
  { name: 'listener http mode outside the enum', doc: base({ listen: { port: 1, http: 'allow' } }), errors: ['listen.http: must be one of: "serve", "redirect", "refuse"'] },
  { name: 'admin as a string', doc: base({ admin: 'yes' }), errors: ['admin: must be false or an object {host, port}'] },
  {
    name: 'route without id, upstream and match.path',
    doc: base({ routes: [{ match: {} }] }),
    errors: ['routes[0].id: is required', 'routes[0].upstream: is required', 'routes[0].match.path: is required'],
  },
  { name: 'route id with a leading dash', doc: base({ routes: [route('-orders', '/o')] }), errors: ['routes[0].id: has an invalid format'] },
  {
    name: 'lower-case method',
    doc: base({ routes: [route('a', '/a', { match: { path: '/a', methods: ['get'] } })] }),
    errors: ['routes[0].match.methods[0]: has an invalid format'],
  },
  {
    name: 'duplicate method',
    doc: base({ routes: [route('a', '/a', { match: { path: '/a', methods: ['GET', 'GET'] } })] }),
    errors: ['routes[0].match.methods: must not contain duplicates'],
  },
  {
    name: 'unknown key in match',
    doc: base({ routes: [route('a', '/a', { match: { path: '/a', method: 'GET' } })] }),
    errors: ['routes[0].match.method: is not a known setting'],
  },
  // Durations and sizes.
  {
    name: 'bad sizes and durations in limits, all at once',
    doc: base({ limits: { maxBodySize: '1 tb', headersTimeout: 'soon', maxUrlLength: 10, keepAliveTimeout: -5 } }),
    errors: [
      'limits.maxBodySize: has an invalid format',
      'limits.headersTimeout: has an invalid format',
      'limits.keepAliveTimeout: must be >= 0',
      'limits.maxUrlLength: must be >= 64',
    ],
  },
  {
    name: 'duration of the wrong type gets the duration hint',
    doc: base({ shutdown: { drainTimeout: true } }),
    errors: ['shutdown.drainTimeout: must be a duration like 500ms, 30s, 5m, or a number of milliseconds'],
  },
  {
    name: 'route body size of the wrong type gets the size hint',
    doc: base({ routes: [route('a', '/a', { maxBodySize: false })] }),
    errors: ['routes[0].maxBodySize: must be a size like 16kb, 1mb, or a number of bytes'],
  },
  {
    name: 'route body size with an unknown unit',
    doc: base({ routes: [route('a', '/a', { maxBodySize: '12 parsecs' })] }),
    errors: ['routes[0].maxBodySize: has an invalid format'],
  },
  // Upstreams.
  {
    name: 'third route upstream is not an http(s) URL',
    doc: base({ routes: [route('a', '/a'), route('b', '/b'), route('c', '/c', { upstream: 'ftp://files.internal/' })] }),
    errors: ['routes[2].upstream: must be an http(s) URL'],
  },
  {
    name: 'upstream list with credentials, a query and a non-URL',
    doc: base({ routes: [route('a', '/a', { upstream: ['http://user:pw@up.internal', 'http://up.internal/?debug=1', { url: 'up.internal' }] })] }),
    errors: [
      'routes[0].upstream[0]: must not carry credentials in the URL',
      'routes[0].upstream[1]: must not have a query or fragment',
      'routes[0].upstream[2]: must be an http(s) URL',
    ],
  },
  {
    name: 'upstream object target that is not a URL',
    doc: base({ routes: [route('a', '/a', { upstream: { targets: ['http://up.internal', 'javascript:alert(1)'] } })] }),
    errors: ['routes[0].upstream.targets[1]: must be an http(s) URL'],
  },
  {
    name: 'typo inside an upstream object names the typo, not the three upstream forms',
    doc: base({ routes: [route('a', '/a', { upstream: { targets: ['http://up.internal'], timeouts: { conect: '5s' } } })] }),
    errors: ['routes[0].upstream.timeouts.conect: is not a known setting'],
  },
  {
    name: 'bad duration inside an upstream object',
    doc: base({ routes: [route('a', '/a', { upstream: { targets: ['http://up.internal'], timeouts: { connect: '5 sec' } } })] }),
    errors: ['routes[0].upstream.timeouts.connect: has an invalid format'],
  },
  {
    name: 'upstream of the wrong type',
    doc: base({ routes: [route('a', '/a', { upstream: 8080 })] }),
    errors: ['routes[0].upstream: must be an http(s) URL, a list of targets, or an upstream object with targets'],
  },
  // Route patterns.
  { name: 'path without a leading slash', doc: base({ routes: [route('a', 'orders')] }), errors: ['routes[0].match.path: must begin with "/"'] },
  { name: 'path with a dot segment', doc: base({ routes: [route('a', '/a/../admin')] }), errors: ['routes[0].match.path: dot segments are not allowed'] },
  { name: 'path with an empty segment', doc: base({ routes: [route('a', '/a//b')] }), errors: ['routes[0].match.path: empty segment ("//")'] },
  {
    name: 'path with ** in the middle',
    doc: base({ routes: [route('a', '/a/**/b')] }),
    errors: ['routes[0].match.path: "**" is only allowed as the final segment "/**"'],
  },
  {
    name: 'path with a duplicate parameter',
    doc: base({ routes: [route('a', '/a'), route('b', '/b/{id}/{id}')] }),
    errors: ['routes[1].match.path: duplicate parameter name "id"'],
  },
  {
    name: 'path with an invalid parameter name',
    doc: base({ routes: [route('a', '/a/{1st}')] }),
    errors: ['routes[0].match.path: invalid parameter name "1st" (expected [A-Za-z_][A-Za-z0-9_]*)'],
  },
  // Route table: identity and precedence.
  {
    name: 'duplicate route id',
    doc: base({ routes: [route('orders', '/orders'), route('orders', '/orders/{id}')] }),
    errors: ['routes[1].id: "orders" is already used by routes[0]'],
  },
  {
    name: 'two equally specific routes for the same method',
    doc: base({
      routes: [
        route('get-order', '/orders/{id}', { match: { path: '/orders/{id}', methods: ['GET'] } }),
        route('order-by-ref', '/orders/{ref}', { match: { path: '/orders/{ref}', methods: ['GET', 'POST'] } }),
      ],
    }),
    errors: [
      'routes[1].match: route "order-by-ref" conflicts with route "get-order": both match GET, HEAD on /orders/{}; "get-order" is declared first and would always win',
    ],
  },
  {
    name: 'two routes for the same path and every method',
    doc: base({ routes: [route('a', '/x'), route('b', '/y'), route('c', '/x')] }),
    errors: ['routes[2].match: route "c" conflicts with route "a": both match every method on /x; "a" is declared first and would always win'],
  },
  // Deny by default.
  {
    name: 'route without public: true and without authentication',
    doc: base({ routes: [route('a', '/a'), { id: 'b', match: { path: '/b' }, upstream: 'http://127.0.0.1:1' }] }),
    errors: [`routes[1]: ${DENY_BY_DEFAULT}`],
  },
  {
    name: 'route with public: false',
    doc: base({ routes: [route('a', '/a', { public: false })] }),
    errors: [`routes[0]: ${DENY_BY_DEFAULT}`],
  },
  // Addresses and files.
  {
    name: 'bad CIDRs in trustedProxies',
    doc: base({ trustedProxies: ['10.0.0.0/8', '10.0.0.0/33', 'proxy.internal', '::1/129', '192.168.1.1/'] }),
    errors: [`trustedProxies[1]: ${NOT_A_CIDR}`, `trustedProxies[2]: ${NOT_A_CIDR}`, `trustedProxies[3]: ${NOT_A_CIDR}`, `trustedProxies[4]: ${NOT_A_CIDR}`],
  },
  {
    name: 'TLS files that do not exist',
    doc: base({ listen: { port: 8443, tls: { cert: 'no-such-cert.pem', key: 'no-such-key.pem' } } }),
    errors: ['listen.tls.cert: file not found: no-such-cert.pem', 'listen.tls.key: file not found: no-such-key.pem'],
  },
  {
    name: 'TLS minVersion outside the enum',
    doc: base({ listen: { port: 8443, tls: { cert: 'c.pem', key: 'k.pem', minVersion: 'TLSv1.0' } } }),
    errors: ['listen.tls.minVersion: must be one of: "TLSv1.2", "TLSv1.3"'],
  },
  // Policies.
  { name: 'unknown policy on a route', doc: base({ routes: [route('a', '/a', { ratelimit: {} })] }), errors: ['routes[0].ratelimit: is not a known setting or policy'] },
  {
    name: 'unknown policy in defaults',
    doc: base({ defaults: { 'rate-limt': {} } }),
    errors: [expect.stringMatching(/^defaults\.rate-limt: unknown policy \(known: .*\bcors\b.*\)$/)],
  },
  {
    name: 'unknown key inside a policy',
    doc: base({ routes: [route('a', '/a', { cors: { origin: 'https://app.example.com' } })] }),
    errors: ['routes[0].cors.origin: is not a known setting'],
  },
  {
    name: 'cors origins that are not origins, with exact item paths',
    doc: base({ routes: [route('a', '/a', { cors: { origins: ['https://app.example.com', 'https://app.example.com/path', 'null'] } })] }),
    errors: [
      'routes[0].cors.origins[1]: "https://app.example.com/path" is not a valid origin: it contains a path; an origin is scheme, host and port only',
      'routes[0].cors.origins[2]: the "null" origin is never allowed: sandboxed iframes, file: pages and redirected requests all send it, so any attacker page can claim it',
    ],
  },
  {
    name: 'cors "*" with credentials cannot be acknowledged',
    doc: base({
      routes: [route('a', '/a', { cors: { origins: ['*'], credentials: true } })],
      acknowledge: [ack('cors-wildcard-origin', 'routes[0].cors.origins[0]')],
    }),
    errors: [
      'routes[0].cors.origins[0]: "*" is not allowed with credentials: it would let every web site read credentialed responses (browsers also refuse the combination); list the origins',
    ],
  },
  {
    name: 'ip-restriction entry that is not an address, named by list and index',
    doc: base({ routes: [route('a', '/a', { 'ip-restriction': { allow: ['10.0.0.0/8', '10.0.0.300'] } })] }),
    errors: [expect.stringMatching(/^routes\[0\]\.ip-restriction\.allow\[1\]: "10\.0\.0\.300" is not a valid address or CIDR range/)],
  },
  // Weakened defaults without an acknowledgement.
  {
    name: 'cors wildcard origin, unacknowledged',
    doc: base({ routes: [route('a', '/a'), route('b', '/b', { cors: { origins: ['*'] } })] }),
    errors: [weakened('routes[1].cors.origins[0]', CORS_WILDCARD, 'cors-wildcard-origin')],
  },
  {
    name: 'cors plain-http origin, unacknowledged',
    doc: base({ routes: [route('a', '/a', { cors: { origins: ['http://app.example.com'] } })] }),
    errors: [
      weakened(
        'routes[0].cors.origins[0]',
        '"http://app.example.com" is served over plain http: anyone on the network path can inject script into it and act with its access',
        'cors-insecure-origin',
      ),
    ],
  },
  {
    name: 'security-headers: false on a route, unacknowledged',
    doc: base({ routes: [route('a', '/a', { 'security-headers': false })] }),
    errors: [weakened('routes[0].security-headers', 'turns off security-headers, which is on by default', 'security-headers-disabled')],
  },
  {
    name: 'security-headers: false in defaults, unacknowledged',
    doc: base({ defaults: { 'security-headers': false } }),
    errors: [weakened('defaults.security-headers', 'turns off security-headers, which is on by default', 'security-headers-disabled')],
  },
  {
    name: 'upstream 5xx passthrough, unacknowledged',
    doc: base({ routes: [route('a', '/a', { errors: { replaceUpstream5xx: false } })] }),
    errors: [weakened('routes[0].errors.replaceUpstream5xx', 'upstream 5xx bodies reach clients', 'upstream-5xx-passthrough')],
  },
  {
    name: 'plain-HTTP listener in production mode (the default mode), unacknowledged',
    doc: base({ listen: { port: 8080 } }),
    errors: [weakened('listen', PLAIN_HTTP, 'plain-http-listener')],
  },
  {
    name: 'plain-HTTP second listener, path names the list item',
    doc: base({ mode: 'production', listen: [{ port: 8443, http: 'refuse' }, { port: 8080, http: 'serve' }] }),
    errors: [weakened('listen[1]', PLAIN_HTTP, 'plain-http-listener')],
  },
  {
    name: 'admin listener beyond loopback, unacknowledged',
    doc: base({ admin: { host: '0.0.0.0', port: 9901 } }),
    errors: [weakened('admin.host', 'the admin listener is reachable beyond loopback', 'admin-not-loopback')],
  },
  {
    name: 'short HSTS and nosniff off, unacknowledged',
    doc: base({ routes: [route('a', '/a', { 'security-headers': { hsts: { maxAge: 60 }, contentTypeOptions: false } })] }),
    errors: [
      weakened(
        'routes[0].security-headers.hsts.maxAge',
        'max-age 60s is below 180 days (15552000s): browsers forget HTTPS-only between visits, reopening SSL stripping',
        'hsts-short',
      ),
      weakened(
        'routes[0].security-headers.contentTypeOptions',
        'without X-Content-Type-Options: nosniff browsers may run a JSON or text answer as script or style',
        'nosniff-disabled',
      ),
    ],
  },
  {
    name: 'acknowledgement for a different path does not accept the finding',
    doc: base({
      routes: [route('a', '/a', { cors: { origins: ['*'] } })],
      acknowledge: [ack('cors-wildcard-origin', 'routes[1].cors.origins[0]')],
    }),
    errors: [weakened('routes[0].cors.origins[0]', CORS_WILDCARD, 'cors-wildcard-origin')],
  },
  // Acknowledgements.
  {
    name: 'expired acknowledgement',
    doc: base({ listen: { port: 8080 }, acknowledge: [ack('plain-http-listener', 'listen', '2025-06-14')] }),
    errors: [`acknowledge[0]: expired on 2025-06-14 (listen: ${PLAIN_HTTP})`],
  },
  {
    name: 'malformed acknowledgement',
    doc: base({ acknowledge: [{ rule: 'x', path: 'listen', reason: 'ok', expires: '31/12/2099' }, { rule: 'y' }] }),
    errors: [
      'acknowledge[0].reason: must be at least 3 characters',
      'acknowledge[0].expires: has an invalid format',
      'acknowledge[1].path: is required',
      'acknowledge[1].reason: is required',
      'acknowledge[1].expires: is required',
    ],
  },
  // Environment variables.
  {
    name: 'missing environment variable, reported at the nested path',
    doc: base({ routes: [route('a', '/a', { cors: { origins: ['https://app.example.com', 'https://${env:APP_ORIGIN_HOST}'] } })] }),
    errors: ['routes[0].cors.origins[1]: environment variable APP_ORIGIN_HOST is not set'],
  },
  {
    name: 'missing environment variable together with a schema error',
    doc: base({ mode: 'staging', routes: [route('a', '/a', { upstream: '${env:UPSTREAM_URL}' })] }),
    errors: ['routes[0].upstream: environment variable UPSTREAM_URL is not set', 'mode: must be one of: "production", "development"'],
  },
  // Hostile keys and roots.
  {
    name: '__proto__ key at the top level',
    doc: JSON.parse('{"listen":{"port":1,"http":"refuse"},"admin":false,"routes":[],"__proto__":{"mode":"development"}}'),
    errors: ['__proto__: is not allowed'],
    yaml: false,
  },
  {
    name: '__proto__ key nested in a route',
    doc: JSON.parse('{"listen":{"port":1,"http":"refuse"},"admin":false,"routes":[{"id":"a","match":{"path":"/a","__proto__":{"x":1}},"upstream":"http://127.0.0.1:1","public":true}]}'),
    errors: ['routes[0].match.__proto__: is not allowed'],
    yaml: false,
  },
  {
    name: 'constructor key',
    doc: base({ limits: { constructor: { prototype: { polluted: true } } } }),
    errors: ['limits.constructor: is not allowed'],
  },
  { name: 'root is an array', doc: [base()], errors: ['(root): must be an object'] },
  { name: 'root is null', doc: null, errors: ['(root): must be an object'] },
];

describe('invalid configs: exact paths, every error', () => {
  it('has a table of at least 40 invalid configs', () => {
    expect(INVALID.length).toBeGreaterThanOrEqual(40);
    expect(new Set(INVALID.map((c) => c.name)).size).toBe(INVALID.length);
  });

  it.each(INVALID)('object: $name', ({ doc, errors }) => {
    expect(expectErrors(loadConfigObject(structuredClone(doc), OPTIONS))).toEqual(errors);
  });

  // The same documents written as YAML text must be refused with the same messages: the text path adds parsing,
  // nothing else.
  it.each(INVALID.filter((c) => c.yaml !== false && c.doc !== null))('YAML text: $name', ({ doc, errors }) => {
    expect(expectErrors(loadConfigText(YAML.stringify(doc), OPTIONS, 'gateway.yaml'))).toEqual(errors);
  });

  it('reports five distinct schema mistakes at once', () => {
    const errors = expectErrors(
      loadConfigObject(
        base({
          mode: 'live',
          colour: 'blue',
          listen: { port: 99_999, http: 'refuse' },
          limits: { maxUrlLength: 1 },
          routes: [route('bad id!', '/a')],
        }),
        OPTIONS,
      ),
    );
    expect(errors).toHaveLength(5);
    expect(errors).toEqual(
      expect.arrayContaining([
        'colour: is not a known setting',
        'mode: must be one of: "production", "development"',
        'listen.port: must be <= 65535',
        'limits.maxUrlLength: must be >= 64',
        'routes[0].id: has an invalid format',
      ]),
    );
  });

  it('reports five distinct semantic mistakes at once', () => {
    const errors = expectErrors(
      loadConfigObject(
        base({
          trustedProxies: ['10.0.0.0/40'],
          routes: [
            route('a', '/a', { upstream: 'gopher://up.internal' }),
            route('a', '/b'),
            { id: 'c', match: { path: '/c' }, upstream: 'http://127.0.0.1:1' },
            route('d', '/d', { cors: { origins: ['null'] } }),
            route('e', '/e/../f'),
          ],
        }),
        OPTIONS,
      ),
    );
    expect(errors).toHaveLength(6);
    expect(errors).toEqual(
      expect.arrayContaining([
        `trustedProxies[0]: ${NOT_A_CIDR}`,
        'routes[0].upstream: must be an http(s) URL',
        'routes[1].id: "a" is already used by routes[0]',
        `routes[2]: ${DENY_BY_DEFAULT}`,
        expect.stringMatching(/^routes\[3\]\.cors\.origins\[0\]: the "null" origin is never allowed/),
        'routes[4].match.path: dot segments are not allowed',
      ]),
    );
  });

  it('reports every unacknowledged weakened default at once', () => {
    const errors = expectErrors(
      loadConfigObject(
        base({
          listen: { port: 8080 },
          routes: [
            route('a', '/a', { cors: { origins: ['*'] }, errors: { replaceUpstream5xx: false } }),
            route('b', '/b', { 'security-headers': false }),
          ],
        }),
        OPTIONS,
      ),
    );
    expect(errors.map((e) => e.slice(e.indexOf('rule: ') + 6, e.indexOf(', path'))).sort()).toEqual([
      'cors-wildcard-origin',
      'plain-http-listener',
      'security-headers-disabled',
      'upstream-5xx-passthrough',
    ]);
  });

  it('an error message is one line with a path before the colon', () => {
    for (const { doc } of INVALID) {
      const result = loadConfigObject(structuredClone(doc), OPTIONS);
      for (const error of expectErrors(result)) {
        expect(error).not.toContain('\n');
        expect(error).toMatch(/^(\(root\)|[A-Za-z_][\w-]*(\[\d+\])*)(\.[\w$-]+(\[\d+\])*)*: \S/);
      }
    }
  });
});

describe('YAML text: parser errors with line:column, hostile documents', () => {
  const head = 'listen: { host: 127.0.0.1, port: 8443, http: refuse }\nadmin: false\n';

  it('reports a syntax error with file:line:col', () => {
    const text = `${head}routes:\n  - id: a\n    match: { path: /a\n    upstream: http://127.0.0.1:1\n`;
    const errors = expectErrors(loadConfigText(text, OPTIONS, 'gateway.yaml'));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/^gateway\.yaml:6:5: Flow map in block collection must be sufficiently indented and end with a \}/);
  });

  it('reports tabs used for indentation at their line', () => {
    const errors = expectErrors(loadConfigText('listen:\n\tport: 1\nroutes: []\n', OPTIONS, 'gateway.yaml'));
    expect(errors[0]).toMatch(/^gateway\.yaml:2:1: Tabs are not allowed as indentation/);
  });

  it('refuses a duplicated key inside a route instead of letting the last one win', () => {
    const text = `${head}routes:\n  - id: public-docs\n    id: admin\n    match: { path: /a }\n    upstream: http://127.0.0.1:1\n    public: true\n`;
    const errors = expectErrors(loadConfigText(text, OPTIONS, 'gateway.yaml'));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/^gateway\.yaml:5:5: Map keys must be unique/);
  });

  it('refuses a duplicated top-level key', () => {
    const errors = expectErrors(loadConfigText(`${head}admin: { host: 0.0.0.0 }\nroutes: []\n`, OPTIONS, 'gateway.yaml'));
    expect(errors[0]).toMatch(/^gateway\.yaml:3:1: Map keys must be unique/);
  });

  it('refuses a duplicated key in JSON text too', () => {
    const text = '{"listen": {"port": 1, "http": "refuse"}, "admin": false, "routes": [], "admin": {"host": "0.0.0.0"}}';
    expect(expectErrors(loadConfigText(text, OPTIONS, 'gateway.json'))[0]).toMatch(/^gateway\.json:1:\d+: Map keys must be unique/);
  });

  it('finds a repeated key among 50,000 and in flow and nested mappings, keys of different types apart', () => {
    // The parser's own check compared each key with every earlier one (20,000 keys: 3 s on a reload).
    const many = `${head}routes: []\nx:\n${Array.from({ length: 50_000 }, (_, i) => `  k${i}: 1`).join('\n')}\n  k49999: 2\n`;
    expect(expectErrors(loadConfigText(many, OPTIONS, 'gateway.yaml'))).toEqual(['gateway.yaml:50005:3: Map keys must be unique']);
    expect(expectErrors(loadConfigText(`${head}routes: []\nx: { a: 1, b: { c: 1, c: 2 } }\n`, OPTIONS, 'gateway.yaml'))).toEqual(['gateway.yaml:4:23: Map keys must be unique']);
    // 1 and "1" are different keys (as the parser's check had it): no duplicate error.
    const typed = expectErrors(loadConfigText(`${head}routes: []\nx: { 1: a, "1": b }\n`, OPTIONS, 'gateway.yaml'));
    expect(typed.some((e) => e.includes('Map keys must be unique'))).toBe(false);
  });

  it('refuses more than 1,000 aliases (each one scans every anchor)', () => {
    const aliases = `${head}routes: []\na: &a 1\nx: [${Array.from({ length: 1001 }, () => '*a').join(', ')}]\n`;
    expect(expectErrors(loadConfigText(aliases, OPTIONS, 'gateway.yaml'))).toEqual(['gateway.yaml: more than 1000 aliases']);
  });

  it('refuses several YAML documents in one file', () => {
    const errors = expectErrors(loadConfigText(`${head}routes: []\n---\nmode: development\n`, OPTIONS, 'gateway.yaml'));
    expect(errors[0]).toMatch(/^gateway\.yaml:4:1: Source contains multiple documents/);
  });

  it('refuses __proto__ in YAML without touching Object.prototype', () => {
    const text = `${head}routes:\n  - id: a\n    match: { path: /a }\n    upstream: http://127.0.0.1:1\n    public: true\n    __proto__: { public: true, polluted: yes }\n__proto__: { polluted: yes }\n`;
    const errors = expectErrors(loadConfigText(text, OPTIONS, 'gateway.yaml'));
    expect(errors).toEqual(['routes[0].__proto__: is not allowed', '__proto__: is not allowed']);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('refuses an alias bomb (billion laughs) instead of expanding it', () => {
    // 10 aliases per level, 9 levels: 10^9 strings if expanded.
    let text = `${head}routes: []\nl0: &l0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n`;
    for (let level = 1; level <= 8; level++) {
      text += `l${level}: &l${level} [${Array.from({ length: 10 }, () => `*l${level - 1}`).join(',')}]\n`;
    }
    const errors = expectErrors(loadConfigText(text, OPTIONS, 'gateway.yaml'));
    expect(errors).toEqual(['gateway.yaml: Excessive alias count indicates a resource exhaustion attack']);
  });

  // Deep nesting once aborted the process inside the YAML parser (V8: "RegExpCompiler Allocation failed", beyond any
  // try/catch): two 500-level subtrees were enough, in a 37 KB file. Now refused before parsing, naming the line.
  it.each([
    ['flow mappings, 500 levels twice', () => {
      let s = '{"type":"string"}';
      for (let i = 0; i < 500; i++) s = `{"type":"object","properties":{"a":${s}}}`;
      return `{"x0":${s},"x1":${s}}`;
    }, 1],
    ['flow sequences, 5,000 levels', () => `${head}routes: []\nx: ${'['.repeat(5000)}${']'.repeat(5000)}\n`, 4],
    ['block mappings, 300 levels', () => `${head}routes: []\n${Array.from({ length: 300 }, (_, i) => `${' '.repeat(i)}k${i}:`).join('\n')} v\n`, 68],
    ['compact sequences, 500 on one line', () => `${head}routes: []\nx: \n  ${'- '.repeat(500)}v\n`, 5],
    ['brackets inside a string (counted: the measure never reads less than the parser)', () => `${head}routes: []\nx: "${'['.repeat(100)}"\n`, 4],
  ] as const)('refuses nesting past 64 levels before parsing: %s', (_name, make, line) => {
    const errors = expectErrors(loadConfigText(make(), OPTIONS, 'gateway.yaml'));
    expect(errors).toEqual([`gateway.yaml:${line}: nested deeper than 64 levels`]);
  });

  it('refuses nesting built by aliases past 64 levels, and accepts a config 20 levels deep', () => {
    let text = `${head}routes: []\n`;
    text += `l0: &l0 ${'['.repeat(40)}1${']'.repeat(40)}\n`;
    text += `l1: &l1 ${'['.repeat(40)}*l0${']'.repeat(40)}\n`;
    expect(expectErrors(loadConfigText(text, OPTIONS, 'gateway.yaml'))).toEqual(['gateway.yaml: nested deeper than 64 levels (through aliases)']);
    const fine = `${head}routes: []\nx-notes: ${'['.repeat(20)}1${']'.repeat(20)}\n`;
    expect(expectErrors(loadConfigText(fine, OPTIONS, 'gateway.yaml')).some((e) => e.includes('nested deeper'))).toBe(false);
  });

  it('accepts ordinary anchors and aliases', () => {
    const text =
      'listen: { host: 127.0.0.1, port: 8443, http: refuse }\nadmin: false\nroutes:\n' +
      '  - { id: a, match: { path: /a }, upstream: &up http://127.0.0.1:8080, public: true }\n' +
      '  - { id: b, match: { path: /b }, upstream: *up, public: true }\n';
    const config = expectOk(loadConfigText(text, OPTIONS));
    expect(config.routes.map((r) => r.upstream.targets[0]!.url)).toEqual(['http://127.0.0.1:8080', 'http://127.0.0.1:8080']);
  });

  it.each([
    ['empty file', ''],
    ['a scalar', 'rampart'],
    ['a list', '- listen\n- routes\n'],
  ])('refuses %s as the root', (_name, text) => {
    expect(expectErrors(loadConfigText(text, OPTIONS))).toEqual(['(root): must be an object']);
  });
});

describe('environment variables', () => {
  it('substitutes ${env:NAME} inside nested strings', () => {
    const config = expectOk(
      loadConfigObject(
        base({
          routes: [
            route('a', '/a', {
              upstream: { targets: ['http://${env:UP_HOST}:${env:UP_PORT}/base', { url: 'https://${env:UP_HOST}', weight: 2 }] },
              cors: { origins: ['https://${env:APP_HOST}'] },
            }),
          ],
        }),
        { ...OPTIONS, env: { UP_HOST: 'orders.internal', UP_PORT: '9000', APP_HOST: 'app.example.com' } },
      ),
    );
    const r = config.routes[0]!;
    expect(r.upstream.targets).toEqual([
      { url: 'http://orders.internal:9000/base', weight: 1 },
      { url: 'https://orders.internal', weight: 2 },
    ]);
    const cors = r.policies.find((p) => p.definition.name === 'cors')!;
    expect((cors.config as { origins: string[] }).origins).toEqual(['https://app.example.com']);
  });

  it('never re-interprets the value as YAML or as another ${env:...}', () => {
    const hostile = 'x: [1, 2]\n- *alias\n__proto__: { a: 1 } ${env:SECRET}';
    const text =
      'listen: { host: 127.0.0.1, port: 8080 }\nadmin: false\nroutes:\n  - { id: a, match: { path: /a }, upstream: http://127.0.0.1:1, public: true }\n' +
      'acknowledge:\n  - { rule: plain-http-listener, path: listen, reason: "${env:WHY}", expires: 2999-12-31 }\n';
    const config = expectOk(loadConfigText(text, { ...OPTIONS, env: { WHY: hostile, SECRET: 'leaked' } }));
    expect(config.accepted).toEqual([
      { rule: 'plain-http-listener', path: 'listen', reason: hostile, expires: '2999-12-31', message: PLAIN_HTTP },
    ]);
  });

  it('keeps substituted values as strings: a number field from the environment is a type error at its path', () => {
    const text = 'listen: { port: "${env:PORT}", http: refuse }\nadmin: false\nroutes: []\n';
    expect(expectErrors(loadConfigText(text, { ...OPTIONS, env: { PORT: '8080' } }))).toEqual(['listen.port: must be an integer']);
  });

  it('reports every missing variable with its path', () => {
    const errors = expectErrors(
      loadConfigObject(
        base({ routes: [route('a', '/a', { upstream: ['http://${env:A_HOST}', 'http://${env:B_HOST}:${env:B_PORT}'] })] }),
        OPTIONS,
      ),
    );
    expect(errors).toEqual([
      'routes[0].upstream[0]: environment variable A_HOST is not set',
      'routes[0].upstream[1]: environment variable B_HOST is not set',
      'routes[0].upstream[1]: environment variable B_PORT is not set',
    ]);
  });

  it('leaves text that only looks like a reference alone', () => {
    const config = expectOk(
      loadConfigObject(
        base({ listen: { port: 8080 }, acknowledge: [{ ...ack('plain-http-listener', 'listen'), reason: 'costs $5 ${env:} ${ENV:X} $' + '{env:1X}' }] }),
        OPTIONS,
      ),
    );
    expect(config.accepted[0]!.reason).toBe('costs $5 ${env:} ${ENV:X} ${env:1X}');
  });
});

describe('defaults', () => {
  it('fills in production mode, limits, upstream timeouts in ms and built-in security headers on every route', () => {
    const config = expectOk(
      loadConfigObject(
        base({
          routes: [
            route('a', '/a'),
            route('b', '/b', { upstream: { targets: ['http://127.0.0.1:1'], timeouts: { connect: '250ms', response: '2m' } } }),
            route('c', '/c', { maxBodySize: '2kb' }),
          ],
        }),
        OPTIONS,
      ),
    );
    expect(config.mode).toBe('production');
    expect(config.limits).toEqual({
      maxHeaderBytes: 16 * 1024,
      maxBodyBytes: 1024 * 1024,
      maxResponseBodyBytes: 8 * 1024 * 1024,
      maxUrlLength: 8192,
      headersTimeout: 10_000,
      requestTimeout: 60_000,
      keepAliveTimeout: 5_000,
      maxInFlight: 0,
    });
    expect(config.drainTimeout).toBe(15_000);
    expect(config.trustedProxies).toEqual([]);
    expect(config.paths).toEqual({ allowSemicolons: false });
    expect(config.accessLog).toEqual({ enabled: true, destination: 'stdout', redact: [] });
    expect(config.warnings).toEqual([]);
    expect(config.accepted).toEqual([]);

    const [a, b, c] = config.routes;
    expect(a!.upstream.timeouts).toEqual({ connect: 5_000, response: 30_000, bodyIdle: 30_000 });
    expect(b!.upstream.timeouts).toEqual({ connect: 250, response: 120_000, bodyIdle: 30_000 });
    expect(a!.upstream.retries).toEqual({ attempts: 1, budgetRatio: 0.2, minPerSecond: 10 });
    expect(a!.upstream.passiveHealth.ejectFor).toBe(30_000);
    expect(a!.upstream.circuitBreaker.window).toBe(10_000);
    expect(a!.maxBodyBytes).toBe(1024 * 1024);
    expect(c!.maxBodyBytes).toBe(2048);
    expect(a!.replaceUpstream5xx).toBe(true);
    expect(a!.preserveHost).toBe(false);
    expect(a!.websocket).toBe(false);

    for (const r of config.routes) {
      const headers = r.policies.find((p) => p.definition.name === 'security-headers');
      expect(headers?.source, r.id).toBe('(built-in)');
      expect(headers!.config).toMatchObject({ contentSecurityPolicy: "default-src 'none'; frame-ancestors 'none'", contentTypeOptions: true });
      expect(r.disabledPolicies).toEqual([]);
    }
  });

  it('parses every duration and size unit', () => {
    const config = expectOk(
      loadConfigObject(
        base({ limits: { maxHeaderSize: '8KB', maxBodySize: '1.5mb', headersTimeout: '1.5s', requestTimeout: '2h', keepAliveTimeout: 750 }, shutdown: { drainTimeout: '1d' } }),
        OPTIONS,
      ),
    );
    expect(config.limits).toMatchObject({
      maxHeaderBytes: 8192,
      maxBodyBytes: 1_572_864,
      headersTimeout: 1_500,
      requestTimeout: 7_200_000,
      keepAliveTimeout: 750,
    });
    expect(config.drainTimeout).toBe(86_400_000);
  });

  it('applies policy settings from defaults to every route that has none, as its own copy', () => {
    const config = expectOk(
      loadConfigObject(
        base({
          defaults: { cors: { origins: ['https://app.example.com'] } },
          routes: [route('a', '/a'), route('b', '/b'), route('c', '/c', { cors: { origins: ['https://admin.example.com'] } })],
        }),
        OPTIONS,
      ),
    );
    const cors = config.routes.map((r) => r.policies.find((p) => p.definition.name === 'cors')!);
    expect(cors.map((p) => p.source)).toEqual(['defaults.cors', 'defaults.cors', 'routes[2].cors']);
    expect(cors[0]!.config).toMatchObject({ origins: ['https://app.example.com'], credentials: false, maxAge: 600 });
    expect(cors[0]!.config).not.toBe(cors[1]!.config);
  });

  it('orders policies by phase then order', () => {
    const config = expectOk(loadConfigObject(base({ routes: [route('a', '/a', { cors: { origins: ['https://app.example.com'] } })] }), OPTIONS));
    const policies = config.routes[0]!.policies.map((p) => p.definition);
    for (let i = 1; i < policies.length; i++) {
      const [prev, next] = [policies[i - 1]!, policies[i]!];
      if (prev.phase === next.phase) expect(prev.order).toBeLessThanOrEqual(next.order);
    }
  });

  it('resolves relative TLS files against the config file directory', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rampart-config-'));
    try {
      writeFileSync(join(dir, 'cert.pem'), 'not checked at load time');
      writeFileSync(join(dir, 'key.pem'), 'not checked at load time');
      writeFileSync(
        join(dir, 'gateway.yaml'),
        'listen: { port: 8443, tls: { cert: cert.pem, key: key.pem } }\nadmin: false\nroutes: [{ id: a, match: { path: /a }, upstream: "http://127.0.0.1:1", public: true }]\n',
      );
      const config = expectOk(loadConfigFile(join(dir, 'gateway.yaml'), OPTIONS));
      expect(config.listeners[0]!.tls).toMatchObject({ cert: join(dir, 'cert.pem'), key: join(dir, 'key.pem') });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reports a file that cannot be read as an error, not an exception', () => {
    expect(expectErrors(loadConfigFile('/nonexistent/rampart.yaml', OPTIONS))).toEqual(['/nonexistent/rampart.yaml: cannot be read (ENOENT)']);
  });

  // Regression (was a bug in src/config/load.ts + schema.ts): ajv does not apply `default` inside anyOf branches, and `listen` and
  // `admin` are both anyOf. So the documented defaults (listener host 0.0.0.0, tls.minVersion TLSv1.2, admin host
  // 127.0.0.1 and port 9901) are never filled in: a config without `admin` yields `admin: {}`, and the gateway then
  // binds its admin listener to every interface (`::`) on a random port, without the admin-not-loopback check ever
  // firing (it tests `isIP(admin.host)` on undefined). load.ts already works around this for upstreams.
  it('fills in the listener and admin defaults (admin on loopback:9901)', () => {
    const config = expectOk(
      loadConfigObject({ listen: { port: 8443, http: 'refuse' }, routes: [route('a', '/a')] }, OPTIONS),
    );
    expect(config.admin).toEqual({ host: '127.0.0.1', port: 9901 });
    expect(config.listeners[0]).toMatchObject({ host: '0.0.0.0', port: 8443 });
  });
});

describe('acknowledgements: the only way to accept a weakened default', () => {
  it('accepts each weakened default with a matching acknowledgement and lists it', () => {
    const config = expectOk(
      loadConfigObject(
        base({
          listen: { port: 8080 },
          admin: { host: '0.0.0.0', port: 9901 },
          routes: [
            route('a', '/a', { cors: { origins: ['*'] } }),
            route('b', '/b', { 'security-headers': false, errors: { replaceUpstream5xx: false } }),
          ],
          acknowledge: [
            ack('plain-http-listener', 'listen'),
            ack('admin-not-loopback', 'admin.host'),
            ack('cors-wildcard-origin', 'routes[0].cors.origins[0]'),
            ack('security-headers-disabled', 'routes[1].security-headers'),
            ack('upstream-5xx-passthrough', 'routes[1].errors.replaceUpstream5xx'),
          ],
        }),
        OPTIONS,
      ),
    );
    expect(config.accepted.map((a) => [a.rule, a.path])).toEqual(
      expect.arrayContaining([
        ['plain-http-listener', 'listen'],
        ['admin-not-loopback', 'admin.host'],
        ['cors-wildcard-origin', 'routes[0].cors.origins[0]'],
        ['security-headers-disabled', 'routes[1].security-headers'],
        ['upstream-5xx-passthrough', 'routes[1].errors.replaceUpstream5xx'],
      ]),
    );
    expect(config.accepted).toHaveLength(5);
    for (const accepted of config.accepted) {
      expect(accepted.reason).toBe('reviewed by the security team');
      expect(accepted.expires).toBe(FAR_FUTURE);
      expect(accepted.message.length).toBeGreaterThan(10);
    }
    expect(config.routes[1]!.disabledPolicies).toEqual(['security-headers']);
    expect(config.routes[1]!.policies.some((p) => p.definition.name === 'security-headers')).toBe(false);
    expect(config.routes[1]!.replaceUpstream5xx).toBe(false);
    expect(config.warnings).toEqual([]);
  });

  it('still counts an acknowledgement on its expiry day and refuses it the day after', () => {
    const doc = base({ listen: { port: 8080 }, acknowledge: [ack('plain-http-listener', 'listen', '2025-06-15')] });
    expectOk(loadConfigObject(structuredClone(doc), OPTIONS));
    expect(expectErrors(loadConfigObject(structuredClone(doc), { ...OPTIONS, now: new Date('2025-06-16T00:00:00Z') }))).toEqual([
      `acknowledge[0]: expired on 2025-06-15 (listen: ${PLAIN_HTTP})`,
    ]);
  });

  it('warns about an acknowledgement that matches nothing', () => {
    const config = expectOk(
      loadConfigObject(base({ acknowledge: [ack('plain-http-listener', 'listen'), ack('cors-wildcard-origin', 'routes[9].cors.origins[0]')] }), OPTIONS),
    );
    expect(config.warnings).toEqual([
      'acknowledge[0]: matches no weakened default (rule plain-http-listener at listen)',
      'acknowledge[1]: matches no weakened default (rule cors-wildcard-origin at routes[9].cors.origins[0])',
    ]);
    expect(config.accepted).toEqual([]);
  });

  it('allows plain HTTP in development mode with a warning instead of an acknowledgement', () => {
    const config = expectOk(loadConfigObject(base({ mode: 'development', listen: { port: 8080 } }), OPTIONS));
    expect(config.mode).toBe('development');
    expect(config.warnings).toEqual(['listen: serves plain HTTP (allowed in development mode only)']);
    expect(config.accepted).toEqual([]);
  });

  it('does not need an acknowledgement for http: redirect', () => {
    const config = expectOk(loadConfigObject(base({ listen: { port: 8080, http: 'redirect', redirectPort: 8443 } }), OPTIONS));
    expect(config.listeners[0]).toMatchObject({ http: 'redirect', redirectPort: 8443 });
    expect(config.accepted).toEqual([]);
  });

  // Regression: only loopback addresses (localhost, ::1, 127.0.0.0/8) count as loopback; a DNS name may resolve
  // anywhere and '' would bind every interface.
  it('treats an empty or DNS admin host as beyond loopback', () => {
    for (const host of ['admin.example.com', '0.0.0.0', '::']) {
      const errors = expectErrors(loadConfigObject(base({ admin: { host, port: 9901 } }), OPTIONS));
      expect(errors).toEqual([weakened('admin.host', 'the admin listener is reachable beyond loopback', 'admin-not-loopback')]);
    }
    // An empty host (every interface, in node) is not a valid setting at all.
    expect(expectErrors(loadConfigObject(base({ admin: { host: '', port: 9901 } }), OPTIONS))).toEqual(['admin.host: must not be empty']);
  });

  // Regression (was a bug in src/config/load.ts): with `defaults.<policy>: false` the weakening is pushed once per route that uses the
  // default, so one acknowledgement is listed in `accepted` once per route (posture then repeats it).
  it('lists an acknowledged defaults weakening once, however many routes it covers', () => {
    const config = expectOk(
      loadConfigObject(
        base({
          defaults: { 'security-headers': false },
          routes: [route('a', '/a'), route('b', '/b'), route('c', '/c')],
          acknowledge: [ack('security-headers-disabled', 'defaults.security-headers')],
        }),
        OPTIONS,
      ),
    );
    expect(config.accepted).toHaveLength(1);
  });
});

describe('checks that were missing from the loader (regressions)', () => {
  // Regression (was a bug in src/config/load.ts, route loop): only match.path is validated (validateRoutePattern); an invalid
  // match.host passes `config check`, and the gateway then fails at start in the Router constructor
  // (`route "a": invalid host "api.example.com:8443" ...`). findRouteConflicts silently skips such routes.
  it('refuses an invalid match.host at load time', () => {
    const errors = expectErrors(loadConfigObject(base({ routes: [route('a', '/a', { match: { path: '/a', host: 'api.example.com:8443' } })] }), OPTIONS));
    expect(errors).toEqual([expect.stringMatching(/^routes\[0\]\.match\.host: invalid host "api\.example\.com:8443"/)]);
  });

  // Regression (was a bug in src/config/errors.ts, describe(), case 'type'): "a" is used for every type name, giving
  // "must be a array" / "must be a object".
  it('uses the right article for array and object types', () => {
    expect(expectErrors(loadConfigObject(base({ routes: {} }), OPTIONS))).toEqual(['routes: must be an array']);
    expect(expectErrors(loadConfigObject(base({ limits: [] }), OPTIONS))).toEqual(['limits: must be an object']);
  });
});

describe('fuzz: random mutations of a valid config never throw', () => {
  /** mulberry32: a small seeded generator, so every run mutates the same way and a failure can be replayed. */
  function seeded(seed: number): () => number {
    let state = seed >>> 0;
    return () => {
      state = (state + 0x6d2b79f5) >>> 0;
      let t = state;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
    };
  }

  function rich(): Doc {
    return {
      mode: 'production',
      listen: [{ host: '127.0.0.1', port: 8443, http: 'refuse' }, { host: '127.0.0.1', port: 8080, http: 'redirect', redirectPort: 8443 }],
      admin: { host: '127.0.0.1', port: 9901 },
      trustedProxies: ['10.0.0.0/8', '::1'],
      limits: { maxBodySize: '1mb', headersTimeout: '10s', maxInFlight: 100 },
      accessLog: { enabled: true, redact: ['req.headers.cookie'] },
      acknowledge: [ack('cors-wildcard-origin', 'routes[1].cors.origins[0]')],
      defaults: { cors: { origins: ['https://app.example.com'] } },
      routes: [
        {
          id: 'a',
          match: { path: '/a/{id}', methods: ['GET', 'PUT'] },
          upstream: { targets: ['http://127.0.0.1:1', { url: 'http://127.0.0.1:2', weight: 2 }], timeouts: { connect: '1s' }, activeHealth: { path: '/health' } },
          public: true,
          maxBodySize: '4kb',
        },
        route('b', '/b/**', { match: { path: '/b/**', host: 'api.example.com' }, cors: { origins: ['*'] }, 'security-headers': { hsts: { maxAge: 31_536_000 } } }),
        route('c', '/c', { errors: { replaceUpstream5xx: true }, websocket: true }),
      ],
    };
  }

  const PALETTE: readonly unknown[] = [
    null, 0, -1, 1.5, 65_536, Number.MAX_SAFE_INTEGER, '', 'x', '/', '/..', '*', '**', '${env:UNSET}', 'http://', 'ftp://x',
    '10.0.0.0/99', '99999999999999999999mb', '-5s', true, false, [], [null], ['*'], {}, { targets: [] },
  ];

  type Location = ReadonlyArray<string | number>;
  function locations(value: unknown, at: Location = [], out: Location[] = []): Location[] {
    if (at.length > 0) out.push(at);
    if (value !== null && typeof value === 'object') {
      for (const [key, item] of Object.entries(value)) locations(item, [...at, Array.isArray(value) ? Number(key) : key], out);
    }
    return out;
  }

  it('200 seeded mutations each return ok or a list of one-line errors', () => {
    const random = seeded(0x5eed);
    const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)]!;
    expectOk(loadConfigObject(rich(), OPTIONS));
    let refused = 0;
    for (let run = 0; run < 200; run++) {
      const doc = rich();
      const mutations: string[] = [];
      for (let m = 0, count = 1 + Math.floor(random() * 3); m < count; m++) {
        const at = pick(locations(doc));
        let parent = doc as Record<string | number, unknown>;
        for (const key of at.slice(0, -1)) parent = parent[key] as Record<string | number, unknown>;
        const key = at[at.length - 1]!;
        const roll = random();
        if (roll < 0.7) parent[key] = structuredClone(pick(PALETTE));
        else if (roll < 0.85) delete parent[key];
        else parent[`${String(key)}_extra`] = pick(PALETTE);
        mutations.push(`${at.join('.')}@${roll.toFixed(2)}`);
      }
      let result: LoadResult;
      try {
        result = loadConfigObject(doc, OPTIONS);
      } catch (error) {
        throw new Error(`run ${run} threw after mutating ${mutations.join(', ')}: ${(error as Error).stack}`);
      }
      if (!result.ok) {
        refused++;
        expect(result.errors.length, mutations.join(', ')).toBeGreaterThan(0);
        for (const error of result.errors) {
          expect(typeof error).toBe('string');
          expect(error).not.toContain('\n');
          expect(error).toContain(': ');
        }
      }
    }
    // The mutations must actually break things, or this test proves nothing.
    expect(refused).toBeGreaterThan(100);
  });
});

describe('fixture files', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'rampart-tls-'));
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1', '-subj', '/CN=localhost',
      '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
    ], { stdio: 'ignore' });
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('accepts the fixture configs under test/fixtures/configs', () => {
    for (const name of ['valid.yaml', 'valid-with-acknowledgements.yaml']) {
      const result = loadConfigFile(join(CONFIG_FIXTURES, name), OPTIONS);
      expect(result.ok, `${name}: ${result.ok ? '' : result.errors.join('\n')}`).toBe(true);
    }
  });

  it('refuses test/fixtures/configs/invalid.yaml with every error', () => {
    const result = loadConfigFile(join(CONFIG_FIXTURES, 'invalid.yaml'), OPTIONS);
    expect(expectErrors(result)).toEqual(INVALID_FIXTURE_ERRORS);
  });

  it('accepts a TLS listener whose files exist', () => {
    const config = expectOk(
      loadConfigObject(base({ listen: { port: 8443, tls: { cert: join(dir, 'cert.pem'), key: join(dir, 'key.pem'), minVersion: 'TLSv1.3' } } }), OPTIONS),
    );
    expect(config.listeners[0]!.tls).toEqual({ cert: join(dir, 'cert.pem'), key: join(dir, 'key.pem'), minVersion: 'TLSv1.3', clientCa: undefined, clientCert: 'request' });
    expect(config.warnings).toEqual([]);
  });
});
