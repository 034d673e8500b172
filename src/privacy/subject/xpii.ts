/**
 * `x-pii` annotations in OpenAPI documents: which request and response fields carry personal data, for the record
 * of processing (report.ts). An annotation goes on a schema (any depth: a property, an array's items, a
 * component) or on a parameter object:
 *
 *   email: { type: string, format: email, x-pii: email }            a category
 *   address: { $ref: '#/components/schemas/Address', x-pii: true }   personal, no category (reported as "personal")
 *   name: { type: string, x-pii: [name, identity] }                  several categories
 *   ssn: { type: string, x-pii: { category: national-id } }          the object form
 *
 * Categories are free text (letters, digits, space, `_ . : -`, at most 64 characters); anything else counts as
 * "personal" and is reported as a finding of the document, not silently dropped.
 *
 * The walk reads the bundled document of src/openapi/load.ts (internal `$ref`s only), follows references with a set
 * of the pointers on the current path (recursive schemas end instead of looping) and is bounded in depth and in
 * fields per operation. Field paths are dotted, `[]` for array items and `*` for additional properties:
 * `customer.email`, `items[].name`.
 */
import type { ApiModel, OperationModel, SchemaAt } from '../../openapi/model.ts';
import { getAt, isObject, refPointer } from '../../openapi/pointer.ts';

export interface PiiField {
  /** `request body`, `response 200`, `query parameter`, … */
  readonly location: string;
  /** Dotted path in the body, or the parameter name; `(body)` for the whole body. */
  readonly field: string;
  readonly categories: readonly string[];
}

export interface OperationPii {
  readonly method: string;
  readonly path: string;
  readonly operationId: string | undefined;
  readonly fields: readonly PiiField[];
}

const CATEGORY = /^[A-Za-z0-9 _.:-]{1,64}$/;
const MAX_DEPTH = 32;
const MAX_FIELDS_PER_OPERATION = 512;

/** The categories of an `x-pii` value; `invalid` when it is not one of the documented forms. */
export function categoriesOf(value: unknown): { categories: string[]; invalid: boolean } | undefined {
  if (value === undefined || value === false) return undefined;
  if (value === true) return { categories: ['personal'], invalid: false };
  // Own members only: a `__proto__` key must not supply a category.
  const list = typeof value === 'string' ? [value] : Array.isArray(value) ? value : isObject(value) ? (Object.hasOwn(value, 'category') ? [value['category']].flat() : []) : [value];
  const good = list.filter((c): c is string => typeof c === 'string' && CATEGORY.test(c));
  const invalid = good.length !== list.length || good.length === 0;
  return { categories: good.length === 0 ? ['personal'] : [...new Set(good)], invalid };
}

interface Walk {
  readonly document: unknown;
  readonly location: string;
  readonly out: Map<string, PiiField>;
  readonly invalid: string[];
}

function record(walk: Walk, field: string, value: unknown, pointer: string): void {
  const found = categoriesOf(value);
  if (found === undefined || walk.out.size >= MAX_FIELDS_PER_OPERATION) return;
  if (found.invalid) walk.invalid.push(pointer);
  const key = `${walk.location}\0${field}`;
  const existing = walk.out.get(key);
  const categories = existing ? [...new Set([...existing.categories, ...found.categories])] : found.categories;
  walk.out.set(key, { location: walk.location, field, categories });
}

function walkSchema(walk: Walk, schema: unknown, pointer: string, path: string, onPath: Set<string>, depth: number): void {
  if (!isObject(schema) || depth > MAX_DEPTH) return;
  record(walk, path === '' ? '(body)' : path, schema['x-pii'], pointer);
  if (typeof schema['$ref'] === 'string') {
    const target = refPointer(schema['$ref']);
    if (target === undefined || onPath.has(target)) return;
    onPath.add(target);
    walkSchema(walk, getAt(walk.document, target), target, path, onPath, depth + 1);
    onPath.delete(target);
  }
  const join = (name: string) => (path === '' ? name : `${path}.${name}`);
  if (isObject(schema['properties'])) {
    for (const [name, property] of Object.entries(schema['properties'])) walkSchema(walk, property, `${pointer}/properties/${name}`, join(name), onPath, depth + 1);
  }
  if (schema['items'] !== undefined) {
    const items = Array.isArray(schema['items']) ? schema['items'] : [schema['items']];
    items.forEach((item, i) => walkSchema(walk, item, `${pointer}/items${Array.isArray(schema['items']) ? `/${i}` : ''}`, `${path}[]`, onPath, depth + 1));
  }
  if (Array.isArray(schema['prefixItems'])) schema['prefixItems'].forEach((item, i) => walkSchema(walk, item, `${pointer}/prefixItems/${i}`, `${path}[]`, onPath, depth + 1));
  for (const combinator of ['allOf', 'anyOf', 'oneOf']) {
    const list = schema[combinator];
    if (Array.isArray(list)) list.forEach((item, i) => walkSchema(walk, item, `${pointer}/${combinator}/${i}`, path, onPath, depth + 1));
  }
  if (isObject(schema['additionalProperties'])) walkSchema(walk, schema['additionalProperties'], `${pointer}/additionalProperties`, join('*'), onPath, depth + 1);
}

function walkAt(walk: Walk, at: SchemaAt | undefined, path: string): void {
  if (at !== undefined) walkSchema(walk, at.schema, at.pointer, path, new Set([at.pointer]), 0);
}

function operationPii(api: ApiModel, operation: OperationModel, invalid: string[]): OperationPii {
  const out = new Map<string, PiiField>();
  const document = api.document;
  for (const parameter of operation.parameters) {
    const walk: Walk = { document, location: `${parameter.in} parameter`, out, invalid };
    // On the parameter object itself, or on its schema.
    record(walk, parameter.name, (getAt(document, parameter.pointer) as Record<string, unknown> | undefined)?.['x-pii'], parameter.pointer);
    walkAt(walk, parameter.schema, parameter.name);
  }
  for (const media of operation.requestBody?.content ?? []) walkAt({ document, location: 'request body', out, invalid }, media.schema, '');
  for (const response of operation.responses) {
    for (const media of response.content) walkAt({ document, location: `response ${response.status}`, out, invalid }, media.schema, '');
  }
  return { method: operation.method.toUpperCase(), path: operation.path, operationId: operation.operationId, fields: [...out.values()] };
}

/** Every operation with its annotated fields (operations without any are left out), and the invalid annotations. */
export function piiOfDocument(api: ApiModel): { operations: OperationPii[]; invalid: string[] } {
  const invalid: string[] = [];
  const operations = api.operations.map((op) => operationPii(api, op, invalid)).filter((op) => op.fields.length > 0);
  return { operations, invalid: [...new Set(invalid)] };
}

/**
 * Does a route (its match path, `{param}` segments, optional trailing `/**`, less a version prefix the gateway
 * strips) reach an operation path template of the document? Literal segments must be equal; a `{param}` on either
 * side matches any one segment.
 */
export function routeReaches(routePath: string, stripPrefix: string | undefined, operationPath: string): boolean {
  let path = routePath;
  if (stripPrefix !== undefined && path.startsWith(stripPrefix)) path = path.slice(stripPrefix.length) || '/';
  const route = path.split('/');
  const op = operationPath.split('/');
  const rest = route[route.length - 1] === '**';
  if (rest) route.pop();
  if (rest ? op.length < route.length : op.length !== route.length) return false;
  return route.every((segment, i) => segment === op[i] || /^\{[^{}]+\}$/.test(segment) || op[i]!.includes('{'));
}
