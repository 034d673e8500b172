/**
 * Declared responses (checklist items 5 and 7): every operation tells clients about throttling (429, RFC 6585 §4),
 * authentication and authorization failures (401, 403) and server errors (5xx), so that contract tests can check that
 * each is generic; and the document as a whole documents rate limiting somewhere.
 *
 * Missing responses are one finding per rule listing every operation (`…/responses` of each), since the root cause is
 * a documentation habit rather than one operation. `4XX` counts for 401 and 403; `5XX` or `default` counts for server
 * errors; 429 must be declared as such (a range says nothing about throttling).
 */
import { isObject, joinPointer } from '../../../openapi/pointer.ts';
import type { RuleInfo } from '../../model.ts';
import type { AuditDocument, OperationInfo } from '../document.ts';
import { listSome, plural, type FindingSink } from '../findings.ts';
import { STATIC_RULES } from '../rules.ts';

const RATE_LIMIT_HEADER = /^(x-)?rate-?limit|^retry-after$/i;

export function checkResponses(doc: AuditDocument, sink: FindingSink): void {
  const missing = new Map<RuleInfo, OperationInfo[]>([
    [STATIC_RULES.undeclared429, []],
    [STATIC_RULES.undeclared401, []],
    [STATIC_RULES.undeclared403, []],
    [STATIC_RULES.undeclared5xx, []],
  ]);
  let any429 = false;
  for (const op of doc.operations) {
    const responses = doc.resolve(op.node.responses, joinPointer(op.pointer, 'responses')).node;
    const codes = new Set(isObject(responses) ? Object.keys(responses).map((k) => k.toUpperCase()) : []);
    if (codes.has('429')) any429 = true;
    else missing.get(STATIC_RULES.undeclared429)!.push(op);
    const publicOp = op.security.explicitPublic;
    if (!publicOp && !codes.has('401') && !codes.has('4XX')) missing.get(STATIC_RULES.undeclared401)!.push(op);
    // 403 only where someone can be denied: operations that do require credentials.
    if (!publicOp && !op.security.anonymous && !codes.has('403') && !codes.has('4XX')) missing.get(STATIC_RULES.undeclared403)!.push(op);
    if (![...codes].some((c) => /^5(\d\d|XX)$/.test(c)) && !codes.has('DEFAULT')) missing.get(STATIC_RULES.undeclared5xx)!.push(op);
  }
  const total = doc.operations.length;
  for (const [rule, ops] of missing) {
    if (ops.length === 0) continue;
    const status = rule === STATIC_RULES.undeclared5xx ? '5xx' : rule.id.slice(-3);
    sink.add(rule, {
      key: 'operations',
      message: `${ops.length} of ${plural(total, 'operation')} declare no ${status} response: ${listSome(ops.map((o) => o.label))}`,
      pointers: ops.map((op) => (op.node.responses !== undefined ? joinPointer(op.pointer, 'responses') : op.pointer)),
    });
  }
  if (!any429 && total > 0 && !declaresRateLimitHeaders(doc)) {
    sink.add(STATIC_RULES.rateLimitUndocumented, {
      key: 'document',
      message: 'no operation declares a 429 response and no response declares RateLimit / X-RateLimit headers',
      pointers: [doc.document.paths !== undefined ? '/paths' : ''],
    });
  }
}

/** Any response header (inline or reusable) named like a rate-limit header. */
function declaresRateLimitHeaders(doc: AuditDocument): boolean {
  const stack: unknown[] = [doc.document];
  while (stack.length > 0) {
    const node = stack.pop();
    if (Array.isArray(node)) {
      for (const item of node) if (item !== null && typeof item === 'object') stack.push(item);
    } else if (isObject(node)) {
      for (const [key, value] of Object.entries(node)) {
        if (key === 'headers' && isObject(value) && Object.keys(value).some((h) => RATE_LIMIT_HEADER.test(h))) return true;
        if (value !== null && typeof value === 'object') stack.push(value);
      }
    }
  }
  return false;
}
