/**
 * Every contract as OpenAPI 3.1, so that documents of different versions merge into one (merge.ts).
 *
 * Why 3.1 and not one merged document per version family: a gateway routinely fronts a Swagger 2.0 API next to an
 * OpenAPI 3 one, and one reference page over one document is what the gateway serves; 3.1 is the only version
 * every other one converts into without loss (its schemas are JSON Schema 2020-12, a superset of what 2.0 and 3.0
 * schemas say), whereas 3.1 into 3.0 would lose type arrays, `const`, `prefixItems` and the like.
 *
 * - 3.1: unchanged.
 * - 3.0: schemas are rewritten as the OpenAPI 3.1 migration guide says, and as the gateway's own validator reads
 *   them (openapi/json-schema.ts): `nullable: true` adds `null` to `type` (and to `enum`), or wraps a schema without
 *   a type in `anyOf [null, schema]`; boolean `exclusiveMinimum`/`exclusiveMaximum` become the numeric form;
 *   siblings of a `$ref` (ignored by 3.0, applied by 3.1) are dropped, `description` aside. Only schema positions
 *   are rewritten: examples and defaults are data and stay as they are.
 * - 2.0: rebuilt from the operation model the contract loader already makes of it (openapi/normalize.ts: `in: body`
 *   and `formData` as request bodies, `consumes`/`produces` as media types, `collectionFormat` as style/explode),
 *   with descriptions, tags, security and extensions taken from the document; `definitions` become
 *   `components.schemas` (references rewritten), `securityDefinitions` become `components.securitySchemes`,
 *   response `examples` become media-type examples; then converted as 3.0 is, `x-nullable` standing for `nullable`
 *   and `type: file` becoming a binary string. `host`, `basePath` and `schemes` are dropped: the merged document's
 *   server is the gateway. A `tsv` collection format has no OpenAPI 3 style: it is kept as `x-collectionFormat`.
 *
 * The input is the document after x-internal removal (strip-internal.ts); nothing here reads a file.
 */
import type { LoadIssue } from '../openapi/model.ts';
import { detectVersion, normalize } from '../openapi/normalize.ts';
import { deref, getAt, isObject, joinPointer, splitPointer } from '../openapi/pointer.ts';

const MAX_DEPTH = 256;
const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const;
type Source = '2.0' | '3.0';

type Json = Record<string, unknown>;

/** Each value mapped; `extensible`: an object whose `x-` keys are extensions (paths, responses, callbacks), not names. */
function mapValues(value: unknown, fn: (v: unknown) => unknown, extensible = false): unknown {
  if (!isObject(value)) return value;
  const out: Json = {};
  for (const [key, child] of Object.entries(value)) out[key] = extensible && key.startsWith('x-') ? child : fn(child);
  return out;
}

function extensions(value: Json): Json {
  const out: Json = {};
  for (const [key, child] of Object.entries(value)) if (key.startsWith('x-')) out[key] = child;
  return out;
}

function pick(value: Json, keys: readonly string[]): Json {
  const out: Json = {};
  for (const key of keys) if (value[key] !== undefined) out[key] = value[key];
  return out;
}

/** `#/definitions/Pet` (2.0) → `#/components/schemas/Pet`; 3.0 references are already 3.1 references. */
function reference(ref: string, source: Source): string {
  return source === '2.0' && ref.startsWith('#/definitions/') ? `#/components/schemas/${ref.slice('#/definitions/'.length)}` : ref;
}

function schema(node: unknown, source: Source, depth: number): unknown {
  if (depth > MAX_DEPTH) throw new Error('schema nested too deeply to publish');
  if (!isObject(node)) return node;
  if (typeof node.$ref === 'string') {
    // 2.0 and 3.0: "sibling elements of a $ref are ignored"; under 3.1 they would apply.
    return { $ref: reference(node.$ref, source), ...(typeof node.description === 'string' ? { description: node.description } : {}) };
  }
  const sub = (value: unknown) => schema(value, source, depth + 1);
  const out: Json = {};
  let dropMinimum = false;
  let dropMaximum = false;
  for (const [key, value] of Object.entries(node)) {
    switch (key) {
      case 'properties':
      case 'patternProperties':
        out[key] = isObject(value) ? Object.fromEntries(Object.entries(value).map(([name, s]) => [name, sub(s)])) : value;
        break;
      case 'items':
      case 'additionalProperties':
      case 'additionalItems':
      case 'not':
        out[key] = isObject(value) ? sub(value) : value;
        break;
      case 'allOf':
      case 'anyOf':
      case 'oneOf':
        out[key] = Array.isArray(value) ? value.map(sub) : value;
        break;
      case 'nullable':
      case 'x-nullable':
        break;
      case 'exclusiveMinimum':
      case 'exclusiveMaximum': {
        if (typeof value !== 'boolean') {
          out[key] = value;
          break;
        }
        const bound = node[key === 'exclusiveMinimum' ? 'minimum' : 'maximum'];
        if (value && typeof bound === 'number') {
          out[key] = bound;
          if (key === 'exclusiveMinimum') dropMinimum = true;
          else dropMaximum = true;
        }
        break;
      }
      case 'discriminator':
        out[key] = source === '2.0' && typeof value === 'string' ? { propertyName: value } : mapping(value, source);
        break;
      case 'type':
        if (value === 'file') {
          out.type = 'string';
          out.format ??= 'binary';
        } else out.type = value;
        break;
      default:
        out[key] = value;
    }
  }
  if (dropMinimum) delete out.minimum;
  if (dropMaximum) delete out.maximum;
  const nullable = source === '3.0' ? node.nullable === true : node['x-nullable'] === true;
  if (!nullable) return out;
  if (out.type === undefined) return { anyOf: [{ type: 'null' }, out] };
  const types = Array.isArray(out.type) ? (out.type as unknown[]) : [out.type];
  if (!types.includes('null')) out.type = [...types, 'null'];
  if (Array.isArray(out.enum) && !out.enum.includes(null)) out.enum = [...(out.enum as unknown[]), null];
  return out;
}

function mapping(discriminator: unknown, source: Source): unknown {
  if (!isObject(discriminator) || !isObject(discriminator.mapping)) return discriminator;
  const rewritten: Json = {};
  for (const [name, target] of Object.entries(discriminator.mapping)) rewritten[name] = typeof target === 'string' ? reference(target, source) : target;
  return { ...discriminator, mapping: rewritten };
}

/** The 3.0-shaped document (or a 2.0 document rebuilt as one) with every schema position converted to 3.1. */
function convert30(document: Json, source: Source): Json {
  const s = (value: unknown) => schema(value, source, 0);
  const isRef = (value: Json) => typeof value.$ref === 'string';
  const media = (value: unknown): unknown => {
    if (!isObject(value)) return value;
    const out: Json = { ...value };
    if (value.schema !== undefined) out.schema = s(value.schema);
    if (isObject(value.encoding)) out.encoding = mapValues(value.encoding, (e) => (isObject(e) && isObject(e.headers) ? { ...e, headers: mapValues(e.headers, parameter) } : e));
    return out;
  };
  const content = (value: unknown) => mapValues(value, media);
  // Parameters and headers share their shape (schema or content).
  const parameter = (value: unknown): unknown => {
    if (!isObject(value) || isRef(value)) return value;
    const out: Json = { ...value };
    if (value.schema !== undefined) out.schema = s(value.schema);
    if (value.content !== undefined) out.content = content(value.content);
    // 3.1 allows it on query parameters only (3.0 said it was ignored elsewhere).
    if (value.in !== 'query') delete out.allowEmptyValue;
    return out;
  };
  const response = (value: unknown): unknown => {
    if (!isObject(value) || isRef(value)) return value;
    const out: Json = { ...value };
    if (value.content !== undefined) out.content = content(value.content);
    if (value.headers !== undefined) out.headers = mapValues(value.headers, parameter);
    return out;
  };
  const requestBody = (value: unknown): unknown => (isObject(value) && !isRef(value) && value.content !== undefined ? { ...value, content: content(value.content) } : value);
  const callbacks = (value: unknown): unknown => mapValues(value, (callback) => mapValues(callback, pathItem, true));
  const operation = (value: unknown): unknown => {
    if (!isObject(value)) return value;
    const out: Json = { ...value };
    if (Array.isArray(value.parameters)) out.parameters = value.parameters.map(parameter);
    if (value.requestBody !== undefined) out.requestBody = requestBody(value.requestBody);
    if (value.responses !== undefined) out.responses = mapValues(value.responses, response, true);
    if (value.callbacks !== undefined) out.callbacks = callbacks(value.callbacks);
    return out;
  };
  function pathItem(value: unknown): unknown {
    if (!isObject(value) || isRef(value)) return value;
    const out: Json = { ...value };
    if (Array.isArray(value.parameters)) out.parameters = value.parameters.map(parameter);
    for (const method of METHODS) if (value[method] !== undefined) out[method] = operation(value[method]);
    return out;
  }
  const out: Json = { ...document, openapi: '3.1.0' };
  if (document.paths !== undefined) out.paths = mapValues(document.paths, pathItem, true);
  const components = document.components;
  if (isObject(components)) {
    out.components = {
      ...components,
      ...(components.schemas !== undefined ? { schemas: mapValues(components.schemas, s) } : {}),
      ...(components.parameters !== undefined ? { parameters: mapValues(components.parameters, parameter) } : {}),
      ...(components.headers !== undefined ? { headers: mapValues(components.headers, parameter) } : {}),
      ...(components.responses !== undefined ? { responses: mapValues(components.responses, response) } : {}),
      ...(components.requestBodies !== undefined ? { requestBodies: mapValues(components.requestBodies, requestBody) } : {}),
      ...(components.callbacks !== undefined ? { callbacks: mapValues(components.callbacks, (c) => mapValues(c, pathItem, true)) } : {}),
    };
  }
  return out;
}

// --- Swagger 2.0 -------------------------------------------------------------------------------------------------

function securityScheme(value: unknown): unknown {
  if (!isObject(value)) return value;
  const common = { ...(typeof value.description === 'string' ? { description: value.description } : {}), ...extensions(value) };
  if (value.type === 'basic') return { type: 'http', scheme: 'basic', ...common };
  if (value.type === 'apiKey') return { type: 'apiKey', name: value.name, in: value.in, ...common };
  if (value.type !== 'oauth2') return value;
  const scopes = isObject(value.scopes) ? value.scopes : {};
  const flow = value.flow;
  const flows =
    flow === 'implicit'
      ? { implicit: { authorizationUrl: value.authorizationUrl, scopes } }
      : flow === 'password'
        ? { password: { tokenUrl: value.tokenUrl, scopes } }
        : flow === 'application'
          ? { clientCredentials: { tokenUrl: value.tokenUrl, scopes } }
          : { authorizationCode: { authorizationUrl: value.authorizationUrl, tokenUrl: value.tokenUrl, scopes } };
  return { type: 'oauth2', flows, ...common };
}

/** A 2.0 header (schema keywords on the header itself) as a 3.0 header. */
function header2(value: unknown): unknown {
  if (!isObject(value)) return value;
  const schemaKeys: Json = {};
  for (const [key, child] of Object.entries(value)) if (key !== 'description' && key !== 'collectionFormat' && !key.startsWith('x-')) schemaKeys[key] = child;
  return { ...(typeof value.description === 'string' ? { description: value.description } : {}), schema: schemaKeys, ...extensions(value) };
}

/** The parameters in effect for an operation (path-level ones overridden by the operation's), dereferenced. */
function rawParameters(document: Json, operationPointer: string): Map<string, Json> {
  const out = new Map<string, Json>();
  const tokens = splitPointer(operationPointer);
  const itemPointer = joinPointer('', ...tokens.slice(0, -1));
  for (const pointer of [joinPointer(itemPointer, 'parameters'), joinPointer(operationPointer, 'parameters')]) {
    const list = getAt(document, pointer);
    if (!Array.isArray(list)) continue;
    list.forEach((entry, i) => {
      const found = deref(document, entry, joinPointer(pointer, i));
      if ('error' in found || !isObject(found.value)) return;
      out.set(`${String(found.value.in)}:${String(found.value.name)}`, found.value);
    });
  }
  return out;
}

function from2(document: Json): Json {
  const issues: LoadIssue[] = [];
  const model = normalize(document, issues);
  const paths: Json = {};
  for (const op of model?.operations ?? []) {
    const raw = getAt(document, op.pointer);
    if (!isObject(raw)) continue;
    const params = rawParameters(document, op.pointer);
    const parameters = op.parameters.map((p) => {
      const source = params.get(`${p.in}:${p.name}`) ?? {};
      const style = p.style === 'tabDelimited' ? { 'x-collectionFormat': 'tsv' } : styleOf(p.in, p.style, p.explode);
      return {
        name: p.name,
        in: p.in,
        ...pick(source, ['description', 'allowEmptyValue']),
        ...(p.required ? { required: true } : {}),
        ...style,
        ...(p.schema ? { schema: p.schema.schema } : {}),
        ...extensions(source),
      };
    });
    let requestBody: Json | undefined;
    if (op.requestBody !== undefined) {
      const body = [...params.values()].find((p) => p.in === 'body');
      const form = [...params.values()].filter((p) => p.in === 'formData');
      const content: Json = {};
      for (const media of op.requestBody.content) {
        let bodySchema = media.schema?.schema;
        if (form.length > 0 && isObject(bodySchema) && isObject(bodySchema.properties)) {
          // The model's form schema leaves out each field's description.
          const properties: Json = {};
          for (const [name, property] of Object.entries(bodySchema.properties)) {
            const description = form.find((p) => p.name === name)?.description;
            properties[name] = typeof description === 'string' && isObject(property) ? { ...property, description } : property;
          }
          bodySchema = { ...bodySchema, properties };
        }
        const encoding: Json = {};
        for (const [name, e] of media.encoding) {
          const style = styleOf('query', e.style, e.explode);
          if (Object.keys(style).length > 0) encoding[name] = style;
        }
        content[media.mediaType] = { ...(bodySchema !== undefined ? { schema: bodySchema } : {}), ...(Object.keys(encoding).length > 0 ? { encoding } : {}) };
      }
      requestBody = { ...(typeof body?.description === 'string' ? { description: body.description } : {}), ...(op.requestBody.required ? { required: true } : {}), content };
    }
    const responses: Json = {};
    const rawResponses = isObject(raw.responses) ? raw.responses : {};
    for (const response of op.responses) {
      const status = Object.keys(rawResponses).find((s) => s.toUpperCase() === response.status) ?? response.status;
      const found = deref(document, rawResponses[status], '');
      const r = 'error' in found || !isObject(found.value) ? {} : found.value;
      const examples = isObject(r.examples) ? r.examples : {};
      const content: Json = {};
      for (const media of response.content) {
        const example = Object.entries(examples).find(([type]) => type.split(';')[0]!.trim().toLowerCase() === media.mediaType)?.[1];
        content[media.mediaType] = { ...(media.schema ? { schema: media.schema.schema } : {}), ...(example !== undefined ? { example } : {}) };
      }
      responses[status] = {
        description: typeof r.description === 'string' ? r.description : '',
        ...(isObject(r.headers) ? { headers: mapValues(r.headers, header2) } : {}),
        ...(response.content.length > 0 ? { content } : {}),
        ...extensions(r),
      };
    }
    const operation: Json = {
      ...pick(raw, ['tags', 'summary', 'description', 'externalDocs', 'operationId', 'deprecated', 'security']),
      ...(parameters.length > 0 ? { parameters } : {}),
      ...(requestBody !== undefined ? { requestBody } : {}),
      responses,
      ...extensions(raw),
    };
    const item = (paths[op.path] ??= {}) as Json;
    item[op.method.toLowerCase()] = operation;
  }
  const components: Json = {};
  if (isObject(document.definitions)) components.schemas = document.definitions;
  if (isObject(document.securityDefinitions)) components.securitySchemes = mapValues(document.securityDefinitions, securityScheme);
  return {
    openapi: '3.0.3',
    info: document.info,
    ...pick(document, ['tags', 'externalDocs', 'security']),
    paths,
    ...(Object.keys(components).length > 0 ? { components } : {}),
    ...extensions(document),
  };
}

/** OpenAPI 3 style/explode, written only where they differ from the location's default. */
function styleOf(location: string, style: string, explode: boolean): Json {
  const defaultStyle = location === 'query' || location === 'cookie' ? 'form' : 'simple';
  const out: Json = {};
  if (style !== defaultStyle) out.style = style;
  if (explode !== (style === 'form')) out.explode = explode;
  return out;
}

/** The document as OpenAPI 3.1 (see the module comment); the input is not changed. */
export function toOpenApi31(document: Readonly<Json>): Json {
  const version = detectVersion(document as Json);
  if (version === '3.1') return structuredClone(document) as Json;
  if (version === '3.0') return convert30(structuredClone(document) as Json, '3.0');
  if (version === '2.0') return convert30(from2(document as Json), '2.0');
  throw new Error('not a Swagger 2.0, OpenAPI 3.0 or OpenAPI 3.1 document');
}

