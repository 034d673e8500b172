/**
 * Request validation for one loaded document (issue 5 item 2): every operation's parameters and bodies compiled
 * into ajv validators once, at load, with the undeclared-property and undeclared-query rules of the config.
 *
 * Per request: the operation index picks the operation, `checkParameters` decodes path, query, header and cookie
 * parameters by style and validates them in one ajv call, and the body (read once by the shared reader) is checked
 * by the validator of the declared media type the `Content-Type` selects. Every failure is collected as
 * `/location/pointer: rule` (RFC 6901 pointers), never with the submitted value.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { AnySchema, ValidateFunction } from 'ajv';
import type { LoadedOpenApi, LocatedIssue } from './load.ts';
import type { LoadIssue, MediaModel, OperationModel, ParameterModel, ResponseModel } from './model.ts';
import { OperationIndex } from './operations.ts';
import { RequestSchemaTranslator, checkSchema, createAjv, describeError, type SchemaIssue, type ValidationError } from './json-schema.ts';
import { Minimizer } from './minimize.ts';
import { buildDecoder, decodeCookieValue, decodeForm, decodePathValue, decodeSimple, formDecode, needsEncodedValues, parseCookies, parseFormPairs, type DecodeIssue, type FieldDecoder } from './params.ts';
import { escapeToken, isObject, joinPointer } from './pointer.ts';
import { objectShape, resolveSchema } from './schema-info.ts';
import { isJsonMediaType, selectMedia } from './media.ts';
import type { MultipartPart } from './multipart.ts';

export interface ValidationSettings {
  /** Refuse query parameters the operation does not declare. */
  readonly rejectUndeclaredQuery: boolean;
  /** Refuse body properties the schema does not declare (mass assignment). */
  readonly rejectUndeclaredBody: boolean;
}

export interface CompileOptions extends ValidationSettings {
  /** Per-operation overrides, keyed by operationId or `METHOD /path`. */
  readonly operations?: ReadonlyMap<string, Partial<ValidationSettings>>;
}

export type BodyKind = 'json' | 'form' | 'multipart' | 'other';

export interface CompiledMedia {
  readonly mediaType: string;
  readonly model: MediaModel;
  /** The kind of the declared type; a range's actual kind is the request's (see the policy). */
  readonly kind: BodyKind;
  readonly validate: ValidateFunction | undefined;
  /** Form and multipart bodies: how each declared property is decoded. */
  readonly fields: readonly FieldDecoder[];
}

/** At most this many query or form pairs are decoded: more is refused, not truncated. */
export const MAX_PAIRS = 1000;
const MAX_REPORTED = 25;

/**
 * Form and multipart field names refused outright, as the shared JSON reader refuses them as object keys (gateway/
 * body.ts): an upstream that merges the fields into an object would set its prototype or shadow its constructor
 * (OWASP Prototype Pollution Prevention Cheat Sheet). Refused whether declared or not, at any level a field decodes
 * to (a deepObject or name,value property too), so a form body cannot carry what a JSON body may not.
 */
const PROTOTYPE_NAMES: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

/**
 * Parameter names refused in the document (a load error naming file, line and pointer): the members of
 * `Object.prototype` (`__proto__`, `constructor`, `toString`, ...). Decoded parameters are plain objects, as are the
 * parameter schemas built from the document and `req.headers`: a parameter named `__proto__` would set the schema's
 * prototype instead of declaring a property, and one named `constructor` that the request leaves out would still be
 * "present" (inherited) for ajv and for the header lookup. Header names are matched as Node stores them, lower case.
 */
const INHERITED_NAMES: ReadonlySet<string> = new Set(Object.getOwnPropertyNames(Object.prototype));

export class CompiledOperation {
  readonly model: OperationModel;
  readonly settings: ValidationSettings;
  readonly #path: ReadonlyArray<{ readonly param: ParameterModel; readonly decoder: FieldDecoder }>;
  readonly #query: readonly FieldDecoder[];
  readonly #headers: ReadonlyArray<{ readonly lower: string; readonly decoder: FieldDecoder }>;
  readonly #cookies: readonly FieldDecoder[];
  /** Whether query or cookie fields need the values as sent (form-style lists without explode: see decodeForm). */
  readonly #queryEncoded: boolean;
  readonly #cookieEncoded: boolean;
  readonly #validateParams: ValidateFunction | undefined;
  readonly #minimizer: Minimizer;
  /** Query names the document's security schemes use (`apiKey` in query): credentials, not undeclared input. */
  readonly #credentialQuery: ReadonlySet<string>;
  readonly media: readonly CompiledMedia[];
  readonly bodyRequired: boolean;
  readonly hasBody: boolean;
  readonly produces: readonly string[];

  constructor(init: {
    model: OperationModel;
    settings: ValidationSettings;
    minimizer: Minimizer;
    credentialQuery: ReadonlySet<string>;
    path: Array<{ param: ParameterModel; decoder: FieldDecoder }>;
    query: FieldDecoder[];
    headers: Array<{ lower: string; decoder: FieldDecoder }>;
    cookies: FieldDecoder[];
    validateParams: ValidateFunction | undefined;
    media: CompiledMedia[];
  }) {
    this.model = init.model;
    this.settings = init.settings;
    this.#path = init.path;
    this.#query = init.query;
    this.#headers = init.headers;
    this.#cookies = init.cookies;
    this.#queryEncoded = needsEncodedValues(init.query);
    this.#cookieEncoded = needsEncodedValues(init.cookies);
    this.#validateParams = init.validateParams;
    this.#minimizer = init.minimizer;
    this.#credentialQuery = init.credentialQuery;
    this.media = init.media;
    this.bodyRequired = init.model.requestBody?.required ?? false;
    this.hasBody = init.model.requestBody !== undefined;
    this.produces = init.model.produces;
  }

  /** Path, query, header and cookie parameters; failures are appended to `errors`. */
  checkParameters(pathParams: ReadonlyMap<string, string>, query: string, headers: IncomingHttpHeaders, errors: ValidationError[]): void {
    // Most requests of operations without parameters carry no query: nothing to decode, nothing to allocate.
    if (query === '' && this.#validateParams === undefined) return;
    const issues: Array<DecodeIssue & { at: string }> = [];
    const instance: Record<string, Record<string, unknown>> = {};
    if (this.#path.length > 0) {
      const path: Record<string, unknown> = {};
      const local: DecodeIssue[] = [];
      for (const { param, decoder } of this.#path) {
        const raw = pathParams.get(param.name);
        if (raw === undefined) continue;
        const value = decodePathValue(raw, decoder, local);
        if (value !== undefined) path[param.name] = value;
      }
      for (const i of local) issues.push({ ...i, at: 'path' });
      instance.path = path;
    }
    if (query !== '' || this.#query.length > 0) {
      const encoded = this.#queryEncoded ? new Map<string, string[]>() : undefined;
      const groups = parseFormPairs(query, MAX_PAIRS, encoded);
      if (groups === undefined) add(errors, { pointer: '/query', rule: 'is not valid percent-encoding' });
      else if (groups === 'too-many') add(errors, { pointer: '/query', rule: `has more than ${MAX_PAIRS} parameters` });
      else {
        const values: Record<string, unknown> = {};
        const local: DecodeIssue[] = [];
        const unclaimed = decodeForm(groups, this.#query, values, local, encoded, formDecode);
        for (const i of local) issues.push({ ...i, at: 'query' });
        if (this.settings.rejectUndeclaredQuery) {
          for (const name of unclaimed) {
            if (!this.#credentialQuery.has(name)) issues.push({ name: boundedName(name), rule: 'is not declared', at: 'query' });
          }
        }
        instance.query = values;
      }
    }
    if (this.#headers.length > 0) {
      const values: Record<string, unknown> = {};
      const local: DecodeIssue[] = [];
      for (const { lower, decoder } of this.#headers) {
        const raw = headers[lower];
        if (raw === undefined) continue;
        // A field sent on several lines arrives joined by ", " (RFC 9110 §5.3): list whitespace, trimmed (OWS). The
        // value is taken as sent, never percent-decoded (OAS 3.1.2: see decodeSimple).
        const value = decodeSimple(Array.isArray(raw) ? raw.join(', ') : raw, ',', decoder, local, true);
        if (value !== undefined) values[decoder.name] = value;
      }
      for (const i of local) issues.push({ ...i, at: 'header' });
      instance.header = values;
    }
    if (this.#cookies.length > 0) {
      const values: Record<string, unknown> = {};
      const local: DecodeIssue[] = [];
      const encoded = this.#cookieEncoded ? new Map<string, string[]>() : undefined;
      const cookies = parseCookies(headers.cookie, encoded);
      // Only declared cookies are looked at: other cookies of the site are none of this operation's business.
      const declared = new Map<string, string[]>();
      for (const field of this.#cookies) {
        const list = cookies.get(field.name);
        if (list) declared.set(field.name, list);
      }
      decodeForm(declared, this.#cookies, values, local, encoded, decodeCookieValue);
      for (const i of local) issues.push({ ...i, at: 'cookie' });
      instance.cookie = values;
    }
    for (const issue of issues) add(errors, { pointer: `/${issue.at}/${escapeToken(issue.name)}`, rule: issue.rule });
    const validate = this.#validateParams;
    if (validate && !validate(instance)) collect('', validate, errors);
  }

  /** The declared media type the request's `Content-Type` selects (undefined: 415). */
  selectMedia(type: string): CompiledMedia | undefined {
    return selectMedia(this.media, type);
  }

  validateJson(media: CompiledMedia, value: unknown, errors: ValidationError[]): void {
    const validate = media.validate;
    if (validate && !validate(value)) collect('/body', validate, errors);
    this.#undeclared(media, value, errors);
  }

  /** Mass assignment: body properties the schema does not declare (the response minimizer's walk, `reject` mode). */
  #undeclared(media: CompiledMedia, value: unknown, errors: ValidationError[]): void {
    const schema = media.model.schema;
    if (!this.settings.rejectUndeclaredBody || schema === undefined) return;
    const { undeclared, undeclaredCount } = this.#minimizer.minimize(schema, value, 'reject', 'request');
    for (const pointer of undeclared) {
      add(errors, { pointer: `/body${pointer}`, rule: 'is not declared' });
    }
    // The walk names the first few (minimize.ts MAX_REPORTED) and counts them all. Cut only when the list holds fewer
    // than it counted: with `additionalProperties: false` ajv has named each one already.
    if (undeclaredCount > undeclared.length && countUndeclared(errors) < undeclaredCount) truncatedLists.add(errors);
  }

  /** `application/x-www-form-urlencoded` text (already UTF-8 decoded). */
  validateForm(media: CompiledMedia, text: string, errors: ValidationError[]): Record<string, unknown> | undefined {
    const encoded = needsEncodedValues(media.fields) ? new Map<string, string[]>() : undefined;
    const groups = parseFormPairs(text, MAX_PAIRS, encoded);
    if (groups === undefined) {
      add(errors, { pointer: '/body', rule: 'is not valid percent-encoding' });
      return undefined;
    }
    if (groups === 'too-many') {
      add(errors, { pointer: '/body', rule: `has more than ${MAX_PAIRS} fields` });
      return undefined;
    }
    return this.#validateFields(media, groups, errors, encoded);
  }

  validateMultipart(media: CompiledMedia, parts: ReadonlyMap<string, readonly MultipartPart[]>, errors: ValidationError[]): Record<string, unknown> | undefined {
    const groups = new Map<string, string[]>();
    for (const [name, list] of parts) {
      groups.set(name, list.map((p) => p.value));
      // Text that is not UTF-8 is refused as in JSON and form bodies, unless the document declares the field binary.
      for (let i = 0; i < list.length; i++) {
        if (list[i]!.invalidUtf8 !== true || media.fields.some((f) => f.binary === true && f.name === name)) continue;
        add(errors, { pointer: `/body/${escapeToken(boundedName(name))}${list.length > 1 ? `/${i}` : ''}`, rule: 'is not valid UTF-8' });
      }
    }
    // Part contents are literal, not percent-encoded (RFC 7578 §2): no encoded values to split.
    return this.#validateFields(media, groups, errors, undefined);
  }

  #validateFields(media: CompiledMedia, groups: Map<string, string[]>, errors: ValidationError[], encoded: ReadonlyMap<string, readonly string[]> | undefined): Record<string, unknown> {
    // No prototype: a field named `__proto__` that got this far would be an own key, seen by ajv and the walk below.
    const instance = Object.create(null) as Record<string, unknown>;
    const issues: DecodeIssue[] = [];
    for (const name of groups.keys()) {
      if (!PROTOTYPE_NAMES.has(name)) continue;
      issues.push({ name, rule: 'is a forbidden name' });
      groups.delete(name);
    }
    const unclaimed = decodeForm(groups, media.fields, instance, issues, encoded, formDecode);
    for (const name of unclaimed) {
      // Left for the schema to judge: refused as undeclared when the body is closed, kept when it is open.
      const values = groups.get(name)!;
      if (values.length > 1) issues.push({ name: boundedName(name), rule: 'must not be repeated' });
      else instance[name] = values[0];
    }
    for (const issue of issues) add(errors, { pointer: `/body/${escapeToken(issue.name)}`, rule: issue.rule });
    // Objects decoded from one field (`color[__proto__]=1`, `color=constructor,1`); JSON parts were refused by the
    // strict reader already.
    for (const name of Object.keys(instance)) {
      const value = instance[name];
      if (!isObject(value)) continue;
      for (const key of Object.keys(value)) {
        if (PROTOTYPE_NAMES.has(key)) add(errors, { pointer: `/body/${escapeToken(name)}/${escapeToken(key)}`, rule: 'is a forbidden name' });
      }
    }
    const validate = media.validate;
    if (validate && !validate(instance)) collect('/body', validate, errors);
    this.#undeclared(media, instance, errors);
    return instance;
  }
}

function countUndeclared(errors: readonly ValidationError[]): number {
  let count = 0;
  for (const e of errors) if (e.rule === 'is not declared' && e.pointer.startsWith('/body')) count++;
  return count;
}

function boundedName(name: string): string {
  return name.length > 64 ? `${name.slice(0, 64)}…` : name;
}

function collect(prefix: string, validate: ValidateFunction, errors: ValidationError[]): void {
  for (const error of validate.errors ?? []) {
    const described = describeError(prefix, error);
    if (described !== undefined) add(errors, described);
  }
}

/** Lists that had more failures than they hold (see `add`): the answer says it was cut. */
const truncatedLists = new WeakSet<readonly ValidationError[]>();

/**
 * Appends unless already listed; at most MAX_REPORTED (a hostile body could fail a million times). A failure beyond
 * that marks the list as truncated (`isTruncated`); once marked, further ones cost one lookup.
 */
export function add(errors: ValidationError[], error: ValidationError): void {
  if (errors.length >= MAX_REPORTED) {
    if (!truncatedLists.has(errors) && !listed(errors, error)) truncatedLists.add(errors);
    return;
  }
  if (!listed(errors, error)) errors.push(error);
}

function listed(errors: readonly ValidationError[], error: ValidationError): boolean {
  for (const e of errors) if (e.pointer === error.pointer && e.rule === error.rule) return true;
  return false;
}

/** Whether failures were left out of `errors` (the list reached its cap, or a walk feeding it reached its own). */
export function isTruncated(errors: readonly ValidationError[]): boolean {
  return truncatedLists.has(errors);
}

export function bodyKind(mediaType: string): BodyKind {
  if (isJsonMediaType(mediaType)) return 'json';
  if (mediaType === 'application/x-www-form-urlencoded') return 'form';
  if (mediaType === 'multipart/form-data') return 'multipart';
  return 'other';
}

/** The response declared for a status: exact code, then `2XX`-style range, then `default`. */
export function responseFor(model: OperationModel, status: number): ResponseModel | undefined {
  const code = String(status);
  let range: ResponseModel | undefined;
  let fallback: ResponseModel | undefined;
  for (const response of model.responses) {
    if (response.status === code) return response;
    if (response.status === `${code[0]}XX`) range = response;
    else if (response.status === 'default') fallback = response;
  }
  return range ?? fallback;
}

export type CompileResult =
  | { readonly ok: true; readonly contract: CompiledContract }
  | { readonly ok: false; readonly errors: readonly LocatedIssue[]; readonly warnings: readonly LocatedIssue[] };

export class CompiledContract {
  readonly api: LoadedOpenApi;
  readonly index: OperationIndex<CompiledOperation>;
  readonly operations: readonly CompiledOperation[];
  /** Loading and compiling warnings together. */
  readonly warnings: readonly LocatedIssue[];

  private constructor(api: LoadedOpenApi, index: OperationIndex<CompiledOperation>, operations: CompiledOperation[], warnings: LocatedIssue[]) {
    this.api = api;
    this.index = index;
    this.operations = operations;
    this.warnings = [...api.warnings, ...warnings];
  }

  /** Compiles every operation's validators. Schema problems are errors naming file, pointer and line. */
  static compile(api: LoadedOpenApi, options: CompileOptions): CompileResult {
    const { model } = api;
    const doc = model.document as Record<string, unknown>;
    const ajv = createAjv();
    const schemaIssues: SchemaIssue[] = [];
    const loadIssues: LoadIssue[] = [];
    const t = new RequestSchemaTranslator(doc, model.version, ajv, schemaIssues);
    const minimizer = new Minimizer(doc, model.version);
    const credentialQuery = credentialQueryNames(doc);
    const drafts: Array<{ op: OperationModel; settings: ValidationSettings; params: AnySchema | undefined; media: Array<{ model: MediaModel; kind: BodyKind; schema: AnySchema | undefined; fields: FieldDecoder[] }>; decoders: ReturnType<typeof parameterDecoders> }> = [];
    const unknownOverrides = new Set(options.operations?.keys() ?? []);
    for (const op of model.operations) {
      const override = options.operations?.get(op.key) ?? options.operations?.get(`${op.method} ${op.path}`);
      unknownOverrides.delete(op.key);
      unknownOverrides.delete(`${op.method} ${op.path}`);
      const settings: ValidationSettings = {
        rejectUndeclaredQuery: override?.rejectUndeclaredQuery ?? options.rejectUndeclaredQuery,
        rejectUndeclaredBody: override?.rejectUndeclaredBody ?? options.rejectUndeclaredBody,
      };
      const inherited = op.parameters.filter((p) => INHERITED_NAMES.has(p.name) || (p.in === 'header' && INHERITED_NAMES.has(p.name.toLowerCase())));
      for (const p of inherited) {
        schemaIssues.push({ pointer: p.pointer, message: `${p.in} parameter "${p.name}" has the name of a member every JavaScript object inherits: it cannot be validated safely (rename it)` });
      }
      // The load fails: nothing of this operation is compiled (its parameter schema would not even build).
      if (inherited.length > 0) continue;
      const decoders = parameterDecoders(api, op);
      const params = parameterSchema(op.parameters, t);
      const media = (op.requestBody?.content ?? []).map((m) => {
        const kind = bodyKind(m.mediaType);
        // Ranges (`*/*`, `application/*`) may select a JSON, form or multipart body at run time: compile those too.
        const checkable = kind !== 'other' || m.mediaType.endsWith('/*');
        const schema = m.schema && checkable ? t.translate(m.schema) : undefined;
        const fields = m.schema && checkable ? bodyFields(api, m, kind === 'multipart' ? 'multipart' : 'form') : [];
        return { model: m, kind, schema, fields };
      });
      drafts.push({ op, settings, params, media, decoders });
    }
    t.flush();
    const operations: CompiledOperation[] = [];
    const compile = (schema: AnySchema | undefined, pointer: string): ValidateFunction | undefined => {
      if (schema === undefined) return undefined;
      if (!checkSchema(ajv, schema, pointer, schemaIssues)) return undefined;
      try {
        return ajv.compile(schema);
      } catch (error) {
        schemaIssues.push({ pointer, message: `schema does not compile: ${(error as Error).message.split('\n')[0]}` });
        return undefined;
      }
    };
    for (const draft of drafts) {
      operations.push(
        new CompiledOperation({
          model: draft.op,
          settings: draft.settings,
          minimizer,
          credentialQuery,
          ...draft.decoders,
          validateParams: compile(draft.params, joinParams(draft.op)),
          media: draft.media.map((m) => ({ mediaType: m.model.mediaType, model: m.model, kind: m.kind, fields: m.fields, validate: compile(m.schema, m.model.schema?.pointer ?? m.model.pointer) })),
        }),
      );
    }
    const index = new OperationIndex<CompiledOperation>();
    for (const op of operations) index.add(op.model.method, op.model.path, op, op.model.pointer, loadIssues);
    const located = loadIssues.map((i) => api.issue(i.severity, i.pointer, i.message));
    const warnings = located.filter((i) => i.severity === 'warning');
    const errors: LocatedIssue[] = [...located.filter((i) => i.severity === 'error'), ...dedupe(schemaIssues).map((i) => api.issue('error', i.pointer, i.message))];
    for (const key of unknownOverrides) errors.push(api.issue('error', '', `no operation "${key}" in the document (operations are named by operationId or "METHOD /path")`));
    if (errors.length > 0) return { ok: false, errors, warnings };
    return { ok: true, contract: new CompiledContract(api, index, operations, warnings) };
  }
}

/** `apiKey` security schemes sent in the query (3.x `components.securitySchemes`, 2.0 `securityDefinitions`). */
function credentialQueryNames(doc: Record<string, unknown>): Set<string> {
  const out = new Set<string>();
  const components = doc.components as Record<string, unknown> | undefined;
  for (const schemes of [components?.securitySchemes, doc.securityDefinitions]) {
    if (schemes === null || typeof schemes !== 'object') continue;
    for (const scheme of Object.values(schemes as Record<string, unknown>)) {
      const s = scheme as Record<string, unknown> | null;
      if (s && s.type === 'apiKey' && s.in === 'query' && typeof s.name === 'string') out.add(s.name);
    }
  }
  return out;
}

function dedupe(issues: readonly SchemaIssue[]): SchemaIssue[] {
  const seen = new Set<string>();
  return issues.filter((i) => {
    const key = `${i.pointer} ${i.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

function joinParams(op: OperationModel): string {
  return `${op.pointer}/parameters`;
}

function parameterDecoders(api: LoadedOpenApi, op: OperationModel) {
  const { document, version } = api.model;
  const make = (p: ParameterModel) => buildDecoder(document, version, p.name, p.schema, p.style, p.explode, p.contentType !== undefined && isJsonMediaType(p.contentType));
  return {
    path: op.parameters.filter((p) => p.in === 'path').map((param) => ({ param, decoder: make(param) })),
    query: op.parameters.filter((p) => p.in === 'query').map(make),
    headers: op.parameters.filter((p) => p.in === 'header').map((p) => ({ lower: p.name.toLowerCase(), decoder: make(p) })),
    cookies: op.parameters.filter((p) => p.in === 'cookie').map(make),
  };
}

/** One schema for all parameters: `{ path: {...}, query: {...}, header: {...}, cookie: {...} }`. */
function parameterSchema(parameters: readonly ParameterModel[], t: RequestSchemaTranslator): AnySchema | undefined {
  if (parameters.length === 0) return undefined;
  const locations: Record<string, { type: 'object'; properties: Record<string, AnySchema>; required: string[] }> = {};
  for (const p of parameters) {
    const location = (locations[p.in] ??= { type: 'object', properties: {}, required: [] });
    location.properties[p.name] = p.schema ? t.translate(p.schema) : {};
    if (p.required) location.required.push(p.name);
  }
  return { type: 'object', properties: locations, required: Object.keys(locations) };
}

/** Form and multipart fields: the body schema's properties with their `encoding` (style form, explode by default). */
function bodyFields(api: LoadedOpenApi, media: MediaModel, kind: 'form' | 'multipart'): FieldDecoder[] {
  if (!media.schema) return [];
  const { document, version } = api.model;
  const shape = objectShape(document, media.schema.schema, media.schema.pointer);
  const out: FieldDecoder[] = [];
  for (const [name, sub] of shape.properties) {
    const encoding = media.encoding.get(name);
    const declaredType = encoding?.contentType;
    const decoder = buildDecoder(document, version, name, { schema: sub.value, pointer: sub.pointer }, encoding?.style ?? 'form', encoding?.explode ?? true, false);
    // OpenAPI 3 §4.8.15: in multipart, object properties default to application/json parts.
    const json = declaredType !== undefined ? isJsonMediaType(declaredType) : kind === 'multipart' && decoder.shape === 'object';
    const binary = kind === 'multipart' && !json && declaresBinary(document, sub.value, sub.pointer, declaredType);
    out.push(json || binary ? { ...decoder, json, binary } : decoder);
  }
  return out;
}

/** Media types whose content is text (checked as UTF-8 in a multipart part); anything else may be binary. */
function isTextMediaType(type: string): boolean {
  return type.startsWith('text/') || isJsonMediaType(type) || type === 'application/xml' || type.endsWith('+xml') || type === 'application/x-www-form-urlencoded';
}

/**
 * Whether the document declares a multipart field binary, so its parts may carry any bytes: an `encoding` content type
 * that is not text (a list of types, or a range such as `image/*`, counts when any of them is not), or else the
 * schema (its items for an array): `format: binary` (OAS 3.0, and Swagger 2.0 `type: file`), or a non-text
 * `contentMediaType` without `contentEncoding` (OAS 3.1: with an encoding such as base64 the part is text).
 */
function declaresBinary(document: unknown, node: unknown, pointer: string, encodingType: string | undefined): boolean {
  if (encodingType !== undefined) {
    return encodingType.split(',').some((t) => !isTextMediaType(t.split(';')[0]!.trim().toLowerCase()));
  }
  let { value: schema, pointer: at } = resolveSchema(document, node, pointer);
  if (isObject(schema) && isObject(schema.items)) ({ value: schema, pointer: at } = resolveSchema(document, schema.items, joinPointer(at, 'items')));
  if (!isObject(schema)) return false;
  if (schema.format === 'binary') return true;
  return typeof schema.contentMediaType === 'string' && schema.contentEncoding === undefined && !isTextMediaType(schema.contentMediaType.toLowerCase());
}
