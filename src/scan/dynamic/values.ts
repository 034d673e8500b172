/**
 * Plausible values for parameters and request bodies, from their schemas: the document's own `example`, `examples`,
 * `default`, `enum` or `const` first, then a value of the declared type and format that respects the declared bounds.
 * Walks are bounded (documents have circular references).
 */
import type { OpenApiVersion } from '../../openapi/model.ts';
import { isObject, joinPointer } from '../../openapi/pointer.ts';
import { objectShape, resolveSchema, typesOf } from '../../openapi/schema-info.ts';

const MAX_DEPTH = 6;

export interface SampleContext {
  readonly document: unknown;
  readonly version: OpenApiVersion;
}

export interface SampleOptions {
  /** Request bodies: leave out `readOnly` properties, include every other declared property (not only required). */
  readonly forWrite?: boolean;
}

const FORMAT_SAMPLES: Readonly<Record<string, unknown>> = {
  email: 'rampart-scan@example.com',
  uuid: '3f2b8c1e-6d4a-4f5b-9c7e-2a1b0c9d8e7f',
  date: '2024-01-15',
  'date-time': '2024-01-15T10:00:00Z',
  time: '10:00:00Z',
  uri: 'https://example.com/',
  url: 'https://example.com/',
  'uri-reference': '/',
  hostname: 'example.com',
  ipv4: '192.0.2.10',
  ipv6: '2001:db8::10',
  byte: 'cmFtcGFydA==',
  password: 'Rampart-Scan-Passw0rd!',
  int32: 1,
  int64: 1,
};

export function sampleFromSchema(ctx: SampleContext, node: unknown, pointer: string, options: SampleOptions = {}, depth = 0): unknown {
  if (depth > MAX_DEPTH) return undefined;
  const { value: schema, pointer: at } = resolveSchema(ctx.document, node, pointer);
  if (!isObject(schema)) return 'rampart';
  if (schema.example !== undefined) return schema.example;
  if (Array.isArray(schema.examples) && schema.examples.length > 0) return schema.examples[0];
  if (schema.const !== undefined) return schema.const;
  if (schema.default !== undefined) return schema.default;
  if (Array.isArray(schema.enum) && schema.enum.length > 0) return schema.enum.find((v) => v !== null) ?? schema.enum[0];
  for (const key of ['oneOf', 'anyOf'] as const) {
    const branches = schema[key];
    if (Array.isArray(branches) && branches.length > 0 && schema.type === undefined && schema.properties === undefined) {
      return sampleFromSchema(ctx, branches[0], joinPointer(at, key, 0), options, depth + 1);
    }
  }
  const types = typesOf(ctx.document, ctx.version, schema, at);
  const type = [...types].find((t) => t !== 'null') ?? (isObject(schema.properties) || Array.isArray(schema.allOf) ? 'object' : 'string');
  switch (type) {
    case 'string':
      return sampleString(schema);
    case 'integer':
    case 'number':
      return sampleNumber(schema, type === 'integer');
    case 'boolean':
      return true;
    case 'array': {
      const count = Math.max(1, typeof schema.minItems === 'number' ? Math.min(schema.minItems, 5) : 1);
      const item = sampleFromSchema(ctx, schema.items ?? {}, joinPointer(at, 'items'), options, depth + 1);
      return Array.from({ length: count }, () => item);
    }
    case 'object':
      return sampleObject(ctx, schema, at, options, depth);
    default:
      return null;
  }
}

function sampleObject(ctx: SampleContext, schema: Record<string, unknown>, at: string, options: SampleOptions, depth: number): Record<string, unknown> {
  const shape = objectShape(ctx.document, schema, at);
  const required = new Set<string>();
  collectRequired(ctx, schema, at, required, 0);
  const out: Record<string, unknown> = {};
  for (const [name, located] of shape.properties) {
    const { value: property } = resolveSchema(ctx.document, located.value, located.pointer);
    if (options.forWrite && isObject(property) && property.readOnly === true) continue;
    if (!required.has(name) && !options.forWrite) continue;
    const value = sampleFromSchema(ctx, located.value, located.pointer, options, depth + 1);
    if (value !== undefined) out[name] = value;
  }
  return out;
}

function collectRequired(ctx: SampleContext, node: unknown, pointer: string, into: Set<string>, depth: number): void {
  if (depth > MAX_DEPTH) return;
  const { value: schema, pointer: at } = resolveSchema(ctx.document, node, pointer);
  if (!isObject(schema)) return;
  if (Array.isArray(schema.required)) for (const name of schema.required) if (typeof name === 'string') into.add(name);
  if (Array.isArray(schema.allOf)) schema.allOf.forEach((branch, i) => collectRequired(ctx, branch, joinPointer(at, 'allOf', i), into, depth + 1));
}

function sampleString(schema: Record<string, unknown>): string {
  const format = typeof schema.format === 'string' ? schema.format : '';
  let value = typeof FORMAT_SAMPLES[format] === 'string' ? (FORMAT_SAMPLES[format] as string) : 'rampart';
  const min = typeof schema.minLength === 'number' ? schema.minLength : 0;
  const max = typeof schema.maxLength === 'number' ? schema.maxLength : Infinity;
  if (value.length < min) value = value + 'x'.repeat(Math.min(min, 4096) - value.length);
  if (value.length > max) value = value.slice(0, Math.max(0, max));
  return value;
}

function sampleNumber(schema: Record<string, unknown>, integer: boolean): number {
  let value = 1;
  if (typeof schema.minimum === 'number') value = Math.max(value, schema.minimum);
  if (typeof schema.exclusiveMinimum === 'number') value = Math.max(value, schema.exclusiveMinimum + 1);
  if (typeof schema.maximum === 'number') value = Math.min(value, schema.maximum);
  if (typeof schema.exclusiveMaximum === 'number') value = Math.min(value, schema.exclusiveMaximum - 1);
  if (typeof schema.multipleOf === 'number' && schema.multipleOf > 0) value = Math.ceil(value / schema.multipleOf) * schema.multipleOf;
  return integer ? Math.trunc(value) : value;
}

/** Serialises a sample as a parameter value (simple style; arrays comma-joined). */
export function paramText(value: unknown): string {
  if (value === undefined || value === null) return 'rampart';
  if (Array.isArray(value)) return value.map(paramText).join(',');
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}
