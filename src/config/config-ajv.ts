/**
 * Validators for Rampart's own config schemas (the gateway file, policies, apis, detectors, alerts, audit, scan auth
 * files), all from one Ajv instance and each compiled the first time it is used.
 *
 * Why on first use: compiling every config schema when its module is imported cost about 0.4 s of every `rampart`
 * start (measured with `node --cpu-prof`), paid even by commands that never read a gateway config
 * (`rampart api-keys create`, `rampart audit verify`). Compiled once, then kept: the second call costs nothing.
 */
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';

/**
 * `allErrors`: every error at once (issue 2: "all errors at once"); `useDefaults`: defaults filled in as the schema
 * declares them; `strict: false`: the schemas use annotations (`x-checklist`) and union types Ajv's strict mode rejects.
 */
let shared: Ajv | undefined;
function configAjv(): Ajv {
  shared ??= new Ajv({ allErrors: true, useDefaults: true, strict: false, allowUnionTypes: true });
  return shared;
}

/** Called like an Ajv validate function: true when `data` is valid (defaults filled in), `errors` set otherwise. */
export interface ConfigValidator {
  (data: unknown): boolean;
  errors: ErrorObject[] | null | undefined;
}

/** A validator for `schema` that compiles it on its first call. */
export function validatorOnFirstUse(schema: object): ConfigValidator {
  let compiled: ValidateFunction | undefined;
  const validator = ((data: unknown): boolean => {
    compiled ??= configAjv().compile(schema);
    const valid = compiled(data);
    validator.errors = compiled.errors;
    return valid;
  }) as ConfigValidator;
  validator.errors = null;
  return validator;
}
