/**
 * What the served documentation leaves out (checklist item 14, OWASP API9:2023): everything marked
 * `x-internal: true` — paths, operations, parameters, responses, request bodies, schemas and schema properties,
 * components of any kind — is removed from a copy of the document, with the names of removed properties dropped
 * from `required` lists too.
 *
 * References to what was removed are removed with it. A reference object (`$ref`, or a link's `operationRef`) whose
 * target no longer exists is treated exactly as if it were itself marked `x-internal`, wherever it stands: a
 * property whose schema is a reference to an internal schema goes (and leaves `required`), an `allOf`/`oneOf`/`anyOf`
 * branch goes, an `items` or media-type `schema` goes, a parameter or response that references an internal
 * component goes, and a component that is only a reference to an internal one goes too (repeated until nothing
 * dangles). Replacing such a reference with an empty schema `{}` was the
 * other choice; it was not taken because it would still publish that the property, parameter or response exists
 * (its name, its place in `required`), which is what marking the target internal means to hide, and because `{}` is
 * not a valid parameter, response or request body. Discriminator `mapping` entries to removed schemas and security
 * requirements naming removed schemes are dropped as well (an operation left with no requirement of its own falls
 * back to the document's). Combinators left empty, `required` lists left empty and `responses` left empty are
 * deleted (an empty one is invalid OpenAPI); paths left without operations are removed.
 *
 * Before stripping, references that point outside the reusable sections (`#/paths/...`, as the bundler writes
 * when two places use the same external file) are replaced by a copy of their target: otherwise a public operation
 * that shares a schema with an internal one would lose it with the internal operation.
 *
 * The walks are over the bundled document (internal `$ref` strings, no object cycles) and bounded in depth and
 * size, so a hostile document cannot make them recurse or copy without end.
 */
import { hasAt, isObject, refPointer, splitPointer, getAt } from '../openapi/pointer.ts';

const MAX_DEPTH = 256;
/** Nodes copied while inlining references: a document of DAG-shaped path references cannot grow without end. */
const MAX_INLINED_NODES = 2_000_000;
/** Passes removing dangling references (each pass removes one level of components that only reference others). */
const MAX_PASSES = 256;
const HTTP_METHODS = new Set(['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace']);
const COMBINATORS = new Set(['allOf', 'anyOf', 'oneOf']);
/** Top-level sections whose entries `$ref`s name (Swagger 2.0 and OpenAPI 3). */
const REUSABLE_2 = new Set(['definitions', 'parameters', 'responses', 'securityDefinitions']);

function internal(value: unknown): boolean {
  return isObject(value) && value['x-internal'] === true;
}

type Removed = (value: unknown) => boolean;

class Copier {
  removed = 0;
  constructor(readonly isRemoved: Removed) {}

  copy(value: unknown, depth: number): unknown {
    if (depth > MAX_DEPTH) throw new Error('document nested too deeply to publish');
    if (Array.isArray(value)) {
      const kept = value.filter((v) => !this.isRemoved(v));
      this.removed += value.length - kept.length;
      return kept.map((v) => this.copy(v, depth + 1));
    }
    if (!isObject(value)) return value;
    const out: Record<string, unknown> = {};
    const removedProperties: string[] = [];
    for (const [key, child] of Object.entries(value)) {
      if (key === 'x-internal') continue;
      if (key === 'properties' && isObject(child)) {
        const kept: Record<string, unknown> = {};
        for (const [name, schema] of Object.entries(child)) {
          if (this.isRemoved(schema)) {
            removedProperties.push(name);
            this.removed++;
          } else kept[name] = this.copy(schema, depth + 1);
        }
        out[key] = kept;
        continue;
      }
      if (this.isRemoved(child)) {
        this.removed++;
        continue;
      }
      const copied = this.copy(child, depth + 1);
      // An emptied combinator or response list is invalid; without it the schema or operation still reads right.
      if (Array.isArray(child) && child.length > 0 && (copied as unknown[]).length === 0 && COMBINATORS.has(key)) continue;
      if (key === 'responses' && isObject(child) && Object.keys(child).length > 0 && Object.keys(copied as object).length === 0) continue;
      out[key] = copied;
    }
    if (removedProperties.length > 0 && Array.isArray(out.required)) {
      out.required = (out.required as unknown[]).filter((name) => !removedProperties.includes(name as string));
      if ((out.required as unknown[]).length === 0) delete out.required;
    }
    return out;
  }
}

/** Whether a local reference (`#/...`) names nothing in `document`. Anchors (`#name`) and other URIs are not judged. */
function brokenReference(document: unknown, ref: unknown): boolean {
  if (typeof ref !== 'string' || !ref.startsWith('#/')) return false;
  const pointer = refPointer(ref);
  return pointer === undefined || !hasAt(document, pointer);
}

function dangling(document: unknown): Removed {
  return (value) => isObject(value) && (brokenReference(document, value.$ref) || brokenReference(document, value.operationRef));
}

/** Whether a pointer names (something inside) a reusable section: such references stay references. */
function reusable(pointer: string, document: Readonly<Record<string, unknown>>): boolean {
  const first = splitPointer(pointer)[0];
  if (first === undefined) return false;
  return document.swagger === '2.0' ? REUSABLE_2.has(first) : first === 'components';
}

/** The document with references outside the reusable sections replaced by copies of their targets. */
export function inlineLocalReferences(document: Readonly<Record<string, unknown>>): Record<string, unknown> {
  let budget = MAX_INLINED_NODES;
  const walk = (value: unknown, depth: number, active: readonly string[]): unknown => {
    if (depth > MAX_DEPTH) throw new Error('document nested too deeply to publish');
    if (--budget < 0) throw new Error('document too large to publish');
    if (Array.isArray(value)) return value.map((v) => walk(v, depth + 1, active));
    if (!isObject(value)) return value;
    if (typeof value.$ref === 'string') {
      const pointer = refPointer(value.$ref);
      // A reference back into what is being inlined stays a reference (a cycle through paths).
      if (pointer !== undefined && pointer !== '' && !reusable(pointer, document) && hasAt(document, pointer) && !active.includes(pointer)) {
        const target = walk(getAt(document, pointer), depth + 1, [...active, pointer]);
        const { $ref: _ref, ...siblings } = value;
        void _ref;
        // Reference Object siblings (3.1 `summary`, `description`) override the target's.
        return isObject(target) ? { ...target, ...(walk(siblings, depth + 1, active) as Record<string, unknown>) } : target;
      }
    }
    const out: Record<string, unknown> = {};
    for (const [key, child] of Object.entries(value)) out[key] = walk(child, depth + 1, active);
    return out;
  };
  return walk(document, 0, []) as Record<string, unknown>;
}

function dropEmptyPaths(document: Record<string, unknown>): void {
  const paths = document.paths;
  if (!isObject(paths)) return;
  for (const [path, item] of Object.entries(paths)) {
    if (!isObject(item) || path.startsWith('x-')) continue;
    // A path item that is only a reference (3.1) keeps its operations elsewhere.
    if (item.$ref !== undefined) continue;
    if (!Object.keys(item).some((k) => HTTP_METHODS.has(k))) delete paths[path];
  }
}

/** Security requirements naming a scheme the document no longer has are dropped (an emptied list goes too). */
function pruneSecurity(document: Record<string, unknown>): void {
  const schemes = document.swagger === '2.0' ? document.securityDefinitions : isObject(document.components) ? document.components.securitySchemes : undefined;
  const known = new Set(isObject(schemes) ? Object.keys(schemes) : []);
  const prune = (holder: Record<string, unknown>): void => {
    const list = holder.security;
    if (!Array.isArray(list) || list.length === 0) return;
    const kept = list.filter((requirement) => !isObject(requirement) || Object.keys(requirement).every((name) => known.has(name)));
    if (kept.length === list.length) return;
    if (kept.length === 0) delete holder.security;
    else holder.security = kept;
  };
  prune(document);
  if (!isObject(document.paths)) return;
  for (const item of Object.values(document.paths)) {
    if (!isObject(item)) continue;
    for (const [method, operation] of Object.entries(item)) if (HTTP_METHODS.has(method) && isObject(operation)) prune(operation);
  }
}

/** Discriminator mappings (references written as plain strings) to removed schemas are dropped. */
function pruneMappings(document: Record<string, unknown>): void {
  const visit = (value: unknown, depth: number): void => {
    if (depth > MAX_DEPTH) return;
    if (Array.isArray(value)) {
      for (const v of value) visit(v, depth + 1);
      return;
    }
    if (!isObject(value)) return;
    const discriminator = value.discriminator;
    if (isObject(discriminator) && isObject(discriminator.mapping)) {
      for (const [name, target] of Object.entries(discriminator.mapping)) {
        if (brokenReference(document, target)) delete discriminator.mapping[name];
      }
    }
    for (const child of Object.values(value)) visit(child, depth + 1);
  };
  visit(document, 0);
}

/**
 * A document without references to anything it does not hold (see the module comment); the input is not changed.
 * Repeats until no reference dangles: a component that is only a reference to a removed one is removed in turn.
 */
export function withoutDanglingReferences(document: Readonly<Record<string, unknown>>): Record<string, unknown> {
  let out = document as Record<string, unknown>;
  let copied = false;
  for (let pass = 0; ; pass++) {
    if (pass > MAX_PASSES) throw new Error('document references too deep a chain of removed parts to publish');
    const copier = new Copier(dangling(out));
    const next = copier.copy(out, 0) as Record<string, unknown>;
    if (copier.removed === 0 && copied) break;
    out = next;
    copied = true;
    dropEmptyPaths(out);
    if (copier.removed === 0) break;
  }
  pruneMappings(out);
  pruneSecurity(out);
  return out;
}

/** A copy of `document` without its `x-internal: true` parts, nothing referring to them, and no path left empty. */
export function withoutInternal(document: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const copier = new Copier(internal);
  const out = copier.copy(inlineLocalReferences(document), 0) as Record<string, unknown>;
  dropEmptyPaths(out);
  return withoutDanglingReferences(out);
}
