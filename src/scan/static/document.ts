/**
 * What every static check reads: the bundled OpenAPI document (from the project's loader, src/openapi/load.ts), its
 * operations with their effective security, every schema in it with the reusable part it belongs to ("owner"), and
 * which operations use each owner in requests and in responses.
 *
 * Root causes: a schema problem is reported at the schema as written (`#/components/schemas/Pet/properties/name`),
 * once, and every operation that reaches it through `$ref`s is listed as a further location, so a schema reused by
 * forty operations is one finding, not forty.
 *
 * Swagger 2.0 and OpenAPI 3.x are walked by the same code: 2.0's non-body parameters, headers and their `items` carry
 * schema keywords on themselves and are visited as schemas ("legacy" sites), `definitions` are components.
 *
 * Every walk is iterative and remembers what it visited, so hostile documents (deep nesting, `$ref` cycles) neither
 * overflow the stack nor loop.
 */
import { relative, sep } from 'node:path';
import type { LoadedOpenApi } from '../../openapi/load.ts';
import type { OpenApiVersion, OperationModel } from '../../openapi/model.ts';
import { getAt, isObject, joinPointer, refPointer, splitPointer } from '../../openapi/pointer.ts';
import type { FindingLocation } from '../model.ts';

export type SpecLocation = Extract<FindingLocation, { kind: 'spec' }>;

export const HTTP_METHODS: ReadonlySet<string> = new Set(['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace']);

export type Side = 'request' | 'response';

export interface SecurityInfo {
  /** The requirement alternatives that apply (the operation's own `security`, else the document's), if any. */
  readonly requirements: ReadonlyArray<Readonly<Record<string, readonly string[]>>> | undefined;
  /** Pointer of the `security` array that applies. */
  readonly pointer: string | undefined;
  /**
   * The operation says it is public on purpose: `security: []` on the operation itself, or `x-public: true` on the
   * operation, its path item or the document (Rampart's convention, the same word as the gateway's `public: true`).
   */
  readonly explicitPublic: boolean;
  /** Callers without credentials get in: no requirement at all, or an empty alternative (`{}`: authentication optional). */
  readonly anonymous: boolean;
}

export interface OperationInfo {
  readonly model: OperationModel;
  readonly node: Readonly<Record<string, unknown>>;
  readonly pointer: string;
  readonly pathItemPointer: string;
  /** `GET /pets/{petId}` */
  readonly label: string;
  readonly security: SecurityInfo;
  readonly tags: readonly string[];
}

export interface SchemaSite {
  /** Pointer in the bundled document. */
  readonly pointer: string;
  readonly node: Readonly<Record<string, unknown>>;
  /** The reusable part it belongs to: a component (`/components/schemas/Pet`, `/definitions/Pet`), an operation or a path item. */
  readonly owner: string;
  /** Swagger 2.0 non-body parameter, header or `items`: schema keywords on the object itself. */
  readonly legacy: boolean;
}

export interface ParameterSite {
  readonly pointer: string;
  readonly node: Readonly<Record<string, unknown>>;
  readonly owner: string;
}

export interface ServerSite {
  readonly pointer: string;
  readonly url: string;
  readonly node: Readonly<Record<string, unknown>>;
}

type WorkKind = 'schema' | 'legacy' | 'parameter' | 'requestBody' | 'response' | 'header' | 'media' | 'pathItem' | 'callback';

interface Work {
  readonly kind: WorkKind;
  readonly node: unknown;
  readonly pointer: string;
}

const SCHEMA_MAP_KEYWORDS = ['properties', 'patternProperties', 'dependentSchemas', '$defs'] as const;
const SCHEMA_LIST_KEYWORDS = ['allOf', 'anyOf', 'oneOf', 'prefixItems'] as const;
const SCHEMA_SINGLE_KEYWORDS = ['additionalProperties', 'additionalItems', 'not', 'if', 'then', 'else', 'contains', 'propertyNames', 'unevaluatedItems', 'unevaluatedProperties', 'contentSchema'] as const;

export class AuditDocument {
  readonly api: LoadedOpenApi;
  readonly version: OpenApiVersion;
  readonly document: Readonly<Record<string, unknown>>;
  /** The spec path as the user gave it (reports name files this way). */
  readonly displayFile: string;
  readonly operations: readonly OperationInfo[];
  readonly #cwd: string;
  readonly #locations = new Map<string, SpecLocation>();
  #schemas: SchemaSite[] | undefined;
  #parameters: ParameterSite[] | undefined;
  #refs: Array<{ from: string; to: string }> | undefined;
  #usage: Map<string, { request: Set<OperationInfo>; response: Set<OperationInfo> }> | undefined;
  readonly #opsByPointer = new Map<string, OperationInfo>();

  constructor(api: LoadedOpenApi, displayFile: string, cwd: string) {
    this.api = api;
    this.version = api.model.version;
    this.document = api.model.document;
    this.displayFile = displayFile;
    this.#cwd = cwd;
    const rootPublic = this.document['x-public'] === true;
    this.operations = api.model.operations.map((model) => {
      const node = (getAt(this.document, model.pointer) ?? {}) as Record<string, unknown>;
      const pathItemPointer = model.pointer.slice(0, model.pointer.lastIndexOf('/'));
      const pathItem = getAt(this.document, pathItemPointer);
      const info: OperationInfo = {
        model,
        node,
        pointer: model.pointer,
        pathItemPointer,
        label: `${model.method.toUpperCase()} ${model.path}`,
        security: this.#security(node, model.pointer, rootPublic || (isObject(pathItem) && pathItem['x-public'] === true)),
        tags: Array.isArray(node.tags) ? node.tags.filter((t): t is string => typeof t === 'string') : [],
      };
      this.#opsByPointer.set(model.pointer, info);
      return info;
    });
  }

  #security(node: Record<string, unknown>, pointer: string, inheritedPublic: boolean): SecurityInfo {
    const own = node.security;
    const root = this.document.security;
    const list = Array.isArray(own) ? own : Array.isArray(root) ? root : undefined;
    const at = Array.isArray(own) ? joinPointer(pointer, 'security') : Array.isArray(root) ? '/security' : undefined;
    const requirements = list?.filter(isObject).map((r) => {
      const out: Record<string, readonly string[]> = {};
      for (const [name, scopes] of Object.entries(r)) out[name] = Array.isArray(scopes) ? scopes.filter((s): s is string => typeof s === 'string') : [];
      return out;
    });
    const explicitPublic = node['x-public'] === true || (Array.isArray(own) && own.length === 0) || inheritedPublic;
    const anonymous = requirements === undefined || requirements.length === 0 || requirements.some((r) => Object.keys(r).length === 0);
    return { requirements, pointer: at, explicitPublic, anonymous };
  }

  operationAt(pointer: string): OperationInfo | undefined {
    return this.#opsByPointer.get(pointer);
  }

  /** Resolves `$ref` chains (bounded); the node itself when it is not a reference or the target is missing. */
  resolve(node: unknown, pointer: string): { node: unknown; pointer: string } {
    let current = { node, pointer };
    const seen = new Set<string>();
    while (isObject(current.node) && typeof current.node.$ref === 'string') {
      const target = refPointer(current.node.$ref);
      if (target === undefined || seen.has(target)) break;
      seen.add(target);
      const value = getAt(this.document, target);
      if (value === undefined) break;
      current = { node: value, pointer: target };
    }
    return current;
  }

  /** Where a pointer of the bundled document is in the files as written (file, pointer, line, column). */
  location(pointer: string): SpecLocation {
    let found = this.#locations.get(pointer);
    if (!found) {
      const position = this.api.locate(pointer);
      const file = position.file === this.api.file ? this.displayFile : relative(this.#cwd, position.file).split(sep).join('/');
      found = { kind: 'spec', file, pointer: `#${position.pointer}`, line: position.line ?? 1, column: position.column ?? 1 };
      this.#locations.set(pointer, found);
    }
    return found;
  }

  // --- owners and usage ---------------------------------------------------------------------------------------------

  /** The reusable part a pointer belongs to (see SchemaSite.owner). */
  ownerOf(pointer: string): string {
    // Asked for every schema and parameter of the document: when its first three tokens are escaped as joinPointer
    // escapes them (every `~` starts `~0` or `~1`, RFC 6901 §3), the owner is a prefix of the pointer as written, found
    // without splitting and re-joining the whole pointer.
    if (!pointer.startsWith('/')) return ownerOfTokens(splitPointer(pointer));
    const i1 = pointer.indexOf('/', 1);
    const i2 = i1 < 0 ? -1 : pointer.indexOf('/', i1 + 1);
    const i3 = i2 < 0 ? -1 : pointer.indexOf('/', i2 + 1);
    const e1 = i1 < 0 ? pointer.length : i1;
    const e2 = i2 < 0 ? pointer.length : i2;
    const e3 = i3 < 0 ? pointer.length : i3;
    if (NON_CANONICAL_ESCAPE.test(pointer.slice(0, e3))) return ownerOfTokens(splitPointer(pointer));
    const first = pointer.slice(1, e1);
    const count = i1 < 0 ? 1 : i2 < 0 ? 2 : 3;
    if ((first === 'paths' || first === 'webhooks') && count >= 2) {
      if (count >= 3 && HTTP_METHODS.has(pointer.slice(i2 + 1, e3))) return pointer.slice(0, e3);
      return pointer.slice(0, e2);
    }
    if (first === 'components' && count >= 3) return pointer.slice(0, e3);
    if ((first === 'definitions' || first === 'parameters' || first === 'responses') && count >= 2) return pointer.slice(0, e2);
    return pointer.slice(0, e1);
  }

  /** `schema Pet`, `parameter limit`, `GET /pets`, `path /pets`. */
  ownerLabel(owner: string): string {
    const op = this.#opsByPointer.get(owner);
    if (op) return op.label;
    const t = splitPointer(owner);
    if (t[0] === 'paths' && t.length === 2) return `path ${t[1]}`;
    if (t[0] === 'components' && t.length === 3) return `${singular(t[1]!)} ${t[2]}`;
    if (t[0] === 'definitions') return `schema ${t[1]}`;
    if (t[0] === 'parameters') return `parameter ${t[1]}`;
    if (t[0] === 'responses') return `response ${t[1]}`;
    return owner === '' ? 'document' : owner.slice(1);
  }

  /** A short name for a site relative to its owner: `name`, `tags[]`, `allOf[1].owner.id`. */
  relativeName(pointer: string, owner: string): string {
    // Usually the owner is a prefix of the pointer: then the tokens after it are those of the rest of the pointer.
    const under = owner.startsWith('/') && pointer.startsWith(owner) && (pointer.length === owner.length || pointer[owner.length] === '/');
    const tokens = under ? splitPointer(pointer.slice(owner.length)) : splitPointer(pointer).slice(splitPointer(owner).length);
    let out = '';
    for (let i = 0; i < tokens.length; i++) {
      const token = tokens[i]!;
      if (token === 'properties' && i + 1 < tokens.length) {
        out += (out ? '.' : '') + tokens[++i]!;
      } else if (token === 'items' && /^\d+$/.test(tokens[i + 1] ?? '')) {
        out += `[${tokens[++i]}]`;
      } else if (token === 'items') {
        out += '[]';
      } else if ((token === 'allOf' || token === 'anyOf' || token === 'oneOf') && i + 1 < tokens.length) {
        out += `${out ? '.' : ''}${token}[${tokens[++i]}]`;
      } else if (token === 'content' && i + 1 < tokens.length) {
        out += `${out ? '.' : ''}(${tokens[++i]})`;
      } else {
        out += (out ? '.' : '') + token;
      }
    }
    return out || '(root)';
  }

  /** Every `$ref` in the document: the pointer of the object that holds it, and the pointer it names. */
  refs(): ReadonlyArray<{ from: string; to: string }> {
    if (!this.#refs) {
      const refs: Array<{ from: string; to: string }> = [];
      const stack: Array<{ node: unknown; pointer: string }> = [{ node: this.document, pointer: '' }];
      while (stack.length > 0) {
        const { node, pointer } = stack.pop()!;
        if (Array.isArray(node)) {
          for (let i = node.length - 1; i >= 0; i--) stack.push({ node: node[i], pointer: `${pointer}/${i}` });
        } else if (isObject(node)) {
          if (typeof node.$ref === 'string') {
            const to = refPointer(node.$ref);
            if (to !== undefined) refs.push({ from: pointer, to });
          }
          for (const [key, value] of Object.entries(node)) {
            if (value !== null && typeof value === 'object') stack.push({ node: value, pointer: joinPointer(pointer, key) });
          }
        }
      }
      this.#refs = refs;
    }
    return this.#refs;
  }

  /**
   * Operations that use an owner, in requests or responses: the owner itself for inline parts of an operation (the
   * side decided by where the pointer is), every operation of a path item for its parameters, and for components
   * every operation that reaches them through `$ref`s (transitively).
   */
  operationsUsing(owner: string, side: Side | 'any', pointer?: string): OperationInfo[] {
    const op = this.#opsByPointer.get(owner);
    if (op) {
      if (side === 'any' || pointer === undefined) return [op];
      const inside = pointer.slice(owner.length);
      const isResponse = inside.startsWith('/responses');
      const isRequest = inside.startsWith('/parameters') || inside.startsWith('/requestBody');
      return (side === 'response' ? isResponse : isRequest) ? [op] : [];
    }
    if (splitPointer(owner)[0] === 'paths') {
      // Path-item parameters belong to the request of every operation under the path.
      return side === 'response' ? [] : this.operations.filter((o) => o.pathItemPointer === owner);
    }
    const usage = this.#usageMap().get(owner);
    if (!usage) return [];
    const set = side === 'request' ? usage.request : side === 'response' ? usage.response : new Set([...usage.request, ...usage.response]);
    return this.operations.filter((o) => set.has(o));
  }

  #usageMap(): Map<string, { request: Set<OperationInfo>; response: Set<OperationInfo> }> {
    if (this.#usage) return this.#usage;
    const edges = new Map<string, Set<string>>();
    const roots = new Map<OperationInfo, { request: Set<string>; response: Set<string> }>();
    for (const op of this.operations) roots.set(op, { request: new Set(), response: new Set() });
    const opsOfPathItem = new Map<string, OperationInfo[]>();
    for (const op of this.operations) {
      const list = opsOfPathItem.get(op.pathItemPointer) ?? [];
      list.push(op);
      opsOfPathItem.set(op.pathItemPointer, list);
    }
    for (const { from, to } of this.refs()) {
      const fromOwner = this.ownerOf(from);
      const toOwner = this.ownerOf(to);
      const op = this.#opsByPointer.get(fromOwner);
      if (op) {
        const inside = from.slice(fromOwner.length);
        const r = roots.get(op)!;
        if (inside.startsWith('/parameters') || inside.startsWith('/requestBody')) r.request.add(toOwner);
        else if (inside.startsWith('/responses')) r.response.add(toOwner);
        continue;
      }
      const pathOps = opsOfPathItem.get(fromOwner);
      if (pathOps && from.slice(fromOwner.length).startsWith('/parameters')) {
        for (const o of pathOps) roots.get(o)!.request.add(toOwner);
        continue;
      }
      if (fromOwner === toOwner) continue;
      let set = edges.get(fromOwner);
      if (!set) edges.set(fromOwner, (set = new Set()));
      set.add(toOwner);
    }
    const usage = new Map<string, { request: Set<OperationInfo>; response: Set<OperationInfo> }>();
    const mark = (owner: string, op: OperationInfo, side: Side) => {
      let u = usage.get(owner);
      if (!u) usage.set(owner, (u = { request: new Set(), response: new Set() }));
      u[side].add(op);
    };
    for (const [op, r] of roots) {
      for (const side of ['request', 'response'] as const) {
        const seen = new Set<string>();
        const queue = [...r[side]];
        while (queue.length > 0) {
          const owner = queue.pop()!;
          if (seen.has(owner)) continue;
          seen.add(owner);
          mark(owner, op, side);
          for (const next of edges.get(owner) ?? []) if (!seen.has(next)) queue.push(next);
        }
      }
    }
    this.#usage = usage;
    return usage;
  }

  // --- structural walks ---------------------------------------------------------------------------------------------

  /** Every schema in the document, each once, with its owner. */
  schemas(): readonly SchemaSite[] {
    if (!this.#schemas) this.#walk();
    return this.#schemas!;
  }

  /** Every parameter object (inline, path-level and reusable), each once. */
  parameters(): readonly ParameterSite[] {
    if (!this.#parameters) this.#walk();
    return this.#parameters!;
  }

  /** Security scheme definitions: `components.securitySchemes` (3.x) or `securityDefinitions` (2.0). */
  securitySchemes(): Array<{ name: string; pointer: string; node: Record<string, unknown> }> {
    const base = this.version === '2.0' ? '/securityDefinitions' : '/components/securitySchemes';
    const map = getAt(this.document, base);
    if (!isObject(map)) return [];
    const out: Array<{ name: string; pointer: string; node: Record<string, unknown> }> = [];
    for (const [name, value] of Object.entries(map)) {
      const resolved = this.resolve(value, joinPointer(base, name));
      if (isObject(resolved.node)) out.push({ name, pointer: joinPointer(base, name), node: resolved.node });
    }
    return out;
  }

  /** Operations whose effective requirements name a scheme, for listing users of a scheme. */
  operationsRequiring(scheme: string): OperationInfo[] {
    return this.operations.filter((op) => op.security.requirements?.some((r) => Object.hasOwn(r, scheme)));
  }

  /** OpenAPI 3.x `servers` at the root, on path items and on operations. */
  servers(): ServerSite[] {
    if (this.version === '2.0') return [];
    const out: ServerSite[] = [];
    const collect = (list: unknown, pointer: string) => {
      if (!Array.isArray(list)) return;
      list.forEach((server, i) => {
        if (isObject(server) && typeof server.url === 'string') out.push({ pointer: `${pointer}/${i}`, url: server.url, node: server });
      });
    };
    collect(this.document.servers, '/servers');
    const paths = this.document.paths;
    if (isObject(paths)) {
      for (const [path, item] of Object.entries(paths)) {
        if (!isObject(item)) continue;
        const itemPointer = joinPointer('/paths', path);
        collect(item.servers, joinPointer(itemPointer, 'servers'));
        for (const method of HTTP_METHODS) {
          const op = item[method];
          if (isObject(op)) collect(op.servers, joinPointer(itemPointer, method, 'servers'));
        }
      }
    }
    return out;
  }

  #walk(): void {
    const schemas: SchemaSite[] = [];
    const parameters: ParameterSite[] = [];
    const seen = new Set<string>();
    const stack: Work[] = [];
    const push = (kind: WorkKind, node: unknown, pointer: string) => {
      if (node !== null && typeof node === 'object') stack.push({ kind, node, pointer });
    };
    const pushEach = (kind: WorkKind, map: unknown, pointer: string) => {
      if (isObject(map)) for (const [key, value] of Object.entries(map)) push(kind, value, joinPointer(pointer, key));
    };
    const pushList = (kind: WorkKind, list: unknown, pointer: string) => {
      if (Array.isArray(list)) list.forEach((value, i) => push(kind, value, `${pointer}/${i}`));
    };
    const doc = this.document;
    const legacy = this.version === '2.0';
    if (legacy) {
      pushEach('schema', doc.definitions, '/definitions');
      pushEach('parameter', doc.parameters, '/parameters');
      pushEach('response', doc.responses, '/responses');
    } else {
      const components = isObject(doc.components) ? doc.components : {};
      pushEach('schema', components.schemas, '/components/schemas');
      pushEach('parameter', components.parameters, '/components/parameters');
      pushEach('requestBody', components.requestBodies, '/components/requestBodies');
      pushEach('response', components.responses, '/components/responses');
      pushEach('header', components.headers, '/components/headers');
      pushEach('callback', components.callbacks, '/components/callbacks');
      pushEach('pathItem', components.pathItems, '/components/pathItems');
      pushEach('pathItem', doc.webhooks, '/webhooks');
    }
    pushEach('pathItem', doc.paths, '/paths');
    while (stack.length > 0) {
      const { kind, node, pointer } = stack.pop()!;
      const key = `${kind}\u0000${pointer}`;
      if (seen.has(key) || !isObject(node)) continue;
      seen.add(key);
      if (typeof node.$ref === 'string') {
        // Follow references to wherever they point (the target is visited once, at its own pointer).
        const target = refPointer(node.$ref);
        if (target !== undefined) push(kind === 'legacy' ? 'schema' : kind, getAt(doc, target), target);
        // OpenAPI 3.1 schemas may carry keywords beside `$ref`; elsewhere siblings are ignored by the specification.
        if (!(kind === 'schema' && this.version === '3.1')) continue;
      }
      switch (kind) {
        case 'pathItem':
          pushList('parameter', node.parameters, joinPointer(pointer, 'parameters'));
          for (const method of HTTP_METHODS) {
            const op = node[method];
            if (!isObject(op)) continue;
            const opPointer = joinPointer(pointer, method);
            pushList('parameter', op.parameters, joinPointer(opPointer, 'parameters'));
            push('requestBody', op.requestBody, joinPointer(opPointer, 'requestBody'));
            pushEach('response', op.responses, joinPointer(opPointer, 'responses'));
            pushEach('callback', op.callbacks, joinPointer(opPointer, 'callbacks'));
          }
          break;
        case 'callback':
          pushEach('pathItem', node, pointer);
          break;
        case 'parameter':
          parameters.push({ pointer, node, owner: this.ownerOf(pointer) });
          if (legacy) {
            if (node.in === 'body') push('schema', node.schema, joinPointer(pointer, 'schema'));
            else push('legacy', node, pointer);
          } else {
            push('schema', node.schema, joinPointer(pointer, 'schema'));
            pushEach('media', node.content, joinPointer(pointer, 'content'));
          }
          break;
        case 'requestBody':
          pushEach('media', node.content, joinPointer(pointer, 'content'));
          break;
        case 'response':
          if (legacy) {
            push('schema', node.schema, joinPointer(pointer, 'schema'));
            pushEach('legacy', node.headers, joinPointer(pointer, 'headers'));
          } else {
            pushEach('header', node.headers, joinPointer(pointer, 'headers'));
            pushEach('media', node.content, joinPointer(pointer, 'content'));
          }
          break;
        case 'header':
          push('schema', node.schema, joinPointer(pointer, 'schema'));
          pushEach('media', node.content, joinPointer(pointer, 'content'));
          break;
        case 'media':
          push('schema', node.schema, joinPointer(pointer, 'schema'));
          if (isObject(node.encoding)) {
            for (const [name, encoding] of Object.entries(node.encoding)) {
              if (isObject(encoding)) pushEach('header', encoding.headers, joinPointer(pointer, 'encoding', name, 'headers'));
            }
          }
          break;
        case 'legacy':
          schemas.push({ pointer, node, owner: this.ownerOf(pointer), legacy: true });
          push('legacy', node.items, joinPointer(pointer, 'items'));
          break;
        case 'schema': {
          schemas.push({ pointer, node, owner: this.ownerOf(pointer), legacy: false });
          for (const keyword of SCHEMA_MAP_KEYWORDS) pushEach('schema', node[keyword], joinPointer(pointer, keyword));
          if (this.version === '3.1') pushEach('schema', node.definitions, joinPointer(pointer, 'definitions'));
          for (const keyword of SCHEMA_LIST_KEYWORDS) pushList('schema', node[keyword], joinPointer(pointer, keyword));
          for (const keyword of SCHEMA_SINGLE_KEYWORDS) push('schema', node[keyword], joinPointer(pointer, keyword));
          if (Array.isArray(node.items)) pushList('schema', node.items, joinPointer(pointer, 'items'));
          else push('schema', node.items, joinPointer(pointer, 'items'));
          break;
        }
      }
    }
    this.#schemas = schemas;
    this.#parameters = parameters;
  }
}

/** A `~` that is not the start of `~0` or `~1`: the token would not read back as written. */
const NON_CANONICAL_ESCAPE = /~(?![01])/;

/** `AuditDocument.ownerOf` on the pointer's tokens (exported for the test that compares the two). */
export function ownerOfTokens(t: readonly string[]): string {
  if ((t[0] === 'paths' || t[0] === 'webhooks') && t.length >= 2) {
    if (t.length >= 3 && HTTP_METHODS.has(t[2]!)) return joinPointer('', t[0], t[1]!, t[2]!);
    return joinPointer('', t[0], t[1]!);
  }
  if (t[0] === 'components' && t.length >= 3) return joinPointer('', t[0], t[1]!, t[2]!);
  if ((t[0] === 'definitions' || t[0] === 'parameters' || t[0] === 'responses') && t.length >= 2) return joinPointer('', t[0], t[1]!);
  return t.length > 0 ? joinPointer('', t[0]!) : '';
}

function singular(kind: string): string {
  switch (kind) {
    case 'schemas':
      return 'schema';
    case 'parameters':
      return 'parameter';
    case 'requestBodies':
      return 'request body';
    case 'responses':
      return 'response';
    case 'headers':
      return 'header';
    case 'securitySchemes':
      return 'security scheme';
    case 'callbacks':
      return 'callback';
    case 'pathItems':
      return 'path item';
    default:
      return kind;
  }
}
