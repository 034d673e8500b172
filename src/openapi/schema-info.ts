/**
 * Small read-only questions about OpenAPI schemas in the bundled document, answered through `$ref`s and `allOf`
 * with bounded walks (documents have circular references): which JSON types a schema allows, which properties an
 * object schema declares, whether an object schema is free-form.
 */
import type { OpenApiVersion } from './model.ts';
import { deref, escapeToken, getAt, hasAt, isObject, joinPointer, refPointer, splitPointer, type Located } from './pointer.ts';

const MAX_WALK = 64;

export const JSON_TYPES = ['string', 'number', 'integer', 'boolean', 'array', 'object', 'null'] as const;

/** Follows `$ref`s (bounded); a broken reference reads as an empty schema (loading has already reported it). */
export function resolveSchema(document: unknown, node: unknown, pointer: string): Located {
  const found = deref(document, node, pointer);
  return 'error' in found ? { value: {}, pointer } : found;
}

/** 3.0 `nullable: true` and Swagger 2.0's common `x-nullable: true` extension. */
export function isNullable(version: OpenApiVersion, schema: Record<string, unknown>): boolean {
  if (version === '3.0') return schema.nullable === true;
  if (version === '2.0') return schema['x-nullable'] === true;
  return false;
}

/**
 * The JSON types a schema may take (union over `allOf`/`oneOf`/`anyOf` branches when it has no `type` itself). An
 * empty set means "no constraint" (any type).
 */
export function typesOf(document: unknown, version: OpenApiVersion, node: unknown, pointer = ''): Set<string> {
  const out = new Set<string>();
  const visit = (value: unknown, at: string, depth: number): boolean => {
    if (depth > MAX_WALK) return false;
    const { value: schema, pointer: here } = resolveSchema(document, value, at);
    if (!isObject(schema)) return false;
    let constrained = false;
    if (typeof schema.type === 'string') {
      out.add(schema.type);
      constrained = true;
    } else if (Array.isArray(schema.type)) {
      for (const t of schema.type) if (typeof t === 'string') out.add(t);
      constrained = true;
    }
    if (constrained && isNullable(version, schema)) out.add('null');
    if (!constrained && Array.isArray(schema.allOf)) {
      // allOf: one constrained branch constrains the whole.
      let any = false;
      schema.allOf.forEach((branch, i) => {
        if (visit(branch, joinPointer(here, 'allOf', i), depth + 1)) any = true;
      });
      if (any) constrained = true;
    }
    for (const key of ['oneOf', 'anyOf'] as const) {
      const branches = schema[key];
      if (constrained || !Array.isArray(branches) || branches.length === 0) continue;
      // oneOf/anyOf: constrained only when every branch is.
      let all = true;
      branches.forEach((branch, i) => {
        if (!visit(branch, joinPointer(here, key, i), depth + 1)) all = false;
      });
      if (all) constrained = true;
    }
    return constrained;
  };
  if (!visit(node, pointer, 0)) out.clear();
  return out;
}

/** What an object schema declares: its properties (through `allOf` and `$ref`) and whether others are allowed. */
export interface ObjectShape {
  readonly properties: Map<string, Located>;
  /** `additionalProperties` (or `patternProperties`) allows more, or the object is free-form. */
  readonly open: boolean;
}

export function objectShape(document: unknown, node: unknown, pointer = ''): ObjectShape {
  const properties = new Map<string, Located>();
  let open = false;
  let declaresSomething = false;
  const visit = (value: unknown, at: string, depth: number): void => {
    if (depth > MAX_WALK) return;
    const { value: schema, pointer: here } = resolveSchema(document, value, at);
    if (!isObject(schema)) return;
    if (isObject(schema.properties)) {
      declaresSomething = true;
      for (const [name, sub] of Object.entries(schema.properties)) {
        if (!properties.has(name)) properties.set(name, { value: sub, pointer: joinPointer(here, 'properties', name) });
      }
    }
    if (schema.additionalProperties !== undefined) {
      declaresSomething = true;
      if (schema.additionalProperties !== false) open = true;
    }
    if (isObject(schema.patternProperties)) open = true;
    if (Array.isArray(schema.allOf)) schema.allOf.forEach((branch, i) => visit(branch, joinPointer(here, 'allOf', i), depth + 1));
    for (const key of ['oneOf', 'anyOf'] as const) {
      if (Array.isArray(schema[key])) {
        declaresSomething = true;
        schema[key].forEach((branch, i) => visit(branch, joinPointer(here, key, i), depth + 1));
      }
    }
  };
  visit(node, pointer, 0);
  return { properties, open: open || !declaresSomething };
}

/**
 * A free-form object schema declares no properties at all (`type: object` alone, or `{}`): every property is
 * declared by it (OpenAPI: `additionalProperties` defaults to true). Such schemas are neither closed in requests nor
 * minimised in responses; a schema that lists `properties` is.
 */
export function isFreeForm(document: unknown, node: unknown, pointer = ''): boolean {
  const seen = new Set<string>();
  const visit = (value: unknown, at: string, depth: number): boolean => {
    if (depth > MAX_WALK) return false;
    const { value: schema, pointer: here } = resolveSchema(document, value, at);
    if (typeof schema === 'boolean') return schema;
    if (!isObject(schema)) return true;
    if (seen.has(here)) return false;
    seen.add(here);
    if (schema.properties !== undefined || schema.patternProperties !== undefined || schema.additionalProperties !== undefined) return false;
    if (schema.discriminator !== undefined || schema.unevaluatedProperties !== undefined) return false;
    for (const key of ['allOf', 'oneOf', 'anyOf'] as const) {
      const branches = schema[key];
      if (Array.isArray(branches) && !branches.every((b, i) => visit(b, joinPointer(here, key, i), depth + 1))) return false;
    }
    for (const key of ['if', 'then', 'else', 'dependentSchemas'] as const) if (schema[key] !== undefined) return false;
    return true;
  };
  return visit(node, pointer, 0);
}

/** True when the schema may describe an object (no `type`, or `type` includes object). */
export function mayBeObject(document: unknown, version: OpenApiVersion, node: unknown, pointer = ''): boolean {
  const types = typesOf(document, version, node, pointer);
  return types.size === 0 || types.has('object');
}

/** A discriminator (OpenAPI 3 §4.8.25) resolved to the schemas its values select. */
export interface DiscriminatorInfo {
  readonly property: string;
  /** value → schema pointer: `mapping` entries first, then implicit names (the schema's name under components). */
  readonly targets: ReadonlyMap<string, string>;
  /** Mapping entries whose target cannot be resolved (a config error for the request side). */
  readonly unresolved: ReadonlyArray<{ readonly value: string; readonly ref: string }>;
}

/**
 * Resolves discriminators of one document. Implicit targets are the `$ref`s of the schema's `oneOf`/`anyOf`, or,
 * for a base without them (an `allOf` hierarchy), the component schemas that extend the base through `allOf`.
 * Swagger 2.0's discriminator (a bare property name, no mapping) is not resolved: `of` returns undefined.
 */
export class Discriminators {
  readonly #doc: unknown;
  readonly #version: OpenApiVersion;
  #children: Map<string, string[]> | undefined;

  constructor(document: unknown, version: OpenApiVersion) {
    this.#doc = document;
    this.#version = version;
  }

  /**
   * Answers by schema object, for the pointer it was asked with: the response minimizer asks for every object of a
   * polymorphic answer (a list of 1,000 pets: 1,000 times the same schema), and the answer never changes.
   */
  readonly #resolved = new WeakMap<object, { readonly pointer: string; readonly info: DiscriminatorInfo | undefined }>();

  /** The discriminator of `schema` (which sits at `pointer`), or undefined when it has none usable. */
  resolve(schema: Record<string, unknown>, pointer: string): DiscriminatorInfo | undefined {
    const known = this.#resolved.get(schema);
    if (known !== undefined && known.pointer === pointer) return known.info;
    const info = this.#resolve(schema, pointer);
    this.#resolved.set(schema, { pointer, info });
    return info;
  }

  #resolve(schema: Record<string, unknown>, pointer: string): DiscriminatorInfo | undefined {
    const d = schema.discriminator;
    if (this.#version === '2.0' || !isObject(d) || typeof d.propertyName !== 'string') return undefined;
    const targets = new Map<string, string>();
    const unresolved: Array<{ value: string; ref: string }> = [];
    const mapped = new Set<string>();
    if (isObject(d.mapping)) {
      for (const [value, ref] of Object.entries(d.mapping)) {
        const target = typeof ref === 'string' ? this.#mappingTarget(ref) : undefined;
        if (target === undefined || !hasAt(this.#doc, target)) {
          unresolved.push({ value, ref: String(ref) });
          continue;
        }
        targets.set(value, target);
        mapped.add(target);
      }
    }
    const branches = [...(Array.isArray(schema.oneOf) ? schema.oneOf : []), ...(Array.isArray(schema.anyOf) ? schema.anyOf : [])];
    const implicit: string[] = [];
    if (branches.length > 0) {
      for (const branch of branches) {
        const target = isObject(branch) && typeof branch.$ref === 'string' ? refPointer(branch.$ref) : undefined;
        if (target !== undefined) implicit.push(target);
      }
    } else implicit.push(...(this.#childrenOf(pointer) ?? []));
    for (const target of implicit) {
      if (mapped.has(target)) continue;
      const name = splitPointer(target).at(-1);
      if (name !== undefined && !targets.has(name)) targets.set(name, target);
    }
    return { property: d.propertyName, targets, unresolved };
  }

  #mappingTarget(ref: string): string | undefined {
    if (ref.startsWith('#')) return refPointer(ref);
    if (/[/#]/.test(ref)) return undefined; // a reference into another file: not resolvable after bundling
    return `/components/schemas/${escapeToken(ref)}`;
  }

  #childrenOf(pointer: string): string[] | undefined {
    if (!this.#children) {
      this.#children = new Map();
      const base = '/components/schemas';
      const schemas = getAt(this.#doc, base);
      if (isObject(schemas)) {
        for (const [name, schema] of Object.entries(schemas)) {
          if (!isObject(schema) || !Array.isArray(schema.allOf)) continue;
          for (const part of schema.allOf) {
            const target = isObject(part) && typeof part.$ref === 'string' ? refPointer(part.$ref) : undefined;
            if (target === undefined) continue;
            const list = this.#children.get(target) ?? [];
            list.push(joinPointer(base, name));
            this.#children.set(target, list);
          }
        }
      }
    }
    return this.#children.get(pointer);
  }
}
