/**
 * SARIF 2.1.0 (OASIS Static Analysis Results Interchange Format) with what GitHub code scanning needs
 * (docs.github.com "SARIF support for code scanning"):
 *
 * - `tool.driver.rules`: every rule that ran, with short and full descriptions, help text (why and how to fix),
 *   `helpUri`, a default level and `properties.security-severity` (GitHub's 0-10 scale) and tags;
 * - each result: `ruleId`, `ruleIndex`, `level`, message, the first location as a physical location (relative artifact
 *   URI and a region in the spec) and the others as `relatedLocations`, and `partialFingerprints` so that a finding
 *   keeps its identity between runs (the finding's fingerprint: rule + spec + root cause, never line numbers);
 * - findings about a live API (HTTP locations) get a logical location `METHOD /path`, and a physical one at the
 *   operation's line in its spec when the report knows it.
 *
 * Validated in test/scan-report-sarif.test.ts against the official SARIF 2.1.0 JSON schema.
 */
import { pathToFileURL } from 'node:url';
import { isAbsolute } from 'node:path';
import { checklistItem, OWASP_API_TOP10_2023 } from '../../checklist/items.ts';
import type { Finding, FindingLocation, RuleInfo, ScanReport, Severity } from '../model.ts';
import { maskSecrets, operationsOf, type ReportOperation } from './common.ts';

export const SARIF_SCHEMA_URI = 'https://json.schemastore.org/sarif-2.1.0.json';
export const FINGERPRINT_KEY = 'rampart/v1';

const LEVEL: Record<Severity, 'error' | 'warning' | 'note'> = { high: 'error', medium: 'warning', low: 'note', info: 'note' };
/** GitHub maps > 7.0 to high, 4.0-6.9 to medium, 0.1-3.9 to low. */
const SECURITY_SEVERITY: Record<Severity, string> = { high: '8.0', medium: '5.5', low: '3.0', info: '1.0' };

/** A relative path as a URI reference (segments percent-encoded); absolute paths as `file:` URIs. */
export function artifactUri(file: string): string {
  if (isAbsolute(file)) return pathToFileURL(file).href;
  return file.split(/[\\/]/).map(encodeURIComponent).join('/');
}

function ruleDescriptor(rule: RuleInfo): Record<string, unknown> {
  const item = checklistItem(rule.item);
  const owasp = `${rule.owasp} ${OWASP_API_TOP10_2023[rule.owasp].title}`;
  return {
    id: rule.id,
    name: rule.id.replace(/(^|[.-])([a-z0-9])/g, (_m, _sep, c: string) => c.toUpperCase()),
    shortDescription: { text: rule.title },
    fullDescription: { text: rule.explanation },
    help: {
      text: `${rule.explanation}\n\nFix: ${rule.fix}\n\nChecklist item ${item.id} (${item.title}); OWASP ${owasp}.`,
      markdown: `${rule.explanation}\n\n**Fix:** ${rule.fix}\n\nChecklist item ${item.id} (${item.title}); OWASP [${owasp}](${OWASP_API_TOP10_2023[rule.owasp].url}).`,
    },
    helpUri: rule.helpUri,
    defaultConfiguration: { level: LEVEL[rule.severity] },
    properties: {
      tags: ['security', `owasp-api-2023/${rule.owasp.slice(0, rule.owasp.indexOf(':'))}`, `checklist/${item.slug}`],
      'security-severity': SECURITY_SEVERITY[rule.severity],
      precision: rule.id.includes('.spec-') || rule.spectral ? 'high' : 'medium',
      checklistItem: item.id,
      owasp: rule.owasp,
    },
  };
}

function physical(location: Extract<FindingLocation, { kind: 'spec' }>): Record<string, unknown> {
  return {
    physicalLocation: {
      artifactLocation: { uri: artifactUri(location.file) },
      region: { startLine: Math.max(1, location.line), startColumn: Math.max(1, location.column) },
    },
    logicalLocations: [{ fullyQualifiedName: location.pointer, kind: 'member' }],
  };
}

function sarifLocation(location: FindingLocation, operations: readonly ReportOperation[]): Record<string, unknown> {
  if (location.kind === 'spec') return physical(location);
  const name = `${location.method} ${location.path}`;
  const op = operations.find((o) => o.spec && o.line && (location.operation === o.key || location.operation === `${o.method} ${o.path}`));
  return {
    ...(op?.spec && op.line ? { physicalLocation: { artifactLocation: { uri: artifactUri(op.spec) }, region: { startLine: op.line } } } : {}),
    logicalLocations: [{ fullyQualifiedName: name, kind: 'resource', ...(location.operation ? { name: location.operation } : {}) }],
  };
}

function result(finding: Finding, ruleIndex: number, operations: readonly ReportOperation[], suppression?: { reason: string; expires: string }): Record<string, unknown> {
  const [first, ...rest] = finding.locations;
  const evidence = (finding.evidence ?? []).map((e) => [e.note, e.request, e.response].filter(Boolean).map((t) => maskSecrets(t!)).join('\n'));
  const opNames = operationsOf(finding, operations).map((o) => `${o.method} ${o.path}`);
  return {
    ruleId: finding.rule.id,
    ruleIndex,
    level: LEVEL[finding.rule.severity],
    message: { text: maskSecrets(finding.message) },
    locations: first ? [sarifLocation(first, operations)] : [],
    ...(rest.length > 0 ? { relatedLocations: rest.map((l, i) => ({ id: i + 1, ...sarifLocation(l, operations), message: { text: l.kind === 'spec' ? l.pointer : `${l.method} ${l.path}` } })) } : {}),
    partialFingerprints: { [FINGERPRINT_KEY]: finding.fingerprint },
    ...(suppression ? { suppressions: [{ kind: 'external', status: 'accepted', justification: `${suppression.reason} (until ${suppression.expires})` }] } : {}),
    properties: {
      severity: finding.rule.severity,
      checklistItem: finding.rule.item,
      owasp: finding.rule.owasp,
      ...(opNames.length > 0 ? { operations: opNames } : {}),
      ...(evidence.length > 0 ? { evidence } : {}),
    },
  };
}

export function renderSarif(report: ScanReport): string {
  return JSON.stringify(sarifLog(report), null, 2) + '\n';
}

/** How deep `writeJsonFile` streams a SARIF log: down to each result (log, runs, the run, its results). */
export const SARIF_STREAMED_DEPTH = 4;

/** The SARIF log of a report, as an object (`renderSarif` serialises it; a report file is streamed from it). */
export function sarifLog(report: ScanReport): Record<string, unknown> {
  const rules = [...report.rules];
  const index = new Map(rules.map((r, i) => [r.id, i]));
  // A finding of a rule the report does not list (should not happen) still gets a descriptor.
  for (const f of [...report.findings, ...report.suppressed.map((s) => s.finding)]) {
    if (!index.has(f.rule.id)) {
      index.set(f.rule.id, rules.length);
      rules.push(f.rule);
    }
  }
  const operations = report.operations ?? [];
  return {
    $schema: SARIF_SCHEMA_URI,
    version: '2.1.0',
    runs: [
      {
        tool: {
          driver: {
            name: 'rampart',
            version: report.tool.version,
            semanticVersion: report.tool.version,
            informationUri: 'https://owasp.org/API-Security/editions/2023/en/0x11-t10/',
            rules: rules.map(ruleDescriptor),
          },
        },
        invocations: [
          {
            executionSuccessful: !report.partial,
            startTimeUtc: report.startedAt,
            endTimeUtc: report.finishedAt,
            ...(report.notes && report.notes.length > 0 ? { toolExecutionNotifications: report.notes.map((n) => ({ level: 'note', message: { text: n } })) } : {}),
          },
        ],
        results: [
          ...report.findings.map((f) => result(f, index.get(f.rule.id)!, operations)),
          ...report.suppressed.map((s) => result(s.finding, index.get(s.finding.rule.id)!, operations, s)),
        ],
        properties: { partial: report.partial, ...(report.target ? { target: report.target } : {}) },
      },
    ],
  };
}
