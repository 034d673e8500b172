/**
 * Contract conformance (issue 5, "Must show"): more than 60 valid and 60 invalid requests against the conformance
 * specs (OpenAPI 3.1 with type arrays, a discriminator with mapping, oneOf/anyOf/allOf, nested objects and arrays,
 * every parameter style; OpenAPI 3.0 with `nullable`, an allOf hierarchy discriminator and a circular schema;
 * Swagger 2.0 with body/formData and collectionFormat), sent through a real gateway to a real upstream on port 0.
 *
 * Valid requests reach the upstream unchanged. Invalid ones never reach it: each gets its 4xx problem, and a 400
 * lists every failing location as `{ pointer, rule }` without echoing the submitted values.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { rawRequest, startRecordingUpstream, startTestGateway, type RecordingUpstream, type TestGateway } from './helpers.ts';

const FIXTURES = fileURLToPath(new URL('./fixtures/contract/', import.meta.url));
const ORDER = '3f2b9a52-7c1d-4e8a-9b6f-0a1c2d3e4f50';
const UUID = '0b6e4a39-1f0c-4c5d-8e7a-2d9f3b4c5a61';
const CANARY = 'CANARY-VALUE-7731';

interface Case {
  readonly name: string;
  readonly method?: string;
  readonly path: string;
  readonly headers?: Record<string, string>;
  readonly json?: unknown;
  readonly body?: string | Buffer;
  readonly type?: string;
}

interface Invalid extends Case {
  readonly status: number;
  readonly code: string;
  /** Expected `[pointer, rule prefix]` entries of the problem's `errors` (400 only). */
  readonly errors?: ReadonlyArray<readonly [string, string]>;
}

/** A multipart body; a part's value given as bytes is sent as they are (text is sent as UTF-8). */
function multipart(parts: Array<{ name: string; value: string | Buffer; filename?: string; type?: string }>, boundary = 'rampartBoundary42'): { body: Buffer; type: string } {
  const pieces: Buffer[] = [];
  for (const p of parts) {
    let head = `--${boundary}\r\nContent-Disposition: form-data; name="${p.name}"${p.filename ? `; filename="${p.filename}"` : ''}\r\n`;
    if (p.type) head += `Content-Type: ${p.type}\r\n`;
    pieces.push(Buffer.from(`${head}\r\n`), Buffer.from(p.value), Buffer.from('\r\n'));
  }
  pieces.push(Buffer.from(`--${boundary}--\r\n`));
  return { body: Buffer.concat(pieces), type: `multipart/form-data; boundary=${boundary}` };
}

/** Bytes that are not UTF-8: a lone continuation byte, a truncated sequence, an overlong `/`. */
const NOT_UTF8 = Buffer.from([0x6e, 0x6f, 0x74, 0x65, 0x80, 0xc3, 0x28, 0xc0, 0xaf]);

const items = (n: number) => Array.from({ length: n }, (_, i) => ({ sku: `ABC-${String(100 + i)}`, qty: 1 }));
const order = (extra: Record<string, unknown> = {}) => ({ customer: { email: 'ann@example.com' }, items: items(1), ...extra });
const user = (extra: Record<string, unknown> = {}) => ({ email: 'bob@example.com', password: 'correct horse battery', ...extra });
const note = multipart([{ name: 'note', value: 'hello' }, { name: 'attachment', value: 'PNG\x00\x01binary', filename: 'a.png', type: 'image/png' }]);
const noteMeta = multipart([{ name: 'note', value: 'with meta' }, { name: 'meta', value: '{"source":"web"}', type: 'application/json' }]);
const cover = multipart([{ name: 'file', value: 'JPEGDATA', filename: 'c.jpg', type: 'image/jpeg' }, { name: 'caption', value: 'front' }]);
const rangeParam = encodeURIComponent(JSON.stringify({ from: '2024-01-01', to: '2024-02-01' }));

const VALID: Case[] = [
  // OpenAPI 3.1 shop, parameters
  { name: 'list without parameters', path: '/v31/orders' },
  { name: 'integer at minimum', path: '/v31/orders?limit=1' },
  { name: 'integer at maximum', path: '/v31/orders?limit=100' },
  { name: 'form exploded array, one value', path: '/v31/orders?status=open' },
  { name: 'form exploded array, repeated', path: '/v31/orders?status=open&status=paid' },
  { name: 'form array, comma separated (explode false)', path: '/v31/orders?ids=1,2,3' },
  { name: 'pipeDelimited array', path: '/v31/orders?tags=red|green|blue' },
  { name: 'pipeDelimited array, pipes percent-encoded as the specification writes them', path: '/v31/orders?tags=red%7Cgreen%7Cblue' },
  { name: 'spaceDelimited array, form-urlencoded space', path: '/v31/orders?words=big+red' },
  { name: 'spaceDelimited array', path: '/v31/orders?words=big%20red' },
  { name: 'deepObject', path: '/v31/orders?filter[minTotal]=10.5&filter[currency]=EUR' },
  { name: 'date-time format', path: '/v31/orders?since=2024-05-01T10:00:00Z' },
  { name: 'boolean query', path: '/v31/orders?verbose=false' },
  { name: 'integer header', path: '/v31/orders', headers: { 'x-request-priority': '3' } },
  { name: 'uuid cookie among others', path: '/v31/orders', headers: { cookie: `theme=dark; session-hint=${UUID}; other=1` } },
  { name: 'undeclared headers and cookies pass', path: '/v31/orders', headers: { 'x-trace': 'abc', cookie: 'unrelated=1' } },
  { name: 'Accept exact', path: '/v31/orders', headers: { accept: 'application/json' } },
  { name: 'Accept wildcard', path: '/v31/orders', headers: { accept: '*/*' } },
  { name: 'Accept with ranges and q', path: '/v31/orders', headers: { accept: 'text/html, application/*;q=0.5' } },
  { name: 'HEAD served by the GET operation', method: 'HEAD', path: '/v31/orders?limit=5' },
  { name: 'an apiKey credential named by a security scheme is not an undeclared parameter', path: '/v31/orders?api_key=k-123&limit=2' },
  { name: 'every parameter at once', path: `/v31/orders?limit=5&status=open&ids=1&tags=a&words=b&filter[currency]=USD&since=2024-01-01T00:00:00%2B02:00&verbose=true`, headers: { 'x-request-priority': '0', cookie: `session-hint=${UUID}` } },
  // bodies
  { name: 'JSON minimal order', method: 'POST', path: '/v31/orders', json: order() },
  {
    name: 'JSON full order',
    method: 'POST',
    path: '/v31/orders',
    json: order({ shipping: { street: 'Main 1', city: 'Paris', zip: '75001' }, notes: null, coupon: 'SGVsbG8=', callbackUrl: 'https://hooks.example/x', clientIp: '203.0.113.9', giftWrap: true, weightKg: 0.25 }),
  },
  { name: 'oneOf ipv6 branch', method: 'POST', path: '/v31/orders', json: order({ clientIp: '2001:db8::1' }) },
  { name: 'array at maxItems', method: 'POST', path: '/v31/orders', json: order({ items: items(10) }) },
  { name: 'nested $ref object', method: 'POST', path: '/v31/orders', json: order({ items: [{ sku: 'XYZ-999', qty: 100, price: { amount: 1299, currency: 'EUR' } }] }) },
  { name: '3.1 type array accepts null', method: 'POST', path: '/v31/orders', json: order({ customer: { email: 'a@b.example', phone: null, name: 'Ann' } }) },
  { name: 'JSON with charset parameter', method: 'POST', path: '/v31/orders', json: order(), type: 'application/json; charset=utf-8' },
  { name: 'form body with exploded array', method: 'POST', path: '/v31/orders', body: 'email=ann%40example.com&skus=ABC-123&skus=DEF-456&qty=3&express=true', type: 'application/x-www-form-urlencoded' },
  { name: 'form body minimal', method: 'POST', path: '/v31/orders', body: 'email=ann%40example.com&skus=ABC-123', type: 'application/x-www-form-urlencoded' },
  { name: 'multipart with a file part', method: 'POST', path: '/v31/orders', body: note.body, type: note.type },
  { name: 'multipart with a JSON part', method: 'POST', path: '/v31/orders', body: noteMeta.body, type: noteMeta.type },
  // `attachment` is `format: binary`: its bytes need not be UTF-8, even in a part sent without a filename.
  { name: 'multipart binary field as a text part with bytes that are not UTF-8', method: 'POST', path: '/v31/orders', ...multipart([{ name: 'note', value: 'n' }, { name: 'attachment', value: NOT_UTF8 }]) },
  { name: 'multipart text part in UTF-8 beyond ASCII', method: 'POST', path: '/v31/orders', ...multipart([{ name: 'note', value: 'Grüße, 東京 🎉' }]) },
  { name: 'literal path beats template', path: '/v31/orders/summary' },
  { name: 'uuid path parameter', path: `/v31/orders/${ORDER}` },
  { name: 'merge-patch null', method: 'PATCH', path: `/v31/orders/${ORDER}`, json: { notes: null }, type: 'application/merge-patch+json' },
  { name: 'merge-patch nested object', method: 'PATCH', path: `/v31/orders/${ORDER}`, json: { shipping: { street: 'A', city: 'B', zip: null } }, type: 'application/merge-patch+json' },
  { name: 'merge-patch zip string', method: 'PATCH', path: `/v31/orders/${ORDER}`, json: { shipping: { street: 'A', city: 'B', zip: '12345' } }, type: 'application/merge-patch+json' },
  { name: 'POST without a body', method: 'POST', path: `/v31/orders/${ORDER}/cancel` },
  { name: 'two path parameters, lowest', path: `/v31/orders/${ORDER}/items/0` },
  { name: 'two path parameters, highest', path: `/v31/orders/${ORDER}/items/9` },
  { name: 'label style array', path: '/v31/points/.1.5,2' },
  { name: 'label style array of three', path: '/v31/points/.1,2,3' },
  { name: 'simple style exploded object', path: '/v31/coords/lat=48.85,lng=2.35' },
  { name: 'template with literal parts', path: '/v31/files/report-2024.json' },
  { name: 'template with literal parts, other enum', path: '/v31/files/x.csv', headers: { accept: 'text/csv' } },
  { name: 'content-serialised JSON query parameter', path: `/v31/reports?range=${rangeParam}`, headers: { accept: 'text/csv' } },
  { name: 'discriminator mapping by pointer', method: 'POST', path: '/v31/pets', json: { petType: 'cat', name: 'Tom', indoor: true, lives: 9 } },
  { name: 'discriminator mapping by name', method: 'POST', path: '/v31/pets', json: { petType: 'dog', name: 'Rex', breed: 'collie', vaccinated: null } },
  { name: 'discriminator implicit name', method: 'POST', path: '/v31/pets', json: { petType: 'Lizard', name: 'Liz', scales: 'rough' } },
  { name: 'anyOf first branch', method: 'POST', path: '/v31/shapes', json: { radius: 2 } },
  { name: 'anyOf second branch', method: 'POST', path: '/v31/shapes', json: { width: 1, height: 2 } },
  { name: 'anyOf property shared by branches', method: 'POST', path: '/v31/shapes', json: { width: 1, height: 2, label: 'box' } },
  {
    name: 'every format',
    method: 'POST',
    path: '/v31/users',
    json: user({ displayName: null, roles: ['customer', 'staff'], homepage: 'https://bob.example/', lastLoginIp: '198.51.100.7', ipv6: 'fe80::1', externalId: UUID, balance: 9007199254740991, address: { street: 'S', city: 'C' } }),
  },
  { name: 'writeOnly password accepted in requests', method: 'POST', path: '/v31/users', json: user() },
  { name: 'integer path parameter', path: '/v31/users/5' },
  { name: 'per-operation opt-out of undeclared properties', method: 'POST', path: '/v31/legacy/import', json: { source: 'csv', anything: { goes: true } } },
  { name: 'property named like an extension', method: 'POST', path: '/v31/users', json: user({ 'x-internal-note': 'declared' }) },
  // OpenAPI 3.0 zoo
  { name: 'allOf hierarchy, lion', method: 'POST', path: '/v30/animals', json: { kind: 'lion', name: 'Leo', maneLength: 30 } },
  { name: 'allOf hierarchy, penguin with nullable', method: 'POST', path: '/v30/animals', json: { kind: 'penguin', name: 'Pingu', canSwim: true, colony: null, age: null } },
  { name: 'circular schema', method: 'POST', path: '/v30/animals', json: { kind: 'lion', name: 'Leo', keeper: { name: 'K', mentor: { name: 'M', mentor: { name: 'N' } } } } },
  { name: 'required cookie', path: '/v30/animals/7', headers: { cookie: 'zoo_session=abcdefgh' } },
  { name: 'header array', path: '/v30/animals/7', headers: { cookie: 'zoo_session=abcdefgh', 'x-fields': 'name,age' } },
  { name: 'header array with whitespace after the commas (RFC 9110 list)', path: '/v30/animals/7', headers: { cookie: 'zoo_session=abcdefgh', 'x-fields': 'name, age,\tkeeper' } },
  { name: 'recursive arrays', method: 'PUT', path: '/v30/enclosures', json: { name: 'E', zones: [{ label: 'a', subzones: [{ name: 'E2', zones: [{ label: 'b' }] }] }] } },
  { name: 'nullable type, enum and allOf', method: 'POST', path: '/v30/feedings', json: { grams: 0.5, at: '2024-01-01T08:00:00Z', food: null, keeperId: null, note: null } },
  { name: 'nullable allOf with value, byte', method: 'POST', path: '/v30/feedings?dryRun=true', json: { grams: 5000, at: '2024-01-01T08:00:00.123Z', note: { text: 'ok' }, checksum: 'AAEC' } },
  { name: 'enum value', method: 'POST', path: '/v30/feedings', json: { grams: 1, at: '2024-01-01T08:00:00Z', food: 'fish' } },
  // Swagger 2.0
  { name: '2.0 collection formats', path: '/v20/books?tags=a,b&authors=x&authors=y&pages=1|2&limit=5' },
  { name: '2.0 body parameter', method: 'POST', path: '/v20/books', json: { isbn: '9780000000001', title: 'T', price: 1.5, related: [{ isbn: '9780000000002', title: 'U' }] } },
  { name: '2.0 formData file', method: 'PUT', path: '/v20/books/9780000000001/cover', body: cover.body, type: cover.type },
  { name: '2.0 urlencoded formData', method: 'POST', path: '/v20/books/9780000000001/rating', body: 'stars=5&reviewer=ann', type: 'application/x-www-form-urlencoded' },
];

const INVALID: Invalid[] = [
  // parameters
  { name: 'integer below minimum', path: '/v31/orders?limit=0', status: 400, code: 'RAMPART_ERR_REQUEST_INVALID', errors: [['/query/limit', 'must be >= 1']] },
  { name: 'integer above maximum', path: '/v31/orders?limit=101', status: 400, code: 'RAMPART_ERR_REQUEST_INVALID', errors: [['/query/limit', 'must be <= 100']] },
  { name: 'integer not a number', path: `/v31/orders?limit=${CANARY}`, status: 400, code: 'RAMPART_ERR_REQUEST_INVALID', errors: [['/query/limit', 'must be integer']] },
  { name: 'scalar repeated', path: '/v31/orders?limit=1&limit=2', status: 400, code: 'RAMPART_ERR_REQUEST_INVALID', errors: [['/query/limit', 'must not be repeated']] },
  { name: 'array item not in enum', path: '/v31/orders?status=closed', status: 400, code: 'RAMPART_ERR_REQUEST_INVALID', errors: [['/query/status/0', 'must be equal to one of the allowed values']] },
  { name: 'array too long', path: '/v31/orders?status=open&status=paid&status=shipped&status=open', status: 400, code: 'RAMPART_ERR_REQUEST_INVALID', errors: [['/query/status', 'must NOT have more than 3 items']] },
  { name: 'comma array item type', path: '/v31/orders?ids=1,x', status: 400, code: 'RAMPART_ERR_REQUEST_INVALID', errors: [['/query/ids/1', 'must be integer']] },
  { name: 'comma array item minimum', path: '/v31/orders?ids=0', status: 400, code: 'RAMPART_ERR_REQUEST_INVALID', errors: [['/query/ids/0', 'must be >= 1']] },
  { name: 'comma array, an encoded comma is data (one item)', path: '/v31/orders?ids=1%2C2', status: 400, code: 'RAMPART_ERR_REQUEST_INVALID', errors: [['/query/ids/0', 'must be integer']] },
  { name: 'pipe array, an encoded pipe still separates', path: '/v31/orders?tags=a%7Cabcdefghijk', status: 400, code: 'RAMPART_ERR_REQUEST_INVALID', errors: [['/query/tags/1', 'must NOT have more than 10 characters']] },
  { name: 'pipe array item too long', path: '/v31/orders?tags=a|abcdefghijk', status: 400, code: 'RAMPART_ERR_REQUEST_INVALID', errors: [['/query/tags/1', 'must NOT have more than 10 characters']] },
  { name: 'deepObject pattern', path: '/v31/orders?filter[currency]=eur', status: 400, code: 'RAMPART_ERR_REQUEST_INVALID', errors: [['/query/filter/currency', 'must match pattern']] },
  { name: 'deepObject undeclared property', path: '/v31/orders?filter[owner]=me', status: 400, code: 'RAMPART_ERR_REQUEST_INVALID', errors: [['/query/filter/owner', 'is not declared']] },
  { name: 'deepObject minimum', path: '/v31/orders?filter[minTotal]=-1', status: 400, code: 'RAMPART_ERR_REQUEST_INVALID', errors: [['/query/filter/minTotal', 'must be >= 0']] },
  { name: 'date-time format', path: '/v31/orders?since=yesterday', status: 400, code: 'RAMPART_ERR_REQUEST_INVALID', errors: [['/query/since', 'must match format "date-time"']] },
  { name: 'boolean format', path: '/v31/orders?verbose=yes', status: 400, code: 'RAMPART_ERR_REQUEST_INVALID', errors: [['/query/verbose', 'must be boolean']] },
  { name: 'undeclared query parameter', path: '/v31/orders?debug=1', status: 400, code: 'RAMPART_ERR_REQUEST_INVALID', errors: [['/query/debug', 'is not declared']] },
  { name: 'header above maximum', path: '/v31/orders', headers: { 'x-request-priority': '10' }, status: 400, code: 'RAMPART_ERR_REQUEST_INVALID', errors: [['/header/X-Request-Priority', 'must be <= 9']] },
  { name: 'header not an integer', path: '/v31/orders', headers: { 'x-request-priority': 'high' }, status: 400, code: 'RAMPART_ERR_REQUEST_INVALID', errors: [['/header/X-Request-Priority', 'must be integer']] },
  { name: 'cookie format', path: '/v31/orders', headers: { cookie: `session-hint=${CANARY}` }, status: 400, code: 'RAMPART_ERR_REQUEST_INVALID', errors: [['/cookie/session-hint', 'must match format "uuid"']] },
  { name: 'Accept not satisfiable', path: '/v31/orders', headers: { accept: 'text/html' }, status: 406, code: 'RAMPART_ERR_NOT_ACCEPTABLE' },
  { name: 'Accept q=0 excludes the only type', path: '/v31/orders', headers: { accept: '*/*, application/json;q=0' }, status: 406, code: 'RAMPART_ERR_NOT_ACCEPTABLE' },
  { name: 'several errors at once', path: '/v31/orders?limit=0&status=closed&debug=1', status: 400, code: 'RAMPART_ERR_REQUEST_INVALID', errors: [['/query/limit', 'must be >= 1'], ['/query/status/0', 'must be equal'], ['/query/debug', 'is not declared']] },
  // bodies
  { name: 'required body missing', method: 'POST', path: '/v31/orders', status: 400, code: 'RAMPART_ERR_REQUEST_INVALID', errors: [['/body', 'is required']] },
  { name: 'undeclared media type', method: 'POST', path: '/v31/orders', body: 'hello', type: 'text/plain', status: 415, code: 'RAMPART_ERR_UNSUPPORTED_MEDIA_TYPE' },
  { name: 'required property missing', method: 'POST', path: '/v31/orders', json: { items: items(1) }, status: 400, code: 'RAMPART_ERR_REQUEST_INVALID', errors: [['/body/customer', 'is required']] },
  { name: 'email format', method: 'POST', path: '/v31/orders', json: order({ customer: { email: CANARY } }), status: 400, code: 'RAMPART_ERR_REQUEST_INVALID', errors: [['/body/customer/email', 'must match format "email"']] },
  { name: 'array below minItems', method: 'POST', path: '/v31/orders', json: order({ items: [] }), status: 400, code: 'RAMPART_ERR_REQUEST_INVALID', errors: [['/body/items', 'must NOT have fewer than 1 items']] },
  { name: 'array above maxItems', method: 'POST', path: '/v31/orders', json: order({ items: items(11) }), status: 400, code: 'RAMPART_ERR_REQUEST_INVALID', errors: [['/body/items', 'must NOT have more than 10 items']] },
  { name: 'nested maximum (issue example)', method: 'POST', path: '/v31/orders', json: order({ items: [...items(3), { sku: 'ABC-999', qty: 101 }] }), status: 400, code: 'RAMPART_ERR_REQUEST_INVALID', errors: [['/body/items/3/qty', 'must be <= 100']] },
  { name: 'nested minimum', method: 'POST', path: '/v31/orders', json: order({ items: [{ sku: 'ABC-123', qty: 0 }] }), status: 400, code: 'RAMPART_ERR_REQUEST_INVALID', errors: [['/body/items/0/qty', 'must be >= 1']] },
  { name: 'nested pattern', method: 'POST', path: '/v31/orders', json: order({ items: [{ sku: 'abc-123', qty: 1 }] }), status: 400, code: 'RAMPART_ERR_REQUEST_INVALID', errors: [['/body/items/0/sku', 'must match pattern']] },
  { name: 'integer as string', method: 'POST', path: '/v31/orders', json: order({ items: [{ sku: 'ABC-123', qty: '2' }] }), status: 400, code: 'RAMPART_ERR_REQUEST_INVALID', errors: [['/body/items/0/qty', 'must be integer']] },
  { name: 'integer with fraction', method: 'POST', path: '/v31/orders', json: order({ items: [{ sku: 'ABC-123', qty: 1.5 }] }), status: 400, code: 'RAMPART_ERR_REQUEST_INVALID', errors: [['/body/items/0/qty', 'must be integer']] },
  {
    name: 'integer beyond 2^53',
    method: 'POST',
    path: '/v31/users',
    body: JSON.stringify(user()).replace('}', ',"balance":9007199254740993}'),
    type: 'application/json',
    status: 400,
    code: 'RAMPART_ERR_REQUEST_INVALID',
    errors: [['/body/balance', 'must be an integer between']],
  },
  { name: 'nested enum', method: 'POST', path: '/v31/orders', json: order({ items: [{ sku: 'ABC-123', qty: 1, price: { amount: 1, currency: 'GBP' } }] }), status: 400, code: 'RAMPART_ERR_REQUEST_INVALID', errors: [['/body/items/0/price/currency', 'must be equal to one of the allowed values']] },
  { name: 'nested required', method: 'POST', path: '/v31/orders', json: order({ shipping: { street: 'S' } }), status: 400, code: 'RAMPART_ERR_REQUEST_INVALID', errors: [['/body/shipping/city', 'is required']] },
  { name: 'type array pattern', method: 'POST', path: '/v31/orders', json: order({ shipping: { street: 'S', city: 'C', zip: '1234' } }), status: 400, code: 'RAMPART_ERR_REQUEST_INVALID', errors: [['/body/shipping/zip', 'must match pattern']] },
  { name: 'maxLength', method: 'POST', path: '/v31/orders', json: order({ notes: 'x'.repeat(201) }), status: 400, code: 'RAMPART_ERR_REQUEST_INVALID', errors: [['/body/notes', 'must NOT have more than 200 characters']] },
  { name: 'byte format', method: 'POST', path: '/v31/orders', json: order({ coupon: `${CANARY}!!` }), status: 400, code: 'RAMPART_ERR_REQUEST_INVALID', errors: [['/body/coupon', 'must match format "byte"']] },
  { name: 'uri format', method: 'POST', path: '/v31/orders', json: order({ callbackUrl: 'not a uri' }), status: 400, code: 'RAMPART_ERR_REQUEST_INVALID', errors: [['/body/callbackUrl', 'must match format "uri"']] },
  { name: 'oneOf no branch', method: 'POST', path: '/v31/orders', json: order({ clientIp: '300.1.1.1' }), status: 400, code: 'RAMPART_ERR_REQUEST_INVALID', errors: [['/body/clientIp', 'must match exactly one schema in oneOf']] },
  { name: 'exclusiveMinimum', method: 'POST', path: '/v31/orders', json: order({ weightKg: 0 }), status: 400, code: 'RAMPART_ERR_REQUEST_INVALID', errors: [['/body/weightKg', 'must be > 0']] },
  { name: 'readOnly property sent', method: 'POST', path: '/v31/orders', json: order({ id: CANARY }), status: 400, code: 'RAMPART_ERR_REQUEST_INVALID', errors: [['/body/id', 'is read-only']] },
  { name: 'undeclared property (mass assignment)', method: 'POST', path: '/v31/orders', json: order({ isAdmin: true }), status: 400, code: 'RAMPART_ERR_REQUEST_INVALID', errors: [['/body/isAdmin', 'is not declared']] },
  { name: 'undeclared nested property', method: 'POST', path: '/v31/orders', json: order({ customer: { email: 'a@b.example', role: 'admin' } }), status: 400, code: 'RAMPART_ERR_REQUEST_INVALID', errors: [['/body/customer/role', 'is not declared']] },
  { name: 'array instead of object', method: 'POST', path: '/v31/orders', json: [order()], status: 400, code: 'RAMPART_ERR_REQUEST_INVALID', errors: [['/body', 'must be object']] },
  { name: 'string instead of object', method: 'POST', path: '/v31/orders', json: CANARY, status: 400, code: 'RAMPART_ERR_REQUEST_INVALID', errors: [['/body', 'must be object']] },
  { name: 'boolean as string', method: 'POST', path: '/v31/orders', json: order({ giftWrap: 'yes' }), status: 400, code: 'RAMPART_ERR_REQUEST_INVALID', errors: [['/body/giftWrap', 'must be boolean']] },
  { name: 'form array item pattern', method: 'POST', path: '/v31/orders', body: 'email=a%40b.example&skus=abc', type: 'application/x-www-form-urlencoded', status: 400, code: 'RAMPART_ERR_REQUEST_INVALID', errors: [['/body/skus/0', 'must match pattern']] },
  { name: 'form scalar repeated', method: 'POST', path: '/v31/orders', body: 'email=a%40b.example&skus=ABC-123&qty=1&qty=2', type: 'application/x-www-form-urlencoded', status: 400, code: 'RAMPART_ERR_REQUEST_INVALID', errors: [['/body/qty', 'must not be repeated']] },
  { name: 'form undeclared field', method: 'POST', path: '/v31/orders', body: 'email=a%40b.example&skus=ABC-123&admin=1', type: 'application/x-www-form-urlencoded', status: 400, code: 'RAMPART_ERR_REQUEST_INVALID', errors: [['/body/admin', 'is not declared']] },
  { name: 'form required field', method: 'POST', path: '/v31/orders', body: 'skus=ABC-123', type: 'application/x-www-form-urlencoded', status: 400, code: 'RAMPART_ERR_REQUEST_INVALID', errors: [['/body/email', 'is required']] },
  { name: 'form __proto__ field', method: 'POST', path: '/v31/orders', body: 'email=a%40b.example&skus=ABC-123&__proto__=x', type: 'application/x-www-form-urlencoded', status: 400, code: 'RAMPART_ERR_REQUEST_INVALID', errors: [['/body/__proto__', 'is a forbidden name']] },
  { name: 'form constructor field', method: 'POST', path: '/v31/orders', body: 'email=a%40b.example&skus=ABC-123&constructor=x', type: 'application/x-www-form-urlencoded', status: 400, code: 'RAMPART_ERR_REQUEST_INVALID', errors: [['/body/constructor', 'is a forbidden name']] },
  { name: 'multipart __proto__ part', method: 'POST', path: '/v31/orders', ...(multipart([{ name: 'note', value: 'n' }, { name: '__proto__', value: '{"admin":true}', type: 'application/json' }])), status: 400, code: 'RAMPART_ERR_REQUEST_INVALID', errors: [['/body/__proto__', 'is a forbidden name']] },
  { name: 'multipart required part', method: 'POST', path: '/v31/orders', ...(multipart([{ name: 'attachment', value: 'x', filename: 'x.bin' }])), status: 400, code: 'RAMPART_ERR_REQUEST_INVALID', errors: [['/body/note', 'is required']] },
  { name: 'multipart JSON part enum', method: 'POST', path: '/v31/orders', ...(multipart([{ name: 'note', value: 'n' }, { name: 'meta', value: '{"source":"fax"}', type: 'application/json' }])), status: 400, code: 'RAMPART_ERR_REQUEST_INVALID', errors: [['/body/meta/source', 'must be equal to one of the allowed values']] },
  { name: 'multipart field too long', method: 'POST', path: '/v31/orders', ...(multipart([{ name: 'note', value: 'n'.repeat(51) }])), status: 400, code: 'RAMPART_ERR_REQUEST_INVALID', errors: [['/body/note', 'must NOT have more than 50 characters']] },
  // Refused as JSON and form bodies that are not UTF-8 are, not validated with U+FFFD in place of the bytes.
  { name: 'multipart text part that is not UTF-8', method: 'POST', path: '/v31/orders', ...(multipart([{ name: 'note', value: NOT_UTF8 }])), status: 400, code: 'RAMPART_ERR_REQUEST_INVALID', errors: [['/body/note', 'is not valid UTF-8']] },
  { name: 'multipart text part that is not UTF-8, declaring charset=utf-8', method: 'POST', path: '/v31/orders', ...(multipart([{ name: 'note', value: NOT_UTF8, type: 'text/plain; charset=utf-8' }])), status: 400, code: 'RAMPART_ERR_REQUEST_INVALID', errors: [['/body/note', 'is not valid UTF-8']] },
  // Parameters and body judged together: one answer lists both.
  { name: 'path parameter and body failures in one list', method: 'PATCH', path: '/v31/orders/not-a-uuid', json: { notes: 5 }, type: 'application/merge-patch+json', status: 400, code: 'RAMPART_ERR_REQUEST_INVALID', errors: [['/path/orderId', 'must match format "uuid"'], ['/body/notes', 'must be string,null']] },
  { name: 'path parameter format', path: '/v31/orders/not-a-uuid', status: 400, code: 'RAMPART_ERR_REQUEST_INVALID', errors: [['/path/orderId', 'must match format "uuid"']] },
  { name: 'minProperties', method: 'PATCH', path: `/v31/orders/${ORDER}`, json: {}, type: 'application/merge-patch+json', status: 400, code: 'RAMPART_ERR_REQUEST_INVALID', errors: [['/body', 'must NOT have fewer than 1 properties']] },
  { name: 'undeclared request media type', method: 'PATCH', path: `/v31/orders/${ORDER}`, json: { notes: 'x' }, status: 415, code: 'RAMPART_ERR_UNSUPPORTED_MEDIA_TYPE' },
  { name: 'second path parameter maximum', path: `/v31/orders/${ORDER}/items/10`, status: 400, code: 'RAMPART_ERR_REQUEST_INVALID', errors: [['/path/index', 'must be <= 9']] },
  { name: 'label style prefix missing', path: '/v31/points/1,2', status: 400, code: 'RAMPART_ERR_REQUEST_INVALID', errors: [['/path/point', 'must start with "."']] },
  { name: 'label style minItems', path: '/v31/points/.1', status: 400, code: 'RAMPART_ERR_REQUEST_INVALID', errors: [['/path/point', 'must NOT have fewer than 2 items']] },
  { name: 'exploded object property maximum', path: '/v31/coords/lat=100,lng=0', status: 400, code: 'RAMPART_ERR_REQUEST_INVALID', errors: [['/path/coords/lat', 'must be <= 90']] },
  { name: 'exploded object required property', path: '/v31/coords/lat=1', status: 400, code: 'RAMPART_ERR_REQUEST_INVALID', errors: [['/path/coords/lng', 'is required']] },
  { name: 'template part pattern', path: '/v31/files/Bad_Name.json', status: 400, code: 'RAMPART_ERR_REQUEST_INVALID', errors: [['/path/name', 'must match pattern']] },
  { name: 'template part enum', path: '/v31/files/a.xml', status: 400, code: 'RAMPART_ERR_REQUEST_INVALID', errors: [['/path/ext', 'must be equal to one of the allowed values']] },
  { name: 'required query parameter', path: '/v31/reports', headers: { accept: 'text/csv' }, status: 400, code: 'RAMPART_ERR_REQUEST_INVALID', errors: [['/query/range', 'is required']] },
  { name: 'content parameter not JSON', path: `/v31/reports?range=${CANARY}`, headers: { accept: 'text/csv' }, status: 400, code: 'RAMPART_ERR_REQUEST_INVALID', errors: [['/query/range', 'must be valid JSON']] },
  { name: 'content parameter schema', path: `/v31/reports?range=${encodeURIComponent('{"from":"2024-01-01"}')}`, headers: { accept: 'text/csv' }, status: 400, code: 'RAMPART_ERR_REQUEST_INVALID', errors: [['/query/range/to', 'is required']] },
  { name: 'Accept JSON for a CSV operation', path: `/v31/reports?range=${rangeParam}`, headers: { accept: 'application/json' }, status: 406, code: 'RAMPART_ERR_NOT_ACCEPTABLE' },
  { name: 'discriminator value not mapped', method: 'POST', path: '/v31/pets', json: { petType: 'cow', name: 'Daisy' }, status: 400, code: 'RAMPART_ERR_REQUEST_INVALID', errors: [['/body/petType', 'must be equal to one of the allowed values']] },
  { name: 'discriminated branch required', method: 'POST', path: '/v31/pets', json: { petType: 'dog', name: 'Rex' }, status: 400, code: 'RAMPART_ERR_REQUEST_INVALID', errors: [['/body/breed', 'is required']] },
  { name: 'property of another branch', method: 'POST', path: '/v31/pets', json: { petType: 'cat', name: 'Tom', breed: 'collie' }, status: 400, code: 'RAMPART_ERR_REQUEST_INVALID', errors: [['/body/breed', 'is not declared']] },
  { name: 'discriminator property missing', method: 'POST', path: '/v31/pets', json: { name: 'Nobody' }, status: 400, code: 'RAMPART_ERR_REQUEST_INVALID', errors: [['/body/petType', 'is required']] },
  { name: 'anyOf no branch', method: 'POST', path: '/v31/shapes', json: { radius: -1 }, status: 400, code: 'RAMPART_ERR_REQUEST_INVALID', errors: [['/body', 'must match a schema in anyOf']] },
  { name: 'anyOf undeclared property', method: 'POST', path: '/v31/shapes', json: { radius: 1, depth: 3 }, status: 400, code: 'RAMPART_ERR_REQUEST_INVALID', errors: [['/body/depth', 'is not declared']] },
  { name: 'minLength', method: 'POST', path: '/v31/users', json: user({ password: 'short' }), status: 400, code: 'RAMPART_ERR_REQUEST_INVALID', errors: [['/body/password', 'must NOT have fewer than 12 characters']] },
  { name: 'readOnly integer sent', method: 'POST', path: '/v31/users', json: user({ id: 1 }), status: 400, code: 'RAMPART_ERR_REQUEST_INVALID', errors: [['/body/id', 'is read-only']] },
  { name: 'ipv4 format', method: 'POST', path: '/v31/users', json: user({ lastLoginIp: '1.2.3' }), status: 400, code: 'RAMPART_ERR_REQUEST_INVALID', errors: [['/body/lastLoginIp', 'must match format "ipv4"']] },
  { name: 'ipv6 format', method: 'POST', path: '/v31/users', json: user({ ipv6: '1.2.3.4' }), status: 400, code: 'RAMPART_ERR_REQUEST_INVALID', errors: [['/body/ipv6', 'must match format "ipv6"']] },
  { name: 'uuid format', method: 'POST', path: '/v31/users', json: user({ externalId: 'abc' }), status: 400, code: 'RAMPART_ERR_REQUEST_INVALID', errors: [['/body/externalId', 'must match format "uuid"']] },
  { name: 'array item enum', method: 'POST', path: '/v31/users', json: user({ roles: ['customer', 'admin'] }), status: 400, code: 'RAMPART_ERR_REQUEST_INVALID', errors: [['/body/roles/1', 'must be equal to one of the allowed values']] },
  { name: 'path integer minimum', path: '/v31/users/0', status: 400, code: 'RAMPART_ERR_REQUEST_INVALID', errors: [['/path/userId', 'must be >= 1']] },
  { name: 'method not declared', method: 'DELETE', path: '/v31/users/5', status: 405, code: 'RAMPART_ERR_METHOD_NOT_ALLOWED' },
  { name: 'operation not declared', path: '/v31/admin/export', status: 404, code: 'RAMPART_ERR_ROUTE_NOT_FOUND' },
  { name: 'trailing slash is another path', path: '/v31/orders/', status: 404, code: 'RAMPART_ERR_ROUTE_NOT_FOUND' },
  { name: 'body on an operation without one', method: 'POST', path: `/v31/orders/${ORDER}/cancel`, json: { reason: 'x' }, status: 415, code: 'RAMPART_ERR_UNSUPPORTED_MEDIA_TYPE' },
  // OpenAPI 3.0
  { name: '3.0 discriminator value not mapped', method: 'POST', path: '/v30/animals', json: { kind: 'tiger', name: 'T' }, status: 400, code: 'RAMPART_ERR_REQUEST_INVALID', errors: [['/body/kind', 'must be equal to one of the allowed values']] },
  { name: '3.0 inherited minLength', method: 'POST', path: '/v30/animals', json: { kind: 'lion', name: '' }, status: 400, code: 'RAMPART_ERR_REQUEST_INVALID', errors: [['/body/name', 'must NOT have fewer than 1 characters']] },
  { name: '3.0 subtype required', method: 'POST', path: '/v30/animals', json: { kind: 'penguin', name: 'P' }, status: 400, code: 'RAMPART_ERR_REQUEST_INVALID', errors: [['/body/canSwim', 'is required']] },
  { name: '3.0 readOnly in required', method: 'POST', path: '/v30/animals', json: { kind: 'lion', name: 'L', id: 4 }, status: 400, code: 'RAMPART_ERR_REQUEST_INVALID', errors: [['/body/id', 'is read-only']] },
  { name: '3.0 nullable still checks the value', method: 'POST', path: '/v30/animals', json: { kind: 'lion', name: 'L', age: -1 }, status: 400, code: 'RAMPART_ERR_REQUEST_INVALID', errors: [['/body/age', 'must be >= 0']] },
  { name: '3.0 circular schema depth', method: 'POST', path: '/v30/animals', json: { kind: 'lion', name: 'L', keeper: { name: 'K', mentor: { mentor: { name: 'x' } } } }, status: 400, code: 'RAMPART_ERR_REQUEST_INVALID', errors: [['/body/keeper/mentor/name', 'is required']] },
  { name: '3.0 required cookie', path: '/v30/animals/7', status: 400, code: 'RAMPART_ERR_REQUEST_INVALID', errors: [['/cookie/zoo_session', 'is required']] },
  { name: '3.0 header array enum', path: '/v30/animals/7', headers: { cookie: 'zoo_session=abcdefgh', 'x-fields': 'name,color' }, status: 400, code: 'RAMPART_ERR_REQUEST_INVALID', errors: [['/header/X-Fields/1', 'must be equal to one of the allowed values']] },
  { name: '3.0 header array enum after whitespace', path: '/v30/animals/7', headers: { cookie: 'zoo_session=abcdefgh', 'x-fields': 'name, color' }, status: 400, code: 'RAMPART_ERR_REQUEST_INVALID', errors: [['/header/X-Fields/1', 'must be equal to one of the allowed values']] },
  // Header values are not percent-encoded (OAS 3.1.2): the upstream reads `na%6De`, so that is what is judged.
  { name: '3.0 header array item percent-encoded', path: '/v30/animals/7', headers: { cookie: 'zoo_session=abcdefgh', 'x-fields': 'na%6De,age' }, status: 400, code: 'RAMPART_ERR_REQUEST_INVALID', errors: [['/header/X-Fields/0', 'must be equal to one of the allowed values']] },
  { name: '3.0 path integer', path: '/v30/animals/abc', headers: { cookie: 'zoo_session=abcdefgh' }, status: 400, code: 'RAMPART_ERR_REQUEST_INVALID', errors: [['/path/animalId', 'must be integer']] },
  { name: '3.0 maxItems', method: 'PUT', path: '/v30/enclosures', json: { name: 'E', zones: Array.from({ length: 6 }, (_, i) => ({ label: String(i) })) }, status: 400, code: 'RAMPART_ERR_REQUEST_INVALID', errors: [['/body/zones', 'must NOT have more than 5 items']] },
  { name: '3.0 recursive required', method: 'PUT', path: '/v30/enclosures', json: { name: 'E', zones: [{ label: 'a', subzones: [{ name: 'E2' }] }] }, status: 400, code: 'RAMPART_ERR_REQUEST_INVALID', errors: [['/body/zones/0/subzones/0/zones', 'is required']] },
  { name: '3.0 boolean exclusiveMinimum', method: 'POST', path: '/v30/feedings', json: { grams: 0, at: '2024-01-01T08:00:00Z' }, status: 400, code: 'RAMPART_ERR_REQUEST_INVALID', errors: [['/body/grams', 'must be > 0']] },
  { name: '3.0 nullable enum', method: 'POST', path: '/v30/feedings', json: { grams: 1, at: '2024-01-01T08:00:00Z', food: 'cake' }, status: 400, code: 'RAMPART_ERR_REQUEST_INVALID', errors: [['/body/food', 'must be equal to one of the allowed values']] },
  { name: '3.0 nullable allOf', method: 'POST', path: '/v30/feedings', json: { grams: 1, at: '2024-01-01T08:00:00Z', note: { text: 1 } }, status: 400, code: 'RAMPART_ERR_REQUEST_INVALID', errors: [['/body/note/text', 'must be string']] },
  { name: '3.0 boolean query', method: 'POST', path: '/v30/feedings?dryRun=maybe', json: { grams: 1, at: '2024-01-01T08:00:00Z' }, status: 400, code: 'RAMPART_ERR_REQUEST_INVALID', errors: [['/query/dryRun', 'must be boolean']] },
  // Swagger 2.0
  { name: '2.0 query maximum', path: '/v20/books?limit=51', status: 400, code: 'RAMPART_ERR_REQUEST_INVALID', errors: [['/query/limit', 'must be <= 50']] },
  { name: '2.0 pipes item type', path: '/v20/books?pages=1|x', status: 400, code: 'RAMPART_ERR_REQUEST_INVALID', errors: [['/query/pages/1', 'must be integer']] },
  { name: '2.0 body required property', method: 'POST', path: '/v20/books', json: { isbn: '9780000000001' }, status: 400, code: 'RAMPART_ERR_REQUEST_INVALID', errors: [['/body/title', 'is required']] },
  { name: '2.0 readOnly', method: 'POST', path: '/v20/books', json: { isbn: '9780000000001', title: 'T', secret: 's' }, status: 400, code: 'RAMPART_ERR_REQUEST_INVALID', errors: [['/body/secret', 'is read-only']] },
  { name: '2.0 formData file required', method: 'PUT', path: '/v20/books/9780000000001/cover', ...(multipart([{ name: 'caption', value: 'c' }])), status: 400, code: 'RAMPART_ERR_REQUEST_INVALID', errors: [['/body/file', 'is required']] },
  { name: '2.0 formData maximum', method: 'POST', path: '/v20/books/9780000000001/rating', body: 'stars=6', type: 'application/x-www-form-urlencoded', status: 400, code: 'RAMPART_ERR_REQUEST_INVALID', errors: [['/body/stars', 'must be <= 5']] },
  { name: '2.0 consumes', method: 'POST', path: '/v20/books/9780000000001/rating', json: { stars: 5 }, status: 415, code: 'RAMPART_ERR_UNSUPPORTED_MEDIA_TYPE' },
  { name: '2.0 path pattern', method: 'POST', path: '/v20/books/123/rating', body: 'stars=5', type: 'application/x-www-form-urlencoded', status: 400, code: 'RAMPART_ERR_REQUEST_INVALID', errors: [['/path/isbn', 'must match pattern']] },
];

let upstream: RecordingUpstream;
let gw: TestGateway;

beforeAll(async () => {
  upstream = await startRecordingUpstream((_req, res) => {
    res.writeHead(204);
    res.end();
  });
  const route = (id: string, prefix: string, file: string, extra: Record<string, unknown> = {}) => ({
    id,
    match: { path: `${prefix}/**` },
    upstream: upstream.url,
    public: true,
    contract: { openapi: `${FIXTURES}${file}`, stripPrefix: prefix, ...extra },
  });
  gw = await startTestGateway({
    routes: [
      route('shop', '/v31', 'conformance-3.1.yaml', { operations: { legacyImport: { undeclared: { body: 'allow' } } } }),
      route('zoo', '/v30', 'conformance-3.0.yaml'),
      route('legacy', '/v20', 'swagger-2.0.yaml'),
    ],
    acknowledge: [
      { rule: 'contract-undeclared-body', path: 'routes[0].contract.operations.legacyImport.undeclared.body', reason: 'legacy importer sends extra fields', expires: '2099-01-01' },
    ],
  });
});

afterAll(async () => {
  await gw?.close();
  await upstream?.close();
});

async function send(c: Case): Promise<Response> {
  const headers: Record<string, string> = { ...c.headers };
  let body: string | Buffer | undefined = c.body;
  if (c.json !== undefined) body = JSON.stringify(c.json);
  if (body !== undefined) headers['content-type'] = c.type ?? 'application/json';
  return fetch(gw.url + c.path, { method: c.method ?? 'GET', headers, body: typeof body === 'string' || body === undefined ? body : new Uint8Array(body) });
}

describe(`contract conformance: ${VALID.length} valid requests reach the upstream`, () => {
  it('has at least 60 valid cases', () => expect(VALID.length).toBeGreaterThanOrEqual(60));
  it.each(VALID.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const before = upstream.seen.length;
    const res = await send(c);
    const text = await res.text();
    expect({ status: res.status, text }).toEqual({ status: 204, text: '' });
    expect(upstream.seen.length).toBe(before + 1);
    const seen = upstream.seen.at(-1)!;
    // Forwarded unchanged: the same path and query, the same body bytes.
    expect(seen.url).toBe(c.path);
    if (c.json !== undefined) expect(seen.body).toBe(JSON.stringify(c.json));
    else if (typeof c.body === 'string') expect(seen.body).toBe(c.body);
    else if (c.body !== undefined) expect(Buffer.from(seen.body, 'utf8').length).toBeGreaterThan(0);
  });
});

describe('contract conformance: a header list sent on several lines', () => {
  it('is one list (RFC 9110 §5.3): accepted when every element is, refused when one is not', async () => {
    const request = (second: string) =>
      `GET /v30/animals/7 HTTP/1.1\r\nHost: x\r\nCookie: zoo_session=abcdefgh\r\nX-Fields: name\r\nX-Fields: ${second}\r\nConnection: close\r\n\r\n`;
    const before = upstream.seen.length;
    expect((await rawRequest(gw.port, request('age'))).status).toBe(204);
    expect(upstream.seen.length).toBe(before + 1);
    const refused = await rawRequest(gw.port, request('color'));
    expect(refused.status).toBe(400);
    expect(refused.raw).toContain('/header/X-Fields/1');
    expect(upstream.seen.length).toBe(before + 1);
  });
});

describe(`contract conformance: ${INVALID.length} invalid requests are refused`, () => {
  it('has at least 60 invalid cases', () => expect(INVALID.length).toBeGreaterThanOrEqual(60));
  it.each(INVALID.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const before = upstream.seen.length;
    const res = await send(c);
    const text = await res.text();
    expect(res.status, text).toBe(c.status);
    expect(res.headers.get('content-type')).toBe('application/problem+json');
    expect(upstream.seen.length).toBe(before);
    const problem = JSON.parse(text) as { code: string; status: number; errors?: Array<{ pointer: string; rule: string }> };
    expect(problem.code).toBe(c.code);
    expect(problem.status).toBe(c.status);
    // Submitted values are never echoed.
    expect(text).not.toContain(CANARY);
    if (c.errors) {
      for (const [pointer, rule] of c.errors) {
        expect(problem.errors, `${pointer}: ${rule} in ${text}`).toContainEqual({ pointer, rule: expect.stringMatching(new RegExp(`^${rule.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`)) });
      }
    }
  });

  it('names every failing location in the log line and the security event, with the same correlation id', async () => {
    const res = await send({ name: 'x', method: 'POST', path: '/v31/orders', json: order({ items: [...items(3), { sku: 'ABC-999', qty: 101 }], isAdmin: CANARY }) });
    const problem = (await res.json()) as { correlationId: string; errors: Array<{ pointer: string; rule: string }> };
    expect(problem.errors).toEqual([
      { pointer: '/body/items/3/qty', rule: 'must be <= 100' },
      { pointer: '/body/isAdmin', rule: 'is not declared' },
    ]);
    const event = gw.events.events.find((e) => e.type === 'contract.request-invalid' && e.requestId === problem.correlationId);
    expect(event?.details).toEqual({ operation: 'createOrder', errors: ['/body/items/3/qty: must be <= 100', '/body/isAdmin: is not declared'] });
    const access = (await gw.accessLog()).find((l) => l.reqId === problem.correlationId || l.requestId === problem.correlationId);
    expect(access).toBeDefined();
    expect(JSON.stringify(gw.appLog())).not.toContain(CANARY);
  });
});
