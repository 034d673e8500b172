/**
 * Hostile request bodies against a contract route (issue 5, "Bad input"): every wrong type at every level, truncated
 * JSON, byte-order marks, comments, invalid UTF-8, deeply nested arrays, a 10 MB string (declared and chunked),
 * `1e400`, integers beyond 2^53, duplicate and prototype keys, multipart without a boundary, truncated or with too
 * many parts, form and multipart bodies with repeated keys or prototype names. Each gets a 4xx problem, nothing
 * reaches the upstream, and the next valid request is served normally.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { rawRequest, startRecordingUpstream, startTestGateway, type RecordingUpstream, type TestGateway } from './helpers.ts';

const SPEC = fileURLToPath(new URL('./fixtures/contract/conformance-3.1.yaml', import.meta.url));
// Every value here has exactly one JSON type the schema accepts (no nullable fields), so any other type is wrong.
const VALID = { customer: { email: 'ann@example.com', name: 'Ann' }, items: [{ sku: 'ABC-123', qty: 2, price: { amount: 100, currency: 'EUR' } }], giftWrap: false, weightKg: 1.5 };

let upstream: RecordingUpstream;
let gw: TestGateway;

beforeAll(async () => {
  upstream = await startRecordingUpstream((_req, res) => {
    res.writeHead(204);
    res.end();
  });
  gw = await startTestGateway({
    routes: [{ id: 'shop', match: { path: '/v31/**' }, upstream: upstream.url, public: true, contract: { openapi: SPEC, stripPrefix: '/v31', multipart: { maxParts: 5, maxPartSize: '1kb' } } }],
  });
});

afterAll(async () => {
  await gw?.close();
  await upstream?.close();
});

async function post(body: string | Buffer, type = 'application/json'): Promise<{ status: number; code: string | undefined }> {
  const res = await fetch(`${gw.url}/v31/orders`, { method: 'POST', headers: { 'content-type': type }, body: typeof body === 'string' ? body : new Uint8Array(body) });
  const text = await res.text();
  return { status: res.status, code: text.startsWith('{') ? (JSON.parse(text) as { code?: string }).code : undefined };
}

/** The gateway still serves a valid request after a hostile one. */
async function stillServes(): Promise<void> {
  const before = upstream.seen.length;
  expect(await post(JSON.stringify(VALID))).toEqual({ status: 204, code: undefined });
  expect(upstream.seen.length).toBe(before + 1);
}

/** Every path to a value in `value` (objects and arrays included), as key lists. */
function paths(value: unknown, prefix: Array<string | number> = []): Array<Array<string | number>> {
  const out: Array<Array<string | number>> = prefix.length > 0 ? [prefix] : [];
  if (Array.isArray(value)) value.forEach((v, i) => out.push(...paths(v, [...prefix, i])));
  else if (value !== null && typeof value === 'object') for (const [k, v] of Object.entries(value)) out.push(...paths(v, [...prefix, k]));
  return out;
}

function withValue(root: unknown, path: Array<string | number>, value: unknown): unknown {
  const copy = structuredClone(root) as Record<string | number, unknown>;
  let node = copy;
  for (const key of path.slice(0, -1)) node = node[key] as Record<string | number, unknown>;
  node[path.at(-1)!] = value;
  return copy;
}

function typeOf(value: unknown): string {
  return value === null ? 'null' : Array.isArray(value) ? 'array' : Number.isInteger(value) ? 'integer' : typeof value;
}

describe('contract: hostile bodies', () => {
  it('refuses every wrong type at every level with a 400 naming that location', async () => {
    const wrong: unknown[] = [null, true, 7, 2.5, 'text', [], {}];
    let count = 0;
    for (const path of [[], ...paths(VALID)]) {
      const original = path.length === 0 ? VALID : path.reduce<unknown>((n, k) => (n as Record<string | number, unknown>)[k], VALID);
      for (const value of wrong) {
        const t = typeOf(value);
        const o = typeOf(original);
        // Same JSON type (an integer is also a number) is not a wrong type.
        if (t === o || (o === 'number' && t === 'integer')) continue;
        const body = path.length === 0 ? value : withValue(VALID, path, value);
        const before = upstream.seen.length;
        const res = await fetch(`${gw.url}/v31/orders`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
        const answer = await res.text();
        expect(res.status, `${path.join('/')} = ${JSON.stringify(value)}`).toBe(400);
        const problem = JSON.parse(answer) as { code: string; errors: Array<{ pointer: string }> };
        expect(problem.code).toBe('RAMPART_ERR_REQUEST_INVALID');
        const pointer = `/body${path.map((p) => `/${p}`).join('')}`;
        expect(problem.errors.some((e) => e.pointer === pointer || e.pointer.startsWith(`${pointer}/`)), `${pointer} in ${JSON.stringify(problem.errors)}`).toBe(true);
        expect(upstream.seen.length).toBe(before);
        count++;
      }
    }
    expect(count).toBeGreaterThan(60);
    await stillServes();
  });

  const text = JSON.stringify(VALID);
  const cases: Array<[string, string | Buffer, number, string?]> = [
    ...[1, 10, 40, text.length - 1].map((n): [string, string, number] => [`truncated at ${n} characters`, text.slice(0, n), 400]),
    ['a UTF-8 byte-order mark', Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(text)]), 400],
    ['a block comment', `/* hi */${text}`, 400],
    ['a line comment', `${text}\n// trailing`, 400],
    ['a string where the schema wants an object', '"text"', 400],
    ['invalid UTF-8', Buffer.concat([Buffer.from('{"customer":{"email":"'), Buffer.from([0xc3, 0x28]), Buffer.from('"}}')]), 400],
    ['overlong UTF-8', Buffer.concat([Buffer.from('{"notes":"'), Buffer.from([0xc0, 0xaf]), Buffer.from('"}')]), 400],
    ['deeply nested arrays', `${'['.repeat(10_000)}${']'.repeat(10_000)}`, 400],
    ['deeply nested objects', `${'{"a":'.repeat(5_000)}1${'}'.repeat(5_000)}`, 400],
    ['1e400 where a number is declared', text.replace('"weightKg":1.5', '"weightKg":1e400'), 400],
    ['1e400 where an integer is declared', text.replace('"qty":2', '"qty":1e400'), 400],
    ['an integer beyond 2^53', text.replace('"qty":2', '"qty":9007199254740993'), 400],
    ['-0 overflow', text.replace('"amount":100', '"amount":-1e400'), 400],
    ['a duplicate key', text.replace('"giftWrap":false', '"giftWrap":false,"giftWrap":true'), 400],
    ['a __proto__ key', text.replace('"giftWrap":false', '"__proto__":{"isAdmin":true}'), 400],
    ['an escaped constructor key', text.replace('"giftWrap":false', '"constructo\\u0072":{}'), 400],
    ['NaN', text.replace('"weightKg":1.5', '"weightKg":NaN'), 400],
    ['a trailing comma', text.replace(/}$/, ',}'), 400],
    ['single quotes', text.replaceAll('"', "'"), 400],
    ['an empty body with a length', ' ', 400],
    ['two JSON documents', `${text}${text}`, 400],
  ];
  it.each(cases)('refuses a JSON body with %s, then serves the next request', async (_name, body, status) => {
    const before = upstream.seen.length;
    const res = await post(body);
    expect(res.status).toBe(status);
    expect(res.code).toMatch(/^RAMPART_ERR_/);
    expect(upstream.seen.length).toBe(before);
    await stillServes();
  });

  it('refuses a 10 MB string declared in Content-Length before reading it, and a chunked one once over the limit', async () => {
    const huge = JSON.stringify({ ...VALID, notes: 'x'.repeat(10 * 1024 * 1024) });
    expect(await post(huge)).toEqual({ status: 413, code: 'RAMPART_ERR_BODY_TOO_LARGE' });
    const chunks = [huge.slice(0, 1000), huge.slice(1000)];
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        const next = chunks.shift();
        if (next === undefined) controller.close();
        else controller.enqueue(new TextEncoder().encode(next));
      },
    });
    const res = await fetch(`${gw.url}/v31/orders`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: stream, duplex: 'half' } as RequestInit);
    expect(res.status).toBe(413);
    await res.arrayBuffer();
    await stillServes();
  });

  it('refuses a string longer than the schema allows, however it is sent', async () => {
    const res = await post(JSON.stringify({ ...VALID, notes: 'x'.repeat(500_000) }));
    expect(res).toEqual({ status: 400, code: 'RAMPART_ERR_REQUEST_INVALID' });
    await stillServes();
  });

  const multipartCases: Array<[string, string, string, number]> = [
    ['a missing boundary', 'multipart/form-data', '--x\r\nContent-Disposition: form-data; name="note"\r\n\r\nhi\r\n--x--\r\n', 400],
    ['an empty boundary', 'multipart/form-data; boundary=', '--\r\n\r\n', 400],
    ['a body without the closing delimiter', 'multipart/form-data; boundary=b1', '--b1\r\nContent-Disposition: form-data; name="note"\r\n\r\nhi', 400],
    ['a body that is not multipart at all', 'multipart/form-data; boundary=b1', 'just some text', 400],
    ['too many parts', 'multipart/form-data; boundary=b1', `${Array.from({ length: 8 }, (_, i) => `--b1\r\nContent-Disposition: form-data; name="f${i}"\r\n\r\nv\r\n`).join('')}--b1--\r\n`, 413],
    ['a part over the size limit', 'multipart/form-data; boundary=b1', `--b1\r\nContent-Disposition: form-data; name="note"\r\n\r\n${'x'.repeat(2000)}\r\n--b1--\r\n`, 413],
    ['a __proto__ part', 'multipart/form-data; boundary=b1', '--b1\r\nContent-Disposition: form-data; name="note"\r\n\r\nhi\r\n--b1\r\nContent-Disposition: form-data; name="__proto__"\r\n\r\nx\r\n--b1--\r\n', 400],
    ['a constructor part', 'multipart/form-data; boundary=b1', '--b1\r\nContent-Disposition: form-data; name="note"\r\n\r\nhi\r\n--b1\r\nContent-Disposition: form-data; name="constructor"\r\n\r\nx\r\n--b1--\r\n', 400],
    ['a file part over the size limit', 'multipart/form-data; boundary=b1', `--b1\r\nContent-Disposition: form-data; name="attachment"; filename="a"\r\n\r\n${'x'.repeat(2000)}\r\n--b1\r\nContent-Disposition: form-data; name="note"\r\n\r\nhi\r\n--b1--\r\n`, 413],
  ];
  it.each(multipartCases)('refuses multipart with %s, then serves the next request', async (_name, type, body, status) => {
    const before = upstream.seen.length;
    const res = await post(body, type);
    expect(res.status).toBe(status);
    expect(upstream.seen.length).toBe(before);
    await stillServes();
  });

  const formCases: Array<[string, string]> = [
    ['a repeated scalar key', 'email=a%40b.example&email=c%40d.example&skus=ABC-123'],
    ['a repeated undeclared key', 'email=a%40b.example&skus=ABC-123&x=1&x=2'],
    ['a malformed percent escape', 'email=a%4&skus=ABC-123'],
    ['invalid UTF-8 after decoding', 'email=%C3%28&skus=ABC-123'],
    // Prototype names, refused as the JSON reader refuses them as keys (an assignment of `__proto__` would drop it).
    ['a __proto__ field', 'email=a%40b.example&skus=ABC-123&__proto__=x'],
    ['an encoded __proto__ field', 'email=a%40b.example&skus=ABC-123&%5F%5Fproto%5F%5F=x'],
    ['a __proto__ field given twice', '__proto__=x&__proto__=y&email=a%40b.example&skus=ABC-123'],
    ['a constructor field', 'email=a%40b.example&skus=ABC-123&constructor=x'],
    ['a prototype field', 'email=a%40b.example&skus=ABC-123&prototype=x'],
  ];
  it.each(formCases)('refuses a form body with %s, then serves the next request', async (_name, body) => {
    const before = upstream.seen.length;
    const res = await post(body, 'application/x-www-form-urlencoded');
    expect(res.status).toBe(400);
    expect(upstream.seen.length).toBe(before);
    await stillServes();
  });

  it('refuses raw bytes that are not UTF-8 in a form body', async () => {
    const res = await post(Buffer.from([0x65, 0x3d, 0xff, 0xfe]), 'application/x-www-form-urlencoded');
    expect(res.status).toBe(400);
    await stillServes();
  });

  it('answers a pipelined hostile request and the valid one after it on the same connection', async () => {
    const bad = '{"customer":';
    const good = JSON.stringify(VALID);
    const raw =
      `POST /v31/orders HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${bad.length}\r\n\r\n${bad}` +
      `POST /v31/orders HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${good.length}\r\nConnection: close\r\n\r\n${good}`;
    const res = await rawRequest(gw.port, raw);
    expect(res.status).toBe(400);
    expect(res.raw).toContain('HTTP/1.1 204');
  });
});
