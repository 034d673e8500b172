/**
 * `rampart privacy report`: the record of processing (GDPR art. 30 draft) from a real config and a real OpenAPI
 * document with `x-pii` annotations (on parameters, nested properties through `$ref`, array items, `allOf`, a
 * recursive schema, an invalid annotation), a `pii` policy on a route, `pii.detected` findings in a real SQLite
 * events store, and retention settings; JSON and Markdown, through the library and `bin/rampart.js`.
 */
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it, vi } from 'vitest';
import { loadConfigFile } from '../src/config/load.ts';
import { SqliteEventsStore } from '../src/events-store/sqlite.ts';
import { buildProcessingRecord, formatProcessingRecord } from '../src/privacy/subject/report.ts';
import { categoriesOf, routeReaches } from '../src/privacy/subject/xpii.ts';
import { tempDir } from './helpers.ts';

vi.setConfig({ testTimeout: 120_000 });
const BIN = fileURLToPath(new URL('../bin/rampart.js', import.meta.url));

const OPENAPI = `
openapi: 3.0.3
info: { title: Shop, version: '1' }
paths:
  /orders/{orderId}:
    get:
      operationId: getOrder
      parameters:
        - { name: orderId, in: path, required: true, schema: { type: string } }
        - { name: contact, in: query, schema: { type: string }, x-pii: email }
      responses:
        '200':
          description: one order
          content:
            application/json:
              schema: { $ref: '#/components/schemas/Order' }
  /orders:
    post:
      operationId: createOrder
      requestBody:
        content:
          application/json:
            schema: { $ref: '#/components/schemas/NewOrder' }
      responses:
        '201': { description: created }
  /health:
    get:
      responses:
        '200': { description: ok, content: { application/json: { schema: { type: object, properties: { status: { type: string } } } } } }
components:
  schemas:
    Customer:
      type: object
      properties:
        name: { type: string, x-pii: [name, identity] }
        email: { type: string, x-pii: email }
        referrer: { $ref: '#/components/schemas/Customer' }
    Order:
      type: object
      properties:
        id: { type: string }
        customer: { $ref: '#/components/schemas/Customer' }
        items: { type: array, items: { type: object, properties: { note: { type: string, x-pii: true } } } }
        ssn: { type: string, x-pii: { category: national-id } }
        label: { type: string, x-pii: 42 }
    NewOrder:
      allOf:
        - { $ref: '#/components/schemas/Order' }
`;

function setup() {
  const dir = tempDir();
  writeFileSync(join(dir, 'shop.yaml'), OPENAPI);
  const events = join(dir, 'events.db');
  const document = {
    mode: 'development',
    listen: { host: '127.0.0.1', port: 0 },
    admin: false,
    storage: `sqlite:${join(dir, 'rampart.db')}`,
    audit: { store: `sqlite:${join(dir, 'audit.db')}` },
    events: { store: `sqlite:${events}`, retention: '90d' },
    privacy: { addresses: 'truncate', retention: { audit: '400d', events: '30d', sessions: '30d' } },
    apis: [
      {
        id: 'shop',
        upstream: 'http://127.0.0.1:9',
        openapi: './shop.yaml',
        defaults: { public: true },
        routes: [
          { id: 'order', match: { path: '/orders/{orderId}', methods: ['GET'] }, pii: { mode: 'log', detectors: ['email', 'card'] } },
          { id: 'create', match: { path: '/orders', methods: ['POST'] } },
          { id: 'health', match: { path: '/health', methods: ['GET'] } },
        ],
      },
    ],
    routes: [
      { id: 'legacy', match: { path: '/legacy/**' }, upstream: 'http://legacy.internal:8080/base', public: true },
      { id: 'docs', match: { path: '/docs/**', methods: ['GET'] }, upstream: 'rampart:docs', docs: { openapi: './shop.yaml' }, public: true },
    ],
  };
  const configFile = join(dir, 'rampart.json');
  writeFileSync(configFile, JSON.stringify(document));
  const store = new SqliteEventsStore(events);
  const finding = (detector: string, location: string) => ({ detector, location, part: 'value' });
  store.insert([
    { time: Date.UTC(2027, 0, 1), type: 'pii.detected', severity: 'medium', route: 'shop.order', requestId: 'a', client: null, details: { action: 'logged', findings: [finding('email', '/customer/email'), finding('card', '/note')], more: 0 } },
    { time: Date.UTC(2027, 0, 2), type: 'pii.detected', severity: 'medium', route: 'shop.order', requestId: 'b', client: null, details: { action: 'logged', findings: [finding('email', '/customer/email')], more: 0 } },
    { time: Date.UTC(2027, 0, 3), type: 'auth.login-failed', severity: 'low', route: 'auth', requestId: 'c', client: null, details: {} },
  ]);
  return { dir, configFile, store };
}

describe('x-pii annotations', () => {
  it.each([
    [true, ['personal'], false],
    ['email', ['email'], false],
    [['name', 'identity', 'name'], ['name', 'identity'], false],
    [{ category: 'health' }, ['health'], false],
    [{ category: ['a', 'b'] }, ['a', 'b'], false],
    [42, ['personal'], true],
    ['<script>', ['personal'], true],
    ['x'.repeat(65), ['personal'], true],
    [[], ['personal'], true],
    [{ __proto__: { category: 'x' } }, ['personal'], true],
  ])('reads %j as %j (invalid: %s)', (value, categories, invalid) => {
    expect(categoriesOf(value)).toEqual({ categories, invalid });
  });

  it('absent or false is no annotation', () => {
    expect(categoriesOf(undefined)).toBeUndefined();
    expect(categoriesOf(false)).toBeUndefined();
  });

  it.each([
    ['/orders/{orderId}', undefined, '/orders/{id}', true],
    ['/orders/7', undefined, '/orders/{id}', true],
    ['/orders/{id}', undefined, '/orders', false],
    ['/legacy/**', undefined, '/legacy/a/b', true],
    ['/legacy/**', undefined, '/other', false],
    ['/v1/orders', '/v1', '/orders', true],
    ['/orders', undefined, '/Orders', false],
  ])('route %s (strip %s) reaches %s: %s', (route, strip, op, expected) => {
    expect(routeReaches(route, strip, op)).toBe(expected);
  });
});

describe('record of processing', () => {
  it('lists personal data per route from x-pii, the pii policy and its findings, the stores with their retention, and the security measures', async () => {
    const { configFile, store } = setup();
    const loaded = loadConfigFile(configFile);
    if (!loaded.ok) throw new Error(loaded.errors.join('\n'));
    const record = await buildProcessingRecord(loaded.config, { configFile, events: store, now: Date.UTC(2027, 0, 10) });
    store.close();
    expect(record.generatedAt).toBe('2027-01-10T00:00:00.000Z');
    const route = (id: string) => record.routes.find((r) => r.id === id)!;
    const fields = (id: string) => route(id).personalData.map((p) => `${p.operation} | ${p.location} | ${p.field} | ${p.categories.join(',')}`);
    expect(fields('shop.order').sort()).toEqual(
      [
        'GET /orders/{orderId} | query parameter | contact | email',
        'GET /orders/{orderId} | response 200 | customer.name | name,identity',
        'GET /orders/{orderId} | response 200 | customer.email | email',
        'GET /orders/{orderId} | response 200 | items[].note | personal',
        'GET /orders/{orderId} | response 200 | ssn | national-id',
        'GET /orders/{orderId} | response 200 | label | personal',
      ].sort(),
    );
    expect(fields('shop.create')).toEqual(expect.arrayContaining(['POST /orders | request body | customer.email | email', 'POST /orders | request body | ssn | national-id']));
    expect(fields('shop.health')).toEqual([]);
    // A hand-written route naming no document is matched against the one the docs route serves.
    expect(route('legacy').personalData).toEqual([]);
    expect(route('docs').personalData).toEqual([]);
    expect(route('shop.order').piiDetection).toEqual({ mode: 'log', detectors: ['email', 'card'] });
    expect(route('shop.order').observed).toEqual([
      { detector: 'email', location: '/customer/email', count: 2, lastSeen: '2027-01-02T00:00:00.000Z' },
      { detector: 'card', location: '/note', count: 1, lastSeen: '2027-01-01T00:00:00.000Z' },
    ]);
    // Recipients are named by origin.
    expect(route('legacy').recipients).toEqual(['http://legacy.internal:8080']);

    const stores = Object.fromEntries(record.stores.map((s) => [s.store, s]));
    expect(stores['audit']).toMatchObject({ retention: '400 days', enforcedBy: 'rampart' });
    expect(stores['events']).toMatchObject({ retentionMs: 30 * 86_400_000, enforcedBy: 'rampart' });
    expect(stores['sessions']!.retention).toMatch(/older than 30 days/);
    expect(stores['access log']).toMatchObject({ enforcedBy: 'log shipper', retentionMs: null });
    expect(stores['audit']!.holds.join(' ')).toMatch(/truncated/);
    expect(record.findings).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/x-pii is not true, a category/),
        expect.stringMatching(/access log: no privacy\.retention\.accessLogs/),
      ]),
    );
    expect(record.findings.some((f) => f.includes('route shop.order'))).toBe(false);
    expect(record.security.find((s) => s.measure.startsWith('encryption in transit'))).toMatchObject({ status: 'off' });
    expect(record.toComplete.join(' ')).toMatch(/controller/);

    const markdown = formatProcessingRecord(record);
    expect(markdown).toMatch(/^# Record of processing \(draft\)/);
    expect(markdown).toContain('| GET /orders/\\{orderId\\} | response 200 | customer.email | email |');
    expect(markdown).toContain('| shop.order | GET /orders/\\{orderId\\} |');
  });

  it('names a document that does not load, and escapes hostile text in Markdown', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'bad.yaml'), 'openapi: 3.0.3\ninfo: { title: "x", version: "1" }\npaths:\n  /a|<b>:\n    get:\n      responses: { "200": { description: ok, content: { application/json: { schema: { type: object, properties: { "p|<i>": { type: string, x-pii: "a|b" } } } } } } }\n');
    const document = {
      mode: 'development',
      listen: { host: '127.0.0.1', port: 0 },
      admin: false,
      storage: 'memory:',
      routes: [{ id: 'r', match: { path: '/**' }, upstream: 'http://127.0.0.1:9', public: true }, { id: 'docs', match: { path: '/docs/**', methods: ['GET'] }, upstream: 'rampart:docs', docs: { openapi: './bad.yaml' }, public: true }],
    };
    const configFile = join(dir, 'rampart.json');
    writeFileSync(configFile, JSON.stringify(document));
    const loaded = loadConfigFile(configFile);
    if (!loaded.ok) throw new Error(loaded.errors.join('\n'));
    const record = await buildProcessingRecord(loaded.config, { configFile });
    const markdown = formatProcessingRecord(record);
    expect(markdown).not.toContain('<i>');
    expect(markdown).toContain('p\\|&lt;i&gt;');
    // The findings table rows keep their column count (pipes escaped).
    for (const line of markdown.split('\n').filter((l) => l.startsWith('| r |'))) expect(line.split(/(?<!\\)\|/).length).toBe(7);
  });

  it('runs from the command line in Markdown and JSON, writing a new file on request', async () => {
    const { dir, configFile, store } = setup();
    store.close();
    const run = (...args: string[]) =>
      new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
        execFile(process.execPath, [BIN, ...args], { timeout: 90_000 }, (error, stdout, stderr) => resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr }));
      });
    const markdown = await run('privacy', 'report', '-c', configFile);
    expect(markdown.code).toBe(0);
    expect(markdown.stdout).toMatch(/## Personal data per route/);
    expect(markdown.stdout).toMatch(/\| email \| \/customer\/email \| 2 \|/);
    const json = await run('privacy', 'report', '-c', configFile, '--format', 'json');
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toMatchObject({ format: 'rampart-processing-record/1', routes: expect.any(Array) });
    const out = join(dir, 'record.md');
    expect((await run('privacy', 'report', '-c', configFile, '--out', out)).code).toBe(0);
    expect((await run('privacy', 'report', '-c', configFile, '--out', out)).code).toBe(1);
    expect((await run('privacy', 'report', '-c', configFile, '--format', 'html')).code).toBe(2);
    const purge = await run('privacy', 'purge', '-c', configFile);
    expect(purge.code).toBe(0);
    expect(purge.stdout).toMatch(/access logs: rotated and deleted by the log shipper/);
  });
});
