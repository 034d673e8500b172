/**
 * Parameter deserialisation by `style` and `explode` (OpenAPI 3 §4.8.12.4 "Style Values" and its examples table;
 * Swagger 2.0 `collectionFormat` is mapped onto these by normalize.ts), then coercion of the strings to the types the
 * schema asks for, so ajv validates typed values (`?limit=5` is the integer 5, `?limit=x` fails "must be integer").
 *
 * The same form decoder serves the query string and `application/x-www-form-urlencoded` / `multipart/form-data`
 * bodies (their `encoding` object uses the same styles). A repeated key is refused unless the parameter is an
 * exploded array: two values for one scalar would let the gateway and the upstream read different ones (HTTP
 * parameter pollution, OWASP WSTG-INPV-04).
 *
 * Decoders and coercers are built once per operation at load; per request only the values are touched.
 */
import type { OpenApiVersion, ParameterStyle } from './model.ts';
import { isObject, joinPointer } from './pointer.ts';
import { objectShape, resolveSchema, typesOf } from './schema-info.ts';
import { parseStrictJson } from '../gateway/body.ts';

/** How to turn one string into a typed value: the schema's types, and the same for items and properties. */
export interface Coercer {
  readonly types: ReadonlySet<string>;
  readonly items: Coercer | undefined;
  readonly properties: ReadonlyMap<string, Coercer> | undefined;
}

export type Shape = 'primitive' | 'array' | 'object';

export interface FieldDecoder {
  readonly name: string;
  readonly shape: Shape;
  readonly style: ParameterStyle;
  readonly explode: boolean;
  readonly coercer: Coercer;
  /** For `content`-serialised values (`application/json`): parsed as strict JSON instead of style-decoded. */
  readonly json: boolean;
  /** Property names of an object-shaped field, for exploded form objects (which spread over top-level keys). */
  readonly objectKeys: ReadonlySet<string> | undefined;
  readonly freeFormObject: boolean;
}

const ANY: Coercer = { types: new Set(), items: undefined, properties: undefined };
const MAX_COERCER_DEPTH = 4;

export function buildCoercer(document: unknown, version: OpenApiVersion, node: unknown, pointer: string, depth = 0): Coercer {
  if (depth > MAX_COERCER_DEPTH || node === undefined) return ANY;
  const types = typesOf(document, version, node, pointer);
  const { value: schema, pointer: at } = resolveSchema(document, node, pointer);
  let items: Coercer | undefined;
  let properties: Map<string, Coercer> | undefined;
  if (isObject(schema) && (types.size === 0 || types.has('array')) && schema.items !== undefined && !Array.isArray(schema.items)) {
    items = buildCoercer(document, version, schema.items, joinPointer(at, 'items'), depth + 1);
  }
  if (types.size === 0 || types.has('object')) {
    const shape = objectShape(document, node, pointer);
    if (shape.properties.size > 0) {
      properties = new Map();
      for (const [name, sub] of shape.properties) properties.set(name, buildCoercer(document, version, sub.value, sub.pointer, depth + 1));
    }
  }
  return { types, items, properties };
}

export function buildDecoder(
  document: unknown,
  version: OpenApiVersion,
  name: string,
  schema: { schema: unknown; pointer: string } | undefined,
  style: ParameterStyle,
  explode: boolean,
  json: boolean,
): FieldDecoder {
  const coercer = schema ? buildCoercer(document, version, schema.schema, schema.pointer) : ANY;
  const shape: Shape = coercer.types.has('array') ? 'array' : coercer.types.has('object') ? 'object' : 'primitive';
  let objectKeys: Set<string> | undefined;
  let freeFormObject = false;
  if (shape === 'object' && schema) {
    const object = objectShape(document, schema.schema, schema.pointer);
    objectKeys = new Set(object.properties.keys());
    freeFormObject = object.open;
  }
  return { name, shape, style, explode, coercer, json, objectKeys, freeFormObject };
}

const NUMBER = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?$/;

/** One string → the type its schema wants; left as a string when it does not convert (ajv then says why). */
export function coerce(raw: string, coercer: Coercer): unknown {
  const types = coercer.types;
  if (types.size === 0 || types.has('string')) return raw;
  if ((types.has('integer') || types.has('number')) && NUMBER.test(raw)) return Number(raw);
  if (types.has('boolean') && (raw === 'true' || raw === 'false')) return raw === 'true';
  if (types.has('null') && (raw === '' || raw === 'null')) return null;
  return raw;
}

function coerceList(values: readonly string[], coercer: Coercer): unknown[] {
  const item = coercer.items ?? ANY;
  return values.map((v) => coerce(v, item));
}

function coerceObject(entries: ReadonlyArray<readonly [string, string]>, coercer: Coercer): Record<string, unknown> {
  const out: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
  for (const [key, value] of entries) out[key] = coerce(value, coercer.properties?.get(key) ?? ANY);
  return out;
}

/** A failure while decoding, as `/query/name: rule` pieces. */
export interface DecodeIssue {
  readonly name: string;
  readonly rule: string;
}

const DELIMITERS: Partial<Record<ParameterStyle, string>> = { spaceDelimited: ' ', pipeDelimited: '|', tabDelimited: '\t' };

/**
 * Decodes form-style name/value pairs (already percent-decoded) into an instance object for the given fields.
 * Keys no field claims are returned in `unclaimed` (the caller refuses or keeps them).
 */
export function decodeForm(
  groups: ReadonlyMap<string, readonly string[]>,
  fields: readonly FieldDecoder[],
  instance: Record<string, unknown>,
  issues: DecodeIssue[],
): Set<string> {
  const unclaimed = new Set(groups.keys());
  const spreading: FieldDecoder[] = [];
  for (const field of fields) {
    if (field.style === 'deepObject') {
      // name[prop]=value (OpenAPI 3 §4.8.12.4): one level only; anything deeper is not a declared key.
      const prefix = `${field.name}[`;
      let entries: Array<[string, string]> | undefined;
      for (const [key, values] of groups) {
        if (!key.startsWith(prefix) || !key.endsWith(']')) continue;
        const prop = key.slice(prefix.length, -1);
        if (prop.includes('[') || prop.includes(']')) continue;
        unclaimed.delete(key);
        if (values.length > 1) {
          issues.push({ name: `${field.name}/${prop}`, rule: 'must not be repeated' });
          continue;
        }
        (entries ??= []).push([prop, values[0]!]);
      }
      if (entries) instance[field.name] = coerceObject(entries, field.coercer);
      continue;
    }
    if (field.shape === 'object' && field.explode && field.style === 'form' && !field.json) {
      spreading.push(field);
      continue;
    }
    const values = groups.get(field.name);
    if (values === undefined) continue;
    unclaimed.delete(field.name);
    if (field.json) {
      if (values.length > 1) {
        issues.push({ name: field.name, rule: 'must not be repeated' });
        continue;
      }
      try {
        instance[field.name] = parseStrictJson(values[0]!, 16);
      } catch {
        issues.push({ name: field.name, rule: 'must be valid JSON' });
      }
      continue;
    }
    if (field.shape === 'array') {
      if (field.explode && field.style === 'form') {
        instance[field.name] = coerceList(values, field.coercer);
        continue;
      }
      if (values.length > 1) {
        issues.push({ name: field.name, rule: 'must not be repeated' });
        continue;
      }
      const text = values[0]!;
      instance[field.name] = text === '' ? [] : coerceList(text.split(DELIMITERS[field.style] ?? ','), field.coercer);
      continue;
    }
    if (values.length > 1) {
      issues.push({ name: field.name, rule: 'must not be repeated' });
      continue;
    }
    if (field.shape === 'object') {
      // form, explode false: name=k1,v1,k2,v2
      const parts = values[0] === '' ? [] : values[0]!.split(DELIMITERS[field.style] ?? ',');
      if (parts.length % 2 !== 0) {
        issues.push({ name: field.name, rule: 'must be a list of name,value pairs' });
        continue;
      }
      const entries: Array<[string, string]> = [];
      for (let i = 0; i < parts.length; i += 2) entries.push([parts[i]!, parts[i + 1]!]);
      instance[field.name] = coerceObject(entries, field.coercer);
      continue;
    }
    instance[field.name] = coerce(values[0]!, field.coercer);
  }
  // Exploded form objects spread their properties over top-level keys: declared properties first, then (for a
  // free-form object) whatever no other field claimed.
  for (const field of spreading) {
    const entries: Array<[string, string]> = [];
    for (const key of [...unclaimed]) {
      if (!(field.objectKeys?.has(key) || field.freeFormObject)) continue;
      const values = groups.get(key)!;
      unclaimed.delete(key);
      if (values.length > 1) {
        issues.push({ name: key, rule: 'must not be repeated' });
        continue;
      }
      entries.push([key, values[0]!]);
    }
    if (entries.length > 0) instance[field.name] = coerceObject(entries, field.coercer);
  }
  return unclaimed;
}

/**
 * Splits a query string or urlencoded body into percent-decoded groups (WHATWG application/x-www-form-urlencoded
 * parsing: `+` is a space). Returns undefined when an escape is malformed (the request is refused, never guessed).
 */
export function parseFormPairs(text: string, maxPairs: number): Map<string, string[]> | undefined | 'too-many' {
  const groups = new Map<string, string[]>();
  if (text === '') return groups;
  let count = 0;
  for (const part of text.split('&')) {
    if (part === '') continue;
    if (++count > maxPairs) return 'too-many';
    const eq = part.indexOf('=');
    const rawKey = eq === -1 ? part : part.slice(0, eq);
    const rawValue = eq === -1 ? '' : part.slice(eq + 1);
    const key = formDecode(rawKey);
    const value = formDecode(rawValue);
    if (key === undefined || value === undefined) return undefined;
    const list = groups.get(key);
    if (list) list.push(value);
    else groups.set(key, [value]);
  }
  return groups;
}

function formDecode(text: string): string | undefined {
  if (!text.includes('%') && !text.includes('+')) return text;
  try {
    return decodeURIComponent(text.replaceAll('+', ' '));
  } catch {
    return undefined;
  }
}

/** Percent-decoding of one path or header piece; undefined when malformed. */
export function percentDecode(text: string): string | undefined {
  if (!text.includes('%')) return text;
  try {
    return decodeURIComponent(text);
  } catch {
    return undefined;
  }
}

/**
 * Path parameter value by style (simple, label, matrix). `raw` is the matched segment text, still percent-encoded:
 * splitting happens before decoding so an encoded `,` stays data.
 */
export function decodePathValue(raw: string, field: FieldDecoder, issues: DecodeIssue[]): unknown {
  let text = raw;
  let separator = ',';
  if (field.style === 'label') {
    if (!text.startsWith('.')) {
      issues.push({ name: field.name, rule: 'must start with "." (label style)' });
      return undefined;
    }
    text = text.slice(1);
    if (field.explode) separator = '.';
  } else if (field.style === 'matrix') {
    const prefix = `;${field.name}`;
    if (!text.startsWith(prefix)) {
      issues.push({ name: field.name, rule: 'must start with ";name" (matrix style)' });
      return undefined;
    }
    if (field.shape === 'array' && field.explode) {
      // ;id=3;id=4
      const values = text.split(';').slice(1).map((p) => (p.startsWith(`${field.name}=`) ? p.slice(field.name.length + 1) : undefined));
      if (values.some((v) => v === undefined)) {
        issues.push({ name: field.name, rule: 'is not a valid matrix-style list' });
        return undefined;
      }
      return decodeList(values as string[], field, issues);
    }
    text = text.slice(prefix.length);
    if (text.startsWith('=')) text = text.slice(1);
    else if (text !== '') {
      issues.push({ name: field.name, rule: 'is not a valid matrix-style value' });
      return undefined;
    }
    if (field.shape === 'object' && field.explode) separator = ';';
  }
  return decodeSimple(text, separator, field, issues);
}

/** `simple` style (path and header parameters): `a,b,c`, `k1,v1,k2,v2`, or exploded `k1=v1,k2=v2`. */
export function decodeSimple(text: string, separator: string, field: FieldDecoder, issues: DecodeIssue[]): unknown {
  if (field.json) {
    const decoded = percentDecode(text);
    try {
      return parseStrictJson(decoded ?? '', 16);
    } catch {
      issues.push({ name: field.name, rule: 'must be valid JSON' });
      return undefined;
    }
  }
  if (field.shape === 'array') return text === '' ? [] : decodeList(text.split(separator), field, issues);
  if (field.shape === 'object') {
    const entries: Array<[string, string]> = [];
    const parts = text === '' ? [] : text.split(separator);
    if (field.explode) {
      for (const part of parts) {
        const eq = part.indexOf('=');
        const key = eq === -1 ? undefined : percentDecode(part.slice(0, eq));
        const value = eq === -1 ? undefined : percentDecode(part.slice(eq + 1));
        if (key === undefined || value === undefined) {
          issues.push({ name: field.name, rule: 'must be a list of name=value pairs' });
          return undefined;
        }
        entries.push([key, value]);
      }
    } else {
      if (parts.length % 2 !== 0) {
        issues.push({ name: field.name, rule: 'must be a list of name,value pairs' });
        return undefined;
      }
      for (let i = 0; i < parts.length; i += 2) {
        const key = percentDecode(parts[i]!);
        const value = percentDecode(parts[i + 1]!);
        if (key === undefined || value === undefined) {
          issues.push({ name: field.name, rule: 'is not valid percent-encoding' });
          return undefined;
        }
        entries.push([key, value]);
      }
    }
    return coerceObject(entries, field.coercer);
  }
  const decoded = percentDecode(text);
  if (decoded === undefined) {
    issues.push({ name: field.name, rule: 'is not valid percent-encoding' });
    return undefined;
  }
  return coerce(decoded, field.coercer);
}

function decodeList(parts: readonly string[], field: FieldDecoder, issues: DecodeIssue[]): unknown {
  const decoded: string[] = [];
  for (const part of parts) {
    const value = percentDecode(part);
    if (value === undefined) {
      issues.push({ name: field.name, rule: 'is not valid percent-encoding' });
      return undefined;
    }
    decoded.push(value);
  }
  return coerceList(decoded, field.coercer);
}

/** `Cookie` header → name → values (RFC 6265 §4.2.1 `cookie-string`); values percent-decoded when possible. */
export function parseCookies(header: string | undefined): Map<string, string[]> {
  const out = new Map<string, string[]>();
  if (!header) return out;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq === -1) continue;
    const name = part.slice(0, eq).trim();
    let value = part.slice(eq + 1).trim();
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
    const decoded = percentDecode(value) ?? value;
    const list = out.get(name);
    if (list) list.push(decoded);
    else out.set(name, [decoded]);
  }
  return out;
}
