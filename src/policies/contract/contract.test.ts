/**
 * The `contract` policy at config time: the OpenAPI document is loaded and compiled by the config loader's check, so
 * a broken document is a config error at `routes[i].contract.openapi` naming its file, pointer and line; weakened
 * settings need an acknowledgement; unknown per-operation keys are errors. The request path is covered end to end
 * by test/contract-*.e2e.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { relative } from 'node:path';
import pino from 'pino';
import { loadConfigObject, type LoadResult } from '../../config/load.ts';
import { RecordingSecurityEvents } from '../../observe/events.ts';
import { contractSchema, createContractHandlers } from './index.ts';
import type { ContractConfig } from './schema.ts';

const FIXTURES = fileURLToPath(new URL('../../../test/fixtures/contract/', import.meta.url));
const NOW = new Date('2025-06-15T12:00:00Z');

function load(contract: Record<string, unknown>, extra: Record<string, unknown> = {}): LoadResult {
  return loadConfigObject(
    {
      mode: 'development',
      listen: { host: '127.0.0.1', port: 0 },
      admin: false,
      routes: [{ id: 'api', match: { path: '/api/**' }, upstream: 'http://127.0.0.1:9', public: true, contract }],
      ...extra,
    },
    { env: {}, now: NOW },
  );
}

function errors(result: LoadResult): string[] {
  return result.ok ? [] : result.errors;
}

describe('contract: config check', () => {
  it('accepts a valid document with defaults filled in, and resolves the path', () => {
    const result = load({ openapi: `${FIXTURES}conformance-3.1.yaml`, stripPrefix: '/api' });
    expect(errors(result)).toEqual([]);
    if (!result.ok) return;
    const policy = result.config.routes[0]!.policies.find((p) => p.definition.name === 'contract')!;
    expect(policy.definition.phase).toBe('validate');
    expect(policy.config).toEqual({
      openapi: `${FIXTURES}conformance-3.1.yaml`,
      stripPrefix: '/api',
      undeclared: {},
      responses: {},
      passthroughUnknownOperations: false,
      maxBodySize: '1mb',
      maxDepth: 32,
      multipart: { maxParts: 20, maxPartSize: '1mb' },
      operations: {},
    });
  });

  it('resolves a relative document path (against the working directory until RouteInfo carries the config directory)', () => {
    const path = relative(process.cwd(), `${FIXTURES}conformance-3.0.yaml`);
    const result = load({ openapi: path });
    expect(errors(result)).toEqual([]);
  });

  it.each([
    ['broken/bad-ref.yaml', /^routes\[0\]\.contract\.openapi: .*bad-ref\.yaml:11:25 #\/paths\/~1a\/get\/responses\/200\/content\/application~1json\/schema\/\$ref: \$ref "#\/components\/schemas\/Missing": target .* does not exist$/],
    ['broken/bad-schema-3.1.yaml', /^routes\[0\]\.contract\.openapi: .*bad-schema-3\.1\.yaml:12:41 #\/paths\/~1a\/post\/requestBody\/content\/application~1json\/schema\/properties\/count\/minimum: invalid schema: must be number$/],
    ['broken/bad-mapping.yaml', /^routes\[0\]\.contract\.openapi: .*bad-mapping\.yaml:18:55 #\/components\/schemas\/Base\/discriminator\/mapping\/b: mapping target "#\/components\/schemas\/B" cannot be resolved$/],
    ['broken/bad-yaml.yaml', /^routes\[0\]\.contract\.openapi: .*bad-yaml\.yaml:7:1 #: does not parse/],
    ['does-not-exist.yaml', /^routes\[0\]\.contract\.openapi: .*does-not-exist\.yaml #: file cannot be read$/],
  ])('%s is a config error at the exact path', (file, expected) => {
    const found = errors(load({ openapi: FIXTURES + file }));
    expect(found.some((e) => expected.test(e)), found.join('\n')).toBe(true);
  });

  it('document warnings are config warnings, not errors', () => {
    const result = load({ openapi: `${FIXTURES}broken/warnings-only.yaml` });
    expect(result.ok).toBe(true);
    expect(result.ok && result.config.warnings.filter((w) => w.startsWith('routes[0]'))).toEqual([
      expect.stringMatching(/^routes\[0\]\.contract\.openapi: .*warnings-only\.yaml:5:3 #\/info\/license: /),
      expect.stringMatching(/^routes\[0\]\.contract\.openapi: .*warnings-only\.yaml:13:7 #\/paths\/~1b\/get\/operationId: operationId "same" is also used/),
    ]);
  });

  it('an override for an operation the document does not have is an error', () => {
    const found = errors(load({ openapi: `${FIXTURES}conformance-3.1.yaml`, operations: { createOrdr: { undeclared: { body: 'reject' } } } }));
    expect(found).toEqual([expect.stringMatching(/^routes\[0\]\.contract\.openapi: .*conformance-3\.1\.yaml.*no operation "createOrdr" in the document/)]);
  });

  it('overrides may name an operation by METHOD and path', () => {
    expect(errors(load({ openapi: `${FIXTURES}conformance-3.0.yaml`, operations: { 'POST /feedings': { undeclared: { query: 'reject' } } } }))).toEqual([]);
  });

  it.each([
    [{ undeclared: { query: 'allow' } }, 'contract-undeclared-query', 'routes[0].contract.undeclared.query'],
    [{ undeclared: { body: 'allow' } }, 'contract-undeclared-body', 'routes[0].contract.undeclared.body'],
    [{ responses: { undeclared: 'allow' } }, 'contract-responses-unfiltered', 'routes[0].contract.responses.undeclared'],
    [{ passthroughUnknownOperations: true }, 'contract-passthrough', 'routes[0].contract.passthroughUnknownOperations'],
    [{ operations: { 'POST /orders': { undeclared: { body: 'allow' } } } }, 'contract-undeclared-body', 'routes[0].contract.operations["POST /orders"].undeclared.body'],
  ])('%j weakens a default: an error until acknowledged', (settings, rule, path) => {
    const contract = { openapi: `${FIXTURES}conformance-3.1.yaml`, ...settings };
    const unacknowledged = errors(load(contract));
    expect(unacknowledged).toEqual([expect.stringContaining(`${path}: `)]);
    expect(unacknowledged[0]).toContain(`rule: ${rule}`);
    const acknowledged = load(contract, { acknowledge: [{ rule, path, reason: 'tested', expires: '2099-01-01' }] });
    expect(errors(acknowledged)).toEqual([]);
    expect(acknowledged.ok && acknowledged.config.accepted.map((a) => a.rule)).toEqual([rule]);
  });

  it.each([
    [{}, 'openapi'],
    [{ openapi: 'x', stripPrefix: 'v1' }, 'stripPrefix'],
    [{ openapi: 'x', stripPrefix: '/v1/' }, 'stripPrefix'],
    [{ openapi: 'x', responses: { undeclared: 'drop' } }, 'responses.undeclared'],
    [{ openapi: 'x', multipart: { maxParts: 0 } }, 'multipart.maxParts'],
    [{ openapi: 'x', unknown: 1 }, 'unknown'],
  ])('schema refuses %j at %s', (contract, at) => {
    expect(errors(load(contract)).some((e) => e.startsWith(`routes[0].contract.${at}`) || e.startsWith(`routes[0].contract: `)), errors(load(contract)).join('\n')).toBe(true);
  });

  it('create() without check() loads and compiles itself, and fails at startup on a broken document', async () => {
    const deps = { logger: pino({ level: 'silent' }), events: new RecordingSecurityEvents(), routeId: 'r', development: true, shared: { get: <T,>(_k: string, c: () => T) => c() } };
    const base = { undeclared: {}, responses: {}, passthroughUnknownOperations: false, maxBodySize: '1mb', maxDepth: 32, multipart: { maxParts: 20, maxPartSize: '1mb' }, operations: {} };
    const handlers = await createContractHandlers({ ...base, openapi: `${FIXTURES}swagger-2.0.yaml` } as ContractConfig, deps);
    expect(typeof handlers.onRequest).toBe('function');
    expect(typeof handlers.onResponseBody).toBe('function');
    await expect(createContractHandlers({ ...base, openapi: `${FIXTURES}broken/bad-ref.yaml` } as ContractConfig, deps)).rejects.toThrow(/bad-ref\.yaml:11:25/);
  });

  it('publishes every setting with a description', () => {
    const props = contractSchema.properties as Record<string, { description?: string }>;
    for (const [name, prop] of Object.entries(props)) expect(prop.description, name).toBeTruthy();
  });
});
