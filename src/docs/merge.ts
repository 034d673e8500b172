/**
 * One OpenAPI 3.1 document from the contracts the gateway enforces (checklist item 14): every API, every version,
 * every route with a `contract`, under the paths the gateway exposes.
 *
 * Input: the documents (already OpenAPI 3.1, x-internal parts removed: convert.ts, strip-internal.ts) and the
 * sources that expose them: a document under a path prefix (the version prefix the gateway strips, then the contract's
 * `stripPrefix`), with the operations the gateway routes to it. One document may be exposed by several sources
 * (two versions sharing a contract): its components are emitted once.
 *
 * Deterministic, in the order of the sources (the config's route order):
 * - Paths: the document's path with the source's prefix. Path-level parameters are moved into each operation (the
 *   operation's own win, as OpenAPI says), so operations of different sources can share a path item; path-level and
 *   operation-level `servers` are dropped (they would point past the gateway), and so are `webhooks` (not routes of
 *   the gateway). A path that differs from one already merged only in its parameter names is the same path to the
 *   gateway: the operation joins the existing path item, its path parameters renamed. The same method and path from
 *   two sources (header-selected versions share their paths): the first source keeps it, the other is listed in
 *   `omitted`.
 * - Components: a name defined by one document, or by several with the same content, keeps its name. Names whose
 *   definitions differ (also when they differ only because a component they reference is renamed) are renamed in
 *   every document that defines them, to `<label>.<name>` (the label is the API id, `api.version` when the API's
 *   versions have documents of their own, or the route id), with `_2`, `_3` ... where even that is taken; every
 *   `$ref`, discriminator mapping and security requirement is rewritten to match, and implicit discriminator values
 *   (schema names) that a rename would change get an explicit mapping entry.
 * - operationIds used by more than one source become `<source label>.<operationId>`.
 * - Document-level `security` moves into the operations that have none; `servers` is the gateway itself (`/`,
 *   relative to where the document is served); `info` is given by the caller; tags are merged by name.
 * - Finally every reference that names nothing is removed (strip-internal.ts), and the result is checked by the
 *   project's loader in the tests.
 */
import { deref, escapeToken, isObject, refPointer, splitPointer } from '../openapi/pointer.ts';
import { withoutDanglingReferences } from './strip-internal.ts';

type Json = Record<string, unknown>;

const MAX_DEPTH = 256;
const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const;

export interface MergeDocument {
  /** Prefix of this document's component names where they clash with another document's. */
  readonly label: string;
  /** OpenAPI 3.1, x-internal parts removed. */
  readonly document: Readonly<Json>;
}

export interface MergeSource {
  /** Index into `documents`. */
  readonly document: number;
  /** Prefix of this source's operationIds where they clash with another source's. */
  readonly label: string;
  /** Prepended to the document's paths: what the gateway strips before the contract sees the path ('' for none). */
  readonly prefix: string;
  /** Whether the gateway routes `METHOD path` (the exposed template) to this source; absent: every operation. */
  readonly reaches?: (method: string, path: string) => boolean;
}

export interface MergeInput {
  readonly documents: readonly MergeDocument[];
  readonly sources: readonly MergeSource[];
  readonly info: Readonly<Json>;
}

export interface MergeResult {
  readonly document: Json;
  /** Operations left out because an earlier source documents the same method and path: `GET /orders (orders.v2)`. */
  readonly omitted: readonly string[];
}

/** A pointer as a URI fragment (`#/paths/~1orders~1%7Bid%7D`). */
function fragment(tokens: readonly string[]): string {
  return '#' + tokens.map((t) => '/' + encodeURIComponent(escapeToken(t))).join('');
}

/** A path template with parameter names erased: `/orders/{id}` and `/orders/{orderId}` are one path. */
function shape(path: string): string {
  return path.replace(/\{[^}/]*\}/g, '{}');
}

function parameterNames(path: string): string[] {
  return [...path.matchAll(/\{([^}/]*)\}/g)].map((m) => m[1]!);
}

function sanitize(label: string): string {
  return label.replace(/[^A-Za-z0-9._-]/g, '_') || 'api';
}

const key = (type: string, name: string) => `${type}\u0000${name}`;

/** Rewrites references of one document (and, for operations, of one source) into the merged document. */
class Rewriter {
  constructor(
    /** Final component names of this document, by `type\0name`, where they differ. */
    private readonly renamed: ReadonlyMap<string, string>,
    /** Path prefix for `#/paths/...` references, when rewriting a source's operations. */
    private readonly prefix: string | undefined,
    /** Schemas extending a base through `allOf`, by base name: their names are the base's implicit discriminator values. */
    private readonly children: ReadonlyMap<string, readonly string[]>,
  ) {}

  ref(text: string): string {
    const pointer = refPointer(text);
    if (pointer === undefined) return text;
    const tokens = splitPointer(pointer);
    if (tokens[0] === 'components' && tokens.length >= 3) {
      const name = this.renamed.get(key(tokens[1]!, tokens[2]!));
      return name === undefined ? text : fragment(['components', tokens[1]!, name, ...tokens.slice(3)]);
    }
    if (tokens[0] === 'paths' && tokens.length >= 2 && this.prefix !== undefined && this.prefix !== '') {
      return fragment(['paths', this.prefix + tokens[1]!, ...tokens.slice(2)]);
    }
    return text;
  }

  securityName(name: string): string {
    return this.renamed.get(key('securitySchemes', name)) ?? name;
  }

  security(list: unknown): unknown {
    if (!Array.isArray(list)) return list;
    return list.map((requirement) => (isObject(requirement) ? Object.fromEntries(Object.entries(requirement).map(([name, scopes]) => [this.securityName(name), scopes])) : requirement));
  }

  /** A deep copy with references rewritten. `schemaName`: the component schema being copied, if any. */
  value(node: unknown, depth = 0, schemaName?: string): unknown {
    if (depth > MAX_DEPTH) throw new Error('document nested too deeply to publish');
    if (Array.isArray(node)) return node.map((v) => this.value(v, depth + 1));
    if (!isObject(node)) return node;
    const out: Json = {};
    for (const [k, child] of Object.entries(node)) {
      if ((k === '$ref' || k === 'operationRef') && typeof child === 'string') out[k] = this.ref(child);
      else out[k] = this.value(child, depth + 1);
    }
    if (isObject(node.discriminator)) out.discriminator = this.discriminator(node, schemaName);
    return out;
  }

  /** Mapping values rewritten; implicit values (schema names) a rename would change made explicit. */
  private discriminator(schema: Json, schemaName: string | undefined): Json {
    const discriminator = schema.discriminator as Json;
    const mapping: Json = {};
    const original = isObject(discriminator.mapping) ? discriminator.mapping : {};
    for (const [value, target] of Object.entries(original)) {
      if (typeof target !== 'string') mapping[value] = target;
      else if (target.startsWith('#')) mapping[value] = this.ref(target);
      else {
        // A bare schema name: write the reference out when the name changes.
        const renamed = this.renamed.get(key('schemas', target));
        mapping[value] = renamed === undefined ? target : fragment(['components', 'schemas', renamed]);
      }
    }
    const implicit: string[] = [];
    for (const list of [schema.oneOf, schema.anyOf]) {
      if (!Array.isArray(list)) continue;
      for (const branch of list) {
        const pointer = isObject(branch) && typeof branch.$ref === 'string' ? refPointer(branch.$ref) : undefined;
        const tokens = pointer === undefined ? [] : splitPointer(pointer);
        if (tokens.length === 3 && tokens[0] === 'components' && tokens[1] === 'schemas') implicit.push(tokens[2]!);
      }
    }
    if (schemaName !== undefined) implicit.push(...(this.children.get(schemaName) ?? []));
    const mapped = new Set(Object.values(original).map((t) => (typeof t === 'string' ? t.replace(/^#\/components\/schemas\//, '') : t)));
    for (const name of implicit) {
      const renamed = this.renamed.get(key('schemas', name));
      if (renamed === undefined || Object.hasOwn(mapping, name) || mapped.has(name)) continue;
      mapping[name] = fragment(['components', 'schemas', renamed]);
    }
    const out: Json = { ...discriminator };
    if (Object.keys(mapping).length > 0) out.mapping = mapping;
    return out;
  }
}

/** Component schemas that extend a base with a discriminator through `allOf`, by base name. */
function inheritance(document: Readonly<Json>): Map<string, string[]> {
  const out = new Map<string, string[]>();
  const schemas = isObject(document.components) && isObject(document.components.schemas) ? document.components.schemas : {};
  for (const [name, schema] of Object.entries(schemas)) {
    if (!isObject(schema) || !Array.isArray(schema.allOf)) continue;
    for (const part of schema.allOf) {
      const pointer = isObject(part) && typeof part.$ref === 'string' ? refPointer(part.$ref) : undefined;
      const tokens = pointer === undefined ? [] : splitPointer(pointer);
      if (tokens.length !== 3 || tokens[0] !== 'components' || tokens[1] !== 'schemas') continue;
      const base = schemas[tokens[2]!];
      if (!isObject(base) || base.discriminator === undefined) continue;
      const list = out.get(tokens[2]!) ?? [];
      list.push(name);
      out.set(tokens[2]!, list);
    }
  }
  return out;
}

function componentsOf(document: Readonly<Json>): Map<string, Map<string, unknown>> {
  const out = new Map<string, Map<string, unknown>>();
  if (!isObject(document.components)) return out;
  for (const [type, section] of Object.entries(document.components)) {
    if (type.startsWith('x-') || !isObject(section)) continue;
    out.set(type, new Map(Object.entries(section)));
  }
  return out;
}

/**
 * Which component names must be renamed, and to what, per document. A name defined by several documents keeps it
 * only while every definition is the same after its own references are rewritten: renaming one component can make
 * the components that reference it differ, so this runs until nothing changes.
 */
function planComponents(documents: readonly MergeDocument[]): Array<Map<string, string>> {
  const components = documents.map((d) => componentsOf(d.document));
  const owners = new Map<string, number[]>();
  components.forEach((sections, i) => {
    for (const [type, section] of sections) for (const name of section.keys()) owners.set(key(type, name), [...(owners.get(key(type, name)) ?? []), i]);
  });
  const clashing = new Set<string>();
  // Until the final names are chosen, a clashing name reads as `name#document` (distinct per document).
  const provisional = (i: number) => new Map([...clashing].map((k) => [k, `${k.split('\u0000')[1]}#${i}`]));
  const children = documents.map((d) => inheritance(d.document));
  for (let changed = true; changed; ) {
    changed = false;
    for (const [k, list] of owners) {
      if (list.length < 2 || clashing.has(k)) continue;
      const [type, name] = k.split('\u0000') as [string, string];
      const texts = list.map((i) => JSON.stringify(new Rewriter(provisional(i), undefined, children[i]!).value(components[i]!.get(type)!.get(name), 0, type === 'schemas' ? name : undefined)));
      if (texts.some((t) => t !== texts[0])) {
        clashing.add(k);
        changed = true;
      }
    }
  }
  const taken = new Set<string>();
  for (const k of owners.keys()) if (!clashing.has(k)) taken.add(k);
  const plans = documents.map(() => new Map<string, string>());
  documents.forEach((d, i) => {
    for (const [type, section] of components[i]!) {
      for (const name of section.keys()) {
        if (!clashing.has(key(type, name))) continue;
        const base = `${sanitize(d.label)}.${name}`;
        let candidate = base;
        for (let n = 2; taken.has(key(type, candidate)); n++) candidate = `${base}_${n}`;
        taken.add(key(type, candidate));
        plans[i]!.set(key(type, name), candidate);
      }
    }
  });
  return plans;
}

interface Entry {
  readonly source: number;
  readonly path: string;
  readonly method: (typeof METHODS)[number];
  readonly operation: Json;
  readonly item: Json;
}

/** Path-level parameters followed by the operation's, the operation's replacing those with the same name and location. */
function parametersOf(document: Readonly<Json>, item: Json, operation: Json): unknown[] {
  const identity = (p: unknown): string => {
    const found = deref(document, p, '');
    const value = 'error' in found ? p : found.value;
    return isObject(value) ? `${String(value.in)}:${String(value.name)}` : JSON.stringify(p);
  };
  const merged = new Map<string, unknown>();
  for (const list of [item.parameters, operation.parameters]) if (Array.isArray(list)) for (const p of list) merged.set(identity(p), p);
  return [...merged.values()];
}

/** Path parameters renamed (`{orderId}` → `{id}`) when the operation joins a path item written with other names. */
function renamePathParameters(document: Readonly<Json>, parameters: unknown[], renames: ReadonlyMap<string, string>): unknown[] {
  if (renames.size === 0) return parameters;
  return parameters.map((p) => {
    const found = deref(document, p, '');
    const value = 'error' in found ? p : found.value;
    if (!isObject(value) || value.in !== 'path' || typeof value.name !== 'string') return p;
    const name = renames.get(value.name);
    return name === undefined ? p : { ...value, name };
  });
}

export function mergeContracts(input: MergeInput): MergeResult {
  const { documents, sources } = input;
  const plans = planComponents(documents);
  const children = documents.map((d) => inheritance(d.document));
  const omitted: string[] = [];

  // Operations the gateway exposes, in source order.
  const entries: Entry[] = [];
  sources.forEach((source, s) => {
    const document = documents[source.document]!.document;
    if (!isObject(document.paths)) return;
    for (const [path, rawItem] of Object.entries(document.paths)) {
      if (!path.startsWith('/')) continue;
      const found = deref(document, rawItem, '');
      const item = 'error' in found ? undefined : found.value;
      if (!isObject(item)) continue;
      const exposed = source.prefix + path;
      for (const method of METHODS) {
        const operation = item[method];
        if (!isObject(operation)) continue;
        if (source.reaches !== undefined && !source.reaches(method.toUpperCase(), exposed)) continue;
        entries.push({ source: s, path, method, operation, item });
      }
    }
  });

  // Which entry documents each method and path: the first source, in order (paths equal but for parameter names
  // are one path to the gateway).
  const byShape = new Map<string, string>();
  const ownerOf = new Map<string, string>();
  const kept: Array<Entry & { readonly pathKey: string }> = [];
  for (const e of entries) {
    const source = sources[e.source]!;
    const exposed = source.prefix + e.path;
    const pathKey = byShape.get(shape(exposed)) ?? exposed;
    byShape.set(shape(exposed), pathKey);
    const slot = `${e.method} ${pathKey}`;
    const owner = ownerOf.get(slot);
    if (owner !== undefined) {
      omitted.push(`${e.method.toUpperCase()} ${exposed} (${source.label}; ${owner} documents it)`);
      continue;
    }
    ownerOf.set(slot, source.label);
    kept.push({ ...e, pathKey });
  }

  // operationIds used by more than one source are prefixed with the source's label.
  const idSources = new Map<string, Set<number>>();
  for (const e of kept) {
    const id = e.operation.operationId;
    if (typeof id === 'string') idSources.set(id, (idSources.get(id) ?? new Set()).add(e.source));
  }
  const usedIds = new Set([...idSources.keys()].filter((id) => idSources.get(id)!.size === 1));
  const renamedIds = new Map<string, string>();
  const operationId = (source: number, id: string): string => {
    if (idSources.get(id)!.size === 1) return id;
    const k = `${source}\u0000${id}`;
    let name = renamedIds.get(k);
    if (name === undefined) {
      const base = `${sanitize(sources[source]!.label)}.${id}`;
      name = base;
      for (let n = 2; usedIds.has(name); n++) name = `${base}_${n}`;
      usedIds.add(name);
      renamedIds.set(k, name);
    }
    return name;
  };

  const paths: Json = {};
  for (const e of kept) {
    const source = sources[e.source]!;
    const document = documents[source.document]!.document;
    const exposed = source.prefix + e.path;
    const pathKey = e.pathKey;
    const rewriter = new Rewriter(plans[source.document]!, source.prefix, children[source.document]!);
    const from = parameterNames(exposed);
    const to = parameterNames(pathKey);
    const renames = new Map(from.map((name, i) => [name, to[i]!] as const).filter(([a, b]) => a !== b));
    const { servers: _servers, security, parameters: _parameters, ...rest } = e.operation;
    void _servers;
    void _parameters;
    const operation = rewriter.value(rest) as Json;
    const parameters = renamePathParameters(document, parametersOf(document, e.item, e.operation), renames);
    if (parameters.length > 0) operation.parameters = rewriter.value(parameters);
    const effective = security ?? document.security;
    if (effective !== undefined) operation.security = rewriter.security(effective);
    if (typeof e.operation.operationId === 'string') operation.operationId = operationId(e.source, e.operation.operationId);
    let item = paths[pathKey] as Json | undefined;
    if (item === undefined) {
      item = {};
      for (const field of ['summary', 'description'] as const) if (typeof e.item[field] === 'string') item[field] = e.item[field];
      paths[pathKey] = item;
    }
    item[e.method] = operation;
  }

  // Components: each document's, under their final names; a shared identical definition once.
  const components: Record<string, Json> = {};
  documents.forEach((d, i) => {
    const rewriter = new Rewriter(plans[i]!, undefined, children[i]!);
    for (const [type, section] of componentsOf(d.document)) {
      const target = (components[type] ??= {});
      for (const [name, value] of section) {
        const final = plans[i]!.get(key(type, name)) ?? name;
        if (Object.hasOwn(target, final)) continue;
        target[final] = rewriter.value(value, 0, type === 'schemas' ? name : undefined);
      }
    }
  });

  const tags: Json[] = [];
  for (const d of documents) {
    if (!Array.isArray(d.document.tags)) continue;
    for (const tag of d.document.tags) if (isObject(tag) && typeof tag.name === 'string' && !tags.some((t) => t.name === tag.name)) tags.push(tag);
  }
  const dialects = new Set(documents.map((d) => d.document.jsonSchemaDialect));
  const dialect = dialects.size === 1 ? [...dialects][0] : undefined;

  const merged: Json = {
    openapi: '3.1.0',
    info: structuredClone(input.info),
    ...(typeof dialect === 'string' ? { jsonSchemaDialect: dialect } : {}),
    servers: [{ url: '/', description: 'this gateway' }],
    ...(tags.length > 0 ? { tags: structuredClone(tags) } : {}),
    paths,
    ...(Object.keys(components).length > 0 ? { components } : {}),
  };
  return { document: withoutDanglingReferences(merged), omitted };
}

