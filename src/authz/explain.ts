/**
 * Decisions explained (issue 4 point 7): which checks were consulted, where each is configured and what it said.
 * Used by `rampart authz explain`; the gateway itself never sends any of this to a client (a denial there is only
 * the catalogue's code), and the audit event carries the deciding rule's path, not its text.
 */
import { ERRORS } from '../errors/catalogue.ts';
import type { Decision, ExplainStep } from './engine.ts';

export interface Explanation {
  readonly route: string;
  readonly method: string;
  readonly path: string;
  readonly subject: string | undefined;
  readonly decision: 'allow' | 'deny';
  /** HTTP status the gateway would answer with for a denial, else undefined (the request goes upstream). */
  readonly status: number | undefined;
  readonly code: string | undefined;
  readonly decidedBy: string | undefined;
  readonly reason: string | undefined;
  readonly steps: readonly ExplainStep[];
  readonly notes: readonly string[];
}

export function buildExplanation(
  route: string,
  method: string,
  path: string,
  subject: string | undefined,
  decision: Decision,
  steps: readonly ExplainStep[],
  notes: readonly string[] = [],
): Explanation {
  if (decision.allow) {
    return { route, method, path, subject, decision: 'allow', status: undefined, code: undefined, decidedBy: undefined, reason: undefined, steps, notes };
  }
  return {
    route,
    method,
    path,
    subject,
    decision: 'deny',
    status: ERRORS[decision.code].status,
    code: decision.code,
    decidedBy: decision.rule,
    reason: decision.reason,
    steps,
    notes,
  };
}

const MARK: Record<ExplainStep['outcome'], string> = { pass: 'PASS', fail: 'FAIL', skip: 'SKIP' };

/** Human-readable form: the decision first, then one line per check consulted. */
export function formatExplanation(explanation: Explanation): string {
  const lines: string[] = [];
  const who = explanation.subject ?? '(no principal)';
  if (explanation.decision === 'allow') {
    lines.push(`ALLOW ${explanation.method} ${explanation.path} for ${who} (route ${explanation.route})`);
  } else {
    lines.push(`DENY ${explanation.method} ${explanation.path} for ${who} (route ${explanation.route}): ${explanation.status} ${explanation.code}`);
    lines.push(`  decided by: ${explanation.decidedBy}`);
    lines.push(`  reason: ${explanation.reason}`);
  }
  lines.push('checks consulted:');
  if (explanation.steps.length === 0) lines.push('  (none)');
  for (const step of explanation.steps) lines.push(`  ${MARK[step.outcome]}  ${step.check.padEnd(11)} ${step.path}: ${step.detail}`);
  for (const note of explanation.notes) lines.push(`note: ${note}`);
  return lines.join('\n');
}
