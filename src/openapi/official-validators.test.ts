/**
 * The official Swagger 2.0 / OpenAPI 3.0 / 3.1 schema validators are precompiled (official-validators.generated.cjs,
 * see parse-document.mjs). They are the loader's trust boundary, so the precompiled ones must answer exactly what Ajv
 * answers when it compiles the same schema with the parser's options at run time: same verdict, same error objects,
 * on valid documents and on documents broken in many ways.
 */
import { describe, expect, it } from 'vitest';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { ValidateFunction } from 'ajv';
import { GENERATED_FILE, officialValidatorsSource } from './official-validators-build.mjs';
import { officialSchema, officialSchemaValidator, parseOpenApiFile, parserValidatorStats } from './parse-document.mjs';
import { mulberry32 } from '../detect/traces.ts';

const FIXTURES = fileURLToPath(new URL('../../test/fixtures/contract/', import.meta.url));
const SHARED_SPECS = fileURLToPath(new URL('../../../shared/specs/', import.meta.url));
type Version = '2.0' | '3.0' | '3.1';

/** Ajv compiling the official schema now, with the parser's Ajv flavour and options (its initializeAjv). */
function compiledNow(version: Version): ValidateFunction {
  const requireFromParser = createRequire(createRequire(import.meta.url).resolve('@readme/openapi-parser'));
  const flavour = requireFromParser(version === '3.1' ? 'ajv/dist/2020.js' : 'ajv-draft-04') as { default: new (o: object) => { compile(s: object): ValidateFunction } };
  return new flavour.default({ allErrors: true, strict: false, validateFormats: false }).compile(officialSchema(version));
}

function versionOf(document: Record<string, unknown>): Version {
  if (document.swagger !== undefined) return '2.0';
  return String(document.openapi).startsWith('3.1') ? '3.1' : '3.0';
}


/** Every object or array of a document, with a parent and key to change it through. */
function slots(document: unknown): Array<{ parent: Record<string, unknown> | unknown[]; key: string | number }> {
  const out: Array<{ parent: Record<string, unknown> | unknown[]; key: string | number }> = [];
  const stack: unknown[] = [document];
  while (stack.length > 0 && out.length < 50_000) {
    const node = stack.pop();
    if (Array.isArray(node)) {
      node.forEach((value, i) => {
        out.push({ parent: node, key: i });
        stack.push(value);
      });
    } else if (node !== null && typeof node === 'object') {
      for (const [key, value] of Object.entries(node)) {
        out.push({ parent: node as Record<string, unknown>, key });
        stack.push(value);
      }
    }
  }
  return out;
}

const WRONG_VALUES: unknown[] = [42, 'text', true, null, [], {}, [1, 'a'], { unexpected: 1 }, -1, '3.0.0'];

/** A copy of `document` with a few values replaced, removed or added: mostly documents the schema refuses. */
function mutate(document: unknown, next: () => number): unknown {
  const copy = structuredClone(document);
  const places = slots(copy);
  const count = 1 + Math.floor(next() * 4);
  for (let i = 0; i < count && places.length > 0; i++) {
    const { parent, key } = places[Math.floor(next() * places.length)]!;
    const choice = next();
    if (choice < 0.6) (parent as Record<string | number, unknown>)[key] = WRONG_VALUES[Math.floor(next() * WRONG_VALUES.length)];
    else if (choice < 0.8 && !Array.isArray(parent)) delete parent[key as string];
    else if (!Array.isArray(parent)) parent[`bogus${i}`] = 1;
  }
  return copy;
}

function expectSameAnswer(precompiled: ValidateFunction, reference: ValidateFunction, document: unknown): boolean {
  const valid = precompiled(document);
  const expected = reference(document);
  expect(valid).toBe(expected);
  expect(precompiled.errors ?? null).toEqual(reference.errors ?? null);
  return valid as boolean;
}

async function bundledDocuments(): Promise<Array<{ name: string; document: Record<string, unknown> }>> {
  const files = ['conformance-3.0.yaml', 'conformance-3.1.yaml', 'swagger-2.0.yaml', 'external/main.yaml', 'broken/bad-schema-3.0.yaml', 'broken/bad-schema-3.1.yaml', 'broken/warnings-only.yaml'].map((f) => FIXTURES + f);
  if (existsSync(SHARED_SPECS)) {
    for (const f of readdirSync(SHARED_SPECS).filter((name) => /\.(ya?ml|json)$/.test(name)).sort()) files.push(SHARED_SPECS + f);
  }
  const out: Array<{ name: string; document: Record<string, unknown> }> = [];
  for (const file of files) {
    const outcome = await parseOpenApiFile(file);
    if (outcome.ok) out.push({ name: file, document: outcome.bundled as Record<string, unknown> });
  }
  return out;
}

describe('precompiled official schema validators', () => {
  it('are generated from the installed ajv and schemas (written at install by `npm run prepare`; rerun it after an upgrade)', () => {
    expect(readFileSync(GENERATED_FILE, 'utf8') === officialValidatorsSource()).toBe(true);
  });

  it('are what the loader and the parser use', async () => {
    for (const version of ['2.0', '3.0', '3.1'] as const) officialSchemaValidator(version);
    expect(parserValidatorStats().precompiled.sort()).toEqual(['2.0', '3.0', '3.1']);
    // The parser's own validation of a document of each version ran the precompiled validator.
    const before = parserValidatorStats().precompiledRuns;
    for (const file of ['swagger-2.0.yaml', 'conformance-3.0.yaml', 'broken/bad-schema-3.1.yaml']) await parseOpenApiFile(FIXTURES + file);
    expect(parserValidatorStats().precompiledRuns - before).toBe(3);
  });

  it('give the same verdict and errors as Ajv compiling the schema now, on valid and broken documents', async () => {
    const reference = { '2.0': compiledNow('2.0'), '3.0': compiledNow('3.0'), '3.1': compiledNow('3.1') };
    const documents = await bundledDocuments();
    expect(documents.length).toBeGreaterThanOrEqual(7);
    const next = mulberry32(20261128);
    let invalid = 0;
    let valid = 0;
    for (const { document } of documents) {
      const version = versionOf(document);
      const precompiled = officialSchemaValidator(version);
      expect(precompiled).not.toBe(reference[version]);
      if (expectSameAnswer(precompiled, reference[version], document)) valid++;
      else invalid++;
      for (let round = 0; round < 8; round++) {
        if (expectSameAnswer(precompiled, reference[version], mutate(document, next))) valid++;
        else invalid++;
      }
    }
    // Both outcomes were exercised, many times.
    expect(valid).toBeGreaterThan(10);
    expect(invalid).toBeGreaterThan(50);
  }, 300_000);
});
