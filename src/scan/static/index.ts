/**
 * `rampart scan --spec FILE`: the static audit of an OpenAPI document (issue 8 point 1). Loads the document with the
 * project's loader (Swagger 2.0, OpenAPI 3.0, 3.1; YAML or JSON; local `$ref`s), runs every check in ./checks on the
 * bundled document and returns findings grouped by rule and root cause, located in the files as written.
 *
 * A document the loader refuses is itself a finding (`spec.invalid`, with every error's file, line and pointer) and
 * makes the result `loadFailed`: the command exits 2 because nothing could be audited.
 */
import { relative, resolve, sep } from 'node:path';
import { loadOpenApi, type LocatedIssue } from '../../openapi/load.ts';
import type { Finding, FindingLocation, RuleInfo } from '../model.ts';
import { SEVERITY_ORDER } from '../model.ts';
import { checkAdminSeparation } from './checks/admin.ts';
import { checkAuthentication } from './checks/auth.ts';
import { checkExamples } from './checks/examples.ts';
import { checkInventory } from './checks/inventory.ts';
import { checkResponses } from './checks/responses.ts';
import { checkSchemas } from './checks/schemas.ts';
import { AuditDocument } from './document.ts';
import { FindingSink, staticFingerprint } from './findings.ts';
import { ALL_STATIC_RULES, STATIC_RULES } from './rules.ts';

export { ALL_STATIC_RULES, STATIC_RULES } from './rules.ts';

export interface StaticAuditOptions {
  /** Directory that relative file names in reports are relative to (default: the process's). */
  readonly cwd?: string;
  /** Upper bound on parsing the document. */
  readonly timeoutMs?: number;
}

export interface AuditedOperation {
  readonly spec: string;
  /** `operationId`, or `METHOD /path`. */
  readonly key: string;
  readonly method: string;
  readonly path: string;
  /** Pointer of the operation in the file as written (`#/paths/~1pets/get`). */
  readonly pointer: string;
  readonly line: number;
}

export interface StaticAuditResult {
  /** The spec as given (relative to cwd when it was relative). */
  readonly spec: string;
  readonly findings: readonly Finding[];
  readonly rules: readonly RuleInfo[];
  readonly operations: readonly AuditedOperation[];
  /** The loader refused the document: `findings` holds its `spec.invalid` finding only. */
  readonly loadFailed: boolean;
  readonly notes: readonly string[];
  readonly stats: Readonly<Record<string, number>>;
}

type Check = (doc: AuditDocument, sink: FindingSink) => void;

/** Every check, in report order. Each is independent: one that throws on an odd document does not stop the others. */
const CHECKS: ReadonlyArray<readonly [string, Check]> = [
  ['authentication', checkAuthentication],
  ['admin separation', checkAdminSeparation],
  ['schemas', checkSchemas],
  ['responses', checkResponses],
  ['inventory', checkInventory],
  ['examples', checkExamples],
];

export async function auditSpec(file: string, options: StaticAuditOptions = {}): Promise<StaticAuditResult> {
  const cwd = options.cwd ?? process.cwd();
  const absolute = resolve(cwd, file);
  const display = displayName(cwd, absolute);
  const loaded = await loadOpenApi(absolute, { noCache: true, ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}) });
  if (!loaded.ok) {
    return {
      spec: display,
      findings: [invalidSpecFinding(display, absolute, cwd, loaded.errors)],
      rules: ALL_STATIC_RULES,
      operations: [],
      loadFailed: true,
      notes: [],
      stats: { specErrors: loaded.errors.length },
    };
  }
  const doc = new AuditDocument(loaded.api, display, cwd);
  const sink = new FindingSink(doc);
  const notes: string[] = [];
  let failedChecks = 0;
  for (const [name, check] of CHECKS) {
    try {
      check(doc, sink);
    } catch (error) {
      // A bug in a check must not hide the others' findings; the report says which part is missing.
      failedChecks++;
      notes.push(`${display}: the ${name} checks failed and were skipped: ${(error as Error).message}`);
    }
  }
  if (sink.truncatedLocations > 0) notes.push(`${display}: ${sink.truncatedLocations} further locations were left out of very large findings`);
  const findings = sortFindings(sink.findings());
  const operations = doc.operations.map((op) => {
    const at = doc.location(op.pointer);
    return { spec: at.file, key: op.model.key, method: op.model.method.toUpperCase(), path: op.model.path, pointer: at.pointer, line: at.line };
  });
  return {
    spec: display,
    findings,
    rules: ALL_STATIC_RULES,
    operations,
    loadFailed: false,
    notes,
    stats: {
      operations: operations.length,
      schemas: doc.schemas().length,
      findings: findings.length,
      locations: findings.reduce((n, f) => n + f.locations.length, 0),
      loaderWarnings: loaded.api.warnings.length,
      failedChecks,
    },
  };
}

function displayName(cwd: string, absolute: string): string {
  const rel = relative(cwd, absolute);
  const name = rel.startsWith('..') || rel === '' ? absolute : rel;
  return name.split(sep).join('/');
}

function invalidSpecFinding(display: string, absolute: string, cwd: string, errors: readonly LocatedIssue[]): Finding {
  const locations: FindingLocation[] = errors.slice(0, 50).map((e) => ({
    kind: 'spec',
    file: e.position.file === absolute ? display : relative(cwd, e.position.file).split(sep).join('/'),
    pointer: `#${e.position.pointer}`,
    line: e.position.line ?? 1,
    column: e.position.column ?? 1,
  }));
  if (locations.length === 0) locations.push({ kind: 'spec', file: display, pointer: '#', line: 1, column: 1 });
  const first = errors[0]?.message ?? 'the document cannot be loaded';
  return {
    rule: STATIC_RULES.specInvalid,
    message: errors.length > 1 ? `${first} (and ${errors.length - 1} more errors)` : first,
    locations,
    evidence: errors.slice(0, 20).map((e) => ({ note: e.text.startsWith(absolute) ? display + e.text.slice(absolute.length) : e.text })),
    fingerprint: staticFingerprint(STATIC_RULES.specInvalid.id, display, 'document'),
  };
}

/** Most severe first, then by checklist item, rule and first location. */
export function sortFindings(findings: Finding[]): Finding[] {
  return findings.sort((a, b) => {
    const severity = SEVERITY_ORDER[b.rule.severity] - SEVERITY_ORDER[a.rule.severity];
    if (severity !== 0) return severity;
    if (a.rule.item !== b.rule.item) return a.rule.item - b.rule.item;
    if (a.rule.id !== b.rule.id) return a.rule.id < b.rule.id ? -1 : 1;
    const la = a.locations[0];
    const lb = b.locations[0];
    const ka = la?.kind === 'spec' ? `${la.file}\u0000${String(la.line).padStart(9, '0')}` : '';
    const kb = lb?.kind === 'spec' ? `${lb.file}\u0000${String(lb.line).padStart(9, '0')}` : '';
    return ka < kb ? -1 : ka > kb ? 1 : 0;
  });
}
