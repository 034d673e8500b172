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
  /** Multipart fields the document declares binary (validator.ts `bodyFields`): their parts need not be UTF-8. */
  readonly binary?: boolean;
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

/**
 * An object from name/value pairs a single value carried (`R,100,G,200`, `R=100,G=200`, `;R=100;G=200`), refused
 * when a name comes twice: the gateway would check one of the two values and the upstream could read the other (first
 * wins in some parsers, last in others: the HTTP parameter pollution of OWASP WSTG-INPV-04, inside one parameter).
 */
function pairsObject(entries: ReadonlyArray<readonly [string, string]>, field: FieldDecoder, issues: DecodeIssue[]): Record<string, unknown> | undefined {
  const out: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
  for (const [key, value] of entries) {
    // No prototype: `in` sees only the names set here (and `__proto__` is an ordinary own key).
    if (key in out) {
      issues.push({ name: field.name, rule: 'must not repeat a property name' });
      return undefined;
    }
    out[key] = coerce(value, field.coercer.properties?.get(key) ?? ANY);
  }
  return out;
}

/**
 * `instance[name] = value`, also for a field named `__proto__`: on an object with a prototype that assignment sets the
 * prototype (or, for a string, does nothing) instead of adding the field (OWASP Prototype Pollution Prevention).
 */
function put(instance: Record<string, unknown>, name: string, value: unknown): void {
  if (name === '__proto__') Object.defineProperty(instance, name, { value, enumerable: true, writable: true, configurable: true });
  else instance[name] = value;
}

/** A failure while decoding, as `/query/name: rule` pieces. */
export interface DecodeIssue {
  readonly name: string;
  readonly rule: string;
}

/**
 * Delimiters of the query styles that are not RFC 6570 form style. Their values are split AFTER percent-decoding: the
 * OpenAPI specification's own examples percent-encode these delimiters (OAS 3.1.2, Parameter Object, "Style Examples":
 * `color=blue%20black%20brown`, `color=blue%7Cblack%7Cbrown`), because a space and `|` MUST be percent-encoded in a
 * URI (RFC 3986 §2; Swagger 2.0's `ssv`/`tsv`/`pipes` likewise), and Appendix E ("Percent-Encoding and Illegal or
 * Reserved Delimiters") says decoding is a single pass that cannot tell an encoded delimiter from encoded data. So
 * `%20`, `+` (a space in form-urlencoded text) and a raw space all separate `spaceDelimited` items, and `%7C` and a raw
 * `|` separate `pipeDelimited` ones, exactly as a conformant upstream reads them; data cannot carry the delimiter.
 */
const DELIMITERS: Partial<Record<ParameterStyle, string>> = { spaceDelimited: ' ', pipeDelimited: '|', tabDelimited: '\t' };

/**
 * Whether a field's value is a comma-separated list or name,value list of `form` style without explode
 * (`color=blue,black,brown`, `color=R,100,G,200`): those are split on the text as sent, see `decodeForm`.
 */
function splitsOnComma(field: FieldDecoder): boolean {
  return !field.json && field.style !== 'deepObject' && field.shape !== 'primitive' && DELIMITERS[field.style] === undefined && !(field.explode && field.style === 'form');
}

/** Whether any of these fields needs the values as sent (the `encoded` argument of `decodeForm`). */
export function needsEncodedValues(fields: readonly FieldDecoder[]): boolean {
  return fields.some(splitsOnComma);
}

/**
 * Decodes form-style name/value pairs (already percent-decoded) into an instance object for the given fields.
 * Keys no field claims are returned in `unclaimed` (the caller refuses or keeps them).
 *
 * `encoded` holds the same values as sent, still percent-encoded (`parseFormPairs` and `parseCookies` fill it), and
 * `decode` decodes one piece of them; without it the values are taken as literal text (multipart parts are not
 * percent-encoded: RFC 7578 §2, OAS 3.1.2 Appendix E). Form style without explode separates items with a literal `,`,
 * which RFC 6570 §3.2.8 never percent-encodes when it delimits (and always encodes inside a value, `%2C`: §3.2.1
 * allows only unreserved characters there), and OAS 3.1.2 ("URL Percent-Encoding" of the Parameter Object) says
 * reserved delimiters MUST NOT be percent-encoded: so the list is split on the text as sent and each piece decoded
 * after, as path parameters are. `ids=1%2C2` is the one item "1,2" for the upstream: decoding first checked 1 and 2.
 */
export function decodeForm(
  groups: ReadonlyMap<string, readonly string[]>,
  fields: readonly FieldDecoder[],
  instance: Record<string, unknown>,
  issues: DecodeIssue[],
  encoded?: ReadonlyMap<string, readonly string[]>,
  decode: (text: string) => string | undefined = formDecode,
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
      if (entries) put(instance, field.name, coerceObject(entries, field.coercer));
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
        put(instance, field.name, parseStrictJson(values[0]!, 16));
      } catch {
        issues.push({ name: field.name, rule: 'must be valid JSON' });
      }
      continue;
    }
    if (field.shape === 'array' && field.explode && field.style === 'form') {
      put(instance, field.name, coerceList(values, field.coercer));
      continue;
    }
    if (values.length > 1) {
      issues.push({ name: field.name, rule: 'must not be repeated' });
      continue;
    }
    const text = values[0]!;
    if (field.shape === 'primitive') {
      put(instance, field.name, coerce(text, field.coercer));
      continue;
    }
    let parts: string[] | undefined;
    if (text === '') parts = [];
    else {
      const delimiter = DELIMITERS[field.style];
      parts = delimiter !== undefined ? text.split(delimiter) : splitEncoded(text, encoded?.get(field.name)?.[0], decode);
    }
    if (parts === undefined) {
      issues.push({ name: field.name, rule: 'is not valid percent-encoding' });
      continue;
    }
    if (field.shape === 'array') {
      put(instance, field.name, coerceList(parts, field.coercer));
      continue;
    }
    // form, explode false: name=k1,v1,k2,v2
    if (parts.length % 2 !== 0) {
      issues.push({ name: field.name, rule: 'must be a list of name,value pairs' });
      continue;
    }
    const entries: Array<[string, string]> = [];
    for (let i = 0; i < parts.length; i += 2) entries.push([parts[i]!, parts[i + 1]!]);
    const object = pairsObject(entries, field, issues);
    if (object !== undefined) put(instance, field.name, object);
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
    if (entries.length > 0) put(instance, field.name, coerceObject(entries, field.coercer));
  }
  return unclaimed;
}

/**
 * A `,`-separated value split on its text as sent, then each piece decoded (`decoded` is the whole value decoded,
 * used as is when nothing was encoded). Undefined when a piece does not decode.
 */
function splitEncoded(decoded: string, sent: string | undefined, decode: (text: string) => string | undefined): string[] | undefined {
  if (sent === undefined || sent === decoded) return decoded.split(',');
  const out: string[] = [];
  for (const piece of sent.split(',')) {
    const value = decode(piece);
    if (value === undefined) return undefined;
    out.push(value);
  }
  return out;
}

/**
 * Splits a query string or urlencoded body into percent-decoded groups (WHATWG application/x-www-form-urlencoded
 * parsing: `+` is a space). Returns undefined when an escape is malformed (the request is refused, never guessed).
 * When `encoded` is given it receives the same groups with the values as sent (for `decodeForm`).
 */
export function parseFormPairs(text: string, maxPairs: number, encoded?: Map<string, string[]>): Map<string, string[]> | undefined | 'too-many' {
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
    if (encoded) {
      const sent = encoded.get(key);
      if (sent) sent.push(rawValue);
      else encoded.set(key, [rawValue]);
    }
  }
  return groups;
}

/** application/x-www-form-urlencoded decoding of one name, value or piece of a value; undefined when malformed. */
export function formDecode(text: string): string | undefined {
  if (!text.includes('%') && !text.includes('+')) return text;
  try {
    return decodeURIComponent(text.replaceAll('+', ' '));
  } catch {
    return undefined;
  }
}

/** Percent-decoding of one path piece; undefined when malformed. */
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
    // Exploded: `.blue.black.brown`, `.R=100.G=200.B=150` (RFC 6570 §3.2.5).
    if (field.explode) separator = '.';
  } else if (field.style === 'matrix') {
    if (field.shape === 'object' && field.explode) {
      // `;R=100;G=200;B=150`: RFC 6570 §3.2.7 `{;color*}` expands each property as its own `;name=value` parameter,
      // so the parameter's name does not appear (OAS 3.1.2 "Style Examples", matrix, explode true).
      if (!text.startsWith(';')) {
        issues.push({ name: field.name, rule: 'must start with ";" (matrix style)' });
        return undefined;
      }
      return decodePairs(text.slice(1).split(';'), '', field, issues, percentDecode);
    }
    const prefix = `;${field.name}`;
    if (!text.startsWith(prefix)) {
      issues.push({ name: field.name, rule: 'must start with ";name" (matrix style)' });
      return undefined;
    }
    if (field.shape === 'array' && field.explode) {
      // ;id=3;id=4 (an empty item is `;id`: RFC 6570 §3.2.7 appends no "=" to a name whose value is empty)
      const values = text
        .split(';')
        .slice(1)
        .map((p) => (p.startsWith(`${field.name}=`) ? p.slice(field.name.length + 1) : p === field.name ? '' : undefined));
      if (values.some((v) => v === undefined)) {
        issues.push({ name: field.name, rule: 'is not a valid matrix-style list' });
        return undefined;
      }
      return decodeList(values as string[], field, issues, percentDecode);
    }
    text = text.slice(prefix.length);
    if (text.startsWith('=')) text = text.slice(1);
    else if (text !== '') {
      issues.push({ name: field.name, rule: 'is not a valid matrix-style value' });
      return undefined;
    }
  }
  return decodeSimple(text, separator, field, issues);
}

/**
 * `simple` style (path and header parameters): `a,b,c`, `k1,v1,k2,v2`, or exploded `k1=v1,k2=v2`.
 *
 * `header` is for header fields, which differ from path segments in two ways:
 * - Their values are taken literally, never percent-decoded: OAS 3.1.2 (Parameter Object) says URI percent-encoding
 *   MUST NOT be applied when serializing `in: "header"` parameters, and that header values are passed through
 *   unchanged. An upstream reading the field as sent sees `na%6De`, not `name`; decoding it here would validate a
 *   value the upstream never reads (a parser differential). The same holds for `content`-serialised (JSON) headers.
 * - A list-valued header is a `#element` list (RFC 9110 §5.6.1), whose elements are separated by "," with optional
 *   whitespace (OWS, spaces and tabs: §5.6.3) around it, and a field sent on several lines arrives joined as `a, b`
 *   (§5.3): that whitespace is syntax, not data, and is trimmed off every element. Path and query values keep it
 *   (there a space is data, percent-encoded when sent).
 */
export function decodeSimple(text: string, separator: string, field: FieldDecoder, issues: DecodeIssue[], header = false): unknown {
  const decode = header ? literal : percentDecode;
  if (field.json) {
    const decoded = decode(text);
    try {
      return parseStrictJson(decoded ?? '', 16);
    } catch {
      issues.push({ name: field.name, rule: 'must be valid JSON' });
      return undefined;
    }
  }
  if (field.shape === 'array') return text === '' ? [] : decodeList(splitList(text, separator, header), field, issues, decode);
  if (field.shape === 'object') {
    const parts = text === '' ? [] : splitList(text, separator, header);
    if (field.explode) return decodePairs(parts, undefined, field, issues, decode);
    if (parts.length % 2 !== 0) {
      issues.push({ name: field.name, rule: 'must be a list of name,value pairs' });
      return undefined;
    }
    const entries: Array<[string, string]> = [];
    for (let i = 0; i < parts.length; i += 2) {
      const key = decode(parts[i]!);
      const value = decode(parts[i + 1]!);
      if (key === undefined || value === undefined) {
        issues.push({ name: field.name, rule: 'is not valid percent-encoding' });
        return undefined;
      }
      entries.push([key, value]);
    }
    return pairsObject(entries, field, issues);
  }
  const decoded = decode(text);
  if (decoded === undefined) {
    issues.push({ name: field.name, rule: 'is not valid percent-encoding' });
    return undefined;
  }
  return coerce(decoded, field.coercer);
}

/** Header values: as sent (see `decodeSimple`). */
function literal(text: string): string {
  return text;
}

/**
 * Exploded `name=value` pieces into an object. `ifEmpty` is what a piece without "=" means: matrix style writes a
 * property whose value is empty as `;name` (RFC 6570 §3.2.7), so there it is the empty value; elsewhere such a piece
 * is refused (undefined), as is an empty piece (`;R=1;;G=2`).
 */
function decodePairs(parts: readonly string[], ifEmpty: string | undefined, field: FieldDecoder, issues: DecodeIssue[], decode: (text: string) => string | undefined): unknown {
  const entries: Array<[string, string]> = [];
  for (const part of parts) {
    const eq = part.indexOf('=');
    const key = decode(eq === -1 ? part : part.slice(0, eq));
    const value = eq === -1 ? ifEmpty : decode(part.slice(eq + 1));
    if (part === '' || key === undefined || value === undefined) {
      issues.push({ name: field.name, rule: 'must be a list of name=value pairs' });
      return undefined;
    }
    entries.push([key, value]);
  }
  return pairsObject(entries, field, issues);
}

/** Splits on `separator`; with `ows`, spaces and tabs around each element are removed (see `decodeSimple`). */
function splitList(text: string, separator: string, ows: boolean): string[] {
  const parts = text.split(separator);
  if (ows) for (let i = 0; i < parts.length; i++) parts[i] = trimOws(parts[i]!);
  return parts;
}

/** RFC 9110 §5.6.3 OWS (SP / HTAB) removed from both ends; nothing else (a vertical tab or NBSP is data). */
function trimOws(text: string): string {
  let start = 0;
  let end = text.length;
  while (start < end && (text.charCodeAt(start) === 0x20 || text.charCodeAt(start) === 0x09)) start++;
  while (end > start && (text.charCodeAt(end - 1) === 0x20 || text.charCodeAt(end - 1) === 0x09)) end--;
  return start === 0 && end === text.length ? text : text.slice(start, end);
}

function decodeList(parts: readonly string[], field: FieldDecoder, issues: DecodeIssue[], decode: (text: string) => string | undefined): unknown {
  const decoded: string[] = [];
  for (const part of parts) {
    const value = decode(part);
    if (value === undefined) {
      issues.push({ name: field.name, rule: 'is not valid percent-encoding' });
      return undefined;
    }
    decoded.push(value);
  }
  return coerceList(decoded, field.coercer);
}

/**
 * `Cookie` header → name → values (RFC 6265 §4.2.1 `cookie-string`); values percent-decoded when possible. When
 * `encoded` is given it receives the same values as sent (unquoted, not decoded), for `decodeForm`.
 */
export function parseCookies(header: string | undefined, encoded?: Map<string, string[]>): Map<string, string[]> {
  const out = new Map<string, string[]>();
  if (!header) return out;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq === -1) continue;
    const name = part.slice(0, eq).trim();
    let value = part.slice(eq + 1).trim();
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
    const decoded = decodeCookieValue(value);
    const list = out.get(name);
    if (list) list.push(decoded);
    else out.set(name, [decoded]);
    if (encoded) {
      const sent = encoded.get(name);
      if (sent) sent.push(value);
      else encoded.set(name, [value]);
    }
  }
  return out;
}

/** A cookie value or piece of one, percent-decoded when it decodes (kept as sent otherwise: `%` is a cookie-octet). */
export function decodeCookieValue(text: string): string {
  return percentDecode(text) ?? text;
}
