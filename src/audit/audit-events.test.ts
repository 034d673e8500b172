import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { AUDIT_EVENT_TABLE, auditCategory, auditOutcome, isSecurityOnly } from './audit-events.ts';

const SRC = fileURLToPath(new URL('..', import.meta.url));

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts') ? [path] : [];
  });
}

/** Every event type literal in a file that emits or records events (`type: '…'`, `event(ctx, '…'`, `emit(ctx, '…'`). */
function emittedTypes(): Set<string> {
  const types = new Set<string>();
  const literal = /(?:type:\s*|event\(ctx,\s*|emit\(ctx,\s*)'([a-z][a-z0-9-]*\.[a-z0-9.-]+)'/g;
  for (const file of sourceFiles(SRC)) {
    if (file.includes(`${join('src', 'audit')}`) || file.includes(join('src', 'events-store'))) continue;
    const text = readFileSync(file, 'utf8');
    // The CLI commands record through audit/cli-trail.ts (`recordChange(trail, { type: … })`, `CliAuditEvent`).
    if (!text.includes('.emit(') && !text.includes('event(ctx') && !text.includes('recordChange(') && !text.includes('CliAuditEvent')) continue;
    for (const match of text.matchAll(literal)) types.add(match[1]!);
  }
  return types;
}

describe('audit event table', () => {
  it('classifies every event type emitted in src/ as audit or deliberately security-only', () => {
    const types = emittedTypes();
    // The scan must see the well-known emitters, or it proves nothing.
    for (const known of [
      'auth.login-failed',
      'auth.login-succeeded',
      'authz.denied',
      'credential.rejected',
      'csp.violation',
      'config.reloaded',
      // Lifecycle events of the CLI commands (audit/cli-trail.ts `emit`) and the identity provider.
      'api-key.created',
      'user.created',
      'client.created',
      'consumer.created',
      'session.revoked',
      'token.revoked',
      'key.rotated',
    ]) {
      expect(types).toContain(known);
    }
    const unclassified = [...types].filter((t) => auditCategory(t) === undefined && !isSecurityOnly(t));
    expect(unclassified).toEqual([]);
    const both = [...types].filter((t) => auditCategory(t) !== undefined && isSecurityOnly(t));
    expect(both).toEqual([]);
  });

  const categories: Array<[string, string | undefined]> = [
    ['auth.login-failed', 'authentication'],
    ['auth.login-succeeded', 'authentication'],
    ['auth.succeeded', 'authentication'],
    ['auth.brute-force-lockout', 'authentication'],
    ['auth.api-key-failed', 'authentication'],
    ['auth.client-authentication-failed', 'authentication'],
    ['credential.rejected', 'authentication'],
    ['auth.failure', 'authentication'],
    ['auth.unavailable', 'authentication'],
    ['auth.mfa-failed', 'mfa'],
    ['auth.mfa-succeeded', 'mfa'],
    ['auth.step-up-succeeded', 'mfa'],
    ['auth.insufficient-authentication', 'mfa'],
    ['auth.webauthn-clone-suspected', 'mfa'],
    ['mfa.totp-enrolled', 'mfa'],
    ['mfa.webauthn-registered', 'mfa'],
    ['auth.session-failed', 'session'],
    ['auth.session-logout', 'session'],
    ['auth.refresh-token-reuse', 'session'],
    ['authz.denied', 'authorization'],
    ['key.created', 'key-lifecycle'],
    ['key.rotated', 'key-lifecycle'],
    ['api-key.created', 'key-lifecycle'],
    ['api-key.revoked', 'key-lifecycle'],
    ['session.revoked', 'session'],
    ['token.revoked', 'session'],
    ['user.created', 'identity'],
    ['user.password-changed', 'identity'],
    ['consumer.disabled', 'identity'],
    ['client.secret-rotated', 'identity'],
    ['mfa.reset', 'mfa'],
    ['token', undefined],
    ['config.reloaded', 'config'],
    ['data.access', 'data-access'],
    ['audit.gap', 'audit'],
    ['csp.violation', undefined],
    ['cors.origin-denied', undefined],
    ['request.path-rejected', undefined],
    ['address.denied', undefined],
    ['store.sealed-value-damaged', undefined],
    // Prefix entries match only longer types; look-alikes do not match.
    ['auth.', undefined],
    ['authz', undefined],
    ['data.access-log', undefined],
    ['authentication.failed', undefined],
    ['', undefined],
  ];
  it.each(categories)('%j → %s', (type, category) => {
    expect(auditCategory(type)).toBe(category);
  });

  const outcomes: Array<[string, string]> = [
    ['auth.login-succeeded', 'success'],
    ['auth.login-failed', 'failure'],
    ['credential.rejected', 'failure'],
    ['credential.conflict', 'failure'],
    ['auth.csrf-refused', 'failure'],
    ['auth.failure', 'failure'],
    ['auth.unavailable', 'failure'],
    ['auth.refresh-token-reuse', 'failure'],
    ['auth.webauthn-clone-suspected', 'failure'],
    ['authz.denied', 'denied'],
    ['auth.insufficient-authentication', 'denied'],
    ['auth.brute-force-lockout', 'locked'],
    ['mfa.totp-enrolled', 'success'],
    ['mfa.webauthn-registered', 'success'],
    ['auth.session-logout', 'success'],
    ['config.reloaded', 'success'],
    ['api-key.created', 'success'],
    ['api-key.revoked', 'success'],
    ['token.revoked', 'success'],
    ['session.revoked', 'success'],
    ['key.rotated', 'success'],
    ['key.retired', 'success'],
    ['key.deleted', 'success'],
    ['user.disabled', 'success'],
    ['client.enabled', 'success'],
    ['user.password-changed', 'success'],
    ['mfa.reset', 'success'],
    ['mfa.totp-enrolment-started', 'info'],
    ['data.access', 'info'],
  ];
  it.each(outcomes)('outcome of %s is %s', (type, outcome) => {
    expect(auditOutcome(type, undefined)).toBe(outcome);
  });

  it('takes a declared outcome only when it is a known one', () => {
    expect(auditOutcome('data.access', { outcome: 'denied' })).toBe('denied');
    expect(auditOutcome('data.access', { outcome: 'pwned' })).toBe('info');
    expect(auditOutcome('data.access', { outcome: 7 })).toBe('info');
  });

  it('has no duplicate entries', () => {
    const matches = AUDIT_EVENT_TABLE.map(([m]) => m);
    expect(new Set(matches).size).toBe(matches.length);
  });
});
