/**
 * Collects the static audit's findings, grouped by rule and root cause: a check reports a root cause once, with the
 * pointers where it shows and the operations it affects; the sink turns pointers into file/line locations (as
 * written, through the loader's `locate`) and gives the finding a fingerprint that survives unrelated edits: it
 * hashes the rule, the spec file as given and the root cause's key (usually the owner's pointer as written), never
 * line numbers.
 */
import { createHash } from 'node:crypto';
import type { Evidence, Finding, FindingLocation, RuleInfo } from '../model.ts';
import type { AuditDocument, OperationInfo } from './document.ts';

export interface RootCause {
  /** What makes this root cause unique within the rule (an owner pointer, a scheme name, a status code). */
  readonly key: string;
  readonly message: string;
  /** Pointers (bundled document) where the root cause shows, most important first. */
  readonly pointers: readonly string[];
  /** Operations it affects; listed after the pointers as further locations. */
  readonly operations?: readonly OperationInfo[];
  readonly evidence?: readonly Evidence[];
}

/** At most this many locations per finding: a report stays readable and bounded on huge documents. */
export const MAX_LOCATIONS = 2000;

export class FindingSink {
  readonly #doc: AuditDocument;
  readonly #findings = new Map<string, Finding>();
  #truncated = 0;

  constructor(doc: AuditDocument) {
    this.#doc = doc;
  }

  add(rule: RuleInfo, cause: RootCause): void {
    const fingerprint = staticFingerprint(rule.id, this.#doc.displayFile, cause.key);
    if (this.#findings.has(fingerprint)) return;
    const seen = new Set<string>();
    const locations: FindingLocation[] = [];
    const push = (pointer: string) => {
      if (seen.has(pointer)) return;
      seen.add(pointer);
      if (locations.length >= MAX_LOCATIONS) {
        this.#truncated++;
        return;
      }
      locations.push(this.#doc.location(pointer));
    };
    // Root-cause places in document order, then the operations they affect (in the document's operation order).
    const places = cause.pointers.map((pointer) => ({ pointer, at: this.#doc.location(pointer) }));
    places.sort((a, b) => (a.at.file < b.at.file ? -1 : a.at.file > b.at.file ? 1 : a.at.line - b.at.line || a.at.column - b.at.column));
    for (const { pointer } of places) push(pointer);
    for (const op of cause.operations ?? []) push(op.pointer);
    if (locations.length === 0) push('');
    this.#findings.set(fingerprint, {
      rule,
      message: cause.message,
      locations,
      ...(cause.evidence && cause.evidence.length > 0 ? { evidence: cause.evidence } : {}),
      fingerprint,
    });
  }

  findings(): Finding[] {
    return [...this.#findings.values()];
  }

  /** Locations dropped because a finding reached MAX_LOCATIONS. */
  get truncatedLocations(): number {
    return this.#truncated;
  }
}

export function staticFingerprint(ruleId: string, file: string, key: string): string {
  const normalFile = file.replace(/\\/g, '/').replace(/^(\.\/)+/, '');
  return createHash('sha256').update(`rampart-static\u0000${ruleId}\u0000${normalFile}\u0000${key}`).digest('hex').slice(0, 32);
}

/** `a, b, c and 4 more` */
export function listSome(names: readonly string[], max = 5): string {
  if (names.length <= max) return names.join(', ');
  return `${names.slice(0, max).join(', ')} and ${names.length - max} more`;
}

export function plural(n: number, word: string, many = `${word}s`): string {
  return `${n} ${n === 1 ? word : many}`;
}
