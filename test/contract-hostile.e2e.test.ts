/**
 * Hostile request bodies against a contract route (issue 5, "Bad input"): every wrong type at every level, truncated
 * JSON, byte-order marks, comments, invalid UTF-8, deeply nested arrays, a 10 MB string (declared and chunked),
 * `1e400`, integers beyond 2^53, duplicate and prototype keys, multipart without a boundary, truncated or with too
 * many parts, form and multipart bodies with repeated keys or prototype names. Each gets a 4xx problem, nothing
 * reaches the upstream, and the next valid request is served normally.
 *
 * "Quickly" and "memory stays bounded" are checked structurally, never by timing (timing belongs in benchmarks):
 * an oversized body is answered after the gateway read at most the limit (bytes read on the gateway's side of the
 * connection, seen through Node's `http.server.request.start` diagnostics channel) and the connection is closed
 * rather than drained; deep nesting and duplicate keys are refused by the strict reader, before any schema runs (the
 * reader's reason in the log line, no `errors` list in the answer); a huge member name costs an answer of bounded
 * size; and the heap after a full collection, following rounds of such requests, stays within a stated bound.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import type { IncomingMessage } from 'node:http';
import { connect, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { fullCollector } from '../src/scan/memory.ts';
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
    routes: [
      { id: 'shop', match: { path: '/v31/**' }, upstream: upstream.url, public: true, contract: { openapi: SPEC, stripPrefix: '/v31', multipart: { maxParts: 5, maxPartSize: '1kb' } } },
      // The route's own limit far above the contract's default `maxBodySize` (1 MB): the contract's limit is the one met.
      { id: 'roomy', match: { path: '/roomy/**' }, upstream: upstream.url, public: true, maxBodySize: '64mb', contract: { openapi: SPEC, stripPrefix: '/roomy' } },
    ],
  });
  subscribe('http.server.request.start', onRequestStart);
});

afterAll(async () => {
  unsubscribe('http.server.request.start', onRequestStart);
  await gw?.close();
  await upstream?.close();
});

/** The gateway's side of each probe's connection (requests carrying `x-probe`), to read how many bytes it took in. */
const probed = new Map<string, Socket>();
function onRequestStart(message: unknown): void {
  const { request, socket } = message as { request: IncomingMessage; socket: Socket };
  const probe = request.headers['x-probe'];
  if (typeof probe === 'string') probed.set(probe, socket);
}

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

const MB = 1024 * 1024;
/** The contract's default `maxBodySize`. */
const LIMIT = MB;
/** What the gateway may read past the limit: the request head, chunk framing, and the socket reads already under way. */
const SLACK = 256 * 1024;

interface LargeResult {
  readonly status: number;
  /** Body bytes the client wrote before its connection ended (kernel buffers included). */
  readonly clientSent: number;
  /** Bytes the gateway read from the connection, request head included. */
  readonly gatewayRead: number;
  /** Whether the gateway closed the connection (rather than the client hanging up after sending everything). */
  readonly closedByGateway: boolean;
}

let probes = 0;

/**
 * Sends a JSON body of `total` bytes (one long string) as fast as the connection takes it, declared in Content-Length
 * or chunked, and stops when the gateway ends the connection. The body is written in 64 KB pieces, generated as they
 * go, so the client never holds it whole.
 */
function sendLarge(path: string, total: number, chunked: boolean): Promise<LargeResult> {
  const probe = `p${++probes}`;
  return new Promise((resolve, reject) => {
    const socket = connect(gw.port, '127.0.0.1');
    const piece = Buffer.alloc(64 * 1024, 0x78);
    let sent = 0;
    let head = '';
    let settled = false;
    const finish = (closedByGateway: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      const server = probed.get(probe);
      probed.delete(probe);
      if (server === undefined) return reject(new Error('the gateway never saw the request'));
      resolve({ status: Number(head.split(' ')[1] ?? 0), clientSent: sent, gatewayRead: server.bytesRead, closedByGateway });
    };
    // A gateway that drains the whole body instead of closing: the client sends it all, and hangs up itself.
    const timer = setTimeout(() => finish(false), 15_000);
    socket.on('data', (chunk: Buffer) => {
      if (head === '') head = chunk.toString('latin1').split('\r\n')[0]!;
    });
    socket.on('error', () => {});
    // The client never ends the connection before `finish`: a close seen here is the gateway's.
    socket.on('close', () => finish(true));
    const framing = chunked ? 'Transfer-Encoding: chunked' : `Content-Length: ${total}`;
    socket.write(`POST ${path} HTTP/1.1\r\nHost: x\r\nX-Probe: ${probe}\r\nContent-Type: application/json\r\n${framing}\r\n\r\n`);
    const pump = (): void => {
      while (sent < total && !socket.destroyed) {
        const size = Math.min(piece.length, total - sent);
        let bytes = piece.subarray(0, size);
        if (sent === 0) bytes = Buffer.concat([Buffer.from('"'), bytes.subarray(1)]);
        if (sent + size === total) bytes = Buffer.concat([bytes.subarray(0, size - 1), Buffer.from('"')]);
        const ok = socket.write(chunked ? Buffer.concat([Buffer.from(`${size.toString(16)}\r\n`), bytes, Buffer.from(sent + size === total ? '\r\n0\r\n\r\n' : '\r\n')]) : bytes);
        sent += size;
        if (!ok) {
          socket.once('drain', pump);
          return;
        }
      }
      // All sent without the gateway closing: wait for its answer, then hang up (a drained connection stays open).
      if (sent >= total) setTimeout(() => finish(false), 1_000);
    };
    pump();
  });
}

describe('contract: an oversized body is refused after reading at most the limit', () => {
  it.each([
    ['declared in Content-Length, the route limit at its default (the gateway refuses it before the contract)', '/v31/orders', false],
    ['chunked, the route limit at its default', '/v31/orders', true],
    ['declared in Content-Length, the route limit above the contract limit', '/roomy/orders', false],
    ['chunked, the route limit above the contract limit', '/roomy/orders', true],
  ] as const)('10 MB %s: 413, at most the limit read, the connection closed', { timeout: 30_000 }, async (_name, path, chunked) => {
    const before = upstream.seen.length;
    const res = await sendLarge(path, 10 * MB, chunked);
    expect(res.status).toBe(413);
    expect(res.gatewayRead, `${res.gatewayRead} bytes read`).toBeLessThanOrEqual(LIMIT + SLACK);
    // Closed, not drained: a drained connection would have taken all 10 MB before it could serve another request.
    expect(res.closedByGateway, `${res.clientSent} bytes sent`).toBe(true);
    expect(upstream.seen.length).toBe(before);
    await stillServes();
  });
});

describe('contract: hostile structure is refused by the strict reader, before any schema runs', () => {
  async function answer(body: string): Promise<{ status: number; problem: Record<string, unknown>; detail: unknown; size: number }> {
    const res = await fetch(`${gw.url}/v31/orders`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    const text = await res.text();
    const problem = JSON.parse(text) as Record<string, unknown>;
    const line = gw.appLog().find((l) => l.reqId === problem.correlationId && l.detail !== undefined);
    return { status: res.status, problem, detail: line?.detail, size: text.length };
  }

  it.each([
    ['nesting 400 000 deep (800 KB)', `${'['.repeat(400_000)}${']'.repeat(400_000)}`, 'contract: JSON nested deeper than 32'],
    ['objects nested 100 000 deep', `${'{"a":'.repeat(100_000)}1${'}'.repeat(100_000)}`, 'contract: JSON nested deeper than 32'],
    ['a 400 KB member name given twice', `{"${'k'.repeat(400_000)}":1,"${'k'.repeat(400_000)}":2}`, 'contract: duplicate key in JSON object'],
  ])('%s: the reader\'s 400, without a schema error list', async (_name, body, detail) => {
    const res = await answer(body);
    expect(res.status).toBe(400);
    // The reader's generic problem: ajv never ran, so there is no `errors` list.
    expect(res.problem.code).toBe('RAMPART_ERR_BAD_REQUEST');
    expect(res.problem.errors).toBeUndefined();
    expect(res.detail).toBe(detail);
    await stillServes();
  });

  it('a 900 KB member name is named in 64 characters: the answer stays small and echoes nothing', async () => {
    const name = `x${'a'.repeat(900_000)}`;
    const res = await answer(JSON.stringify({ ...VALID, [name]: 1 }));
    expect(res.status).toBe(400);
    expect(res.problem.errors).toEqual([{ pointer: `/body/${name.slice(0, 64)}…`, rule: 'is not declared' }]);
    expect(res.size).toBeLessThan(1024);
    await stillServes();
  });

  it('50 000 undeclared members: ten are named and the answer says the list was cut', async () => {
    const extra = Object.fromEntries(Array.from({ length: 50_000 }, (_, i) => [`extra${i}`, i]));
    const res = await answer(JSON.stringify({ ...VALID, ...extra }));
    expect(res.status).toBe(400);
    expect((res.problem.errors as unknown[]).length).toBe(10);
    expect(res.problem.truncated).toBe(true);
    expect(res.size).toBeLessThan(2048);
    await stillServes();
  });
});


describe('contract: memory stays bounded under hostile bodies', () => {
  const collect = fullCollector();
  if (collect === null) console.warn('\n*** SKIPPED: the heap test needs V8\'s full collector, which this Node does not give (src/scan/memory.ts fullCollector). ***\n');

  /** Heap in use after full collections (twice: the first can leave finalizer-held garbage for the second). */
  function heapAfterCollection(): number {
    collect!();
    collect!();
    return process.memoryUsage().heapUsed;
  }

  async function hostileRound(): Promise<void> {
    expect((await sendLarge('/roomy/orders', 10 * MB, true)).status).toBe(413);
    expect((await sendLarge('/roomy/orders', 10 * MB, false)).status).toBe(413);
    const bodies = [
      `${'['.repeat(500_000)}${']'.repeat(500_000)}`,
      JSON.stringify({ ...VALID, notes: 'x'.repeat(900_000) }),
      JSON.stringify({ ...VALID, ...Object.fromEntries(Array.from({ length: 40_000 }, (_, i) => [`extra${i}`, i])) }),
      JSON.stringify({ ...VALID, [`x${'a'.repeat(900_000)}`]: 1 }),
    ];
    for (const body of bodies) expect((await post(body)).status).toBe(400);
  }

  it.skipIf(collect === null)('the heap after 5 rounds of 10 MB, deep, wide and long bodies is within 8 MB of the heap before', { timeout: 120_000 }, async () => {
    // One round first: the code paths compile and the gateway's lazily built state exists before the measurement.
    await hostileRound();
    const before = heapAfterCollection();
    for (let i = 0; i < 5; i++) await hostileRound();
    const grown = heapAfterCollection() - before;
    // The gateway reads about 5 MB a round (1 MB of each refused 10 MB body, the four others whole): keeping what these
    // requests read would pass the bound in two rounds of the five. Measured growth here: under 1 MB.
    expect(grown, `heap grew by ${(grown / MB).toFixed(1)} MB`).toBeLessThan(8 * MB);
    await stillServes();
  });
});
