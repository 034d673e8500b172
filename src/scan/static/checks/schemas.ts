/**
 * Schema checks, one pass over every schema in the document (checklist items 4, 2 and 16):
 *
 * - input validation (OWASP API4/API3): strings, arrays and integers without bounds, objects that accept undeclared
 *   properties (`additionalProperties: true`, or request objects left open) and maps without `maxProperties`;
 * - mass assignment (API3): request properties named like privileges, money, verification or ownership, not `readOnly`;
 * - data exposure (API3): response properties named like secrets or bearer credentials, not `writeOnly`.
 *
 * Each problem is reported once per owner (a component schema, or the operation for inline schemas) with every
 * offending node as a location and the operations that use the owner after them.
 */
import { isObject, joinPointer, splitPointer } from '../../../openapi/pointer.ts';
import type { RuleInfo } from '../../model.ts';
import { declaredTypes, integerBounds, isBoundedString } from '../bounds.ts';
import type { AuditDocument, SchemaSite, Side } from '../document.ts';
import { listSome, plural, type FindingSink } from '../findings.ts';
import { STATIC_RULES } from '../rules.ts';
import { isCredentialName, isPrivilegedName, isSensitiveName } from '../vocabulary.ts';

interface Group {
  readonly rule: RuleInfo;
  readonly owner: string;
  readonly side: Side | 'any';
  readonly what: string;
  readonly pointers: string[];
  readonly names: string[];
}

export function checkSchemas(doc: AuditDocument, sink: FindingSink): void {
  const groups = new Map<string, Group>();
  const add: Add = (rule, site, side, what, pointer, name) => {
    const id = `${rule.id}\u0000${site.owner}`;
    let group = groups.get(id);
    if (!group) groups.set(id, (group = { rule, owner: site.owner, side, what, pointers: [], names: [] }));
    if (group.pointers.includes(pointer)) return;
    group.pointers.push(pointer);
    group.names.push(typeof name === 'string' ? name : name());
  };
  const composedTargets = allOfTargets(doc);

  for (const site of doc.schemas()) {
    const node = site.node;
    const types = declaredTypes(node);
    // Only a schema with a finding needs its name.
    let known: string | undefined;
    const name = () => (known ??= doc.relativeName(site.pointer, site.owner));
    if (types.includes('string') && !isBoundedString(node)) add(STATIC_RULES.unboundedString, site, 'any', 'string without a maximum length', site.pointer, name);
    if (types.includes('array') && typeof node.maxItems !== 'number') add(STATIC_RULES.unboundedArray, site, 'any', 'array without maxItems', site.pointer, name);
    if (types.includes('integer')) {
      const bounds = integerBounds(node);
      if (!bounds.lower || !bounds.upper) {
        const missing = !bounds.lower && !bounds.upper ? 'minimum and maximum' : !bounds.lower ? 'minimum' : 'maximum';
        add(STATIC_RULES.unboundedInteger, site, 'any', 'integer without bounds', site.pointer, () => `${name()} (no ${missing})`);
      }
    }
    if (site.legacy) continue;
    const objectLike = types.length === 0 || types.includes('object');
    if (objectLike) checkObject(doc, site, composedTargets, add, name);
    if (isObject(node.properties)) checkProperties(doc, site, node.properties, add);
  }

  for (const group of groups.values()) {
    const ops = doc.operationsUsing(group.owner, group.side, group.pointers[0]);
    if ((group.rule === STATIC_RULES.sensitiveProperty || group.rule === STATIC_RULES.credentialInResponse || group.rule === STATIC_RULES.writablePrivileged) && ops.length === 0) continue;
    // Names in document order, as a reader scans the schema.
    const order = group.pointers.map((pointer, i) => ({ i, at: doc.location(pointer) }));
    order.sort((a, b) => (a.at.file < b.at.file ? -1 : a.at.file > b.at.file ? 1 : a.at.line - b.at.line || a.at.column - b.at.column));
    const names = order.map(({ i }) => group.names[i]!);
    const label = doc.ownerLabel(group.owner);
    sink.add(group.rule, {
      key: doc.location(group.owner).pointer,
      message: `${label}: ${plural(group.pointers.length, group.what, pluralWhat(group.what))}: ${listSome(names, 8)}`,
      pointers: group.pointers,
      operations: ops,
    });
  }
}

function pluralWhat(what: string): string {
  // "string without a maximum length" → "strings without a maximum length"
  const space = what.indexOf(' ');
  const head = space === -1 ? what : what.slice(0, space);
  const tail = space === -1 ? '' : what.slice(space);
  if (head === 'property') return `properties${tail}`;
  if (head === 'map') return `maps${tail}`;
  return `${head}s${tail}`;
}

/** `name`: how the finding lists the place, or a function computing it (most places have no finding). */
type Add = (rule: RuleInfo, site: SchemaSite, side: Side | 'any', what: string, pointer: string, name: string | (() => string)) => void;

function checkObject(doc: AuditDocument, site: SchemaSite, composedTargets: ReadonlySet<string>, add: Add, name: () => string): void {
  const node = site.node;
  const additional = node.additionalProperties;
  if (additional === true) {
    add(STATIC_RULES.openSchema, site, 'any', 'object with additionalProperties: true', site.pointer, name);
    return;
  }
  if (isObject(additional)) {
    // A map (dictionary). `additionalProperties: {}` accepts anything, like `true`, but is still a map.
    if (typeof node.maxProperties !== 'number') add(STATIC_RULES.unboundedMap, site, 'any', 'map without maxProperties', site.pointer, name);
    return;
  }
  if (additional === false || node.unevaluatedProperties === false) return;
  // "Where it matters": an object that a client sends, with declared properties. Composed schemas are left alone:
  // closing an `allOf` part (or a schema other parts extend) with additionalProperties: false makes the composition
  // reject its own properties, so the fix belongs to the composed schema (3.1: unevaluatedProperties: false).
  if (!isObject(node.properties) || Object.keys(node.properties).length === 0) return;
  if (node.allOf !== undefined || node.oneOf !== undefined || node.anyOf !== undefined || node.discriminator !== undefined) return;
  if (composedTargets.has(site.pointer) || /\/allOf\/\d+$/.test(site.pointer)) return;
  if (doc.operationsUsing(site.owner, 'request', site.pointer).length === 0) return;
  add(STATIC_RULES.openSchema, site, 'request', 'request object not closed (additionalProperties not false)', site.pointer, name);
}

function checkProperties(doc: AuditDocument, site: SchemaSite, properties: Record<string, unknown>, add: Add): void {
  for (const [property, value] of Object.entries(properties)) {
    const pointer = joinPointer(site.pointer, 'properties', property);
    const resolved = doc.resolve(value, pointer).node;
    const flag = (key: string) => (isObject(value) && value[key] === true) || (isObject(resolved) && resolved[key] === true);
    const name = () => doc.relativeName(pointer, site.owner);
    if (isPrivilegedName(property) && !flag('readOnly')) {
      add(STATIC_RULES.writablePrivileged, site, 'request', 'writable privileged property', pointer, name);
    }
    if (flag('writeOnly') || flag('x-writeOnly')) continue;
    if (isObject(resolved) && declaredTypes(resolved).length === 1 && declaredTypes(resolved)[0] === 'boolean') continue;
    if (isSensitiveName(property)) add(STATIC_RULES.sensitiveProperty, site, 'response', 'sensitive property in responses', pointer, name);
    else if (isCredentialName(property)) add(STATIC_RULES.credentialInResponse, site, 'response', 'credential property in responses', pointer, name);
  }
}

/** Schemas that some `allOf` extends (`allOf: [{$ref: Base}, ...]`). */
function allOfTargets(doc: AuditDocument): Set<string> {
  const out = new Set<string>();
  for (const { from, to } of doc.refs()) {
    const tokens = splitPointer(from);
    if (tokens.length >= 2 && tokens[tokens.length - 2] === 'allOf') out.add(to);
  }
  return out;
}
