/**
 * Validators for Rampart's own config schemas (the gateway file, policies, apis, detectors, alerts, audit, scan auth
 * files), all from one Ajv instance and each compiled the first time it is used.
 *
 * Why on first use: compiling every config schema when its module is imported cost about 0.4 s of every `rampart`
 * start (measured with `node --cpu-prof`), paid even by commands that never read a gateway config
 * (`rampart api-keys create`, `rampart audit verify`). Compiled once, then kept: the second call costs nothing.
 *
 * In the compiled build (dist/), scripts/build.mjs also writes every registered schema's validator ahead of time with
 * Ajv's standalone code generation (config-validators.generated.cjs beside this file, keyed by the schema's text), so
 * that commands reading a config do not compile at all (~0.3 s each). dist/ only runs while it was built from the
 * sources now in src/ (bin/rampart.js), so those validators always belong to these schemas; a schema whose text has
 * no precompiled validator (and every schema when running from src/) is compiled here as before.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { Ajv, type ErrorObject, type Options, type ValidateFunction } from 'ajv';

/**
 * `allErrors`: every error at once (issue 2: "all errors at once"); `useDefaults`: defaults filled in as the schema
 * declares them; `strict: false`: the schemas use annotations (`x-checklist`) and union types Ajv's strict mode rejects.
 */
export const CONFIG_AJV_OPTIONS: Options = { allErrors: true, useDefaults: true, strict: false, allowUnionTypes: true };

let shared: Ajv | undefined;
function configAjv(): Ajv {
  shared ??= new Ajv(CONFIG_AJV_OPTIONS);
  return shared;
}

/** Every schema a validator was made for in this process (scripts/build.mjs precompiles them). */
const registered = new Set<object>();

export function registeredConfigSchemas(): readonly object[] {
  return [...registered];
}

/** The key of a schema's precompiled validator: a digest of its JSON text. */
export function configSchemaKey(schema: object): string {
  return createHash('sha256').update(JSON.stringify(schema)).digest('base64url');
}

export const PRECOMPILED_FILE_NAME = 'config-validators.generated.cjs';

type Precompiled = Readonly<Record<string, () => ValidateFunction>>;
let precompiled: Precompiled | null | undefined;

/** The validators precompiled beside this module (dist/ only), or null. */
function precompiledValidators(): Precompiled | null {
  if (precompiled !== undefined) return precompiled;
  const file = fileURLToPath(new URL(`./${PRECOMPILED_FILE_NAME}`, import.meta.url));
  precompiled = existsSync(file) ? ((createRequire(import.meta.url)(file) as { load: Precompiled }).load ?? null) : null;
  return precompiled;
}

/** Called like an Ajv validate function: true when `data` is valid (defaults filled in), `errors` set otherwise. */
export interface ConfigValidator {
  (data: unknown): boolean;
  errors: ErrorObject[] | null | undefined;
}

/** A validator for `schema`: precompiled when the build has it, otherwise compiled on its first call. */
export function validatorOnFirstUse(schema: object): ConfigValidator {
  registered.add(schema);
  let compiled: ValidateFunction | undefined;
  const validator = ((data: unknown): boolean => {
    compiled ??= precompiledValidators()?.[configSchemaKey(schema)]?.() ?? configAjv().compile(schema);
    const valid = compiled(data);
    validator.errors = compiled.errors;
    return valid;
  }) as ConfigValidator;
  validator.errors = null;
  return validator;
}
