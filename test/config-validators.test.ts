/**
 * The config validators precompiled into the compiled build (scripts/config-validators.mjs, used by
 * src/config/config-ajv.ts in dist/) give exactly what Ajv compiling the same schema at run time gives: the verdict,
 * every error object, and the defaults filled into the data. Compared on every registered schema with generic hostile
 * values and on the real configs of the repository (the whole document, and each route's and each `defaults` entry's
 * policy settings against that policy's schema), valid and broken.
 *
 * The generator runs here on the schemas the sources register, exactly as scripts/build.mjs runs it on dist/'s, so
 * the test needs no build.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv, type ValidateFunction } from 'ajv';
import YAML from 'yaml';
import { describe, expect, it } from 'vitest';
import { configValidatorsSource } from '../scripts/config-validators.mjs';
import { CONFIG_AJV_OPTIONS, configSchemaKey, registeredConfigSchemas } from '../src/config/config-ajv.ts';
import { CONFIG_SCHEMA } from '../src/config/schema.ts';
import '../src/config/load.ts';
import '../src/scan/dynamic/auth-file.ts';
import { POLICIES } from '../src/policies/registry.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const AJV_FROM = join(ROOT, 'src', 'config', 'config-ajv.ts');

/** The generated module, evaluated as CommonJS with `require` resolving from src/config (where Ajv is found). */
function generatedValidators(): Record<string, () => ValidateFunction> {
  const text = configValidatorsSource(registeredConfigSchemas(), { options: CONFIG_AJV_OPTIONS, keyOf: configSchemaKey, ajvFrom: AJV_FROM });
  const module = { exports: {} as { load: Record<string, () => ValidateFunction> } };
  new Function('module', 'exports', 'require', text)(module, module.exports, createRequire(AJV_FROM));
  return module.exports.load;
}

const CONFIG_FILES = ['demo/rampart.yaml', 'test/fixtures/configs/valid.yaml', 'test/fixtures/configs/invalid.yaml', 'test/fixtures/configs/valid-with-acknowledgements.yaml', 'test/fixtures/scan-gateway/rampart.yaml'];
const documents = CONFIG_FILES.map((file) => YAML.parse(readFileSync(join(ROOT, file), 'utf8')) as Record<string, unknown>);

/** Values any schema must survive: wrong types, empty and junk objects, prototype keys, deep nesting. */
const GENERIC: unknown[] = [undefined, null, 0, -1, 1.5, 'x', '', true, [], [{}], {}, { bogus: 1 }, JSON.parse('{"__proto__": {"x": 1}}'), { constructor: 'x' }, { a: { b: { c: { d: [1, 'two', null] } } } }];

/** Broken variants of a config document: every top-level key's value replaced by junk, one at a time, and removed. */
function brokenVariants(document: Record<string, unknown>): unknown[] {
  const out: unknown[] = [];
  for (const key of Object.keys(document)) {
    for (const junk of [null, 'x', 7, [], { bogus: true }]) out.push({ ...document, [key]: junk });
    const { [key]: _removed, ...rest } = document;
    out.push(rest);
  }
  return out;
}

/** The settings of `policy` written in the documents: per route and under `defaults`. */
function policySettings(policy: string): unknown[] {
  const out: unknown[] = [];
  for (const document of documents) {
    const defaults = document['defaults'] as Record<string, unknown> | undefined;
    if (defaults?.[policy] !== undefined) out.push(defaults[policy]);
    for (const route of (document['routes'] as Array<Record<string, unknown>> | undefined) ?? []) if (route[policy] !== undefined) out.push(route[policy]);
  }
  return out;
}

function outcome(validate: ValidateFunction, value: unknown): { valid: boolean; errors: unknown; data: unknown } {
  const data = structuredClone(value);
  const valid = validate(data);
  return { valid, errors: validate.errors ?? null, data };
}

describe('precompiled config validators', () => {
  const generated = generatedValidators();
  const schemas = registeredConfigSchemas();
  const policyOf = new Map<object, string>([...POLICIES].map(([name, definition]) => [definition.schema as object, name]));

  it('exist for every schema the sources register, the gateway config and every policy among them', () => {
    expect(schemas.length).toBeGreaterThanOrEqual(POLICIES.size + 1);
    expect(schemas).toContain(CONFIG_SCHEMA);
    for (const schema of schemas) expect(Object.hasOwn(generated, configSchemaKey(schema)), JSON.stringify(schema).slice(0, 120)).toBe(true);
  });

  it('answer exactly as the schema compiled at run time: verdict, errors and filled-in defaults', () => {
    let compared = 0;
    let invalid = 0;
    for (const schema of schemas) {
      const precompiled = generated[configSchemaKey(schema)]!();
      const runtime = new Ajv(CONFIG_AJV_OPTIONS).compile(schema);
      const policy = policyOf.get(schema);
      const inputs = [...GENERIC, ...(schema === CONFIG_SCHEMA ? documents.flatMap((d) => [d, ...brokenVariants(d)]) : []), ...(policy ? policySettings(policy) : [])];
      for (const input of inputs) {
        const expected = outcome(runtime, input);
        expect(outcome(precompiled, input)).toEqual(expected);
        compared++;
        if (!expected.valid) invalid++;
      }
    }
    // Both verdicts are exercised, at scale.
    expect(compared).toBeGreaterThan(500);
    expect(invalid).toBeGreaterThan(300);
    expect(compared - invalid).toBeGreaterThan(30);
  });
});
