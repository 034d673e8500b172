/**
 * Which security events are audit events (who did what, kept tamper-evident), and with which outcome.
 * Everything else is a security event only (`SECURITY_ONLY_PREFIXES`: path rejections, CORS, CSP reports, address
 * denials, contract violations, injection and PII findings, anomaly detections, rate-limit rejections, damaged
 * stored values found at start): it goes to
 * the log and the events store, not the chain. A test fails when a type emitted in src/ is in neither list.
 *
 * Longest matching entry wins; an entry ending in `.` or `-` is a prefix, any other is an exact type.
 *
 * | match                              | category        | emitted today by                                       |
 * |------------------------------------|-----------------|--------------------------------------------------------|
 * | `auth.`                            | authentication  | identity login/sessions/tokens, api-key, session, lockouts |
 * | `auth.succeeded`                   | authentication  | the audit route policy, per request (chain: auth-success.ts) |
 * | `auth.mfa-` `auth.step-up-`        | mfa             | identity mfa and webauthn endpoints                    |
 * | `auth.insufficient-authentication` | mfa             | mfa policy                                             |
 * | `auth.webauthn-`                   | mfa             | webauthn endpoints (clone suspected)                   |
 * | `auth.session-`                    | session         | session policy (failures), session logout              |
 * | `auth.refresh-token-`              | session         | token endpoint (refresh-token reuse)                   |
 * | `credential.`                      | authentication  | jwt, identity-token, oauth2-introspection, api-key     |
 * | `mfa.`                             | mfa             | TOTP enrolment, passkey registration, `rampart users reset-mfa` (`mfa.reset`) |
 * | `authz.`                           | authorization   | authorize policy (`authz.denied` names check and rule) |
 * | `key.`                             | key-lifecycle   | token-signing keys (identity/tokens/keys.ts: `key.created`, `-rotated`, `-retired`, `-deleted`); `rampart keyring rotate|rotate-data-key` (`key.rotated`, kind master-key / data-key) |
 * | `api-key.`                         | key-lifecycle   | `rampart api-keys create|revoke` (`api-key.created`, `api-key.revoked`) |
 * | `session.`                         | session         | `session.revoked` (how many, why): `rampart users disable|passwd|logout|reset-mfa`; token endpoint ending a refresh family whose client/user is gone |
 * | `token.`                           | session         | RFC 7009 revocation endpoint (`token.revoked`)         |
 * | `user.`                            | identity        | `rampart users add|disable|enable|passwd` (`user.created`, `-disabled`, `-enabled`, `-password-changed`) |
 * | `consumer.`                        | identity        | `rampart consumers add|disable|enable` (`consumer.created`, `-disabled`, `-enabled`) |
 * | `client.`                          | identity        | `rampart clients add|disable|enable|rotate-secret` (`client.created`, `-disabled`, `-enabled`, `-secret-rotated`); there is no delete command |
 * | `config.`                          | config          | gateway reload (`config.reloaded`, `-reload-refused`)  |
 * | `admin.`                           | admin           | (not yet: the admin API changes nothing, so it emits no lifecycle events) |
 * | `data.access`                      | data-access     | the audit route policy (policy.ts), routes with dataAccess |
 * | `audit.`                           | audit           | this module (`audit.gap`: entries lost while the store failed) |
 *
 * The CLI commands append through audit/cli-trail.ts (actor `cli:<account>`); the gateway through its sink.
 * Not audited yet: the gateway's own scheduled data-key rotation (`keyring.rotateDataKeysEvery`, crypto/keyring.ts).
 *
 * The outcome comes from `details.outcome` when a producer sets one of the known outcomes, else from the type's
 * last word: `…succeeded`, `…registered`, `…enrolled`, `…logout`, `…created`, `…reloaded`, `…rotated`, `…revoked`,
 * `…retired`, `…deleted`, `…disabled`, `…enabled`, `…changed`, `…reset` are `success`;
 * `…failed`, `…failure`, `…rejected`, `…refused`, `…conflict`, `…reuse`, `…suspected`, `…unavailable` are `failure`; `…denied` and
 * `insufficient-authentication` are `denied`; `…lockout` is `locked`; anything else `info`.
 */
import { AUDIT_OUTCOMES, type AuditOutcome } from './chain.ts';

export type AuditCategory =
  | 'authentication'
  | 'mfa'
  | 'session'
  | 'authorization'
  | 'key-lifecycle'
  | 'identity'
  | 'config'
  | 'admin'
  | 'data-access'
  | 'audit';

export const AUDIT_CATEGORIES: readonly AuditCategory[] = [
  'authentication',
  'mfa',
  'session',
  'authorization',
  'key-lifecycle',
  'identity',
  'config',
  'admin',
  'data-access',
  'audit',
];

export const AUDIT_EVENT_TABLE: ReadonlyArray<readonly [match: string, category: AuditCategory]> = [
  ['auth.', 'authentication'],
  ['auth.succeeded', 'authentication'],
  ['auth.mfa-', 'mfa'],
  ['auth.step-up-', 'mfa'],
  ['auth.insufficient-authentication', 'mfa'],
  ['auth.webauthn-', 'mfa'],
  ['auth.session-', 'session'],
  ['auth.refresh-token-', 'session'],
  ['credential.', 'authentication'],
  ['mfa.', 'mfa'],
  ['authz.', 'authorization'],
  ['key.', 'key-lifecycle'],
  ['api-key.', 'key-lifecycle'],
  ['session.', 'session'],
  ['token.', 'session'],
  ['user.', 'identity'],
  ['consumer.', 'identity'],
  ['client.', 'identity'],
  ['config.', 'config'],
  ['admin.', 'admin'],
  ['data.access', 'data-access'],
  ['audit.', 'audit'],
];

/**
 * Event types emitted today that are deliberately NOT audit events: they describe requests refused before anyone
 * was identified, or browser reports, and can be attacker-generated at volume. They go to the log and the events
 * store only. (The test checks that every type emitted in src/ is in one list or the other.)
 */
export const SECURITY_ONLY_PREFIXES: readonly string[] = [
  'request.', // refused before routing (path confusion)
  'cors.',
  'csp.',
  'address.', // ip-restriction
  'events.', // the events store's own `events.dropped`
  'contract.', // request validation and undeclared responses (issue 5)
  'injection.',
  'pii.',
  'anomaly.', // detector findings (issue 6 point 5): evidence about traffic, not who did what
  'rate-limit.',
  'store.', // the store's own integrity at start (`store.sealed-value-damaged`): about stored data, not who did what
];

/** True for a type that is deliberately a security event only. */
export function isSecurityOnly(type: string): boolean {
  return SECURITY_ONLY_PREFIXES.some((prefix) => type.startsWith(prefix) && type.length > prefix.length);
}

/** The high-volume per-request authentication success; recorded only when `audit.authentication` is on. */
export const AUTH_SUCCEEDED = 'auth.succeeded';
export const DATA_ACCESS = 'data.access';

const isPrefix = (match: string) => match.endsWith('.') || match.endsWith('-');

/** The audit category of an event type, or undefined when it is not an audit event. */
export function auditCategory(type: string): AuditCategory | undefined {
  let best: readonly [string, AuditCategory] | undefined;
  for (const entry of AUDIT_EVENT_TABLE) {
    const [match] = entry;
    const hit = isPrefix(match) ? type.startsWith(match) && type.length > match.length : type === match;
    if (hit && (best === undefined || match.length > best[0].length)) best = entry;
  }
  return best?.[1];
}

const SUCCESS = /(?:succeeded|success|registered|enrolled|logout|created|reloaded|issued|rotated|enabled|granted|revoked|retired|deleted|disabled|changed|reset)$/;
const FAILURE = /(?:failed|failure|rejected|refused|conflict|reuse|suspected|invalid|expired|unavailable)$/;
const DENIED = /(?:denied|insufficient-authentication|forbidden)$/;
const LOCKED = /(?:lockout|locked)$/;

export function auditOutcome(type: string, details: Readonly<Record<string, unknown>> | undefined): AuditOutcome {
  const declared = details?.['outcome'];
  if (typeof declared === 'string' && (AUDIT_OUTCOMES as readonly string[]).includes(declared)) return declared as AuditOutcome;
  if (LOCKED.test(type)) return 'locked';
  if (DENIED.test(type)) return 'denied';
  if (FAILURE.test(type)) return 'failure';
  if (SUCCESS.test(type)) return 'success';
  return 'info';
}
