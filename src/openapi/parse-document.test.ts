/**
 * parse-document.mjs gives the parser one shared Ajv instance per set of options (so each Swagger/OpenAPI schema is
 * compiled once per process) and parses the main file once for both `validate` and `bundle`. Neither may change what
 * the parser answers: its own `validate` and `bundle`, called directly, are the reference.
 */
import { describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseOpenApiFile, parserBundleStats, parserValidatorStats } from './parse-document.mjs';

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

/**
 * A single-file document is kept as parsed, without the parser's second pass (`bundle`), only when that pass would give
 * it back unchanged. Each document here is one the pass changes, or one it keeps; both must come out exactly as the
 * parser's own `bundle` makes them, and the documents it keeps must actually skip the pass.
 */
describe('bundling only when it changes something', () => {
  const head = (version: '3.0.3' | '3.1.0') => `openapi: ${version}\ninfo: {title: t, version: '1'}\n`;
  const okResponse = (schemaRef: string) => `      responses:\n        '200':\n          description: ok\n          content:\n            application/json:\n              schema: {$ref: '${schemaRef}'}\n`;
  const documents: Array<{ name: string; text: string; kept: boolean }> = [
    {
      name: 'plain local references, a parameter by reference, a recursive schema',
      kept: true,
      text: `${head('3.0.3')}paths:\n  /pets/{id}:\n    parameters: [{$ref: '#/components/parameters/Id'}]\n    get:\n${okResponse('#/components/schemas/Pet')}components:\n  parameters:\n    Id: {name: id, in: path, required: true, schema: {type: string}}\n  schemas:\n    Pet:\n      type: object\n      properties:\n        parent: {$ref: '#/components/schemas/Pet'}\n        tags: {type: array, items: {$ref: '#/components/schemas/Tag'}}\n    Tag: {type: string}\n`,
    },
    {
      name: 'a reference into a path item and an array element, braces in the path',
      kept: true,
      text: `${head('3.0.3')}paths:\n  /pets/{id}:\n    get:\n      parameters: [{name: id, in: path, required: true, schema: {type: string}}]\n${okResponse('#/components/schemas/Pet')}  /cats/{id}:\n    get:\n      parameters: [{$ref: '#/paths/~1pets~1{id}/get/parameters/0'}]\n${okResponse('#/components/schemas/Pet')}components:\n  schemas:\n    Pet: {type: object}\n`,
    },
    {
      name: 'YAML anchors and aliases sharing a node that holds references',
      kept: true,
      text: `${head('3.0.3')}paths:\n  /a:\n    get: &op\n${okResponse('#/components/schemas/A')}  /b:\n    get: *op\ncomponents:\n  schemas:\n    A: {type: string}\n`,
    },
    {
      name: 'a reference whose path runs through another reference',
      kept: false,
      text: `${head('3.0.3')}paths:\n  /a:\n    get:\n${okResponse('#/components/schemas/A/properties/name')}components:\n  schemas:\n    A: {$ref: '#/components/schemas/B'}\n    B: {type: object, properties: {name: {type: string}}}\n`,
    },
    {
      name: 'a reference to a reference',
      kept: false,
      text: `${head('3.0.3')}paths:\n  /a:\n    get:\n${okResponse('#/components/schemas/A')}components:\n  schemas:\n    A: {$ref: '#/components/schemas/B'}\n    B: {type: string}\n`,
    },
    {
      name: 'a percent-encoded reference',
      kept: false,
      text: `${head('3.0.3')}paths:\n  /a:\n    get:\n${okResponse('#/components/schemas/A%20B')}components:\n  schemas:\n    A B: {type: string}\n`,
    },
    {
      name: 'a reference naming the document itself before the #',
      kept: false,
      text: `${head('3.0.3')}paths:\n  /a:\n    get:\n${okResponse('spec.yaml#/components/schemas/A')}components:\n  schemas:\n    A: {type: string}\n`,
    },
    {
      name: 'a 3.1 schema with $id',
      kept: false,
      text: `${head('3.1.0')}paths:\n  /a:\n    get:\n${okResponse('#/components/schemas/A')}components:\n  schemas:\n    A: {$id: 'https://example.com/a', type: object, properties: {b: {$ref: '#/$defs/B'}}, $defs: {B: {type: string}}}\n`,
    },
    {
      name: 'a reference to the whole document',
      kept: true,
      text: `${head('3.0.3')}paths:\n  /a:\n    get:\n${okResponse('#/components/schemas/A')}components:\n  schemas:\n    A: {type: object}\nx-self: {$ref: '#'}\n`,
    },
  ];

  it.each(documents)('$name: kept as parsed = $kept, and what the parser makes', async ({ text, kept }) => {
    const dir = mkdtempSync(join(tmpdir(), 'rampart-bundle-'));
    writeFileSync(join(dir, 'spec.yaml'), text);
    const before = parserBundleStats();
    await expectSameAsParser(join(dir, 'spec.yaml'));
    const after = parserBundleStats();
    expect({ skipped: after.skipped - before.skipped, bundled: after.bundled - before.bundled }).toEqual(kept ? { skipped: 1, bundled: 0 } : { skipped: 0, bundled: 1 });
  });

  it('bundles a document with external references', async () => {
    const before = parserBundleStats();
    await expectSameAsParser(FIXTURES + 'external/main.yaml');
    expect(parserBundleStats().bundled - before.bundled).toBe(1);
  });

  it.skipIf(!existsSync(SHARED_SPECS))('answers for every document of ../shared/specs what the parser answers by itself', async () => {
    const files = readdirSync(SHARED_SPECS).filter((f) => /\.(ya?ml|json)$/.test(f));
    expect(files.length).toBeGreaterThan(20);
    const before = parserBundleStats();
    for (const file of files) await expectSameAsParser(SHARED_SPECS + file);
    const after = parserBundleStats();
    // Most public documents are one file with plain references: the second pass is skipped for them.
    expect(after.skipped - before.skipped).toBeGreaterThan(files.length / 2);
  }, 300_000);
});

if (!existsSync(SHARED_SPECS)) console.warn(`\n!!! ${SHARED_SPECS} is absent: the tests of parse-document.test.ts over the public OpenAPI documents are SKIPPED !!!\n`);

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
