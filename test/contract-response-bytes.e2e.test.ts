/**
 * What the client receives when response minimization removed something, through a real gateway: the gateway copies
 * the untouched parts of the upstream's text (spliceJson in src/gateway/response-body.ts) instead of serialising the
 * parsed value again, so an int64 that JSON.stringify would round keeps its digits, and only the undeclared members
 * are gone. When another policy rewrites values too (PII masking after minimization), the answer is serialised from
 * the value both policies produced, so the masking is never lost to the copy.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { startRecordingUpstream, startTestGateway, type RecordingUpstream, type TestGateway } from './helpers.ts';

const SPEC = fileURLToPath(new URL('./fixtures/contract/conformance-3.1.yaml', import.meta.url));
const SECRET = 'hunter2-super-secret';
const CARD = '4111 1111 1111 1111';

// Pretty-printed, with an int64 beyond 2^53 (User.balance: integer, int64) and undeclared members at two depths.
const UPSTREAM_TEXT = `{
  "id": 7,
  "email": "bob@example.com",
  "passwordHash": "${SECRET}",
  "balance": 12345678901234567891,
  "address": { "street": "Main 1", "city": "Paris", "zip": null, "geo": { "lat": 1.50, "lng": 2.0 } },
  "roles": [ "customer" ],
  "displayName": "Card ${CARD}"
}`;

let upstream: RecordingUpstream;
let gw: TestGateway;

beforeAll(async () => {
  upstream = await startRecordingUpstream((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(UPSTREAM_TEXT), etag: '"v1"' });
    res.end(UPSTREAM_TEXT);
  });
  const route = (id: string, extra: Record<string, unknown> = {}) => ({
    id,
    match: { path: `/${id}/**` },
    upstream: upstream.url,
    public: true,
    contract: { openapi: SPEC, stripPrefix: `/${id}` },
    ...extra,
  });
  gw = await startTestGateway({ routes: [route('plain'), route('masked', { pii: { mode: 'mask' } })] });
});

afterAll(async () => {
  await gw?.close();
  await upstream?.close();
});

describe('contract: bytes of a minimised answer', () => {
  it('copies what did not change from the upstream text: only the undeclared members are gone', async () => {
    const res = await fetch(`${gw.url}/plain/users/7`);
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text).toBe(
      `{"id": 7,"email": "bob@example.com","balance": 12345678901234567891,"address": {"street": "Main 1","city": "Paris","zip": null},"roles": [ "customer" ],"displayName": "Card ${CARD}"}`,
    );
    expect(res.headers.get('content-length')).toBe(String(Buffer.byteLength(text)));
    // The body changed: a strong validator no longer names these bytes (RFC 9110 §8.8.1).
    expect(res.headers.get('etag')).toBe('W/"v1"');
  });

  it('serialises the value when PII masking rewrote it after minimization (both changes kept)', async () => {
    const res = await fetch(`${gw.url}/masked/users/7`);
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text).not.toContain(SECRET);
    expect(text).not.toContain(CARD);
    const body = JSON.parse(text) as Record<string, unknown>;
    expect(Object.keys(body)).toEqual(['id', 'email', 'balance', 'address', 'roles', 'displayName']);
    expect(body.address).toEqual({ street: 'Main 1', city: 'Paris', zip: null });
  });
});
