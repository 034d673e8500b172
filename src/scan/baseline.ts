/**
 * Baselines: `rampart scan --baseline FILE` accepts known findings so that CI fails only on new ones. Each entry names
 * a finding by its fingerprint (stable across runs: rule + spec + root cause, never line numbers), says why it is
 * accepted and until when. The same discipline as the gateway's `acknowledge:` list: a reason and an expiry are
 * required, and an expired entry stops suppressing (the finding is back in the report and the run says so).
 *
 *     version: 1
 *     accepted:
 *       - fingerprint: 5d41402abc4b2a76b9719d911017c592
 *         rule: input.unbounded-string        # optional; checked when present
 *         reason: legacy free-text fields, tracked in API-123
 *         expires: 2026-06-30                 # YYYY-MM-DD, accepted through that day (UTC)
 *
 * YAML or JSON. `rampart scan --write-baseline FILE` writes every current finding as an entry to edit.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Ajv, type ValidateFunction } from 'ajv';
import YAML from 'yaml';
import type { Finding, ScanReport } from './model.ts';

/** The baseline file cannot be used (exit 2: fix the file, nothing was scanned). */
export class BaselineError extends Error {}

export interface BaselineEntry {
  readonly fingerprint: string;
  readonly rule?: string;
  readonly reason: string;
  readonly expires: string;
}

export interface Baseline {
  readonly file: string;
  readonly entries: readonly BaselineEntry[];
}

export const BASELINE_SCHEMA = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  title: 'rampart scan baseline',
  type: 'object',
  additionalProperties: false,
  required: ['version', 'accepted'],
  properties: {
    version: { const: 1 },
    accepted: {
      type: 'array',
      maxItems: 100000,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['fingerprint', 'reason', 'expires'],
        properties: {
          fingerprint: { type: 'string', pattern: '^[0-9a-f]{32}$', description: 'the finding\'s fingerprint (JSON/SARIF reports)' },
          rule: { type: 'string', maxLength: 128, description: 'rule id, checked against the finding when present' },
          reason: { type: 'string', minLength: 1, maxLength: 2000, pattern: '\\S', description: 'why the finding is accepted' },
          expires: { type: 'string', pattern: '^\\d{4}-\\d{2}-\\d{2}$', description: 'YYYY-MM-DD; accepted through that day (UTC)' },
        },
      },
    },
  },
} as const;

const MAX_BASELINE_BYTES = 16 * 1024 * 1024;
let compiledValidator: ValidateFunction | undefined;

/** Compiled on first use: every `rampart scan` loads this module, few runs read a baseline. */
function baselineValidator(): ValidateFunction {
  compiledValidator ??= new Ajv({ allErrors: true, strict: true }).compile(BASELINE_SCHEMA);
  return compiledValidator;
}

export function loadBaseline(file: string, cwd: string = process.cwd()): Baseline {
  const path = resolve(cwd, file);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    throw new BaselineError(`--baseline ${file}: cannot be read`);
  }
  if (text.length > MAX_BASELINE_BYTES) throw new BaselineError(`--baseline ${file}: larger than 16 MiB`);
  let data: unknown;
  try {
    // YAML 1.2 is a superset of JSON; unique keys and no alias expansion blow-up (maxAliasCount).
    data = YAML.parse(text, { uniqueKeys: true, maxAliasCount: 100 });
  } catch (error) {
    throw new BaselineError(`--baseline ${file}: does not parse: ${(error as Error).message.split('\n')[0]}`);
  }
  const validate = baselineValidator();
  if (!validate(data)) {
    const first = validate.errors?.[0];
    throw new BaselineError(`--baseline ${file}: ${first?.instancePath || '/'} ${first?.message ?? 'is invalid'}`);
  }
  const entries = (data as { accepted: BaselineEntry[] }).accepted;
  for (const [i, entry] of entries.entries()) {
    if (!isRealDate(entry.expires)) throw new BaselineError(`--baseline ${file}: /accepted/${i}/expires: ${entry.expires} is not a calendar date`);
  }
  const seen = new Set<string>();
  for (const [i, entry] of entries.entries()) {
    if (seen.has(entry.fingerprint)) throw new BaselineError(`--baseline ${file}: /accepted/${i}: fingerprint ${entry.fingerprint} is listed twice`);
    seen.add(entry.fingerprint);
  }
  return { file, entries };
}

function isRealDate(text: string): boolean {
  const date = new Date(`${text}T00:00:00Z`);
  return !Number.isNaN(date.getTime()) && date.toISOString().slice(0, 10) === text;
}

export interface BaselineResult {
  readonly findings: Finding[];
  readonly suppressed: ScanReport['suppressed'];
  readonly notes: string[];
}

export function applyBaseline(baseline: Baseline, findings: readonly Finding[], now: Date): BaselineResult {
  const today = now.toISOString().slice(0, 10);
  const byFingerprint = new Map(baseline.entries.map((e) => [e.fingerprint, e]));
  const used = new Set<string>();
  const kept: Finding[] = [];
  const suppressed: Array<{ finding: Finding; reason: string; expires: string }> = [];
  const notes: string[] = [];
  for (const finding of findings) {
    const entry = byFingerprint.get(finding.fingerprint);
    if (!entry) {
      kept.push(finding);
      continue;
    }
    used.add(entry.fingerprint);
    if (entry.rule !== undefined && entry.rule !== finding.rule.id) {
      notes.push(`baseline ${baseline.file}: entry ${entry.fingerprint} names rule ${entry.rule} but the finding is ${finding.rule.id}: not suppressed`);
      kept.push(finding);
    } else if (entry.expires < today) {
      notes.push(`baseline ${baseline.file}: entry ${entry.fingerprint} (${finding.rule.id}) expired on ${entry.expires}: the finding is reported again`);
      kept.push(finding);
    } else {
      suppressed.push({ finding, reason: entry.reason, expires: entry.expires });
    }
  }
  for (const entry of baseline.entries) {
    if (!used.has(entry.fingerprint)) notes.push(`baseline ${baseline.file}: entry ${entry.fingerprint}${entry.rule ? ` (${entry.rule})` : ''} matches no finding (fixed? remove it)`);
  }
  return { findings: kept, suppressed, notes };
}

/**
 * A baseline accepting every finding of a report, to edit: new findings get a TODO reason and an expiry `days` away;
 * findings the current baseline already accepts keep their reason and expiry.
 */
export function baselineFor(report: ScanReport, now: Date, days = 90): string {
  const expires = new Date(now.getTime() + days * 86_400_000).toISOString().slice(0, 10);
  const accepted = [
    ...report.suppressed.map((s) => ({ fingerprint: s.finding.fingerprint, rule: s.finding.rule.id, reason: s.reason, expires: s.expires })),
    ...report.findings.map((f) => ({ fingerprint: f.fingerprint, rule: f.rule.id, reason: `TODO: why is this accepted? (${f.message.slice(0, 160)})`, expires })),
  ];
  return YAML.stringify({ version: 1, accepted }, { lineWidth: 0 });
}
