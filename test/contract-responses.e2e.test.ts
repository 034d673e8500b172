/**
 * Response minimization through a real gateway (issue 5 item 4, "Must show": a response with an undeclared
 * `password` field reaching the client without it). The upstream answers with more than the document declares;
 * the client gets only what is declared (`remove`), or a generic 502 (`reject`); `writeOnly` properties never pass.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import type { ServerResponse } from 'node:http';
import { startRecordingUpstream, startTestGateway, type RecordingUpstream, type TestGateway } from './helpers.ts';

const SPEC = fileURLToPath(new URL('./fixtures/contract/conformance-3.1.yaml', import.meta.url));
const ZOO = fileURLToPath(new URL('./fixtures/contract/conformance-3.0.yaml', import.meta.url));
const LEGACY = fileURLToPath(new URL('./fixtures/contract/swagger-2.0.yaml', import.meta.url));
const TREES = fileURLToPath(new URL('./fixtures/contract/external/main.yaml', import.meta.url));
const ORDER = '3f2b9a52-7c1d-4e8a-9b6f-0a1c2d3e4f50';
const SECRET = 'hunter2-super-secret';

/** What the upstream answers, by path (without the route prefix). */
const answers = new Map<string, (res: ServerResponse) => void>();
function json(status: number, value: unknown, type = 'application/json'): (res: ServerResponse) => void {
  return (res) => {
    const body = JSON.stringify(value);
    res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
    res.end(body);
  };
}

const fullUser = {
  id: 7,
  email: 'bob@example.com',
  password: SECRET,
  passwordHash: '$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA',
  displayName: 'Bob',
  address: { street: 'Main 1', city: 'Paris', zip: null, geo: { lat: 1, lng: 2 } },
  roles: ['customer'],
  isAdmin: false,
};

let upstream: RecordingUpstream;
let gw: TestGateway;

beforeAll(async () => {
  upstream = await startRecordingUpstream((req, res) => {
    const path = req.url!.replace(/^\/(remove|reject|allow|zoo|legacy|trees)/, '').split('?')[0]!;
    const answer = answers.get(path);
    if (answer) answer(res);
    else {
      res.writeHead(204);
      res.end();
    }
  });
  const route = (id: string, spec: string, responses: string) => ({
    id,
    match: { path: `/${id}/**` },
    upstream: upstream.url,
    public: true,
    contract: { openapi: spec, stripPrefix: `/${id}`, responses: { undeclared: responses } },
  });
  gw = await startTestGateway({
    routes: [
      route('remove', SPEC, 'remove'),
      route('reject', SPEC, 'reject'),
      route('allow', SPEC, 'allow'),
      route('zoo', ZOO, 'remove'),
      route('legacy', LEGACY, 'remove'),
      route('trees', TREES, 'remove'),
    ],
    acknowledge: [{ rule: 'contract-responses-unfiltered', path: 'routes[2].contract.responses.undeclared', reason: 'test of allow mode', expires: '2099-01-01' }],
  });
});

afterAll(async () => {
  await gw?.close();
  await upstream?.close();
});

async function get(path: string, init: RequestInit = {}): Promise<{ status: number; type: string | null; text: string; body: unknown }> {
  const res = await fetch(gw.url + path, init);
  const text = await res.text();
  // A rewritten body is sent with its new length (streamed answers carry none).
  const length = res.headers.get('content-length');
  if (length !== null) expect(length).toBe(String(Buffer.byteLength(text)));
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  return { status: res.status, type: res.headers.get('content-type'), text, body };
}

describe('contract: response minimization', () => {
  it('removes an undeclared password field (and the writeOnly one) before the client sees the answer', async () => {
    answers.set('/users/7', json(200, fullUser));
    const res = await get('/remove/users/7');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ id: 7, email: 'bob@example.com', displayName: 'Bob', address: { street: 'Main 1', city: 'Paris', zip: null }, roles: ['customer'] });
    expect(res.text).not.toContain(SECRET);
    expect(res.text).not.toContain('argon2id');
    const event = gw.events.events.find((e) => e.type === 'contract.response-undeclared' && (e.details as { operation: string }).operation === 'getUser');
    expect(event?.details).toMatchObject({ status: 200, undeclared: ['/passwordHash', '/address/geo', '/isAdmin'], mode: 'remove' });
    // The removed values never reach the log either.
    expect(JSON.stringify(gw.appLog())).not.toContain(SECRET);
  });

  it('minimises every element of an array and each allOf part', async () => {
    answers.set('/orders', json(200, [
      { id: ORDER, status: 'open', customer: { email: 'a@b.example', password: SECRET }, items: [{ sku: 'ABC-123', qty: 1, cost: 3 }], internal: { margin: 0.3 } },
      { id: ORDER, status: 'paid', customer: { email: 'c@d.example' }, items: [] },
    ]));
    const res = await get('/remove/orders');
    expect(res.body).toEqual([
      { id: ORDER, status: 'open', customer: { email: 'a@b.example' }, items: [{ sku: 'ABC-123', qty: 1 }] },
      { id: ORDER, status: 'paid', customer: { email: 'c@d.example' }, items: [] },
    ]);
  });

  it('keeps the properties of the branch a discriminator selects, and only those', async () => {
    answers.set('/pets', json(201, { petType: 'dog', name: 'Rex', breed: 'collie', indoor: true, chipId: 'X1' }));
    const res = await get('/remove/pets', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ petType: 'dog', name: 'Rex', breed: 'collie' }) });
    expect(res.status).toBe(201);
    expect(res.body).toEqual({ petType: 'dog', name: 'Rex', breed: 'collie' });
  });

  it('decodes a gzip answer, minimises it and sends it with a correct length', async () => {
    answers.set('/users/8', (res) => {
      const body = gzipSync(JSON.stringify({ ...fullUser, id: 8 }));
      res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip', 'content-length': body.length });
      res.end(body);
    });
    const res = await get('/remove/users/8');
    expect(res.status).toBe(200);
    expect(res.text).not.toContain(SECRET);
    expect((res.body as { id: number }).id).toBe(8);
  });

  it('empties an undeclared JSON answer (a status the operation does not declare)', async () => {
    answers.set('/orders/summary', json(500 - 82, { debug: { query: 'SELECT *' }, count: 3 }));
    const res = await get('/remove/orders/summary');
    expect(res.status).toBe(418);
    expect(res.body).toEqual({});
  });

  it('filters a declared error response by its own schema', async () => {
    answers.set(`/orders/${ORDER}`, json(404, { title: 'Not found', detail: 'row 7 missing in db shard 3', stack: 'at x.js:1' }, 'application/problem+json'));
    const res = await get(`/remove/orders/${ORDER}`);
    expect(res.status).toBe(404);
    expect(res.body).toEqual({ title: 'Not found' });
  });

  it('passes a declared non-JSON media type and refuses an undeclared one', async () => {
    answers.set('/reports', (res) => {
      res.writeHead(200, { 'content-type': 'text/csv' });
      res.end('a,b\n1,2\n');
    });
    const range = encodeURIComponent(JSON.stringify({ from: '2024-01-01', to: '2024-02-01' }));
    const ok = await get(`/remove/reports?range=${range}`, { headers: { accept: 'text/csv' } });
    expect(ok).toMatchObject({ status: 200, text: 'a,b\n1,2\n' });
    answers.set('/orders/summary', (res) => {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<h1>debug page</h1>');
    });
    const bad = await get('/remove/orders/summary');
    expect(bad.status).toBe(502);
    expect(bad.body).toMatchObject({ code: 'RAMPART_ERR_UPSTREAM_BAD_RESPONSE' });
    expect(bad.text).not.toContain('debug page');
  });

  it('streams an operation that only answers a non-JSON type (server-sent events are not buffered)', async () => {
    let finish: (() => void) | undefined;
    answers.set('/events', (res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('data: first\n\n');
      finish = () => res.end('data: last\n\n');
    });
    const res = await fetch(`${gw.url}/remove/events`);
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    // The first event arrives while the upstream has not finished its answer.
    const first = await reader.read();
    expect(new TextDecoder().decode(first.value)).toBe('data: first\n\n');
    expect(finish).toBeDefined();
    finish!();
    let rest = '';
    for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) rest += new TextDecoder().decode(chunk.value);
    expect(rest).toBe('data: last\n\n');
  });

  it('refuses an answer that claims JSON but is not', async () => {
    answers.set('/orders/summary', (res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(`{"count": 1, "secret": "${SECRET}"`);
    });
    const res = await get('/remove/orders/summary');
    expect(res.status).toBe(502);
    expect(res.text).not.toContain(SECRET);
  });

  it('reject mode: an answer with an undeclared property becomes a generic 502, a conforming one passes', async () => {
    answers.set('/users/7', json(200, fullUser));
    const bad = await get('/reject/users/7');
    expect(bad.status).toBe(502);
    expect(bad.body).toMatchObject({ code: 'RAMPART_ERR_UPSTREAM_BAD_RESPONSE', status: 502 });
    expect(bad.text).not.toContain(SECRET);
    answers.set('/users/9', json(200, { id: 9, email: 'c@d.example', password: SECRET }));
    const good = await get('/reject/users/9');
    expect(good.status).toBe(200);
    // writeOnly is removed, not refused.
    expect(good.body).toEqual({ id: 9, email: 'c@d.example' });
  });

  it('allow mode (acknowledged): undeclared properties pass, writeOnly ones still do not', async () => {
    answers.set('/users/7', json(200, fullUser));
    const res = await get('/allow/users/7');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ ...fullUser, password: undefined } as unknown);
    expect(res.text).not.toContain(SECRET);
    expect(res.text).toContain('passwordHash');
  });

  it('OpenAPI 3.0: an allOf hierarchy keeps the subtype the discriminator names', async () => {
    answers.set('/animals/3', json(200, { id: 3, kind: 'penguin', name: 'P', canSwim: true, colony: null, maneLength: 4, vet: 'x', keeper: { name: 'K', salary: 1, mentor: { name: 'M', salary: 2 } } }));
    const res = await get('/zoo/animals/3', { headers: { cookie: 'zoo_session=abcdefgh' } });
    expect(res.body).toEqual({ id: 3, kind: 'penguin', name: 'P', canSwim: true, colony: null, keeper: { name: 'K', mentor: { name: 'M' } } });
  });

  it('Swagger 2.0: responses are minimised against `schema` for every `produces` type', async () => {
    answers.set('/books', json(200, [{ isbn: '9780000000001', title: 'T', secret: 'visible', costPrice: 3, related: [{ isbn: '9780000000002', title: 'U', costPrice: 1 }] }]));
    const res = await get('/legacy/books');
    expect(res.body).toEqual([{ isbn: '9780000000001', title: 'T', secret: 'visible', related: [{ isbn: '9780000000002', title: 'U' }] }]);
  });

  it('external and circular $refs: writeOnly removed at every depth of a recursive schema', async () => {
    answers.set('/trees', json(201, { root: { value: 1, secret: SECRET, children: [{ value: 2, secret: SECRET, children: [{ value: 3, secret: SECRET, extra: true }] }] } }));
    const res = await get('/trees/trees', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ root: { value: 1 } }) });
    expect(res.status).toBe(201);
    expect(res.body).toEqual({ root: { value: 1, children: [{ value: 2, children: [{ value: 3 }] }] } });
  });
});
