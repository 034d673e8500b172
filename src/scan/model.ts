/**
 * The scanner's finding model, shared by the static audit (OpenAPI documents), the dynamic scan (a running API)
 * and every report format (terminal, JSON, SARIF 2.1.0, JUnit, HTML). A finding always names its checklist item
 * and OWASP API Security Top 10 2023 category (from src/checklist/items.ts, the table gateway and posture read).
 *
 * Findings are grouped by rule and root cause: one finding for a schema reused by forty operations, with every
 * location listed under it (`locations`), so a real spec yields a report a person can read.
 */
import type { ChecklistItemId, OwaspApi2023 } from '../checklist/items.ts';

export type Severity = 'high' | 'medium' | 'low' | 'info';

export const SEVERITY_ORDER: Readonly<Record<Severity, number>> = { high: 3, medium: 2, low: 1, info: 0 };

/** Where a finding is: a place in a spec file, or a request against the target. */
export type FindingLocation =
  | {
      readonly kind: 'spec';
      /** Path of the spec file as given on the command line (SARIF artifact URI is made relative from it). */
      readonly file: string;
      /** JSON pointer in the document as written (before bundling), e.g. `#/paths/~1pets/get/responses`. */
      readonly pointer: string;
      /** 1-based line and column of the pointer's node in `file`. */
      readonly line: number;
      readonly column: number;
    }
  | {
      readonly kind: 'http';
      readonly method: string;
      /** Path and query on the target (never a different origin). */
      readonly path: string;
      /** The operation it exercises (`operationId` or `METHOD /template`), when known. */
      readonly operation?: string;
    };

export interface Evidence {
  /** Request line and headers, credentials masked. */
  readonly request?: string;
  /** Status line, headers and a bounded body excerpt, secrets masked. */
  readonly response?: string;
  readonly note?: string;
}

export interface RuleInfo {
  /** Stable id, `<area>.<finding>` as listed in checklist items' `scannerChecks` (e.g. `auth.no-security`). */
  readonly id: string;
  readonly title: string;
  readonly severity: Severity;
  readonly item: ChecklistItemId;
  readonly owasp: OwaspApi2023;
  /** Why it matters (plain text). */
  readonly explanation: string;
  /** How to fix it (plain text). */
  readonly fix: string;
  /** Documentation for the rule (SARIF `helpUri`). */
  readonly helpUri: string;
  /** Spectral OWASP ruleset rules this rule covers (for the comparison test), e.g. `owasp:api4:2023-string-limit`. */
  readonly spectral?: readonly string[];
}

export interface Finding {
  readonly rule: RuleInfo;
  /** One sentence about this occurrence (the root cause), e.g. `schema Pet.name: string without maxLength`. */
  readonly message: string;
  /** Every place the root cause shows (at least one). */
  readonly locations: readonly FindingLocation[];
  readonly evidence?: readonly Evidence[];
  /** Stable across runs for the same root cause (SARIF partialFingerprints, baselines). */
  readonly fingerprint: string;
}

export interface ScanReport {
  readonly schemaVersion: 1;
  readonly tool: { readonly name: 'rampart'; readonly version: string };
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly target?: string;
  readonly specs: readonly string[];
  /** Every rule that ran (for JUnit test cases and SARIF rules), with findings or not. */
  readonly rules: readonly RuleInfo[];
  readonly findings: readonly Finding[];
  /** Findings accepted by a baseline file (with its reason and expiry), kept out of `findings`. */
  readonly suppressed: ReadonlyArray<{ readonly finding: Finding; readonly reason: string; readonly expires: string }>;
  /** True when the scan stopped early (Ctrl-C, request budget): the report is partial. */
  readonly partial: boolean;
  readonly stats: Readonly<Record<string, number>>;
  /**
   * Operations the scan covered (optional): JUnit reports one test case per check and operation; SARIF places
   * findings about an operation at its line. `pointer` is the operation's JSON pointer in its spec file as written.
   */
  readonly operations?: ReadonlyArray<{
    readonly spec?: string;
    readonly key: string;
    readonly method: string;
    readonly path: string;
    readonly pointer?: string;
    /** 1-based line of the operation in `spec`, when known. */
    readonly line?: number;
  }>;
  /** Messages about the scan itself (optional): expired or stale baseline entries, checks skipped, locations left out. */
  readonly notes?: readonly string[];
}
