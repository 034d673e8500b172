/**
 * parse-document.mjs gives the parser one shared Ajv instance per set of options (so each Swagger/OpenAPI schema is
 * compiled once per process) and parses the main file once for both `validate` and `bundle`. Neither may change what
 * the parser answers: its own `validate` and `bundle`, called directly, are the reference.
 */
import { describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseOpenApiFile, parserValidatorStats } from './parse-document.mjs';

const FIXTURES = fileURLToPath(new URL('../../test/fixtures/contract/', import.meta.url));
const SHARED_SPECS = fileURLToPath(new URL('../../../shared/specs/', import.meta.url));

interface Parser {
  validate(file: string, options: unknown): Promise<{ valid: boolean; errors?: Array<{ message: string }>; warnings: Array<{ message: string }> }>;
  bundle(file: string, options?: unknown): Promise<unknown>;
}

/** The parser module parse-document.mjs loaded (the CommonJS build, as it requires it). */
function parser(): Parser {
  return createRequire(import.meta.url)('@readme/openapi-parser') as Parser;
}

describe('parseOpenApiFile', () => {
  it('compiles each Swagger/OpenAPI schema once for all documents', async () => {
    const files = ['conformance-3.0.yaml', 'conformance-3.1.yaml', 'swagger-2.0.yaml', 'external/main.yaml', 'broken/bad-schema-3.0.yaml', 'broken/bad-schema-3.1.yaml'];
    const before = parserValidatorStats();
    for (let round = 0; round < 3; round++) for (const file of files) await parseOpenApiFile(FIXTURES + file);
    const after = parserValidatorStats();
    expect(after.shared).toBe(true);
    // Eighteen validations asked for an Ajv instance each; at most two were ever built (draft-04 for 2.0 and 3.0, 2020-12 for 3.1).
    expect(after.requested - before.requested).toBe(18);
    expect(after.created).toBeLessThanOrEqual(2);
  });

  it.each(['conformance-3.0.yaml', 'conformance-3.1.yaml', 'swagger-2.0.yaml', 'external/main.yaml', 'broken/bad-schema-3.0.yaml', 'broken/bad-schema-3.1.yaml', 'broken/warnings-only.yaml'])(
    'answers for %s what the parser answers by itself',
    async (file) => {
      await expectSameAsParser(FIXTURES + file);
    },
  );

  it('answers for a JSON document what the parser answers by itself', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rampart-parse-'));
    writeFileSync(join(dir, 'spec.json'), JSON.stringify({ openapi: '3.0.3', info: { title: 't', version: '1' }, paths: { '/a': { get: { responses: { 200: { description: 'ok', content: { 'application/json': { schema: { $ref: '#/components/schemas/A' } } } } } } } }, components: { schemas: { A: { type: 'object', properties: { self: { $ref: '#/components/schemas/A' } } } } } }));
    await expectSameAsParser(join(dir, 'spec.json'));
  });

  it('keeps a YAML !!binary value as the parser makes it (a byte array)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rampart-parse-'));
    // `!!binary` is only in the parser's fallback schema, which it uses when the core schema refuses the document.
    writeFileSync(join(dir, 'spec.yaml'), 'openapi: 3.0.3\ninfo: {title: t, version: "1"}\npaths: {}\nx-blob: !!binary aGVsbG8=\n');
    const outcome = await parseOpenApiFile(join(dir, 'spec.yaml'));
    expect(outcome.ok).toBe(true);
    const blob = outcome.ok ? (outcome.bundled as Record<string, unknown>)['x-blob'] : undefined;
    expect(blob).toBeInstanceOf(Uint8Array);
    expect(Buffer.from(blob as Uint8Array).toString()).toBe('hello');
    await expectSameAsParser(join(dir, 'spec.yaml'));
  });

  it.skipIf(!existsSync(SHARED_SPECS))('answers for ../shared/specs what the parser answers by itself', async () => {
    for (const file of ['twilio.com_api__v2010.yaml', 'atlassian.com_jira__7.6.1.json', 'redoc-demo_petstore-3.1__1.0.0.yaml', '1password.com_events__1.0.0.yaml']) {
      await expectSameAsParser(SHARED_SPECS + file);
    }
  }, 120_000);
});

async function expectSameAsParser(file: string): Promise<void> {
  const outcome = await parseOpenApiFile(file);
  const { validate, bundle } = parser();
  const result = await validate(file, { validate: { rules: { openapi: AS_WARNING, swagger: AS_WARNING } } });
  expect(outcome.ok).toBe(true);
  if (!outcome.ok) return;
  expect(outcome.valid).toBe(result.valid);
  expect(outcome.errors).toEqual(result.valid ? [] : (result.errors ?? []).map((e) => e.message));
  expect(outcome.warnings).toEqual(result.warnings.map((w) => w.message));
  expect(outcome.bundled).toEqual(await bundle(file));
}

/** The rules parse-document.mjs turns into warnings (its AS_WARNING). */
const AS_WARNING = {
  'array-without-items': 'warning',
  'duplicate-non-request-body-parameters': 'warning',
  'duplicate-operation-id': 'warning',
  'invalid-security-scheme-properties': 'warning',
  'non-optional-path-parameters': 'warning',
  'path-parameters-not-in-parameters': 'warning',
  'path-parameters-not-in-path': 'warning',
  'unknown-required-schema-property': 'warning',
};
