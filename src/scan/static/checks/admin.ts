/**
 * Function-level authorization in the contract (checklist item 2, OWASP API5:2023): administrative operations (an
 * `admin` path segment, tag or operationId) must not accept exactly the security requirement that ordinary operations
 * accept. A distinct OAuth scope, a distinct scheme or a separate API gives the gateway something to enforce; the
 * same requirement leaves every function-level check to the service.
 */
import type { AuditDocument, OperationInfo } from '../document.ts';
import { listSome, plural, type FindingSink } from '../findings.ts';
import { STATIC_RULES } from '../rules.ts';
import { isAdminOperationId, isAdminSegment, isAdminTag } from '../vocabulary.ts';

export function isAdminOperation(op: OperationInfo): boolean {
  return (
    op.model.path.split('/').some(isAdminSegment) ||
    op.tags.some(isAdminTag) ||
    (op.model.operationId !== undefined && isAdminOperationId(op.model.operationId))
  );
}

/** One requirement alternative in a canonical form: schemes sorted, scopes sorted. */
function canonical(requirement: Readonly<Record<string, readonly string[]>>): string {
  return Object.keys(requirement)
    .sort()
    .map((scheme) => `${scheme}[${[...requirement[scheme]!].sort().join(' ')}]`)
    .join(' + ');
}

export function checkAdminSeparation(doc: AuditDocument, sink: FindingSink): void {
  const ordinary = new Map<string, number>();
  const admin: OperationInfo[] = [];
  for (const op of doc.operations) {
    if (isAdminOperation(op)) {
      admin.push(op);
      continue;
    }
    for (const requirement of op.security.requirements ?? []) {
      if (Object.keys(requirement).length === 0) continue;
      const key = canonical(requirement);
      ordinary.set(key, (ordinary.get(key) ?? 0) + 1);
    }
  }
  if (admin.length === 0 || ordinary.size === 0) return;
  const shared = new Map<string, OperationInfo[]>();
  for (const op of admin) {
    for (const requirement of op.security.requirements ?? []) {
      if (Object.keys(requirement).length === 0) continue;
      const key = canonical(requirement);
      if (!ordinary.has(key)) continue;
      const list = shared.get(key) ?? [];
      if (!list.includes(op)) list.push(op);
      shared.set(key, list);
    }
  }
  for (const [requirement, ops] of shared) {
    const pointers = [...new Set(ops.map((op) => op.security.pointer ?? op.pointer))];
    sink.add(STATIC_RULES.adminNotSeparated, {
      key: requirement,
      message: `${plural(ops.length, 'administrative operation')} ${ops.length === 1 ? 'accepts' : 'accept'} ${requirement}, the same requirement as ${plural(ordinary.get(requirement)!, 'ordinary operation')}: ${listSome(ops.map((o) => o.label))}`,
      pointers,
      operations: ops,
    });
  }
}
