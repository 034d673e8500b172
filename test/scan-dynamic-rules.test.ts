/**
 * The pieces the dynamic scan judges with, on tables of real-world strings (positives and look-alikes that must not
 * match), and the rules the fixture does not plant, against a small misconfigured server: CORS wildcards, a weak
 * CSP, 429 without Retry-After, an operation served after its Sunset date, an API that takes any bearer token.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadOpenApi } from '../src/openapi/load.ts';
import { parseAuthFile, runDynamicScan, type DynamicScanResult } from '../src/scan/dynamic/index.ts';
import { Discovery, topLevelObjects } from '../src/scan/dynamic/discovery.ts';
import type { Exchange } from '../src/scan/dynamic/client.ts';
import { evidenceOf, fingerprint } from '../src/scan/dynamic/findings.ts';
import { Masker } from '../src/scan/dynamic/mask.ts';
import { cspWeakness, undeclaredProperties, type Undeclared } from '../src/scan/dynamic/passive.ts';
import { buildPlan, fillTemplate } from '../src/scan/dynamic/plan.ts';
import { privilegedName } from '../src/scan/dynamic/probes/writes.ts';
import {
  bannerHeaders,
  findFrameworkBanner,
  findInternalAddresses,
  findNoSqlError,
  findShellError,
  findSqlError,
  findStackTrace,
  findSystemFile,
  luhnValid,
  nameWords,
  piiKind,
  sensitiveName,
} from '../src/scan/dynamic/signatures.ts';

// Bodies of the size the client reads (256 KiB) made of a pattern's own prefix repeated: these took seconds with the
// quadratic patterns (each row below did) and take milliseconds now. No timing is asserted: the test timeout bounds.
const MAX_BODY = 256 * 1024;
const repeated = (unit: string): string => unit.repeat(Math.ceil(MAX_BODY / unit.length)).slice(0, MAX_BODY);

describe('signatures', () => {
  const table: Array<[string, (text: string) => unknown, string[], string[]]> = [
    [
      'stack traces',
      findStackTrace,
      [
        'TypeError: x is undefined\n    at handler (/srv/app/routes/orders.js:42:17)\n    at process.processTicksAndRejections (node:internal/process/task_queues:95:5)',
        '{"stack":"Error: boom\\n    at Object.<anonymous> (/app/index.js:1:7)"}',
        'java.lang.NullPointerException\n\tat com.shop.OrderService.find(OrderService.java:88)',
        'Traceback (most recent call last):\n  File "/app/views.py", line 12, in get',
        'PHP Fatal error:  Uncaught Exception in /var/www/index.php:3',
        'goroutine 1 [running]:\nmain.main()',
        '   at Shop.Api.OrdersController.Get(Int32 id) in C:\\src\\Orders.cs:line 42',
        "/usr/src/app/app/models/order.rb:42:in `find'",
        "NoMethodError (undefined method `name' for nil):\n  app/controllers/x.rb:3 /srv/app/controllers/orders_controller.rb:17:in `show'",
      ],
      [
        'We are at the shop at 10:30:00',
        'Meet at (home) 12:30',
        'see /docs/guide.md:12 for details',
        '{"error":"Internal Server Error"}',
        "order.rb:42:in `find'",
        "/a b.rb:1:in `x'",
        "/x.rb:1:in `never closed",
      ],
    ],
    [
      'SQL errors',
      findSqlError,
      [
        "You have an error in your SQL syntax; check the manual that corresponds to your MySQL server version",
        'ERROR: unterminated quoted string at or near "\'"',
        "Unclosed quotation mark after the character string ''.",
        'ORA-01756: quoted string not properly terminated',
        'SqliteError: unrecognized token: "\'%\'"',
        'SQLSTATE[42000]: Syntax error or access violation',
      ],
      ['Our SQL course starts Monday', 'ORA-12 is not an error code', 'syntax error in your request body'],
    ],
    [
      'NoSQL errors',
      findNoSqlError,
      ['MongoServerError: unknown operator: $rampart', 'unknown top level operator: $where', 'CastError: Cast to ObjectId failed for value'],
      ['Mongo the dog', '$where are you', 'operator: plus'],
    ],
    [
      'shell errors',
      findShellError,
      ['sh: 1: rampartprobe: not found', '/bin/sh: line 1: rampartprobe: command not found', "'rampartprobe' is not recognized as an internal or external command"],
      ['command found', 'shell: not here', 'sh is not found in this text'],
    ],
    [
      'system files',
      findSystemFile,
      ['root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1', '; for 16-bit app support\n[fonts]\n[extensions]'],
      ['root:admin', 'the root of the tree', '[fonts] only'],
    ],
    [
      'framework banners in errors',
      findFrameworkBanner,
      ['<h1>Whitelabel Error Page</h1>', '<h3>Apache Tomcat/9.0.31</h3>', 'RangeError: Invalid array length', 'SqliteError: near "x"', 'Werkzeug Debugger'],
      ['{"title":"Internal Server Error","status":500}', 'Error: try again', 'An error occurred'],
    ],
  ];
  for (const [name, find, positives, negatives] of table) {
    it(`recognises ${name}, and not their look-alikes`, () => {
      for (const text of positives) expect(find(text), text).toBeDefined();
      for (const text of negatives) expect(find(text), text).toBeUndefined();
    });
  }

  it('finds internal addresses, not public ones, versions or loopback', () => {
    expect(findInternalAddresses('db at 10.20.0.15:5432, cache redis-primary.shop.internal:6379, 192.168.1.10, 172.20.0.2, fd12:3456:789a::1')).toEqual(
      expect.arrayContaining(['10.20.0.15', '192.168.1.10', '172.20.0.2', 'redis-primary.shop.internal', 'fd12:3456:789a::1']),
    );
    for (const text of ['127.0.0.1', '8.8.8.8', 'version 10.2.3.4.5', '172.32.0.1', 'v10.0.0', '300.1.1.1', 'example.com', 'node.js', 'internal error'])
      expect(findInternalAddresses(text), text).toEqual([]);
    // Host names read back from the suffix: up to 8 labels of 1-63 characters, a word boundary before the first.
    const cases: Array<[string, string[]]> = [
      ['api at orders.svc.cluster.local:8080', ['orders.svc.cluster.local']],
      ['https://wiki.intranet/page and DB.CORP', ['wiki.intranet', 'db.corp']],
      ['a.b.c.d.e.f.g.h.i.j.lan', ['c.d.e.f.g.h.i.j.lan']],
      ['-edge.lan', ['edge.lan']],
      ['host.locally, host.internal-tools, x.internal.example.com, _svc.internal', []],
      [`${'x'.repeat(64)}.internal`, []],
      [`y.${'x'.repeat(63)}.internal`, [`y.${'x'.repeat(63)}.internal`]],
    ];
    for (const [text, hosts] of cases) expect(findInternalAddresses(text).sort(), text).toEqual(hosts.sort());
  });

  it('scan hostile bodies of the maximum size without runaway matching (the test timeout is the bound)', () => {
    const masker = new Masker();
    for (const body of ['a.'.repeat(130_000), '1.'.repeat(130_000), 'at '.repeat(87_000), 'fdzz:'.repeat(52_000), '"k":"v",'.repeat(32_000), '4'.repeat(262_000), repeated('a-'), repeated('/a'), repeated('a.local'), repeated(".rb:1:in `")]) {
      expect(findInternalAddresses(body)).toEqual([]);
      expect(findStackTrace(body)).toBeUndefined();
      expect(findSqlError(body) ?? findNoSqlError(body) ?? findShellError(body) ?? findSystemFile(body) ?? findFrameworkBanner(body)).toBeUndefined();
      expect(masker.text(body).length).toBeGreaterThan(0);
    }
  });

  it('a body of `panic: ` repeated is no Go stack trace (was 3.9 s per answer)', () => {
    expect(findStackTrace(repeated('panic: '))).toBeUndefined();
  });

  it('real Go panics are still found by their panic line (LF or CRLF, a long message), not only by `[running]`', () => {
    const trace = 'panic: runtime error: index out of range [5] with length 3\n\ngoroutine 1 [running]:\nmain.main()\n\t/app/main.go:8 +0x1d\nexit status 2';
    expect(findStackTrace(trace)).toEqual({ kind: 'go', text: expect.stringMatching(/^panic: runtime error: index out of range/) });
    expect(findStackTrace(trace.replace(/\n/g, '\r\n'))?.text).toMatch(/^panic: runtime error/);
    expect(findStackTrace(`panic: ${'x'.repeat(400)}\n\ngoroutine 7 [chan receive]:`)?.kind).toBe('go');
    expect(findStackTrace(`${repeated('panic: ')}\n\ngoroutine 1 [running]:`)?.kind).toBe('go');
    expect(findStackTrace('panic: the disco\nnot a goroutine')).toBeUndefined();
  });

  it('a 256 KiB upper-case property name splits into words (was O(n²) in nameWords)', () => {
    expect(nameWords(repeated('A'))).toEqual(['a'.repeat(MAX_BODY)]);
    expect(sensitiveName(repeated('AB'))).toBe(false);
    expect(sensitiveName(`${repeated('A')}Password`)).toBe(true);
    const split: Array<[string, string[]]> = [
      ['HTMLParser', ['html', 'parser']],
      ['getHTTPResponseCode', ['get', 'http', 'response', 'code']],
      ['APIKey', ['api', 'key']],
      ['ABcDEf', ['a', 'bc', 'd', 'ef']],
      ['userID', ['user', 'id']],
    ];
    for (const [name, words] of split) expect(nameWords(name), name).toEqual(words);
  });

  it('knows personal data by shape and secrets by name', () => {
    expect(luhnValid('4111111111111111')).toBe(true);
    expect(luhnValid('4111111111111112')).toBe(false);
    const pii: Array<[string, string | undefined]> = [
      ['alice@example.org', 'email'],
      ['078-05-1120', 'ssn'],
      ['4111 1111 1111 1111', 'card-number'],
      ['5555555555554444', 'card-number'],
      ['1234567890123', undefined], // fails Luhn / issuer prefix
      ['000-12-3456', undefined],
      ['2024-01-15', undefined],
      ['not an @ email', undefined],
    ];
    for (const [value, kind] of pii) expect(piiKind(value), value).toBe(kind);
    for (const name of ['password', 'passwordHash', 'api_key', 'apiKey', 'X-API-Key', 'cardNumber', 'ssn', 'refresh_token', 'privateKey', 'pin'])
      expect(sensitiveName(name), name).toBe(true);
    for (const name of ['shipping', 'spinner', 'tokenizer_version', 'hashtags', 'pinned', 'keyboard', 'name', 'displayName'])
      expect(sensitiveName(name), name).toBe(false);
    for (const name of ['role', 'roles', 'isAdmin', 'is_admin', 'balance', 'ownerId', 'tenantId', 'status', 'emailVerified', 'permissions'])
      expect(privilegedName(name), name).toBe(true);
    for (const name of ['displayName', 'note', 'items', 'roleDescription', 'adminNotes'])
      expect(privilegedName(name), name).toBe(false);
  });

  it('reads banner headers and weak CSPs', () => {
    expect(bannerHeaders({ server: 'nginx/1.18.0', 'x-powered-by': 'Express' })).toEqual(['x-powered-by: Express', 'server: nginx/1.18.0']);
    expect(bannerHeaders({ server: 'nginx' })).toEqual([]);
    expect(cspWeakness("default-src 'none'; frame-ancestors 'none'")).toBeUndefined();
    expect(cspWeakness("default-src 'self'; script-src 'self' 'nonce-abc' 'unsafe-inline'")).toBeUndefined();
    expect(cspWeakness("script-src 'self' 'unsafe-inline'")).toMatch(/unsafe-inline/);
    expect(cspWeakness("default-src 'self' 'unsafe-eval'")).toMatch(/unsafe-eval/);
    expect(cspWeakness('default-src *')).toMatch(/any source/);
    expect(cspWeakness("frame-ancestors 'none'")).toMatch(/no default-src/);
  });
});

describe('masking', () => {
  const masker = new Masker();
  masker.addSecret('s3cr3t-api-key-value');
  masker.addHeaderName('X-Shop-Key');
  const cases: Array<[string, string]> = [
    ['{"password":"hunter22","name":"x"}', '{"password":"***","name":"x"}'],
    ['key s3cr3t-api-key-value here', 'key *** here'],
    ['{"card":"4111111111111111"}', '{"card":"***1111"}'],
    ['ssn 078-05-1120', 'ssn ***-**-1120'],
    ['mail alice@example.org', 'mail a***@example.org'],
    ['Bearer eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl', 'Bearer eyJ***'],
    ['{"code":"INVALID","title":"Bad"}', '{"code":"INVALID","title":"Bad"}'],
  ];
  for (const [input, output] of cases) it(`masks ${input.slice(0, 30)}`, () => expect(masker.text(input)).toBe(output));

  const jwt = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjMiLCJyb2xlIjoiYWRtaW4ifQ.3q2-7wQm_dpXkT1h8Qe6bV0mXyZ9aBcDeFgHiJkLmNo';

  it('masks a real JWT wherever it stands', () => {
    const placed: Array<[string, string]> = [
      [`Authorization: Bearer ${jwt}`, 'Authorization: Bearer eyJ***'],
      [`{"data":{"jwt":"${jwt}"},"n":1}`, '{"data":{"jwt":"eyJ***"},"n":1}'],
      [`/callback?next=%2Fhome&t=${jwt}&x=1`, '/callback?next=%2Fhome&t=eyJ***&x=1'],
      [`id_token=${jwt}; Path=/`, 'id_token=eyJ***; Path=/'],
      [`'${jwt}'`, "'eyJ***'"],
      [`jwt-${jwt}`, 'jwt-eyJ***'],
      [`aa-eyJaa-${jwt}`, 'aa-eyJ***'],
      [`${jwt}\n${jwt}`, 'eyJ***\neyJ***'],
    ];
    for (const [input, output] of placed) expect(masker.text(input), input).toBe(output);
    expect(masker.url(`/callback?next=%2Fhome&t=${jwt}`)).toBe('/callback?next=%2Fhome&t=eyJ***');
    // Glued to a word it is no token start, as before (`\beyJ`).
    expect(masker.text(`sess_${jwt}`)).toBe(`sess_${jwt}`);
  });

  it('a body of `eyJaa-` repeated is no JWT (was 12.8 s per masking)', () => {
    const body = repeated('eyJaa-');
    expect(masker.text(body)).toBe(body);
    expect(masker.text(`${body}.${body}.x`)).toBe('eyJ***');
  });

  const exchangeWith = (body: string): Exchange => ({
    seq: 1,
    method: 'GET',
    path: '/orders/1',
    requestHeaders: {},
    status: 500,
    headers: { 'content-type': 'text/plain' },
    body,
    truncated: false,
    durationMs: 1,
    principal: 'anonymous',
    purpose: 'baseline',
  });
  /** The body excerpt of the response evidence. */
  const excerptOf = (body: string): string => (evidenceOf(exchangeWith(body), masker).response ?? '').split('\n').slice(3).join('\n');

  it('evidence of a hostile 256 KiB body is cut before it is masked (was 12.8 s per evidence)', () => {
    // The run the cut goes through starts like a JWT: masked to the cut, since it could be one.
    const body = `TypeError: boom\n${repeated('eyJaa-')}`;
    expect(excerptOf(body)).toBe(`TypeError: boom\neyJ***… (${body.length} characters)`);
    const plain = repeated('eyJa.');
    expect(excerptOf(plain)).toBe(`${plain.slice(0, 1200)}… (${MAX_BODY} characters)`);
  });

  it('evidence masks what straddles the cut', () => {
    // A JWT across the 1,200-character limit.
    const around = `${'x'.repeat(1180)} Bearer ${jwt} ${'y'.repeat(MAX_BODY)}`;
    expect(excerptOf(around)).toBe(`${'x'.repeat(1180)} Bearer eyJ***${' '}${'y'.repeat(5)}… (${around.length} characters)`);
    // A secret-named JSON value of 4,000 characters across the limit.
    const json = `{"note":"${'n'.repeat(1170)}","password":"${'p'.repeat(4000)}","more":"${'m'.repeat(MAX_BODY)}"}`;
    expect(excerptOf(json)).toBe(`${json.replace('p'.repeat(4000), '***').slice(0, 1200)}… (${json.length} characters)`);
    // A 20,000-character JWT across the limit, longer than the margin masked past it: masked up to the cut.
    const long = `eyJ${'h'.repeat(20_000)}.eyJwYXlsb2FkIn0.c2ln`;
    const longAround = `${'x'.repeat(1190)} ${long} ${'y'.repeat(MAX_BODY)}`;
    expect(excerptOf(longAround)).toBe(`${'x'.repeat(1190)} eyJ***… (${longAround.length} characters)`);
    // A short body is whole, masked.
    expect(excerptOf(`token ${jwt}`)).toBe('token eyJ***');
  });

  it('masks credential headers by name and query credentials by name', () => {
    expect(masker.header('Authorization', 'Bearer abc.def.ghi')).toBe('Authorization: Bearer ***');
    expect(masker.header('cookie', 'sid=abc; theme=dark')).toBe('cookie: sid=***; theme=***');
    expect(masker.header('set-cookie', 'sid=abc; Path=/; HttpOnly')).toBe('set-cookie: sid=***; Path=/; HttpOnly');
    expect(masker.header('x-shop-key', 'anything')).toBe('x-shop-key: ***');
    expect(masker.header('content-type', 'application/json')).toBe('content-type: application/json');
    expect(masker.url('/items?api_key=abc&q=lamp&access_token=xyz')).toBe('/items?api_key=***&q=lamp&access_token=***');
  });
});

describe('schemas, plans and discovery', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rampart-plan-'));
  const specFile = join(dir, 'spec.json');
  writeFileSync(
    specFile,
    JSON.stringify({
      openapi: '3.0.3',
      info: { title: 't', version: '1' },
      servers: [{ url: 'https://api.example.com/{base}', variables: { base: { default: 'api/v3' } } }],
      security: [{ oauth: ['read'] }],
      components: {
        securitySchemes: { oauth: { type: 'oauth2', flows: { clientCredentials: { tokenUrl: 'https://x/token', scopes: { read: 'r', 'admin:write': 'a' } } } } },
        schemas: {
          Pet: { type: 'object', additionalProperties: false, properties: { id: { type: 'integer' }, tags: { type: 'array', items: { $ref: '#/components/schemas/Tag' } }, extra: { type: 'object' } } },
          Tag: { type: 'object', properties: { name: { type: 'string' } } },
        },
      },
      paths: {
        '/pets': { get: { operationId: 'listPets', responses: { '200': { description: 'ok', content: { 'application/json': { schema: { type: 'array', items: { $ref: '#/components/schemas/Pet' } } } } } } } },
        '/pets/{petId}': { get: { operationId: 'getPet', parameters: [{ name: 'petId', in: 'path', required: true, schema: { type: 'integer' } }], responses: { '200': { description: 'ok' } } } },
        '/pets/mine': { get: { operationId: 'myPets', security: [], responses: { '200': { description: 'ok' } } } },
        '/internal/reindex': { post: { operationId: 'reindex', responses: { '204': { description: 'ok' } } } },
        '/reports': { get: { operationId: 'reports', tags: ['Administration'], responses: { '200': { description: 'ok' } } } },
        '/purge': { delete: { operationId: 'purge', security: [{ oauth: ['admin:write'] }], responses: { '204': { description: 'ok' } } } },
        '/export': { get: { operationId: 'exportAll', responses: { '200': { description: 'ok' } } } },
      },
    }),
  );

  it('read security, admin-ness and the server base path from the document (and the auth file)', async () => {
    const loaded = await loadOpenApi(specFile);
    if (!loaded.ok) throw new Error(loaded.errors.map((e) => e.text).join('\n'));
    const plan = buildPlan(loaded.api.model, ['exportAll']);
    const byKey = Object.fromEntries(plan.operations.map((op) => [op.key, op]));
    expect(plan.basePath).toBe('/api/v3');
    expect(byKey.listPets!.template).toBe('/api/v3/pets');
    expect(byKey.listPets!.security).toBe('required');
    expect(byKey.myPets!.security).toBe('public');
    expect(Object.values(byKey).filter((op) => op.admin).map((op) => op.key).sort()).toEqual(['exportAll', 'purge', 'reindex', 'reports']);
    // Literal segments beat parameters.
    expect(plan.operationFor('GET', '/api/v3/pets/mine')?.key).toBe('myPets');
    expect(plan.operationFor('GET', '/api/v3/pets/7')?.key).toBe('getPet');
    expect(plan.operationFor('POST', '/api/v3/pets/7')).toBeUndefined();
    expect(fillTemplate('/a/{x}/b', { x: '../ä b' })).toBe('/a/..%2F%C3%A4%20b/b');

    const found: Undeclared[] = [];
    const op = byKey.listPets!;
    undeclaredProperties(loaded.api.model.document, '3.0', op.jsonResponse!.schema, op.jsonResponse!.pointer, [{ id: 1, tags: [{ name: 'a', colour: 'red' }], extra: { anything: 1 }, secret: 'x' }], '', found, 0);
    // A schema that lists its properties declares exactly those (as the project's response minimizer reads it,
    // src/openapi/schema-info.ts), additionalProperties or not; `extra` is free-form and declares anything.
    expect(found.map((u) => u.path)).toEqual(['[].tags[].colour', '[].secret']);
  });

  it('find ids in collections, in objects below them, and by parameter name', () => {
    const discovery = new Discovery();
    discovery.record('userA', '/orders', { data: [{ id: 'o-1' }, { id: 'o-2' }], next: null });
    discovery.record('userA', '/users/me', { id: 7, name: 'alice' });
    discovery.record('userA', '/invoices', [{ number: 1, orderId: 'o-9' }]);
    expect(discovery.valuesFor('userA', '/orders/{orderId}', 'orderId')).toEqual(['o-1', 'o-2', 'o-9']);
    expect(discovery.valuesFor('userA', '/users/{userId}', 'userId')).toEqual(['7']);
    expect(discovery.valuesFor('userB', '/orders/{orderId}', 'orderId')).toEqual([]);
    // An object with an id is itself, even when it holds an array of objects.
    expect(topLevelObjects({ id: 'o-1', items: [{ productId: 1 }] })).toEqual([{ id: 'o-1', items: [{ productId: 1 }] }]);
    expect(fingerprint('authz.bola', 'getOrder')).toBe(fingerprint('authz.bola', 'getOrder'));
    expect(fingerprint('authz.bola', 'getOrder')).not.toBe(fingerprint('authz.bola', 'getAccount'));
  });
});

describe('rules the fixture does not plant, on a misconfigured server', () => {
  let result: DynamicScanResult;
  let close: () => Promise<void>;
  const recent: number[] = [];

  beforeAll(async () => {
    const server = createServer((req, res) => {
      const now = performance.now();
      recent.push(now);
      while (recent.length > 0 && recent[0]! < now - 200) recent.shift();
      const url = new URL(req.url ?? '/', 'http://x');
      res.setHeader('content-security-policy', "default-src 'self'; script-src 'self' 'unsafe-inline'");
      res.setHeader('x-content-type-options', 'nosniff');
      res.setHeader('cache-control', 'no-store');
      const problem = (status: number): void => {
        res.writeHead(status, { 'content-type': 'application/problem+json' });
        res.end(JSON.stringify({ title: 'no', status }));
      };
      // A limit that only a burst reaches, answered without Retry-After or RateLimit headers.
      if (recent.length > 30) return problem(429);
      if (url.pathname === '/api/status' && req.method === 'GET') {
        res.writeHead(200, { 'content-type': 'application/json', 'access-control-allow-origin': '*', 'access-control-allow-credentials': 'true' });
        res.end('{"ok":true}');
        return;
      }
      if (url.pathname === '/api/items' && req.method === 'GET') {
        // Any bearer token will do, and the operation was retired at the start of 2024.
        if (!/^Bearer \S+$/.test(req.headers.authorization ?? '')) return problem(401);
        res.writeHead(200, { 'content-type': 'application/json', 'access-control-allow-origin': '*', sunset: 'Mon, 01 Jan 2024 00:00:00 GMT' });
        res.end('[{"id":1,"name":"lamp"}]');
        return;
      }
      problem(url.pathname.startsWith('/api/') ? 405 : 404);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    close = () => new Promise<void>((resolve) => server.close(() => resolve()));
    const dir = mkdtempSync(join(tmpdir(), 'rampart-misconfig-'));
    const spec = join(dir, 'spec.json');
    const list = { type: 'array', items: { type: 'object', additionalProperties: false, properties: { id: { type: 'integer' }, name: { type: 'string' } } } };
    writeFileSync(
      spec,
      JSON.stringify({
        openapi: '3.0.3',
        info: { title: 't', version: '1' },
        servers: [{ url: '/api' }],
        security: [{ bearer: [] }],
        components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
        paths: {
          '/status': { get: { operationId: 'getStatus', security: [], responses: { '200': { description: 'ok' } } } },
          '/items': { get: { operationId: 'listItems', responses: { '200': { description: 'ok', content: { 'application/json': { schema: list } } } } } },
        },
      }),
    );
    result = await runDynamicScan({
      target: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      specFile: spec,
      auth: parseAuthFile({ userA: { bearer: 'opaque-token-aaaaaaaa' } }),
      allowWrites: false,
      budget: 500,
      ratePerSecond: 50,
      timingDelaySeconds: 0,
    });
  }, 60_000);
  afterAll(() => close?.());

  it('reports exactly these', () => {
    const pairs = result.findings.flatMap((f) => f.locations.map((l) => (l.kind === 'http' ? `${f.rule.id} ${l.operation ?? `${l.method} ${l.path}`}` : ''))).sort();
    expect(pairs).toEqual([
      'auth.invalid-token-accepted listItems',
      'cors.wildcard listItems',
      'cors.wildcard-with-credentials getStatus',
      'deprecation.past-sunset-live listItems',
      'headers.csp-weak getStatus',
      'headers.csp-weak listItems',
      'rate-limit.headers-missing getStatus',
    ]);
    // An opaque token has no JWT variants: only the random one was tried.
    expect(result.rules.map((r) => r.id)).not.toContain('auth.jwt-alg-none');
    expect(JSON.stringify(result.findings)).not.toContain('opaque-token-aaaaaaaa');
  });
});
