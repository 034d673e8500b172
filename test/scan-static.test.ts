/**
 * The static audit (`rampart scan --spec`), rule by rule: every rule fires on a small document that has the flaw and
 * stays silent on its fixed twin, in OpenAPI 3.0 and, where the versions differ, Swagger 2.0 and OpenAPI 3.1.
 * Each twin is one visible change to a clean document (test/fixtures/scan/specs.ts) on which no rule fires at all.
 * Edge tables check what must NOT be flagged (bounded strings, readOnly privileged properties, pagination tokens,
 * loopback servers, the client credentials grant), and the grouping of a reused schema into one finding.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { auditSpec, type StaticAuditResult } from '../src/scan/static/index.ts';
import { ALL_STATIC_RULES } from '../src/scan/static/rules.ts';
import { isBoundedPattern, isBoundedString } from '../src/scan/static/bounds.ts';
import { isCredentialParameterName, isPrivilegedName, isSensitiveName } from '../src/scan/static/vocabulary.ts';
import { clean20, clean30, clean31, cleanResponses30, copy, op, schemas, type Json } from './fixtures/scan/specs.ts';

const FIXTURES = fileURLToPath(new URL('./fixtures/scan/', import.meta.url));
let dir: string;
let counter = 0;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'rampart-scan-static-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function audit(doc: Json): Promise<StaticAuditResult> {
  const file = join(dir, `spec-${++counter}.json`);
  writeFileSync(file, JSON.stringify(doc, null, 2));
  const result = await auditSpec(file, { cwd: dir });
  expect(result.loadFailed, JSON.stringify(result.findings[0]?.evidence)).toBe(false);
  expect(result.notes).toEqual([]);
  return result;
}

const ids = (r: StaticAuditResult) => [...new Set(r.findings.map((f) => f.rule.id))].sort();
const pointersOf = (r: StaticAuditResult, rule: string) => r.findings.filter((f) => f.rule.id === rule).flatMap((f) => f.locations.map((l) => (l.kind === 'spec' ? l.pointer : '')));

type Base = () => Json;

interface Case {
  readonly rule: string;
  readonly name: string;
  readonly base?: Base;
  readonly flawed: (doc: Json) => void;
  readonly fixed: (doc: Json) => void;
  /** The root-cause pointer the finding must list (as written). */
  readonly at?: string;
  /** False when the fixed twin legitimately trips another rule (documented per case). */
  readonly fixedClean?: boolean;
}

const secured = (doc: Json, scheme: Json) => {
  ((doc.components as Json).securitySchemes as Json).bearer = scheme;
};
const requestProps = (doc: Json) => (schemas(doc).OrderInput as Json).properties as Json;
const responseProps = (doc: Json) => (schemas(doc).Order as Json).properties as Json;
const noop = () => {};
/** A synthetic access key id of the documented shape, built at run time so the repository holds no key-like string. */
const FAKE_AWS_KEY = ['AKIA', 'Z7Q4W2R9', 'T3M8K5N6'].join('');

const CASES: Case[] = [
  // --- item 1 -----------------------------------------------------------------------------------------------------
  {
    rule: 'auth.spec-operation-without-security',
    name: 'an operation with no security requirement, fixed by saying it is public (security: [])',
    flawed: (d) => { op(d, '/orders', 'get').security = undefined; delete d.security; op(d, '/orders', 'post').security = [{ bearer: [] }]; op(d, '/orders/{orderId}', 'get').security = [{ bearer: [] }]; },
    fixed: (d) => { op(d, '/orders', 'get').security = []; },
    at: '#/paths/~1orders/get',
  },
  {
    rule: 'auth.spec-operation-without-security',
    name: 'authentication made optional by an empty alternative, fixed by x-public: true',
    flawed: (d) => { op(d, '/orders', 'get').security = [{}, { bearer: [] }]; },
    fixed: (d) => { op(d, '/orders', 'get').security = [{}, { bearer: [] }]; op(d, '/orders', 'get')['x-public'] = true; },
  },
  {
    rule: 'auth.spec-operation-without-security',
    name: 'a document without any security: one finding for all operations',
    flawed: (d) => { delete d.security; },
    fixed: noop,
  },
  {
    rule: 'auth.spec-undefined-security-scheme',
    name: 'a requirement naming an undefined scheme',
    flawed: (d) => { op(d, '/orders', 'post').security = [{ oauth: ['write'] }]; },
    fixed: noop,
    at: '#/paths/~1orders/post/security/0',
  },
  {
    rule: 'auth.spec-http-basic',
    name: 'HTTP Basic (scheme names are case-insensitive)',
    flawed: (d) => secured(d, { type: 'http', scheme: 'Basic' }),
    fixed: (d) => secured(d, { type: 'http', scheme: 'bearer' }),
    at: '#/components/securitySchemes/bearer',
  },
  {
    rule: 'auth.spec-http-basic',
    name: 'Swagger 2.0 type: basic',
    base: clean20,
    flawed: (d) => { (d.securityDefinitions as Json).key = { type: 'basic' }; },
    fixed: noop,
    at: '#/securityDefinitions/key',
  },
  {
    rule: 'auth.spec-insecure-http-scheme',
    name: 'HTTP Digest',
    flawed: (d) => secured(d, { type: 'http', scheme: 'digest' }),
    fixed: noop,
  },
  {
    rule: 'auth.spec-api-key-in-query',
    name: 'API key in the query string (3.0)',
    flawed: (d) => secured(d, { type: 'apiKey', in: 'query', name: 'key' }),
    fixed: (d) => secured(d, { type: 'apiKey', in: 'header', name: 'X-API-Key' }),
    at: '#/components/securitySchemes/bearer',
  },
  {
    rule: 'auth.spec-api-key-in-query',
    name: 'API key in the query string (Swagger 2.0, which Spectral does not check)',
    base: clean20,
    flawed: (d) => { (d.securityDefinitions as Json).key = { type: 'apiKey', in: 'query', name: 'key' }; },
    fixed: noop,
    at: '#/securityDefinitions/key',
  },
  {
    rule: 'auth.spec-api-key-in-cookie',
    name: 'API key in a cookie',
    flawed: (d) => secured(d, { type: 'apiKey', in: 'cookie', name: 'key' }),
    fixed: noop,
  },
  {
    rule: 'auth.spec-credentials-in-url',
    name: 'a query parameter named like a token, fixed by a header',
    flawed: (d) => { op(d, '/orders', 'get').parameters = [{ name: 'access_token', in: 'query', schema: { type: 'string', maxLength: 64 } }]; },
    fixed: (d) => { op(d, '/orders', 'get').parameters = [{ name: 'X-Request-Token', in: 'header', schema: { type: 'string', maxLength: 64 } }]; },
    at: '#/paths/~1orders/get/parameters/0',
  },
  {
    rule: 'auth.spec-credentials-in-url',
    name: 'a password in a server URL',
    flawed: (d) => { (d.servers as Json[])[0]!.url = 'https://deploy:hunter22@api.example.com/v1'; },
    fixed: noop,
    at: '#/servers/0',
  },
  {
    rule: 'auth.spec-credentials-in-url',
    name: 'a password in an example URL',
    flawed: (d) => { ((responseProps(d).item as Json).example = 'https://admin:s3cret@files.example.com/a'); },
    fixed: (d) => { ((responseProps(d).item as Json).example = 'https://files.example.com/a'); },
    at: '#/components/schemas/Order/properties/item/example',
  },
  {
    rule: 'auth.spec-oauth-deprecated-flow',
    name: 'implicit flow',
    flawed: (d) => secured(d, { type: 'oauth2', flows: { implicit: { authorizationUrl: 'https://id.example.com/auth', scopes: {} } } }),
    fixed: (d) => secured(d, { type: 'oauth2', flows: { authorizationCode: { authorizationUrl: 'https://id.example.com/auth', tokenUrl: 'https://id.example.com/token', refreshUrl: 'https://id.example.com/token', scopes: {} } } }),
    at: '#/components/securitySchemes/bearer/flows/implicit',
  },
  {
    rule: 'auth.spec-oauth-deprecated-flow',
    name: 'Swagger 2.0 password flow',
    base: clean20,
    flawed: (d) => { (d.securityDefinitions as Json).key = { type: 'oauth2', flow: 'password', tokenUrl: 'https://id.example.com/token', scopes: {} }; },
    fixed: noop,
  },
  {
    rule: 'session.spec-long-lived-tokens',
    name: 'authorization code flow without refreshUrl (client credentials is not flagged)',
    flawed: (d) => secured(d, { type: 'oauth2', flows: { authorizationCode: { authorizationUrl: 'https://id.example.com/auth', tokenUrl: 'https://id.example.com/token', scopes: {} } } }),
    fixed: (d) => secured(d, { type: 'oauth2', flows: { clientCredentials: { tokenUrl: 'https://id.example.com/token', scopes: {} } } }),
    at: '#/components/securitySchemes/bearer/flows/authorizationCode',
  },

  // --- item 2 -----------------------------------------------------------------------------------------------------
  {
    rule: 'authz.spec-writable-privileged-property',
    name: 'a writable role in a request body, fixed by readOnly',
    flawed: (d) => { requestProps(d).role = { type: 'string', enum: ['user', 'admin'] }; },
    fixed: (d) => { requestProps(d).role = { type: 'string', enum: ['user', 'admin'], readOnly: true }; },
    at: '#/components/schemas/OrderInput/properties/role',
  },
  {
    rule: 'authz.spec-writable-privileged-property',
    name: 'isAdmin through a $ref, in a response-only schema it is not flagged',
    flawed: (d) => { schemas(d).Flag = { type: 'boolean' }; requestProps(d).isAdmin = { $ref: '#/components/schemas/Flag' }; },
    fixed: (d) => { schemas(d).Flag = { type: 'boolean' }; responseProps(d).isAdmin = { $ref: '#/components/schemas/Flag' }; },
  },
  {
    rule: 'authz.spec-admin-not-separated',
    name: 'admin operations with the ordinary requirement, fixed by an admin scope',
    flawed: (d) => { (d.paths as Json)['/admin/orders'] = { get: { ...copy(op(d, '/orders', 'get')), operationId: 'adminListOrders' } }; },
    fixed: (d) => { (d.paths as Json)['/admin/orders'] = { get: { ...copy(op(d, '/orders', 'get')), operationId: 'adminListOrders', security: [{ bearer: ['admin'] }] } }; },
    at: '#/paths/~1admin~1orders/get',
  },

  // --- item 3 -----------------------------------------------------------------------------------------------------
  {
    rule: 'tls.spec-http-server',
    name: 'an http:// server (a loopback one is not flagged)',
    flawed: (d) => { (d.servers as Json[])[0]!.url = 'http://api.example.com/v1'; },
    fixed: (d) => { (d.servers as Json[]).push({ url: 'http://localhost:8080/v1', description: 'local', 'x-internal': true }); },
    at: '#/servers/0',
  },
  {
    rule: 'tls.spec-http-server',
    name: 'a server variable that allows http',
    flawed: (d) => { (d.servers as Json[])[0] = { url: '{scheme}://api.example.com/v1', 'x-internal': false, variables: { scheme: { default: 'https', enum: ['https', 'http'] } } }; },
    fixed: (d) => { (d.servers as Json[])[0] = { url: '{scheme}://api.example.com/v1', 'x-internal': false, variables: { scheme: { default: 'https', enum: ['https'] } } }; },
  },
  {
    rule: 'tls.spec-http-server',
    name: 'Swagger 2.0 schemes: [http]',
    base: clean20,
    flawed: (d) => { d.schemes = ['https', 'http']; },
    fixed: noop,
    at: '#/schemes/1',
  },

  // --- item 4 -----------------------------------------------------------------------------------------------------
  {
    rule: 'input.unbounded-string',
    name: 'a string without maxLength',
    flawed: (d) => { delete (requestProps(d).item as Json).maxLength; },
    fixed: noop,
    at: '#/components/schemas/OrderInput/properties/item',
  },
  {
    rule: 'input.unbounded-string',
    name: 'a pattern that is not anchored at the end',
    flawed: (d) => { (((requestProps(d).notes as Json).items as Json).pattern = '^[A-Za-z0-9 ]{1,80}'); },
    fixed: noop,
    at: '#/components/schemas/OrderInput/properties/notes/items',
  },
  {
    rule: 'input.unbounded-string',
    name: 'a Swagger 2.0 query parameter',
    base: clean20,
    flawed: (d) => { op(d, '/orders', 'get').parameters = [{ name: 'q', in: 'query', type: 'string' }]; },
    fixed: (d) => { op(d, '/orders', 'get').parameters = [{ name: 'q', in: 'query', type: 'string', maxLength: 50 }]; },
    at: '#/paths/~1orders/get/parameters/0',
  },
  {
    rule: 'input.unbounded-string',
    name: 'OpenAPI 3.1 type arrays',
    base: clean31,
    flawed: (d) => { delete (responseProps(d).note as Json).maxLength; },
    fixed: noop,
    at: '#/components/schemas/Order/properties/note',
  },
  {
    rule: 'input.unbounded-array',
    name: 'an array without maxItems',
    flawed: (d) => { delete (requestProps(d).notes as Json).maxItems; },
    fixed: noop,
    at: '#/components/schemas/OrderInput/properties/notes',
  },
  {
    rule: 'input.unbounded-integer',
    name: 'an integer without maximum (3.1: exclusiveMinimum as a number is a bound)',
    base: clean31,
    flawed: (d) => { delete (responseProps(d).rank as Json).maximum; },
    fixed: noop,
    at: '#/components/schemas/Order/properties/rank',
  },
  {
    rule: 'input.unbounded-integer',
    name: 'a query integer without bounds, fixed by an enum',
    flawed: (d) => { op(d, '/orders', 'get').parameters = [{ name: 'page', in: 'query', schema: { type: 'integer', format: 'int32' } }]; },
    fixed: (d) => { op(d, '/orders', 'get').parameters = [{ name: 'page', in: 'query', schema: { type: 'integer', enum: [1, 2, 3] } }]; },
    at: '#/paths/~1orders/get/parameters/0/schema',
  },
  {
    rule: 'input.open-schema',
    name: 'a request object that is not closed',
    flawed: (d) => { delete (schemas(d).OrderInput as Json).additionalProperties; },
    fixed: noop,
    at: '#/components/schemas/OrderInput',
  },
  {
    rule: 'input.open-schema',
    name: 'additionalProperties: true (a response object left open by default is not flagged)',
    flawed: (d) => { (schemas(d).Order as Json).additionalProperties = true; },
    fixed: noop,
    at: '#/components/schemas/Order',
  },
  {
    rule: 'input.unbounded-map',
    name: 'a map without maxProperties',
    flawed: (d) => { responseProps(d).labels = { type: 'object', additionalProperties: { type: 'string', maxLength: 40 } }; },
    fixed: (d) => { responseProps(d).labels = { type: 'object', maxProperties: 20, additionalProperties: { type: 'string', maxLength: 40 } }; },
    at: '#/components/schemas/Order/properties/labels',
  },

  // --- items 5 and 7 ----------------------------------------------------------------------------------------------
  {
    rule: 'rate-limit.spec-undeclared-429',
    name: 'one operation without 429',
    flawed: (d) => { delete (op(d, '/orders', 'post').responses as Json)['429']; },
    fixed: noop,
    at: '#/paths/~1orders/post/responses',
  },
  {
    rule: 'rate-limit.spec-undocumented',
    name: 'no 429 anywhere and no rate-limit headers; RateLimit headers document it (each operation still lacks 429)',
    flawed: (d) => { for (const [path, method] of [['/orders', 'get'], ['/orders', 'post'], ['/orders/{orderId}', 'get']] as const) delete (op(d, path, method).responses as Json)['429']; },
    fixed: (d) => {
      for (const [path, method] of [['/orders', 'get'], ['/orders', 'post'], ['/orders/{orderId}', 'get']] as const) delete (op(d, path, method).responses as Json)['429'];
      ((op(d, '/orders', 'get').responses as Json)['200'] as Json).headers = { RateLimit: { schema: { type: 'string', maxLength: 100 } } };
    },
    fixedClean: false,
  },
  {
    rule: 'errors.spec-undeclared-401',
    name: 'no 401 (4XX counts; an explicitly public operation needs none)',
    flawed: (d) => { delete (op(d, '/orders', 'get').responses as Json)['401']; },
    fixed: (d) => { const r = op(d, '/orders', 'get').responses as Json; delete r['401']; delete r['403']; r['4XX'] = { description: 'client error' }; },
    at: '#/paths/~1orders/get/responses',
  },
  {
    rule: 'errors.spec-undeclared-403',
    name: 'no 403 on a secured operation',
    flawed: (d) => { delete (op(d, '/orders', 'get').responses as Json)['403']; },
    fixed: noop,
  },
  {
    rule: 'errors.spec-undeclared-5xx',
    name: 'no server error (default counts)',
    flawed: (d) => { delete (op(d, '/orders', 'get').responses as Json)['500']; },
    fixed: (d) => { const r = op(d, '/orders', 'get').responses as Json; delete r['500']; r.default = { description: 'error' }; },
  },
  {
    rule: 'errors.spec-undeclared-401',
    name: 'Swagger 2.0 missing 401',
    base: clean20,
    flawed: (d) => { delete (op(d, '/orders', 'post').responses as Json)['401']; },
    fixed: noop,
  },

  // --- items 10, 14, 15, 16 ---------------------------------------------------------------------------------------
  {
    rule: 'versioning.missing',
    name: 'no version anywhere, fixed by a version header parameter',
    flawed: (d) => { (d.servers as Json[])[0]!.url = 'https://api.example.com'; },
    fixed: (d) => { (d.servers as Json[])[0]!.url = 'https://api.example.com'; op(d, '/orders', 'get').parameters = [...(op(d, '/orders', 'get').parameters as Json[]), { name: 'Api-Version', in: 'header', required: true, schema: { type: 'string', enum: ['2024-01-01'] } }]; },
    at: '#/servers',
  },
  {
    rule: 'inventory.spec-server-audience-undeclared',
    name: 'a server without x-internal',
    flawed: (d) => { delete (d.servers as Json[])[0]!['x-internal']; },
    fixed: noop,
    at: '#/servers/0',
  },
  {
    rule: 'docs.spec-exposed',
    name: 'an anonymous documentation endpoint, fixed by requiring credentials',
    flawed: (d) => { (d.paths as Json)['/openapi.json'] = { get: { operationId: 'spec', security: [], responses: { '200': { description: 'the document' }, '500': { description: 'error' }, '429': { description: 'slow down' } } } }; },
    fixed: (d) => { (d.paths as Json)['/openapi.json'] = { get: { operationId: 'spec', responses: cleanResponses30({ description: 'the document' }) } }; },
    at: '#/paths/~1openapi.json/get',
  },
  {
    rule: 'docs.internal-operations-exposed',
    name: 'an operation marked x-internal',
    flawed: (d) => { op(d, '/orders', 'post')['x-internal'] = true; },
    fixed: (d) => { op(d, '/orders', 'post')['x-internal'] = false; },
  },
  {
    rule: 'docs.secrets-in-examples',
    name: 'a cloud access key in an example (a vendor placeholder and a property named "example" are not)',
    flawed: (d) => { (responseProps(d).item as Json).example = FAKE_AWS_KEY; },
    fixed: (d) => {
      (responseProps(d).item as Json).example = 'AKIAIOSFODNN7EXAMPLE';
      responseProps(d).example = { type: 'string', maxLength: 20, description: FAKE_AWS_KEY };
    },
    at: '#/components/schemas/Order/properties/item/example',
  },
  {
    rule: 'deprecation.spec-no-sunset',
    name: 'a deprecated operation, fixed by a Sunset header',
    flawed: (d) => { op(d, '/orders/{orderId}', 'get').deprecated = true; },
    fixed: (d) => {
      const o = op(d, '/orders/{orderId}', 'get');
      o.deprecated = true;
      ((o.responses as Json)['200'] as Json).headers = { Sunset: { schema: { type: 'string', maxLength: 40 } } };
    },
    at: '#/paths/~1orders~1{orderId}/get/deprecated',
  },
  {
    rule: 'exposure.spec-sensitive-property',
    name: 'a password in a response, fixed by writeOnly',
    flawed: (d) => { responseProps(d).password = { type: 'string', maxLength: 64 }; },
    fixed: (d) => { responseProps(d).password = { type: 'string', maxLength: 64, writeOnly: true }; },
    at: '#/components/schemas/Order/properties/password',
  },
  {
    rule: 'exposure.spec-sensitive-property',
    name: 'a card number in a Swagger 2.0 response (a request-only schema is not flagged)',
    base: clean20,
    flawed: (d) => { ((schemas(d).Order as Json).properties as Json).cardNumber = { type: 'string', maxLength: 19 }; },
    fixed: (d) => { ((schemas(d).OrderInput as Json).properties as Json).cardNumber = { type: 'string', maxLength: 19 }; },
  },
  {
    rule: 'exposure.spec-credential-in-response',
    name: 'an API key in a response (a pagination token is not)',
    flawed: (d) => { responseProps(d).apiKey = { type: 'string', maxLength: 64 }; },
    fixed: (d) => { responseProps(d).nextPageToken = { type: 'string', maxLength: 64 }; },
  },
];

describe('static audit rules: flawed and fixed twins', () => {
  it('finds nothing on the clean documents (3.0, 2.0, 3.1)', async () => {
    for (const base of [clean30, clean20, clean31]) expect(ids(await audit(base()))).toEqual([]);
  });

  it.each(CASES.map((c) => [c.rule, c.name, c] as const))('%s: %s', async (_rule, _name, c) => {
    const flawedDoc = (c.base ?? clean30)();
    c.flawed(flawedDoc);
    const flawed = await audit(flawedDoc);
    expect(ids(flawed)).toContain(c.rule);
    if (c.at) expect(pointersOf(flawed, c.rule)).toContain(c.at);
    for (const f of flawed.findings) {
      // Every location is real: a line in the file and a pointer as written.
      for (const l of f.locations) if (l.kind === 'spec') expect(l.line).toBeGreaterThan(0);
    }
    const fixedDoc = (c.base ?? clean30)();
    c.fixed(fixedDoc);
    const fixed = await audit(fixedDoc);
    expect(ids(fixed)).not.toContain(c.rule);
    if (c.fixedClean !== false) expect(ids(fixed)).toEqual([]);
  });

  it('has a flawed twin for every rule except spec.invalid (tested below)', () => {
    const covered = new Set(CASES.map((c) => c.rule));
    expect(ALL_STATIC_RULES.map((r) => r.id).filter((id) => !covered.has(id) && id !== 'spec.invalid')).toEqual([]);
  });
});

describe('grouping and locations', () => {
  it('reports a schema reused by several operations once, with every property and operation as a location', async () => {
    const result = await auditSpec(join(FIXTURES, 'grouping.yaml'), { cwd: FIXTURES });
    const strings = result.findings.filter((f) => f.rule.id === 'input.unbounded-string');
    const pet = strings.filter((f) => f.locations.some((l) => l.kind === 'spec' && l.pointer.startsWith('#/components/schemas/Pet/')));
    expect(pet).toHaveLength(1);
    const locations = pet[0]!.locations.map((l) => (l.kind === 'spec' ? `${l.pointer}@${l.line}` : ''));
    expect(locations).toEqual([
      '#/components/schemas/Pet/properties/name@56',
      '#/components/schemas/Pet/properties/tag@58',
      '#/paths/~1pets/get@12',
      '#/paths/~1pets/post@23',
      '#/paths/~1pets~1{petId}/get@38',
    ]);
    expect(pet[0]!.message).toBe('schema Pet: 2 strings without a maximum length: name, tag');
    // The root cause is the schema: the operations themselves get no separate unbounded-string finding for Pet.
    expect(strings.filter((f) => f.message.startsWith('GET /pets'))).toHaveLength(0);
  });

  it('locates a schema in a referenced file at the pointer as written there', async () => {
    const result = await auditSpec(join(FIXTURES, 'multi-file', 'main.yaml'), { cwd: FIXTURES });
    const finding = result.findings.find((f) => f.rule.id === 'exposure.spec-sensitive-property');
    expect(finding).toBeDefined();
    const first = finding!.locations[0]!;
    expect(first).toMatchObject({ kind: 'spec', file: 'multi-file/schemas.yaml', pointer: '#/User/properties/password', line: 8 });
  });

  it('keeps fingerprints stable when unrelated lines move', async () => {
    const a = clean30();
    delete (requestProps(a).item as Json).maxLength;
    const b = copy(a);
    (b.info as Json).description = 'A longer description\nthat moves every line of the document down.';
    const fa = (await audit(a)).findings.map((f) => f.fingerprint);
    const fileA = join(dir, 'stable.json');
    writeFileSync(fileA, JSON.stringify(b, null, 2));
    const fb = (await auditSpec(fileA, { cwd: dir })).findings.map((f) => f.fingerprint);
    // Different files give different fingerprints; the same file name gives the same ones.
    writeFileSync(fileA, JSON.stringify(a, null, 2));
    const fa2 = (await auditSpec(fileA, { cwd: dir })).findings.map((f) => f.fingerprint);
    expect(fb).toEqual(fa2);
    expect(fa).toHaveLength(1);
  });
});

describe('a document the loader refuses', () => {
  it('is a spec.invalid finding with the error line, and the result says loadFailed', async () => {
    const file = join(dir, 'broken.yaml');
    writeFileSync(file, 'openapi: 3.0.3\ninfo: { title: x, version: "1" }\npaths:\n  /a:\n    get: [unclosed\n');
    const result = await auditSpec(file, { cwd: dir });
    expect(result.loadFailed).toBe(true);
    expect(result.findings.map((f) => f.rule.id)).toEqual(['spec.invalid']);
    const location = result.findings[0]!.locations[0]!;
    expect(location.kind === 'spec' && location.file).toBe('broken.yaml');
    expect(location.kind === 'spec' && location.line).toBeGreaterThan(1);
  });

  it('reports a missing file and a document that is not OpenAPI the same way', async () => {
    const missing = await auditSpec(join(dir, 'nope.yaml'), { cwd: dir });
    expect(missing.loadFailed).toBe(true);
    const other = join(dir, 'other.json');
    writeFileSync(other, JSON.stringify({ hello: 'world' }));
    const notOpenApi = await auditSpec(other, { cwd: dir });
    expect(notOpenApi.loadFailed).toBe(true);
    expect(notOpenApi.findings[0]!.rule.id).toBe('spec.invalid');
  });
});

describe('hostile and edge inputs', () => {
  it('bounds strings by enum, const, bounded formats and anchored bounded patterns only', () => {
    const table: Array<[Json, boolean]> = [
      [{ type: 'string' }, false],
      [{ type: 'string', maxLength: 10 }, true],
      [{ type: 'string', enum: ['a'] }, true],
      [{ type: 'string', const: 'a' }, true],
      [{ type: 'string', format: 'uuid' }, true],
      [{ type: 'string', format: 'date-time' }, true],
      [{ type: 'string', format: 'email' }, false],
      [{ type: 'string', format: 'binary' }, false],
      [{ type: 'string', pattern: '^[a-z]{1,8}$' }, true],
      [{ type: 'string', pattern: '^[a-z]+$' }, false],
      [{ type: 'string', pattern: '[a-z]{1,8}' }, false],
      [{ type: 'string', pattern: '^a{1,3}|b$' }, false],
      [{ type: 'string', pattern: '^(?:a{1,3}|b)$' }, true],
      [{ type: 'string', pattern: '^(a)\\1$' }, false],
      [{ type: 'string', pattern: '^[' }, false],
      [{ type: 'string', pattern: '^\\d{4}-\\d{2}-\\d{2}$' }, true],
      [{ type: 'string', pattern: '^.{0,}$' }, false],
    ];
    for (const [schema, bounded] of table) expect(isBoundedString(schema), JSON.stringify(schema)).toBe(bounded);
    // A pathological pattern neither hangs nor throws, and the cache keeps working after it.
    expect(isBoundedPattern(`^${'('.repeat(500)}a${')'.repeat(500)}$`)).toBe(true);
    expect(isBoundedPattern('^(a|'.repeat(50))).toBe(false);
    expect(isBoundedPattern('^[a-z]{1,8}$')).toBe(true);
  });

  it('matches vocabulary in any case and separator style, and not its look-alikes', () => {
    for (const name of ['role', 'Roles', 'is_admin', 'isAdmin', 'IS-ADMIN', 'ownerId', 'owner_id', 'balance', 'emailVerified']) expect(isPrivilegedName(name), name).toBe(true);
    for (const name of ['roleDescription', 'administrativeArea', 'balanceCurrency', 'owners', 'verifiedAtText']) expect(isPrivilegedName(name), name).toBe(false);
    for (const name of ['password', 'currentPassword', 'client_secret', 'cvv', 'ssn', 'card_number', 'privateKey']) expect(isSensitiveName(name), name).toBe(true);
    for (const name of ['passwordPolicy', 'secretName', 'cardholderName', 'pinned', 'cvvRequired']) expect(isSensitiveName(name), name).toBe(false);
    for (const name of ['token', 'access_token', 'api-key', 'apiKey', 'client_secret', 'password', 'token_handle']) expect(isCredentialParameterName(name), name).toBe(true);
    for (const name of ['PageToken', 'nextPageToken', 'continuation_token', 'token_type_hint', 'api_key_id', 'limit', 'cursor']) expect(isCredentialParameterName(name), name).toBe(false);
  });

  it('survives cycles, deep nesting, prototype-named keys and odd shapes, and still audits', async () => {
    const d = clean30();
    const s = schemas(d);
    s.Node = { type: 'object', properties: { next: { $ref: '#/components/schemas/Node' }, label: { type: 'string' } } };
    let deep: Json = { type: 'string' };
    for (let i = 0; i < 200; i++) deep = { type: 'object', properties: { child: deep } };
    s.Deep = deep;
    // Real own keys named like Object.prototype members (JSON.parse makes "__proto__" an ordinary key).
    s.Proto = JSON.parse('{"type":"object","properties":{"__proto__":{"type":"string"},"constructor":{"type":"string"},"hasOwnProperty":{"type":"integer"}}}');
    responseProps(d).node = { $ref: '#/components/schemas/Node' };
    const result = await audit(d);
    const strings = result.findings.filter((f) => f.rule.id === 'input.unbounded-string').map((f) => f.message);
    expect(strings).toContain('schema Node: 1 string without a maximum length: label');
    expect(strings.some((m) => m.startsWith('schema Deep: 1 string'))).toBe(true);
    expect(strings.some((m) => m.startsWith('schema Proto: 2 strings'))).toBe(true);

    // OpenAPI 3.1 accepts almost any shape as a schema: the walk must not trip on them.
    const loose = clean31();
    schemas(loose).Weird = { type: ['string', 42, null], items: [{ type: 'string' }, 7], allOf: 'not-a-list', properties: null, additionalProperties: 'yes', maxLength: 'ten' };
    const weird = await audit(loose);
    expect(weird.findings.filter((f) => f.rule.id === 'input.unbounded-string').map((f) => f.message)).toContain('schema Weird: 2 strings without a maximum length: (root), [0]');
    // After hostile input the audit of a clean document is still clean.
    expect(ids(await audit(clean30()))).toEqual([]);
  });
});
