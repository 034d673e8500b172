/**
 * JUnit XML for CI test dashboards (GitLab `artifacts:reports:junit`, Jenkins, Azure): one test suite per check, one
 * test case per check and operation, failing when a finding of that check touches the operation. Findings that are
 * about no operation (a security scheme, a server, the document) fail a `(document)` case per spec. Findings accepted
 * by a baseline are `skipped` with their reason, so the dashboard still shows them.
 *
 * The format is the de-facto schema (Ant/Surefire, as GitLab and Jenkins read it): testsuites > testsuite > testcase
 * with `failure`/`skipped`.
 */
import type { Finding, ScanReport } from '../model.ts';
import { escapeXml, formatLocation, maskSecrets, operationsOf, type ReportOperation } from './common.ts';

interface Case {
  readonly name: string;
  readonly failures: Finding[];
  readonly skipped: Array<{ finding: Finding; reason: string; expires: string }>;
}

export function renderJUnit(report: ScanReport): string {
  const operations = report.operations ?? [];
  const specs = [...new Set([...report.specs, ...operations.map((o) => o.spec).filter((s): s is string => !!s)])];
  // Findings about no operation: one case per spec, and one for the target of a dynamic scan.
  const documentCases = [...specs, ...(report.target ? [report.target] : [])];
  const suites: string[] = [];
  let totalTests = 0;
  let totalFailures = 0;
  let totalSkipped = 0;
  for (const rule of report.rules) {
    const cases = new Map<string, Case>();
    const caseFor = (name: string) => {
      let c = cases.get(name);
      if (!c) cases.set(name, (c = { name, failures: [], skipped: [] }));
      return c;
    };
    for (const op of operations) caseFor(opName(op));
    for (const spec of documentCases) caseFor(`(document) ${spec}`);
    const place = (finding: Finding, add: (c: Case) => void) => {
      const ops = operationsOf(finding, operations);
      if (ops.length > 0) {
        for (const op of ops) add(caseFor(opName(op)));
        return;
      }
      const first = finding.locations[0];
      add(caseFor(`(document) ${first?.kind === 'spec' ? first.file : (report.target ?? 'target')}`));
    };
    for (const f of report.findings) if (f.rule.id === rule.id) place(f, (c) => c.failures.push(f));
    for (const s of report.suppressed) if (s.finding.rule.id === rule.id) place(s.finding, (c) => c.skipped.push(s));
    const body: string[] = [];
    let failures = 0;
    let skipped = 0;
    for (const c of cases.values()) {
      const attrs = `classname="${escapeXml(`rampart.${rule.id}`)}" name="${escapeXml(c.name)}"`;
      if (c.failures.length > 0) {
        failures++;
        const text = c.failures
          .map((f) => `${maskSecrets(f.message)}\n${f.locations.slice(0, 20).map((l) => `  at ${formatLocation(l)}`).join('\n')}${f.locations.length > 20 ? `\n  … ${f.locations.length - 20} more` : ''}\nfingerprint ${f.fingerprint}\nfix: ${rule.fix}`)
          .join('\n\n');
        body.push(`    <testcase ${attrs}>\n      <failure type="${rule.severity}" message="${escapeXml(maskSecrets(c.failures[0]!.message).slice(0, 500))}">${escapeXml(text)}</failure>\n    </testcase>`);
      } else if (c.skipped.length > 0) {
        skipped++;
        const s = c.skipped[0]!;
        body.push(`    <testcase ${attrs}>\n      <skipped message="${escapeXml(`accepted by the baseline until ${s.expires}: ${s.reason}`.slice(0, 500))}"/>\n    </testcase>`);
      } else {
        body.push(`    <testcase ${attrs}/>`);
      }
    }
    totalTests += cases.size;
    totalFailures += failures;
    totalSkipped += skipped;
    suites.push(
      `  <testsuite name="${escapeXml(`${rule.id}: ${rule.title}`)}" tests="${cases.size}" failures="${failures}" errors="0" skipped="${skipped}">\n` +
        `    <properties>\n      <property name="severity" value="${rule.severity}"/>\n      <property name="checklistItem" value="${rule.item}"/>\n      <property name="owasp" value="${escapeXml(rule.owasp)}"/>\n      <property name="helpUri" value="${escapeXml(rule.helpUri)}"/>\n    </properties>\n` +
        body.join('\n') +
        (body.length > 0 ? '\n' : '') +
        '  </testsuite>',
    );
  }
  return (
    '<?xml version="1.0" encoding="UTF-8"?>\n' +
    `<testsuites name="rampart scan" tests="${totalTests}" failures="${totalFailures}" errors="0" skipped="${totalSkipped}" timestamp="${escapeXml(report.startedAt)}">\n` +
    suites.join('\n') +
    (suites.length > 0 ? '\n' : '') +
    '</testsuites>\n'
  );
}

function opName(op: ReportOperation): string {
  return `${op.method} ${op.path}${op.spec ? ` (${op.spec})` : ''}`;
}
