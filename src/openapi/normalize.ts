/**
 * Bundled Swagger 2.0 / OpenAPI 3.0 / 3.1 document → the operation model (model.ts). Structural problems that make
 * enforcement impossible (a parameter that is not an object, an unresolvable reference, the same parameter twice)
 * are errors with the JSON pointer of the offending node; everything else is left to the parser's validation.
 */
import type {
  ApiModel,
  EncodingModel,
  LoadIssue,
  MediaModel,
  OpenApiVersion,
  OperationModel,
  ParameterLocation,
  ParameterModel,
  ParameterStyle,
  RequestBodyModel,
  ResponseModel,
  SchemaAt,
} from './model.ts';
import { deref, isObject, joinPointer, type Located } from './pointer.ts';

const METHODS_3 = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const;
const METHODS_2 = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch'] as const;

/** OpenAPI 3 §4.8.12.1: header parameters with these names "SHALL be ignored" (HTTP itself carries them). */
const IGNORED_HEADERS = new Set(['accept', 'content-type', 'authorization']);

/** Keys of a Swagger 2.0 parameter that are not schema keywords. */
const SWAGGER_PARAMETER_KEYS = new Set(['name', 'in', 'required', 'description', 'collectionFormat', 'allowEmptyValue', 'schema']);

export function detectVersion(document: Record<string, unknown>): OpenApiVersion | undefined {
  if (document.swagger === '2.0') return '2.0';
  const openapi = document.openapi;
  if (typeof openapi === 'string') {
    if (/^3\.0\.\d+/.test(openapi)) return '3.0';
    if (/^3\.1\.\d+/.test(openapi)) return '3.1';
  }
  return undefined;
}

/** `application/JSON; charset=utf-8` → `application/json`. */
export function bareMediaType(value: string): string {
  const semi = value.indexOf(';');
  return (semi === -1 ? value : value.slice(0, semi)).trim().toLowerCase();
}

export function normalize(document: Record<string, unknown>, issues: LoadIssue[]): ApiModel | undefined {
  const version = detectVersion(document);
  if (version === undefined) {
    issues.push({ severity: 'error', pointer: '', message: 'not a Swagger 2.0, OpenAPI 3.0 or OpenAPI 3.1 document' });
    return undefined;
  }
  const n = new Normalizer(document, version, issues);
  return { version, document, operations: n.operations() };
}

class Normalizer {
  readonly #doc: Record<string, unknown>;
  readonly #version: OpenApiVersion;
  readonly #issues: LoadIssue[];

  constructor(doc: Record<string, unknown>, version: OpenApiVersion, issues: LoadIssue[]) {
    this.#doc = doc;
    this.#version = version;
    this.#issues = issues;
  }

  #error(pointer: string, message: string): void {
    this.#issues.push({ severity: 'error', pointer, message });
  }

  #warn(pointer: string, message: string): void {
    this.#issues.push({ severity: 'warning', pointer, message });
  }

  /** Resolves a node that may be a `$ref`; reports and returns undefined when it cannot be resolved. */
  #resolve(value: unknown, pointer: string): Located<Record<string, unknown>> | undefined {
    const found = deref(this.#doc, value, pointer);
    if ('error' in found) {
      this.#error(found.pointer, found.error);
      return undefined;
    }
    if (!isObject(found.value)) {
      this.#error(found.pointer, 'must be an object');
      return undefined;
    }
    return found as Located<Record<string, unknown>>;
  }

  operations(): OperationModel[] {
    const paths = this.#doc.paths;
    const out: OperationModel[] = [];
    if (paths === undefined) return out;
    if (!isObject(paths)) {
      this.#error('/paths', 'must be an object');
      return out;
    }
    const seenIds = new Map<string, string>();
    for (const [template, rawItem] of Object.entries(paths)) {
      if (template.startsWith('x-')) continue;
      const itemPointer = joinPointer('/paths', template);
      if (!template.startsWith('/')) {
        this.#error(itemPointer, 'path templates must start with "/"');
        continue;
      }
      const item = this.#resolve(rawItem, itemPointer);
      if (!item) continue;
      const shared = this.#parameterList(item.value.parameters, joinPointer(item.pointer, 'parameters'));
      for (const method of this.#version === '2.0' ? METHODS_2 : METHODS_3) {
        const raw = item.value[method];
        if (raw === undefined) continue;
        const opPointer = joinPointer(item.pointer, method);
        if (!isObject(raw)) {
          this.#error(opPointer, 'must be an object');
          continue;
        }
        const operation = this.#operation(template, method.toUpperCase(), raw, opPointer, shared);
        if (operation.operationId !== undefined) {
          const previous = seenIds.get(operation.operationId);
          if (previous !== undefined) {
            this.#warn(joinPointer(opPointer, 'operationId'), `operationId "${operation.operationId}" is also used at #${previous}`);
          } else seenIds.set(operation.operationId, joinPointer(opPointer, 'operationId'));
        }
        out.push(operation);
      }
    }
    return out;
  }

  #operation(template: string, method: string, raw: Record<string, unknown>, pointer: string, shared: RawParameter[]): OperationModel {
    const own = this.#parameterList(raw.parameters, joinPointer(pointer, 'parameters'));
    // Operation-level parameters override path-level ones with the same name and location (OpenAPI 3 §4.8.10.1).
    const merged = new Map<string, RawParameter>();
    for (const p of shared) merged.set(p.identity, p);
    for (const p of own) merged.set(p.identity, p);
    const all = [...merged.values()];
    const operationId = typeof raw.operationId === 'string' && raw.operationId !== '' ? raw.operationId : undefined;
    const key = operationId ?? `${method} ${template}`;
    if (this.#version === '2.0') return this.#swaggerOperation(template, method, raw, pointer, all, key, operationId);

    const parameters = all.flatMap((p) => this.#parameter3(p) ?? []);
    let requestBody: RequestBodyModel | undefined;
    if (raw.requestBody !== undefined) {
      const body = this.#resolve(raw.requestBody, joinPointer(pointer, 'requestBody'));
      if (body) {
        requestBody = {
          required: body.value.required === true,
          content: this.#content(body.value.content, joinPointer(body.pointer, 'content')),
          pointer: body.pointer,
        };
      }
    }
    const responses: ResponseModel[] = [];
    const produces = new Set<string>();
    if (isObject(raw.responses)) {
      for (const [status, rawResponse] of Object.entries(raw.responses)) {
        if (status.startsWith('x-')) continue;
        const response = this.#resolve(rawResponse, joinPointer(pointer, 'responses', status));
        if (!response) continue;
        const content = this.#content(response.value.content, joinPointer(response.pointer, 'content'));
        for (const media of content) produces.add(media.mediaType);
        responses.push({ status: /^[1-5]xx$/i.test(status) ? status.toUpperCase() : status, content, pointer: response.pointer });
      }
    }
    return { key, operationId, method, path: template, pointer, parameters, requestBody, responses, produces: [...produces] };
  }

  #parameterList(value: unknown, pointer: string): RawParameter[] {
    if (value === undefined) return [];
    if (!Array.isArray(value)) {
      this.#error(pointer, 'must be an array');
      return [];
    }
    const out: RawParameter[] = [];
    const seen = new Set<string>();
    value.forEach((entry, i) => {
      const found = this.#resolve(entry, joinPointer(pointer, i));
      if (!found) return;
      const { name, in: location } = found.value;
      if (typeof name !== 'string' || typeof location !== 'string') {
        this.#error(found.pointer, 'a parameter needs a string "name" and "in"');
        return;
      }
      const identity = `${location}:${location === 'header' ? name.toLowerCase() : name}`;
      if (seen.has(identity)) {
        // Two definitions of one parameter: which one would the upstream read? Enforcement cannot choose.
        this.#error(joinPointer(pointer, i), `parameter "${name}" in ${location} is defined twice`);
        return;
      }
      seen.add(identity);
      out.push({ identity, name, in: location, value: found.value, pointer: found.pointer });
    });
    return out;
  }

  #parameter3(p: RawParameter): ParameterModel | undefined {
    if (!isParameterLocation(p.in)) {
      this.#error(joinPointer(p.pointer, 'in'), `unknown parameter location "${p.in}"`);
      return undefined;
    }
    if (p.in === 'header' && IGNORED_HEADERS.has(p.name.toLowerCase())) return undefined;
    const style = (typeof p.value.style === 'string' ? p.value.style : p.in === 'query' || p.in === 'cookie' ? 'form' : 'simple') as ParameterStyle;
    if (!STYLES[p.in].includes(style)) {
      this.#error(joinPointer(p.pointer, 'style'), `style "${style}" is not allowed for ${p.in} parameters`);
      return undefined;
    }
    const explode = typeof p.value.explode === 'boolean' ? p.value.explode : style === 'form';
    let schema: SchemaAt | undefined;
    let contentType: string | undefined;
    if (p.value.schema !== undefined) schema = { schema: p.value.schema, pointer: joinPointer(p.pointer, 'schema') };
    else if (isObject(p.value.content)) {
      const [entry] = Object.entries(p.value.content);
      if (entry && isObject(entry[1])) {
        contentType = bareMediaType(entry[0]);
        if (entry[1].schema !== undefined) schema = { schema: entry[1].schema, pointer: joinPointer(p.pointer, 'content', entry[0], 'schema') };
      }
    }
    return { name: p.name, in: p.in, required: p.in === 'path' || p.value.required === true, style, explode, schema, contentType, pointer: p.pointer };
  }

  #content(value: unknown, pointer: string): MediaModel[] {
    if (value === undefined) return [];
    if (!isObject(value)) {
      this.#error(pointer, 'must be an object');
      return [];
    }
    const out: MediaModel[] = [];
    const seen = new Set<string>();
    for (const [type, raw] of Object.entries(value)) {
      const mediaPointer = joinPointer(pointer, type);
      if (!isObject(raw)) {
        this.#error(mediaPointer, 'must be an object');
        continue;
      }
      const mediaType = bareMediaType(type);
      if (seen.has(mediaType)) continue;
      seen.add(mediaType);
      const encoding = new Map<string, EncodingModel>();
      if (isObject(raw.encoding)) {
        for (const [property, rawEncoding] of Object.entries(raw.encoding)) {
          if (!isObject(rawEncoding)) continue;
          const style = (typeof rawEncoding.style === 'string' ? rawEncoding.style : 'form') as ParameterStyle;
          encoding.set(property, {
            contentType: typeof rawEncoding.contentType === 'string' ? bareMediaType(rawEncoding.contentType.split(',')[0]!) : undefined,
            style,
            explode: typeof rawEncoding.explode === 'boolean' ? rawEncoding.explode : style === 'form',
          });
        }
      }
      out.push({
        mediaType,
        schema: raw.schema === undefined ? undefined : { schema: raw.schema, pointer: joinPointer(mediaPointer, 'schema') },
        encoding,
        pointer: mediaPointer,
      });
    }
    return out;
  }

  // --- Swagger 2.0 -------------------------------------------------------------------------------------------

  #swaggerOperation(
    template: string,
    method: string,
    raw: Record<string, unknown>,
    pointer: string,
    all: RawParameter[],
    key: string,
    operationId: string | undefined,
  ): OperationModel {
    const consumes = mediaList(raw.consumes) ?? mediaList(this.#doc.consumes) ?? [];
    const produces = mediaList(raw.produces) ?? mediaList(this.#doc.produces) ?? ['application/json'];
    const parameters: ParameterModel[] = [];
    let body: RawParameter | undefined;
    const form: RawParameter[] = [];
    for (const p of all) {
      if (p.in === 'body') {
        if (body) this.#error(p.pointer, 'an operation has at most one body parameter');
        else body = p;
      } else if (p.in === 'formData') form.push(p);
      else if (isParameterLocation(p.in) && p.in !== 'cookie') {
        if (p.in === 'header' && IGNORED_HEADERS.has(p.name.toLowerCase())) continue;
        const { style, explode } = collectionFormat(p.value.collectionFormat, p.in);
        parameters.push({
          name: p.name,
          in: p.in,
          required: p.in === 'path' || p.value.required === true,
          style,
          explode,
          schema: { schema: swaggerSchema(p.value), pointer: p.pointer },
          contentType: undefined,
          pointer: p.pointer,
        });
      } else this.#error(joinPointer(p.pointer, 'in'), `unknown parameter location "${p.in}"`);
    }
    if (body && form.length > 0) this.#error(body.pointer, 'body and formData parameters cannot be used together');
    let requestBody: RequestBodyModel | undefined;
    if (body) {
      const types = consumes.length > 0 ? consumes : ['application/json'];
      const schema = body.value.schema === undefined ? undefined : { schema: body.value.schema, pointer: joinPointer(body.pointer, 'schema') };
      requestBody = {
        required: body.value.required === true,
        content: types.map((mediaType) => ({ mediaType, schema, encoding: new Map(), pointer: body.pointer })),
        pointer: body.pointer,
      };
    } else if (form.length > 0) {
      const properties: Record<string, unknown> = {};
      const required: string[] = [];
      const encoding = new Map<string, EncodingModel>();
      for (const p of form) {
        properties[p.name] = swaggerSchema(p.value);
        if (p.value.required === true) required.push(p.name);
        encoding.set(p.name, { contentType: undefined, ...collectionFormat(p.value.collectionFormat, 'query') });
      }
      const hasFile = form.some((p) => p.value.type === 'file');
      let types = consumes.filter((t) => t === 'application/x-www-form-urlencoded' || t === 'multipart/form-data');
      if (types.length === 0) types = [hasFile ? 'multipart/form-data' : 'application/x-www-form-urlencoded'];
      const schema: SchemaAt = {
        schema: { type: 'object', properties, ...(required.length > 0 ? { required } : {}) },
        pointer: joinPointer(pointer, 'parameters'),
      };
      requestBody = {
        required: required.length > 0,
        content: types.map((mediaType) => ({ mediaType, schema, encoding, pointer: joinPointer(pointer, 'parameters') })),
        pointer: joinPointer(pointer, 'parameters'),
      };
    }
    const responses: ResponseModel[] = [];
    if (isObject(raw.responses)) {
      for (const [status, rawResponse] of Object.entries(raw.responses)) {
        if (status.startsWith('x-')) continue;
        const response = this.#resolve(rawResponse, joinPointer(pointer, 'responses', status));
        if (!response) continue;
        const schema = response.value.schema === undefined ? undefined : { schema: response.value.schema, pointer: joinPointer(response.pointer, 'schema') };
        responses.push({
          status: /^[1-5]xx$/i.test(status) ? status.toUpperCase() : status,
          content: schema ? produces.map((mediaType) => ({ mediaType, schema, encoding: new Map(), pointer: response.pointer })) : [],
          pointer: response.pointer,
        });
      }
    }
    return { key, operationId, method, path: template, pointer, parameters, requestBody, responses, produces };
  }
}

interface RawParameter {
  /** `in:name` (header names in lower case): what makes two definitions the same parameter. */
  readonly identity: string;
  readonly name: string;
  readonly in: string;
  readonly value: Record<string, unknown>;
  readonly pointer: string;
}

const STYLES: Record<ParameterLocation, readonly ParameterStyle[]> = {
  path: ['simple', 'label', 'matrix'],
  query: ['form', 'spaceDelimited', 'pipeDelimited', 'deepObject'],
  header: ['simple'],
  cookie: ['form'],
};

function isParameterLocation(value: string): value is ParameterLocation {
  return value === 'path' || value === 'query' || value === 'header' || value === 'cookie';
}

function mediaList(value: unknown): string[] | undefined {
  if (!Array.isArray(value)) return undefined;
  return [...new Set(value.filter((v): v is string => typeof v === 'string').map(bareMediaType))];
}

/** Swagger 2.0 §Parameter Object `collectionFormat` → OpenAPI 3 style/explode. */
function collectionFormat(value: unknown, location: string): { style: ParameterStyle; explode: boolean } {
  const plain: ParameterStyle = location === 'query' || location === 'formData' ? 'form' : 'simple';
  switch (value) {
    case 'ssv':
      return { style: 'spaceDelimited', explode: false };
    case 'tsv':
      return { style: 'tabDelimited', explode: false };
    case 'pipes':
      return { style: 'pipeDelimited', explode: false };
    case 'multi':
      return { style: 'form', explode: true };
    default:
      return { style: plain, explode: false };
  }
}

/** The schema keywords of a Swagger 2.0 non-body parameter (they sit on the parameter itself); `file` is binary. */
function swaggerSchema(parameter: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(parameter)) {
    if (SWAGGER_PARAMETER_KEYS.has(key) || key.startsWith('x-')) continue;
    out[key] = key === 'items' && isObject(value) ? swaggerSchema(value) : value;
  }
  if (out.type === 'file') {
    out.type = 'string';
    out.format = 'binary';
  }
  if (parameter['x-nullable'] === true) out['x-nullable'] = true;
  return out;
}
