/**
 * The contract's 400 answer (issue 5 item 2): problem+json listing every failing location as `{ pointer, rule }`.
 *
 * - Parameters and body are judged together: one answer lists both, whatever the body's kind (JSON, form,
 *   multipart); a body the strict reader refuses is one `/body` entry beside the parameter failures. The precedence
 *   stays: 415 for a media type the operation does not declare, 413 for a body over the limit (never read past it),
 *   and a body streamed unread (a media type without a schema to check) is not read for the sake of the list.
 * - The list is capped; a cut list says so with the extension member `truncated: true` (RFC 9457 §3.2), in the answer
 *   and in the `contract.request-invalid` event.
 * - Header values are taken as sent (OAS 3.1.2: percent-encoding is never applied to headers).
 * - A document naming a parameter `__proto__` (or another member every object inherits) is a config error naming the
 *   file and the pointer.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfigObject } from '../src/config/load.ts';
import { rawRequest, startRecordingUpstream, startTestGateway, type RecordingUpstream, type TestGateway } from './helpers.ts';

const ITEM = {
  type: 'object',
  additionalProperties: false,
  properties: { qty: { type: 'integer', maximum: 100 }, tags: { type: 'array', items: { type: 'string', maxLength: 3 } } },
};

const DOCUMENT = {
  openapi: '3.1.0',
  info: { title: 'errors', version: '1' },
  paths: {
    '/items/{id}': {
      post: {
        operationId: 'putItem',
        parameters: [
          { name: 'id', in: 'path', required: true, schema: { type: 'integer', maximum: 100 } },
          { name: 'limit', in: 'query', schema: { type: 'integer', maximum: 10 } },
        ],
        requestBody: {
          required: true,
          content: {
            'application/json': { schema: ITEM },
            'application/x-www-form-urlencoded': { schema: ITEM },
            'multipart/form-data': { schema: { type: 'object', properties: { note: { type: 'string' } } } },
            'application/octet-stream': {},
          },
        },
        responses: { '204': { description: 'ok' } },
      },
    },
    '/open': {
      post: {
        operationId: 'postOpen',
        requestBody: { content: { 'application/json': { schema: { type: 'object', properties: { qty: { type: 'integer' } } } } } },
        responses: { '204': { description: 'ok' } },
      },
    },
    '/discounts': {
      get: {
        operationId: 'getDiscount',
        parameters: [
          { name: 'X-Discount', in: 'header', schema: { type: 'string', pattern: '^[0-9]{1,2}%$' } },
          { name: 'X-Fields', in: 'header', schema: { type: 'array', items: { type: 'string', enum: ['name', 'age'] } } },
        ],
        responses: { '204': { description: 'ok' } },
      },
    },
  },
};

let dir: string;
let upstream: RecordingUpstream;
let gw: TestGateway;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'rampart-contract-errors-'));
  writeFileSync(join(dir, 'api.json'), JSON.stringify(DOCUMENT, null, 1));
  upstream = await startRecordingUpstream((_req, res) => {
    res.writeHead(204);
    res.end();
  });
  gw = await startTestGateway({
    routes: [{ id: 'api', match: { path: '/api/**' }, upstream: upstream.url, public: true, contract: { openapi: join(dir, 'api.json'), stripPrefix: '/api', maxBodySize: '16kb' } }],
  });
});

afterAll(async () => {
  await gw?.close();
  await upstream?.close();
  rmSync(dir, { recursive: true, force: true });
});

interface Problem {
  readonly status: number;
  readonly code: string;
  readonly correlationId: string;
  readonly errors?: Array<{ pointer: string; rule: string }>;
  readonly truncated?: boolean;
}

async function send(path: string, init: { method?: string; type?: string; body?: string | Buffer; headers?: Record<string, string> } = {}): Promise<{ status: number; problem: Problem | undefined }> {
  const headers: Record<string, string> = { ...init.headers };
  if (init.type !== undefined) headers['content-type'] = init.type;
  const body = init.body === undefined || typeof init.body === 'string' ? init.body : new Uint8Array(init.body);
  const res = await fetch(`${gw.url}${path}`, { method: init.method ?? 'POST', headers, body });
  const text = await res.text();
  return { status: res.status, problem: text === '' ? undefined : (JSON.parse(text) as Problem) };
}

const json = (value: unknown) => ({ type: 'application/json', body: JSON.stringify(value) });

describe('contract: parameter and body failures in one answer', () => {
  const both = [
    { pointer: '/path/id', rule: 'must be <= 100' },
    { pointer: '/query/limit', rule: 'must be <= 10' },
  ];

  it('lists a JSON body\'s failures with the parameters\'', async () => {
    const before = upstream.seen.length;
    const res = await send('/api/items/500?limit=50', json({ qty: 500, tags: ['long one'] }));
    expect(res.status).toBe(400);
    expect(res.problem?.code).toBe('RAMPART_ERR_REQUEST_INVALID');
    expect(res.problem?.errors).toEqual([...both, { pointer: '/body/qty', rule: 'must be <= 100' }, { pointer: '/body/tags/0', rule: 'must NOT have more than 3 characters' }]);
    expect(upstream.seen.length).toBe(before);
  });

  it('lists undeclared body properties with the parameters\'', async () => {
    const res = await send('/api/items/500', json({ qty: 1, isAdmin: true }));
    expect(res.problem?.errors).toEqual([{ pointer: '/path/id', rule: 'must be <= 100' }, { pointer: '/body/isAdmin', rule: 'is not declared' }]);
  });

  it('lists a form body\'s failures with the parameters\'', async () => {
    const res = await send('/api/items/500?limit=50', { type: 'application/x-www-form-urlencoded', body: 'qty=500' });
    expect(res.problem?.errors).toEqual([...both, { pointer: '/body/qty', rule: 'must be <= 100' }]);
  });

  it('lists a multipart body\'s failures with the parameters\'', async () => {
    const body = Buffer.concat([Buffer.from('--b1\r\nContent-Disposition: form-data; name="note"\r\n\r\n'), Buffer.from([0x61, 0xff]), Buffer.from('\r\n--b1--\r\n')]);
    const res = await send('/api/items/500', { type: 'multipart/form-data; boundary=b1', body });
    expect(res.problem?.errors).toEqual([{ pointer: '/path/id', rule: 'must be <= 100' }, { pointer: '/body/note', rule: 'is not valid UTF-8' }]);
  });

  it('adds the strict reader\'s reason as one /body entry when parameters failed too', async () => {
    const res = await send('/api/items/500', { type: 'application/json', body: '{"qty":' });
    expect(res.status).toBe(400);
    expect(res.problem?.code).toBe('RAMPART_ERR_REQUEST_INVALID');
    expect(res.problem?.errors).toEqual([{ pointer: '/path/id', rule: 'must be <= 100' }, { pointer: '/body', rule: 'body is not valid JSON' }]);
    const duplicate = await send('/api/items/500', { type: 'application/json', body: '{"qty":1,"qty":2}' });
    expect(duplicate.problem?.errors).toEqual([{ pointer: '/path/id', rule: 'must be <= 100' }, { pointer: '/body', rule: 'duplicate key in JSON object' }]);
  });

  it('keeps the reader\'s generic 400 for a malformed body when the parameters are fine', async () => {
    const res = await send('/api/items/5', { type: 'application/json', body: '{"qty":' });
    expect(res.status).toBe(400);
    expect(res.problem?.code).toBe('RAMPART_ERR_BAD_REQUEST');
    expect(res.problem?.errors).toBeUndefined();
  });

  it('lists a missing required body with the parameters\'', async () => {
    const res = await send('/api/items/500');
    expect(res.problem?.errors).toEqual([{ pointer: '/path/id', rule: 'must be <= 100' }, { pointer: '/body', rule: 'is required' }]);
  });

  it('answers 413 for a body over the limit, whatever the parameters, and closes the connection', async () => {
    const big = JSON.stringify({ qty: 1, tags: Array.from({ length: 10_000 }, () => 'abc') });
    expect(big.length).toBeGreaterThan(16 * 1024);
    const declared = await rawRequest(gw.port, `POST /api/items/500 HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${big.length}\r\n\r\n${big}`);
    expect(declared.status).toBe(413);
    expect(declared.headers.connection).toBe('close');
    const chunked = await rawRequest(gw.port, `POST /api/items/500 HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n${big.length.toString(16)}\r\n${big}\r\n0\r\n\r\n`);
    expect(chunked.status).toBe(413);
    expect(chunked.headers.connection).toBe('close');
  });

  it('answers 415 for an undeclared media type, whatever the parameters', async () => {
    const res = await send('/api/items/500', { type: 'text/plain', body: 'hello' });
    expect(res.status).toBe(415);
  });

  it('answers the parameters alone for a body streamed unread (no schema to check it against)', async () => {
    const before = upstream.seen.length;
    const res = await send('/api/items/500', { type: 'application/octet-stream', body: Buffer.from([0xff, 0x00]) });
    expect(res.problem?.errors).toEqual([{ pointer: '/path/id', rule: 'must be <= 100' }]);
    expect(upstream.seen.length).toBe(before);
  });

  it('still forwards a request whose parameters and body are both valid', async () => {
    const before = upstream.seen.length;
    expect((await send('/api/items/5?limit=5', json({ qty: 5, tags: ['a'] }))).status).toBe(204);
    expect(upstream.seen.length).toBe(before + 1);
  });
});

describe('contract: a capped list says it was cut', () => {
  it('lists 25 failures and `truncated: true` when there are more, in the answer and the event', async () => {
    const res = await send('/api/items/500?limit=50', json({ qty: 500, tags: Array.from({ length: 40 }, () => 'long') }));
    expect(res.status).toBe(400);
    expect(res.problem?.errors).toHaveLength(25);
    expect(res.problem?.truncated).toBe(true);
    const event = gw.events.events.find((e) => e.type === 'contract.request-invalid' && e.requestId === res.problem?.correlationId);
    expect(event?.details).toMatchObject({ operation: 'putItem', truncated: true });
    const line = gw.appLog().find((l) => l.reqId === res.problem?.correlationId && typeof l.detail === 'string');
    expect(line?.detail).toMatch(/; …$/);
  });

  it('says so when the undeclared properties were more than the ten named', async () => {
    const extra = Object.fromEntries(Array.from({ length: 11 }, (_, i) => [`extra${i}`, i]));
    // An open schema: only the undeclared-property walk names them, ten at most.
    const res = await send('/api/open', json(extra));
    expect(res.problem?.errors).toHaveLength(10);
    expect(res.problem?.truncated).toBe(true);
    // A closed one (`additionalProperties: false`): ajv names each one, so nothing is missing.
    const closed = await send('/api/items/5', json({ qty: 1, ...extra }));
    expect(closed.problem?.errors).toHaveLength(11);
    expect(closed.problem).not.toHaveProperty('truncated');
  });

  it('has no `truncated` member when every failure is listed', async () => {
    const res = await send('/api/items/5', json({ qty: 1, tags: Array.from({ length: 25 }, () => 'long') }));
    expect(res.problem?.errors).toHaveLength(25);
    expect(res.problem).not.toHaveProperty('truncated');
    const ten = await send('/api/open', json(Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`extra${i}`, i]))));
    expect(ten.problem?.errors).toHaveLength(10);
    expect(ten.problem).not.toHaveProperty('truncated');
  });
});

describe('contract: header values are taken as sent (OAS 3.1.2)', () => {
  it.each([
    ['a literal "%" the pattern allows', { 'x-discount': '50%' }, 204],
    ['the same value percent-encoded, which the upstream reads as "50%25"', { 'x-discount': '50%25' }, 400],
    ['a plain enum value', { 'x-fields': 'name,age' }, 204],
    ['an enum value percent-encoded, which the upstream reads as "na%6De"', { 'x-fields': 'na%6De' }, 400],
  ] as const)('%s: %s', async (_name, headers, status) => {
    const before = upstream.seen.length;
    const res = await send('/api/discounts', { method: 'GET', headers });
    expect(res.status).toBe(status);
    expect(upstream.seen.length).toBe(before + (status === 204 ? 1 : 0));
    if (status === 204) expect(upstream.seen.at(-1)?.headers).toMatchObject(headers);
  });
});

describe('contract: parameter names every object inherits are a config error', () => {
  it.each([
    ['query', '__proto__'],
    ['header', '__proto__'],
    ['cookie', '__proto__'],
    ['header', 'constructor'],
  ])('a %s parameter named %s: refused at load, naming the file and the pointer', (location, name) => {
    const file = join(dir, `proto-${location}-${name}.json`);
    const document = {
      openapi: '3.1.0',
      info: { title: 'proto', version: '1' },
      paths: { '/x': { get: { parameters: [{ name, in: location, schema: { type: 'string' } }], responses: { '204': { description: 'ok' } } } } },
    };
    writeFileSync(file, JSON.stringify(document, null, 1));
    const result = loadConfigObject({
      mode: 'development',
      listen: { host: '127.0.0.1', port: 0 },
      admin: false,
      routes: [{ id: 'api', match: { path: '/api/**' }, upstream: 'http://127.0.0.1:9', public: true, contract: { openapi: file } }],
    });
    expect(result.ok).toBe(false);
    const errors = result.ok ? [] : result.errors;
    expect(errors).toHaveLength(1);
    expect(errors[0]).toContain('routes[0].contract.openapi');
    expect(errors[0]).toContain(file);
    expect(errors[0]).toContain(`#/paths/~1x/get/parameters/0: ${location} parameter "${name}" has the name of a member every JavaScript object inherits`);
  });
});
