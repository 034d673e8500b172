/**
 * What every report format shares: checklist labels, severity order and names, which operation a location belongs to
 * (JUnit and HTML list findings per operation), and the last line of defence for evidence: secrets are masked again
 * when a report is rendered, whatever produced the evidence.
 */
import { CHECKLIST, checklistItem, OWASP_API_TOP10_2023, type ChecklistItemId } from '../../checklist/items.ts';
import type { Finding, FindingLocation, ScanReport, Severity } from '../model.ts';
import { SEVERITY_ORDER } from '../model.ts';

export const SEVERITIES: readonly Severity[] = ['high', 'medium', 'low', 'info'];

export function itemLabel(id: ChecklistItemId): string {
  return `${id}. ${checklistItem(id).title}`;
}

export function owaspLabel(finding: Finding): string {
  return `${finding.rule.owasp} ${OWASP_API_TOP10_2023[finding.rule.owasp].title}`;
}

export function countBySeverity(findings: readonly Finding[]): Record<Severity, number> {
  const out: Record<Severity, number> = { high: 0, medium: 0, low: 0, info: 0 };
  for (const f of findings) out[f.rule.severity]++;
  return out;
}

/** Findings per checklist item, items in checklist order, findings most severe first. */
export function byItem(findings: readonly Finding[]): Map<ChecklistItemId, Finding[]> {
  const out = new Map<ChecklistItemId, Finding[]>();
  for (const item of CHECKLIST) out.set(item.id, []);
  for (const f of findings) out.get(f.rule.item)!.push(f);
  for (const list of out.values()) list.sort((a, b) => SEVERITY_ORDER[b.rule.severity] - SEVERITY_ORDER[a.rule.severity]);
  return out;
}

export function formatLocation(location: FindingLocation): string {
  if (location.kind === 'spec') return `${location.file}:${location.line}:${location.column} ${location.pointer}`;
  return `${location.method} ${location.path}${location.operation ? ` (${location.operation})` : ''}`;
}

export type ReportOperation = NonNullable<ScanReport['operations']>[number];

interface OperationIndex {
  /** `file\0#/paths/~1pets/get` → operation */
  readonly byPointer: Map<string, ReportOperation>;
  /** operation key and `METHOD /path` → operations */
  readonly byName: Map<string, ReportOperation[]>;
}

const indexes = new WeakMap<readonly ReportOperation[], OperationIndex>();

function indexOf(operations: readonly ReportOperation[]): OperationIndex {
  let index = indexes.get(operations);
  if (!index) {
    index = { byPointer: new Map(), byName: new Map() };
    for (const op of operations) {
      if (op.pointer) index.byPointer.set(`${op.spec ?? ''}\u0000${op.pointer}`, op);
      for (const name of new Set([op.key, `${op.method} ${op.path}`])) {
        const list = index.byName.get(name) ?? [];
        list.push(op);
        index.byName.set(name, list);
      }
    }
    indexes.set(operations, index);
  }
  return index;
}

/**
 * The operations a finding touches: a spec location inside an operation (`#/paths/<path>/<method>…`), or an HTTP
 * location that names its operation.
 */
export function operationsOf(finding: Finding, operations: readonly ReportOperation[]): ReportOperation[] {
  if (operations.length === 0) return [];
  const index = indexOf(operations);
  const out = new Set<ReportOperation>();
  for (const location of finding.locations) {
    if (location.kind === 'spec') {
      // Pointer tokens are escaped (RFC 6901), so `/` splits tokens exactly: `#`, root, path template, method.
      const tokens = location.pointer.split('/');
      if (tokens.length < 4) continue;
      const opPointer = tokens.slice(0, 4).join('/');
      const op = index.byPointer.get(`${location.file}\u0000${opPointer}`) ?? index.byPointer.get(`\u0000${opPointer}`);
      if (op) out.add(op);
    } else if (location.operation !== undefined) {
      for (const op of index.byName.get(location.operation) ?? []) out.add(op);
    }
  }
  return [...out];
}

const JWT = /\beyJ[\w-]{5,}\.[\w-]{5,}\.[\w-]*/g;
const AUTH_HEADER = /^((?:proxy-)?authorization:[ \t]*)(\S+)[ \t]+\S.*$/gim;
const AUTH_HEADER_BARE = /^((?:proxy-)?authorization:[ \t]*)(?!\S+[ \t]+\S)\S.*$/gim;
const COOKIE_HEADER = /^((?:set-)?cookie:[ \t]*)([^=;\s]+)=[^;\r\n]*/gim;
const API_KEY_HEADER = /^((?:x-)?api-?key:[ \t]*|x-auth-token:[ \t]*|x-access-token:[ \t]*)\S.*$/gim;
const URL_PASSWORD = /(\b[a-z][a-z0-9+.-]*:\/\/[^/\s:@]+:)[^/\s@]+@/gi;
const SECRET_QUERY = /([?&](?:access_?token|token|api_?key|apikey|key|password|passwd|secret|client_secret|sig|signature)=)[^&#\s]+/gi;
const SECRET_JSON = /("(?:password|passwd|secret|client_secret|token|access_token|refresh_token|id_token|api_?key|apikey|cvv|pin|ssn)"\s*:\s*)"(?:[^"\\]|\\.)*"/gi;
const PRIVATE_KEY = /-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)/g;

/**
 * Masks credentials in an evidence excerpt: JWTs, `Authorization`/`Cookie`/API-key header values, passwords in URLs,
 * secret query parameters and JSON values with secret names, private keys. Applied by every report on every excerpt.
 */
export function maskSecrets(text: string): string {
  return text
    .replace(PRIVATE_KEY, '-----BEGIN PRIVATE KEY----- *** (masked)')
    .replace(JWT, 'eyJ***')
    .replace(AUTH_HEADER, '$1$2 ***')
    .replace(AUTH_HEADER_BARE, '$1***')
    .replace(COOKIE_HEADER, '$1$2=***')
    .replace(API_KEY_HEADER, '$1***')
    .replace(URL_PASSWORD, '$1***@')
    .replace(SECRET_QUERY, '$1***')
    .replace(SECRET_JSON, '$1"***"');
}

/** XML 1.0 forbids most control characters even escaped; reports drop them. */
// eslint-disable-next-line no-control-regex
const XML_INVALID = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/g;

export function escapeXml(text: string): string {
  return text.replace(XML_INVALID, '').replace(/[&<>"']/g, (c) => (c === '&' ? '&amp;' : c === '<' ? '&lt;' : c === '>' ? '&gt;' : c === '"' ? '&quot;' : '&apos;'));
}
