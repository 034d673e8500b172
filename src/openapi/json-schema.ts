/**
 * OpenAPI schemas → JSON Schema 2020-12 for ajv, request direction (issue 5 item 2).
 *
 * What the translation does, and why:
 * - Only JSON Schema keywords are copied (a whitelist). OpenAPI-only keywords (`example`, `xml`, `externalDocs`,
 *   `discriminator`, `nullable`, `readOnly`, `x-*`) never reach ajv, so ajv runs in strict mode without tripping on
 *   them, and a vendor keyword cannot change what is enforced.
 * - `nullable: true` (3.0) and `x-nullable: true` (Swagger 2.0) add `null` to the type (or wrap the schema in
 *   `anyOf [null, schema]` when it has no type); 3.1 type arrays pass as they are. Boolean `exclusiveMinimum`/
 *   `exclusiveMaximum` (draft 4, used by 2.0 and 3.0) become the numeric form.
 * - `readOnly` properties are refused in requests (OpenAPI 3 §4.8.24: "SHOULD NOT be sent as part of the request"):
 *   the property becomes a keyword that always fails with "is read-only", and leaves `required`.
 * - Discriminators with `mapping` are translated (ajv's own `discriminator` keyword does not support mapping): the
 *   `oneOf`/`anyOf` becomes "the property is one of the mapped values" plus one `if {prop: const v} then {$ref
 *   target}` per value, so exactly the mapped schema applies and errors name it. Implicit names (the schema name of a
 *   `oneOf` branch, or of a schema that extends the base through `allOf`) are honoured as the specification says.
 *   A reference from an `allOf` (inheritance) goes to the base without dispatch, so `Dog = allOf[Pet, ...]` does
 *   not dispatch back to Dog for ever.
 * - Undeclared properties (mass assignment) are not refused here but by the schema walk of minimize.ts, the same one
 *   that minimises responses: ajv drops the annotations of a failed subschema, so `unevaluatedProperties` would call
 *   every property of an object "undeclared" as soon as one discriminated branch fails, listing noise instead of
 *   the real failure.
 * - Integers must be safe integers (|n| ≤ 2^53-1) and numbers finite: `JSON.parse` turns 9007199254740993 into
 *   9007199254740992 and `1e400` into Infinity, so an upstream parsing the same text precisely would see another value.
 * - `uniqueItems: true` becomes `rampartUniqueItems` and `format: url` gets its own check (linear-checks.ts): ajv's
 *   pairwise comparison and ajv-formats' `url` regex take minutes on a hostile 1 MB body. `format: byte` too: the
 *   ajv-formats regex let any string with a line break through.
 * - Every schema object reached by a `$ref` is one ajv schema of its own (`urn:rampart:schema:N`), compiled once
 *   however many operations use it; recursion through `$ref` is what JSON Schema does natively.
 */
import { Ajv2020, type AnySchema, type ErrorObject } from 'ajv/dist/2020.js';
import type { SchemaValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { formatNames } from 'ajv-formats/dist/formats.js';
import type { OpenApiVersion, SchemaAt } from './model.ts';
import { escapeToken, getAt, hasAt, isObject, joinPointer, refPointer } from './pointer.ts';
import { Discriminators, isNullable, resolveSchema } from './schema-info.ts';
import { firstDuplicate, isAbsoluteUrl, isBase64 } from './linear-checks.ts';
import { compilePattern, type PatternMatcher } from './pattern-engine.ts';

/** A schema problem found while translating or compiling (pointer into the bundled document). */
export interface SchemaIssue {
  readonly pointer: string;
  readonly message: string;
}

const KNOWN_FORMATS: ReadonlySet<string> = new Set(formatNames);

/** Keywords copied unchanged (their values are checked by ajv's meta-schema). */
const COPIED = new Set([
  'type',
  'enum',
  'const',
  'multipleOf',
  'maximum',
  'minimum',
  'maxLength',
  'minLength',
  'pattern',
  'maxItems',
  'minItems',
  'maxContains',
  'minContains',
  'maxProperties',
  'minProperties',
  'dependentRequired',
]);

/** Keywords whose value is one schema (or a boolean schema). */
const ONE_SCHEMA = new Set(['contains', 'propertyNames', 'unevaluatedItems', 'unevaluatedProperties', 'additionalProperties', 'not', 'if', 'then', 'else']);

/** Where a schema sits: `allOfItem` references go to the base without discriminator dispatch (inheritance). */
type Position = 'other' | 'allOfItem';
type Variant = 'dispatch' | 'plain';

/**
 * ajv's RegExp engine: pattern-engine.ts (V8 for patterns whose backtracking is bounded, RE2 for the others; a pattern
 * invalid both ways, or unsafe and beyond RE2, is reported at load as a schema that does not compile).
 */
function regExpEngine(source: string, flags: string): PatternMatcher {
  return compilePattern(source, flags);
}
regExpEngine.code = 'new RegExp';

/** The ajv instance for one contract: strict, all errors, OpenAPI formats, the Rampart keywords. */
export function createAjv(): Ajv2020 {
  const ajv = new Ajv2020({
    strict: true,
    // Real documents put `properties` beside `type: [object, null]` or leave `type` out; neither is an error here.
    strictTypes: false,
    strictTuples: false,
    strictRequired: false,
    allowUnionTypes: true,
    allErrors: true,
    validateFormats: true,
    discriminator: false,
    // Own members only: without it ajv reads `data.toString` and finds Object.prototype's, so a schema declaring an
    // optional `toString` (or `valueOf`, `hasOwnProperty`...) refused every body that left it out, and `required`
    // would count such a name as present. JSON bodies are plain objects from the strict reader (gateway/body.ts).
    ownProperties: true,
    code: { regExp: regExpEngine as never },
  });
  // CommonJS interop: module.exports is the plugin and carries itself as `.default`.
  addFormatsModule.default(ajv);
  ajv.addKeyword({ keyword: 'rampartReadOnly', schemaType: 'boolean', validate: () => false, errors: false });
  // Non-integers are the `type` keyword's to report; this one refuses integers JSON.parse could not hold exactly.
  ajv.addKeyword({
    keyword: 'rampartSafeInteger',
    type: 'number',
    schemaType: 'boolean',
    validate: (_: boolean, data: number) => Number.isFinite(data) && (!Number.isInteger(data) || Number.isSafeInteger(data)),
    errors: false,
  });
  ajv.addKeyword({ keyword: 'rampartFinite', type: 'number', schemaType: 'boolean', validate: (_: boolean, data: number) => Number.isFinite(data), errors: false });
  // `uniqueItems: true` in linear time (ajv compares every pair of object or `$ref` items: quadratic).
  const unique: SchemaValidateFunction = (_: boolean, data: unknown[]) => {
    const duplicate = firstDuplicate(data);
    if (duplicate === undefined) return true;
    const [j, i] = duplicate;
    unique.errors = [{ keyword: 'rampartUniqueItems', params: { i, j }, message: duplicateItemsRule(j, i) }];
    return false;
  };
  ajv.addKeyword({ keyword: 'rampartUniqueItems', type: 'array', schemaType: 'boolean', validate: unique, errors: true });
  // ajv-formats' `url` regex backtracks (quadratic on `http://` + ':' × n + '!'): an absolute http(s)/ftp URL, see isAbsoluteUrl.
  ajv.addFormat('url', isAbsoluteUrl);
  // ajv-formats' `byte` regex has the `m` flag: any string with a line break passed. The whole string, see isBase64.
  ajv.addFormat('byte', isBase64);
  return ajv;
}

function duplicateItemsRule(earlier: number, later: number): string {
  return `must NOT have duplicate items (items ${earlier} and ${later} are identical)`;
}

/**
 * Translates the schemas of one document for one ajv instance. Schemas reached by `$ref` are added to ajv as
 * separate schemas on `flush()`, which must run before compiling anything `translate()` returned.
 */
export class RequestSchemaTranslator {
  readonly #doc: Record<string, unknown>;
  readonly #version: OpenApiVersion;
  readonly #ajv: Ajv2020;
  readonly #issues: SchemaIssue[];
  readonly #ids = new Map<string, string>();
  readonly #pending: Array<{ id: string; schema: AnySchema; pointer: string }> = [];
  readonly #discriminators: Discriminators;
  static #counter = 0;

  constructor(doc: Record<string, unknown>, version: OpenApiVersion, ajv: Ajv2020, issues: SchemaIssue[]) {
    this.#doc = doc;
    this.#version = version;
    this.#ajv = ajv;
    this.#issues = issues;
    this.#discriminators = new Discriminators(doc, version);
  }

  /** The JSON Schema for a body or parameter schema. */
  translate(at: SchemaAt): AnySchema {
    return this.#schema(at.schema, at.pointer, 'other', 'dispatch');
  }

  /** Adds every schema referenced so far to ajv (each checked against the 2020-12 meta-schema first). */
  flush(): void {
    while (this.#pending.length > 0) {
      const { id, schema, pointer } = this.#pending.shift()!;
      // An invalid schema is reported and replaced, so the other operations still compile and report their own.
      this.#ajv.addSchema(checkSchema(this.#ajv, schema, pointer, this.#issues) ? schema : { $id: id }, undefined, undefined, false);
    }
  }

  #issue(pointer: string, message: string): void {
    this.#issues.push({ pointer, message });
  }

  #schema(node: unknown, pointer: string, position: Position, variant: Variant): AnySchema {
    if (typeof node === 'boolean') return node;
    if (!isObject(node)) {
      this.#issue(pointer, 'a schema must be an object');
      return {};
    }
    let out: Record<string, unknown>;
    if (node.$ref !== undefined) {
      const target = typeof node.$ref === 'string' ? refPointer(node.$ref) : undefined;
      if (target === undefined || !hasAt(this.#doc, target)) {
        this.#issue(joinPointer(pointer, '$ref'), `cannot resolve $ref ${JSON.stringify(String(node.$ref).slice(0, 200))}`);
        return {};
      }
      const ref = { $ref: this.#def(target, position === 'allOfItem' ? 'plain' : 'dispatch') };
      // OpenAPI 3.0 and Swagger 2.0: "sibling elements of a $ref are ignored"; 3.1 (JSON Schema 2020-12) applies them.
      if (this.#version === '3.1') {
        const siblings: Record<string, unknown> = {};
        for (const [key, value] of Object.entries(node)) if (key !== '$ref') siblings[key] = value;
        out = { ...this.#keywords(siblings, pointer, variant), ...ref };
      } else out = ref;
    } else {
      out = this.#keywords(node, pointer, variant);
    }
    return out;
  }

  /** The ajv id of the translated schema at `target` (translated once per variant). */
  #def(target: string, variant: Variant): string {
    const node = getAt(this.#doc, target);
    if (variant === 'plain' && !(isObject(node) && node.discriminator !== undefined)) variant = 'dispatch';
    const key = `${variant} ${target}`;
    let id = this.#ids.get(key);
    if (id !== undefined) return id;
    id = `urn:rampart:schema:${++RequestSchemaTranslator.#counter}`;
    this.#ids.set(key, id);
    const translated = this.#schema(node, target, 'other', variant);
    const schema = typeof translated === 'boolean' ? { $id: id, ...(translated ? {} : { not: {} }) } : { $id: id, ...translated };
    this.#pending.push({ id, schema, pointer: target });
    return id;
  }

  #keywords(node: Record<string, unknown>, pointer: string, variant: Variant): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    const readOnly = new Set<string>();
    const discriminator = this.#version === '2.0' ? undefined : node.discriminator;
    const dispatch = isObject(discriminator) && typeof discriminator.propertyName === 'string' ? discriminator.propertyName : undefined;
    for (const [key, value] of Object.entries(node)) {
      const at = joinPointer(pointer, key);
      if (COPIED.has(key)) {
        out[key] = value;
      } else if (key === 'uniqueItems') {
        // false is a no-op; anything but a boolean is left for the meta-schema check to report.
        if (value === true) out.rampartUniqueItems = true;
        else if (value !== false) out.uniqueItems = value;
      } else if (key === 'required') {
        out.required = value;
      } else if (key === 'format') {
        // Unknown formats (`int32` aside, e.g. `date-time-rfc1123`, `phone`) are annotations: not enforced.
        if (typeof value === 'string' && KNOWN_FORMATS.has(value)) out.format = value;
      } else if (key === 'exclusiveMaximum' || key === 'exclusiveMinimum') {
        if (typeof value === 'boolean') {
          const bound = node[key === 'exclusiveMaximum' ? 'maximum' : 'minimum'];
          if (value && typeof bound === 'number') out[key] = bound;
        } else out[key] = value;
      } else if (key === 'contentEncoding') {
        if (value === 'base64' && node.format === undefined) out.format = 'byte';
      } else if (key === 'properties') {
        if (!isObject(value)) {
          out.properties = value;
          continue;
        }
        const properties: Record<string, unknown> = {};
        for (const [name, sub] of Object.entries(value)) {
          const subPointer = joinPointer(at, name);
          if (this.#isReadOnly(sub, subPointer)) {
            readOnly.add(name);
            properties[name] = { rampartReadOnly: true };
          } else properties[name] = this.#schema(sub, subPointer, 'other', 'dispatch');
        }
        out.properties = properties;
      } else if (key === 'patternProperties' || key === 'dependentSchemas') {
        if (!isObject(value)) {
          out[key] = value;
          continue;
        }
        const map: Record<string, unknown> = {};
        for (const [name, sub] of Object.entries(value)) map[name] = this.#schema(sub, joinPointer(at, name), 'other', 'dispatch');
        out[key] = map;
      } else if (key === 'items') {
        if (Array.isArray(value)) {
          // Draft 4-7 tuple form → 2020-12 prefixItems (+ additionalItems → items).
          out.prefixItems = value.map((sub, i) => this.#schema(sub, joinPointer(at, i), 'other', 'dispatch'));
          if (node.additionalItems !== undefined) out.items = this.#schema(node.additionalItems, joinPointer(pointer, 'additionalItems'), 'other', 'dispatch');
        } else out.items = this.#schema(value, at, 'other', 'dispatch');
      } else if (key === 'prefixItems') {
        out.prefixItems = Array.isArray(value) ? value.map((sub, i) => this.#schema(sub, joinPointer(at, i), 'other', 'dispatch')) : value;
      } else if (ONE_SCHEMA.has(key)) {
        out[key] = this.#schema(value, at, 'other', 'dispatch');
      } else if (key === 'allOf') {
        out.allOf = Array.isArray(value) ? value.map((sub, i) => this.#schema(sub, joinPointer(at, i), 'allOfItem', 'dispatch')) : value;
      } else if (key === 'oneOf' || key === 'anyOf') {
        // With a discriminator the branches are replaced by the dispatch below (or dropped in the plain variant).
        if (dispatch !== undefined) continue;
        out[key] = Array.isArray(value) ? value.map((sub, i) => this.#schema(sub, joinPointer(at, i), 'other', 'dispatch')) : value;
      } else if (key === 'dependencies' && isObject(value)) {
        for (const [name, dep] of Object.entries(value)) {
          if (Array.isArray(dep)) ((out.dependentRequired ??= {}) as Record<string, unknown>)[name] = dep;
          else ((out.dependentSchemas ??= {}) as Record<string, unknown>)[name] = this.#schema(dep, joinPointer(at, name), 'other', 'dispatch');
        }
      }
      // Anything else is an annotation or an OpenAPI/vendor keyword: not enforced, never given to ajv.
    }
    if (typeof out.exclusiveMaximum === 'number' && node.exclusiveMaximum === true) delete out.maximum;
    if (typeof out.exclusiveMinimum === 'number' && node.exclusiveMinimum === true) delete out.minimum;
    if (readOnly.size > 0 && Array.isArray(out.required)) {
      // OpenAPI 3.0 §4.7.25.1: a required readOnly property is required in responses only.
      out.required = out.required.filter((name) => !readOnly.has(String(name)));
    }
    const types = typeof out.type === 'string' ? [out.type] : Array.isArray(out.type) ? (out.type as unknown[]) : [];
    if (types.includes('integer') && !types.includes('number')) out.rampartSafeInteger = true;
    else if (types.includes('number')) out.rampartFinite = true;
    if (dispatch !== undefined && variant === 'dispatch') this.#dispatch(out, node, pointer, dispatch);
    if (isNullable(this.#version, node)) {
      if (out.type !== undefined) {
        if (!types.includes('null')) out.type = [...types, 'null'];
        if (Array.isArray(out.enum) && !out.enum.includes(null)) out.enum = [...out.enum, null];
        return out;
      }
      return { anyOf: [{ type: 'null' }, out] };
    }
    return out;
  }

  #isReadOnly(sub: unknown, pointer: string): boolean {
    if (!isObject(sub)) return false;
    if (sub.readOnly === true) return true;
    if (sub.$ref === undefined) return false;
    const target = resolveSchema(this.#doc, sub, pointer).value;
    return isObject(target) && target.readOnly === true;
  }

  /** Replaces a discriminated `oneOf`/`anyOf` (or an allOf hierarchy) with a dispatch on the property's value. */
  #dispatch(out: Record<string, unknown>, node: Record<string, unknown>, pointer: string, property: string): void {
    const info = this.#discriminators.resolve(node, pointer);
    for (const { value, ref } of info?.unresolved ?? []) {
      this.#issue(joinPointer(pointer, 'discriminator', 'mapping', value), `mapping target ${JSON.stringify(ref.slice(0, 200))} cannot be resolved`);
    }
    if (!info || info.targets.size === 0) {
      // Nothing to dispatch to: the branches apply as written.
      for (const key of ['oneOf', 'anyOf'] as const) {
        const value = node[key];
        if (Array.isArray(value)) out[key] = value.map((sub, i) => this.#schema(sub, joinPointer(pointer, key, i), 'other', 'dispatch'));
      }
      return;
    }
    const allOf = Array.isArray(out.allOf) ? [...(out.allOf as unknown[])] : [];
    allOf.push({ required: [property], properties: { [property]: { enum: [...info.targets.keys()] } } });
    for (const [value, target] of info.targets) {
      const targetNode = getAt(this.#doc, target);
      const nested = isObject(targetNode) && targetNode.discriminator !== undefined;
      allOf.push({ if: { properties: { [property]: { const: value } }, required: [property] }, then: { $ref: this.#def(target, nested ? 'plain' : 'dispatch') } });
    }
    out.allOf = allOf;
  }
}

/** Checks a translated schema against the 2020-12 meta-schema; failures are reported at the source pointer. */
export function checkSchema(ajv: Ajv2020, schema: AnySchema, pointer: string, issues: SchemaIssue[]): boolean {
  if (ajv.validateSchema(schema)) return true;
  for (const e of ajv.errors ?? []) issues.push({ pointer: pointer + e.instancePath, message: `invalid schema: ${e.message ?? 'invalid'}` });
  return false;
}

/** One failing location: an RFC 6901 pointer into the request (`/body/items/3/qty`) and the rule (`must be <= 100`). */
export interface ValidationError {
  readonly pointer: string;
  readonly rule: string;
}

/** `/body/items/3/qty: must be <= 100`, as the log detail prints it. */
export function formatError(error: ValidationError): string {
  return `${error.pointer}: ${error.rule}`;
}

/** The public pointer and rule of one ajv error. Never includes submitted values (ajv's messages name the schema). */
export function describeError(prefix: string, error: ErrorObject): ValidationError | undefined {
  const params = error.params as Record<string, unknown>;
  let path = prefix + error.instancePath;
  let rule: string;
  switch (error.keyword) {
    case 'if':
      return undefined; // the `then` branch's own errors say what failed
    case 'required':
      path += '/' + safeToken(String(params.missingProperty));
      rule = 'is required';
      break;
    case 'unevaluatedProperties':
      path += '/' + safeToken(String(params.unevaluatedProperty));
      rule = 'is not declared';
      break;
    case 'additionalProperties':
      path += '/' + safeToken(String(params.additionalProperty));
      rule = 'is not declared';
      break;
    case 'unevaluatedItems':
      rule = 'has more items than declared';
      break;
    case 'rampartReadOnly':
      rule = 'is read-only';
      break;
    case 'rampartSafeInteger':
      rule = 'must be an integer between -(2^53-1) and 2^53-1';
      break;
    case 'rampartFinite':
      rule = 'must be a finite number';
      break;
    case 'rampartUniqueItems':
      rule = duplicateItemsRule(Number(params.j), Number(params.i));
      break;
    case 'false schema':
      rule = 'is not allowed';
      break;
    default:
      rule = error.message ?? 'is invalid';
  }
  return { pointer: truncatePointer(path), rule };
}

/** Property names come from the client: bounded and pointer-escaped (RFC 6901), never used raw. */
function safeToken(name: string): string {
  return escapeToken(name.length > 64 ? `${name.slice(0, 64)}…` : name);
}

function truncatePointer(pointer: string): string {
  return pointer.length > 256 ? `${pointer.slice(0, 256)}…` : pointer;
}
