/**
 * What the published document gives away in its examples (checklist items 1 and 14): URLs with `user:password@`, and
 * values that look like real long-lived secrets (private keys, cloud, source-hosting and payment provider keys).
 * Only example positions are read (`example`, `examples`, `default`, `x-example(s)`), never a schema property that
 * happens to be called "example". Evidence is masked: a report must not republish the secret.
 */
import { isObject, joinPointer } from '../../../openapi/pointer.ts';
import type { AuditDocument } from '../document.ts';
import type { FindingSink } from '../findings.ts';
import { STATIC_RULES } from '../rules.ts';
import { URL_WITH_PASSWORD, maskUrlPassword } from './auth.ts';

const EXAMPLE_KEYS = new Set(['example', 'examples', 'default', 'x-example', 'x-examples']);
/** Objects whose keys are names chosen by the author: `properties.example` is a property, not an example. */
const NAME_MAPS = new Set(['properties', 'patternProperties', 'definitions', '$defs', 'schemas', 'parameters', 'responses', 'headers', 'securitySchemes', 'callbacks', 'links', 'requestBodies', 'pathItems', 'paths', 'webhooks', 'dependentSchemas', 'variables', 'encoding', 'content', 'scopes', 'mapping']);

/** Providers' documented key formats (high confidence, low false-positive rate). */
const SECRET_PATTERNS: ReadonlyArray<{ readonly kind: string; readonly pattern: RegExp }> = [
  { kind: 'private key', pattern: /-----BEGIN (?:RSA |EC |DSA |OPENSSH |ENCRYPTED )?PRIVATE KEY-----/ },
  { kind: 'AWS access key id', pattern: /\b(?:AKIA|ASIA)[0-9A-Z]{16}\b/ },
  { kind: 'GitHub token', pattern: /\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{60,})\b/ },
  { kind: 'GitLab token', pattern: /\bglpat-[A-Za-z0-9_-]{20,}\b/ },
  { kind: 'Slack token', pattern: /\bxox[abprs]-[A-Za-z0-9-]{10,}\b/ },
  { kind: 'Stripe live key', pattern: /\b(?:sk|rk)_live_[A-Za-z0-9]{16,}\b/ },
  { kind: 'Google API key', pattern: /\bAIza[0-9A-Za-z_-]{35}\b/ },
  { kind: 'npm token', pattern: /\bnpm_[A-Za-z0-9]{36}\b/ },
  { kind: 'SendGrid key', pattern: /\bSG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}\b/ },
];
/** Vendors' own documentation placeholders (`AKIAIOSFODNN7EXAMPLE`). */
const PLACEHOLDER = /example|sample|dummy|placeholder|xxxx|fake|redacted/i;

export function maskSecret(value: string): string {
  return value.length <= 8 ? '****' : `${value.slice(0, 4)}…(${value.length} characters)`;
}

export function findSecret(value: string): { kind: string; match: string } | undefined {
  for (const { kind, pattern } of SECRET_PATTERNS) {
    const match = pattern.exec(value);
    if (match && !PLACEHOLDER.test(match[0])) return { kind, match: match[0] };
  }
  return undefined;
}

export function checkExamples(doc: AuditDocument, sink: FindingSink): void {
  const stack: Array<{ node: unknown; pointer: string; parentKey: string; inExample: boolean }> = [{ node: doc.document, pointer: '', parentKey: '', inExample: false }];
  while (stack.length > 0) {
    const { node, pointer, parentKey, inExample } = stack.pop()!;
    if (typeof node === 'string') {
      if (inExample) inspect(doc, sink, node, pointer);
      continue;
    }
    if (Array.isArray(node)) {
      node.forEach((item, i) => stack.push({ node: item, pointer: `${pointer}/${i}`, parentKey, inExample }));
    } else if (isObject(node)) {
      for (const [key, value] of Object.entries(node)) {
        const entersExample = EXAMPLE_KEYS.has(key) && !NAME_MAPS.has(parentKey);
        stack.push({ node: value, pointer: joinPointer(pointer, key), parentKey: key, inExample: inExample || entersExample });
      }
    }
  }
}

function inspect(doc: AuditDocument, sink: FindingSink, value: string, pointer: string): void {
  if (URL_WITH_PASSWORD.test(value)) {
    sink.add(STATIC_RULES.credentialsInUrl, {
      key: doc.location(pointer).pointer,
      message: 'an example URL carries a user name and password',
      pointers: [pointer],
      evidence: [{ note: `value: ${maskUrlPassword(value.slice(0, 200))}` }],
    });
  }
  const secret = findSecret(value);
  if (secret) {
    sink.add(STATIC_RULES.secretsInExamples, {
      key: doc.location(pointer).pointer,
      message: `an example contains what looks like a ${secret.kind}`,
      pointers: [pointer],
      evidence: [{ note: `${secret.kind}: ${maskSecret(secret.match)}` }],
    });
  }
}
